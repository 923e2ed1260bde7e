"""The three profiles, smoke / quick / paper, in one table.

- smoke: scikit-learn's 8x8 digits, a small CNN, seconds per run on 2 CPU cores (CI, nbval).
- quick: MNIST (offline 17,435-image prefix), Fashion-MNIST, CIFAR-10 with a basic
  pre-activation ResNet-20 for a few epochs: the whole report within a working session on a
  2-core CPU.
- paper: the settings of the original code (P2333/Max-Mahalanobis-Training): the Keras
  ResNet v2 with n = 5 ("ResNet-32"), batch 50, SGD momentum 0.9, lr 0.01, 200 epochs with x0.1
  at 100 and 150 (CIFAR), 50 epochs with decays at 30 and 40 (MNIST, Fashion-MNIST), L2 1e-4 on
  conv kernels (weight decay 2e-4), shift 0.1 + horizontal flip for every dataset (as the
  original, MNIST included), adversarial training PGD-10 at 8/256, step 2/256.

``PROFILES[profile]["*"]`` holds the profile's settings for every dataset, and
``PROFILES[profile][dataset]`` what differs for that dataset.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .config import TrainConfig

__all__ = ["PROFILES", "THREADS", "train_config", "profile_names"]

_PAPER_BASE = dict(arch="resnet_v2", depth_n=5, feat_dim=256, batch_size=50, optimizer="sgd",
                   lr=0.01, momentum=0.9, weight_decay=2e-4, wd_conv_only=True,
                   augment="shift_flip", adv_eps=8 / 256, adv_step=2 / 256, adv_steps=10)
_PAPER_MNIST = dict(epochs=50, milestones=(30, 40))
_PAPER_CIFAR = dict(epochs=200, milestones=(100, 150))



def _decays(epochs: int, paper: dict) -> tuple[int, ...]:
    """The original's decay shape over fewer epochs: its milestones at the same fractions of
    training (MNIST 30/50 and 40/50, CIFAR 100/200 and 150/200), rounded to whole epochs."""
    return tuple(int(epochs * m / paper["epochs"] + 0.5) for m in paper["milestones"])


# quick: the original's optimizer (SGD momentum 0.9, lr 0.01, x0.1 decays at its fractions of
# training, L2 2e-4 on conv kernels) on a smaller network for fewer epochs. MNIST keeps the
# original's batch 50; CIFAR-10 takes 128 (batch 50 is 1.8x slower per epoch on this 2-core
# CPU). Adversarial training: PGD-5 with step 4/256 instead of PGD-10 with 2/256 (same reach).
_QUICK_BASE = dict(arch="preact_resnet", depth_n=3, feat_dim=256, batch_size=128,
                   optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=2e-4, wd_conv_only=True,
                   adv_eps=8 / 256, adv_step=4 / 256, adv_steps=5)
_QUICK_MNIST = dict(epochs=6, milestones=_decays(6, _PAPER_MNIST), batch_size=50, augment="none")
_QUICK_CIFAR = dict(epochs=10, milestones=_decays(10, _PAPER_CIFAR), augment="shift_flip")

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "*": dict(arch="small_cnn", feat_dim=64, epochs=15, batch_size=50, optimizer="sgd",
                  lr=0.05, momentum=0.9, milestones=(10,), weight_decay=5e-4, augment="shift",
                  adv_eps=8 / 256, adv_step=4 / 256, adv_steps=5),
        "digits": {},
    },
    "quick": {
        "*": _QUICK_BASE,
        "mnist": _QUICK_MNIST,
        "fashion_mnist": _QUICK_MNIST,
        "cifar10": _QUICK_CIFAR,
        "cifar100": _QUICK_CIFAR,
    },
    "paper": {
        "*": _PAPER_BASE,
        "mnist": _PAPER_MNIST,
        "fashion_mnist": _PAPER_MNIST,
        "cifar10": _PAPER_CIFAR,
        "cifar100": _PAPER_CIFAR,
    },
}

# Thread count fixed per profile where stored outputs must repeat exactly (nbval on the smoke
# notebooks): float reductions depend on how work is split between threads.
THREADS: dict[str, int] = {"smoke": 2}


def profile_names() -> tuple[str, ...]:
    return tuple(PROFILES)


def train_config(profile: str, dataset: str, loss: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig of `profile` for `dataset` and `loss`, with `overrides` on top.

    The smoke profile is tuned for digits; other datasets take its settings unchanged.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: unknown {profile!r} (allowed: {', '.join(PROFILES)})")
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset", "loss", "profile"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"overrides: unknown field(s) {', '.join(unknown)}")
    table = PROFILES[profile]
    settings = dict(table["*"])
    settings.update(table.get(dataset, {}))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(dataset=dataset, loss=loss, profile=profile, **settings)
