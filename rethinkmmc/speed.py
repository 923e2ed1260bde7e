"""How fast a model runs: memory layout, compilation and the trunk's precision, chosen once.

A `Speed` never changes what a run or an attack *means*, only how its arithmetic is laid out,
so it is a runtime choice (like the device) and stays out of the run's key; runs record it as
provenance. Evaluation records keep their identity under any memory layout; an attack on a bf16
trunk finds other adversarials, so its records carry ``"trunk": "bf16"`` and stay apart. Measured on this project's 2-core
CPU (benchmarks/attack_speed.py, benchmarks/train_speed.py):

- ``channels_last``: NHWC convolutions. oneDNN's and cuDNN's fast kernels want that layout; on
  the CPU it makes an attack gradient step 1.2-1.6x faster and a training step 1.3-1.45x, in
  float32, with the same results up to float rounding. On by default wherever there are
  convolutions.
- ``bf16``: the trunk under bfloat16 autocast; the head, losses and attacks stay float32
  (models.Classifier: MMC logits are squared distances of 1e2..1e4, bf16 would merge them).
  A further 1.6-2x on CPUs with AVX512-BF16 or AMX. It moves the numbers, so it is on by
  default only on CUDA (the paper profile's GPU runs) and opt-in elsewhere.
- ``compile``: torch.compile of the trunk (inductor; on the CPU it needs a C++ compiler). It
  pays only for long jobs: 15-35 s to compile per shape on the CPU for a further 1.2x.

``RETHINKMMC_SPEED`` (e.g. ``plain``, ``channels_last+bf16``) overrides the default for every
training and evaluation in a process, notebooks' kernels included.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

__all__ = ["Speed", "parse_speed", "training_speed", "attack_speed", "apply", "for_attacks",
           "attacker_and_judge", "ENV"]

ENV = "RETHINKMMC_SPEED"
TRICKS = ("channels_last", "bf16", "compile")


@dataclass(frozen=True)
class Speed:
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False

    def __str__(self) -> str:
        on = [t for t in TRICKS if getattr(self, t)]
        return "+".join(on) if on else "plain"


def parse_speed(text: str) -> Speed:
    """'plain', or tricks joined by '+'. ('auto', the device's default, is resolved by
    training_speed and attack_speed before they call this.)"""
    text = text.strip().lower()
    if text == "plain":
        return Speed()
    parts = [p for p in text.replace(",", "+").split("+") if p]
    bad = [p for p in parts if p not in TRICKS]
    if bad or not parts:
        raise ValueError(f"speed: expected 'plain', 'auto' or tricks joined by '+' from "
                         f"{', '.join(TRICKS)}; got {text!r}")
    return Speed(**{p: True for p in parts})


def _resolve(speed: Speed | str | None, auto: Speed) -> Speed:
    if isinstance(speed, Speed):
        return speed
    where = ""
    if speed is None:
        speed, where = os.environ.get(ENV) or "auto", f" (from {ENV})"
    if speed.strip().lower() == "auto":
        return auto
    try:
        return parse_speed(speed)
    except ValueError as e:
        raise ValueError(f"{e}{where}") from None


def training_speed(device: torch.device, fast: bool = True, speed: Speed | str | None = None
                   ) -> Speed:
    """The tricks a training run uses. Auto: on CUDA (cfg.fast) all three, as train.py always
    did there; on the CPU channels_last only (float32). cfg.fast=False means plain, whatever
    is asked (the config says the run must not use the fast path)."""
    if not fast:
        return Speed()
    cuda = torch.device(device).type == "cuda"
    return _resolve(speed, Speed(True, cuda, cuda))


def attack_speed(speed: Speed | str | None = None) -> Speed:
    """The tricks evaluation's attacks use. Auto: channels_last only, on every device: attacks
    keep float32 gradients unless bf16 is asked for."""
    return _resolve(speed, Speed(channels_last=True))


# ATen's CPU capabilities and the vector width inductor must then generate code for.
_CAPABILITY_BITS = {"avx2": 256, "avx512": 512}


def _compile(fn):
    """torch.compile, with inductor's CPU vector width pinned to ``ATEN_CPU_CAPABILITY`` when
    that is set (it is how one CPU computes as an older one would; see the README). Left to
    itself, torch 2.13's inductor on an AVX512 CPU with ``ATEN_CPU_CAPABILITY=avx2`` emitted
    16-lane loops over 8-lane AVX2 vectors in the digits trunk's fused BN-ReLU-mean kernel: half
    of each store was never written and the features came out NaN. With ``cpp.simdlen`` set
    explicitly its loops and vectors agree (tests/test_speed.py)."""
    bits = _CAPABILITY_BITS.get(os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower())
    if bits:
        from torch._inductor import config as inductor

        if inductor.cpp.simdlen is None:  # a width the user chose stays theirs
            inductor.cpp.simdlen = bits
    return torch.compile(fn)


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def apply(model: nn.Module, speed: Speed):
    """(model, features_fn) with `speed`'s tricks, in place: channels_last weights, the trunk's
    autocast dtype (models.Classifier.amp_dtype), and a compiled features function."""
    if speed.channels_last and _has_conv(model):
        model = model.to(memory_format=torch.channels_last)
    if speed.bf16:
        model.amp_dtype = torch.bfloat16
    features = getattr(model, "features", model)
    if speed.compile:
        features = _compile(features)
    return model, features


def for_attacks(model: nn.Module, speed: Speed | str | None = None) -> nn.Module:
    """`model` ready for attacks under `speed` (attack_speed's default when None): a copy when
    a trick applies, so that the caller's model keeps its layout, precision and graph. With
    `compile` the copy's trunk is compiled in place, so the copy stays a Classifier (its own
    features, head, centers and attributes such as model_id)."""
    speed = attack_speed(speed)
    if not ((speed.channels_last and _has_conv(model)) or speed.bf16 or speed.compile):
        return model
    fast, _ = apply(copy.deepcopy(model), replace(speed, compile=False))
    if speed.compile:
        fast.trunk = _compile(fast.trunk)
    return fast


def attacker_and_judge(model: nn.Module, speed: Speed | str | None = None):
    """(the model the attacks run on, the model that decides whether an adversarial example
    fools it). The judge is always the float32 model (in the fast layout): a bf16 or compiled
    trunk may only change how adversarial examples are found, never whether they count."""
    speed = attack_speed(speed)
    attacker = for_attacks(model, speed)
    if not (speed.bf16 or speed.compile):
        return attacker, attacker
    return attacker, for_attacks(model, Speed(channels_last=speed.channels_last))
