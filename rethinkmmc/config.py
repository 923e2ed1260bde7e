"""TrainConfig: every setting that decides what a training run computes.

Saved as config.json beside the run and inside its checkpoints (as nanoGPT does), and hashed
with the training code's version into the run's key. Settings that only decide *where* or *how
fast* (data root, runs directory, device, progress bar) are not in it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from .checkargs import int_at_least as _int_at_least
from .checkargs import positive as _positive
from .losses import FIXED_CENTERS, LOSSES
from .centers import CENTER_KINDS

__all__ = ["TrainConfig", "TRAIN_VERSION", "DATASET_NAMES", "ARCH_NAMES"]

# Bump when a change to training (data order, model, loss, optimiser) changes what a config
# computes: stored runs with the old version are then no longer found under the new keys.
TRAIN_VERSION = "1"

DATASET_NAMES = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100")
ARCH_NAMES = ("preact_resnet", "resnet_v2", "small_cnn")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
AUGMENTS = ("none", "shift", "shift_flip")
# The targeted inner attack of adversarial training (Pang et al. 2020's code, after cleverhans):
# - softmax: targeted softmax cross-entropy on the model's logits (for MMC, -||z - mu||^2),
#   the target drawn uniformly over all classes, the true one included (the original);
# - pull: ascend -||z - mu_t||^2 toward a target drawn among the other classes (an ablation;
#   this package's first version).
ADV_TARGETS = ("softmax", "pull")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the smoke profile's digits run; see profiles.py.

    The paper's recipe (Pang et al., ICLR 2020, and its code) is profile "paper": SGD momentum
    0.9, lr 0.01, batch 50, 200 epochs with x0.1 at 100 and 150 (CIFAR) or 50 epochs with decays
    at 30 and 40 (MNIST), L2 on convolution kernels only.
    """

    dataset: str = "digits"
    arch: str = "small_cnn"
    depth_n: int | None = None        # ResNet blocks per stage (None: the arch's default)
    width: int | None = None          # base width (None: the arch's default)
    feat_dim: int = 64                # dimension of the features z
    loss: str = "mmc"
    c_mm: float = 10.0                # norm of the fixed centers (MMC, MM-LDA); C1 for HMMC
    centers: str = "mm"               # mm | random | hierarchical
    hmmc_c2: float = 1.0              # subclass center norm C2 of hierarchical centers
    center_lambda: float = 0.01       # center loss weight (Wen et al. 2016)
    lgm_alpha: float = 0.1            # L-GM margin (Wan et al. 2018)
    lgm_lambda: float = 0.1           # L-GM likelihood weight
    epochs: int = 15
    batch_size: int = 50
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    milestones: tuple[int, ...] = (10,)
    lr_gamma: float = 0.1
    weight_decay: float = 5e-4
    wd_conv_only: bool = True         # the original's Keras L2 sits on conv kernels only
    augment: str = "shift"            # none | shift | shift_flip (the original: shift_flip)
    adv_train: bool = False
    adv_eps: float = 8 / 256          # the original divides by 256
    adv_step: float = 2 / 256
    adv_steps: int = 10
    adv_targeted: bool | None = None  # None: targeted (random target) for MMC, else untargeted
    adv_target: str = "softmax"       # targeted inner attack: softmax | pull (see ADV_TARGETS)
    adv_ratio: float = 1.0            # share of each batch replaced by adversarial examples
    train_subset: int | None = None   # seeded, stratified subset of the training split
    test_subset: int | None = None    # seeded, stratified subset of the test split
    seed: int = 0
    profile: str = "smoke"
    fast: bool = True                 # CUDA fast path (channels_last, compile, bf16 trunk)

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        _one_of("dataset", self.dataset, DATASET_NAMES)
        _one_of("arch", self.arch, ARCH_NAMES)
        _one_of("loss", self.loss, LOSSES)
        _one_of("centers", self.centers, CENTER_KINDS)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("augment", self.augment, AUGMENTS)
        _one_of("adv_target", self.adv_target, ADV_TARGETS)
        for name in ("epochs", "batch_size", "feat_dim"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("adv_steps", self.adv_steps, 0)
        _int_at_least("seed", self.seed, 0)  # as the notebooks' seeds parameter
        for name in ("depth_n", "width", "train_subset", "test_subset"):
            if getattr(self, name) is not None:
                _int_at_least(name, getattr(self, name), 1)
        for name in ("c_mm", "hmmc_c2", "lr"):
            _positive(name, getattr(self, name))
        for name in ("momentum", "weight_decay", "center_lambda", "lgm_alpha", "lgm_lambda",
                     "adv_eps", "adv_step", "lr_gamma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
        if not 0.0 < self.adv_ratio <= 1.0:
            raise ValueError(f"adv_ratio: must be in (0, 1], got {self.adv_ratio!r}")
        if any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones: must be increasing epochs >= 1, got {self.milestones}")
        if self.adv_eps > 1:
            raise ValueError(f"adv_eps: pixels are in [0, 1], got {self.adv_eps} (write 8/255)")

    @property
    def targeted_adv(self) -> bool:
        """Whether adversarial training uses a random target (the original's default for MMC)."""
        if self.adv_targeted is not None:
            return self.adv_targeted
        return self.loss in FIXED_CENTERS

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config: unknown field(s) {', '.join(unknown)}")
        return cls(**d)

    def hashed(self) -> dict[str, Any]:
        """The settings the key hashes: every field, except ``adv_target`` where it decides
        nothing (no targeted adversarial training), so that runs stored before the field
        existed keep their keys."""
        d = self.to_dict()
        if not (self.adv_train and self.targeted_adv):
            d.pop("adv_target")
        return d

    def key(self) -> str:
        """The run's name: a readable prefix + hash of the config and the training code version.

        The prefix says what tells runs of one dataset apart in a listing: adversarial training,
        the loss (with C_MM for fixed centers), the feature dimension, a non-default optimizer
        and non-MM centers, and the seed: ``at-mnist-mmc10-z256-s0-…``,
        ``digits-mmc10-z64-adam-s0-…``, ``cifar10-mmc10-z256-hier1-s0-…`` (C2 = 1). The hash
        decides; the prefix is for people (scripts/migrate_run_keys.py renames older stores)."""
        blob = json.dumps({"config": self.hashed(), "version": TRAIN_VERSION}, sort_keys=True)
        h = hashlib.sha256(blob.encode()).hexdigest()[:10]
        tag = f"{self.dataset}-{self.loss}"
        if self.loss in FIXED_CENTERS:
            tag += f"{self.c_mm:g}"
        if self.adv_train:
            tag = "at-" + tag
        tag += f"-z{self.feat_dim}"
        if self.optimizer != "sgd":
            tag += f"-{self.optimizer}"
        if self.loss in FIXED_CENTERS and self.centers != "mm":
            tag += f"-hier{self.hmmc_c2:g}" if self.centers == "hierarchical" else "-rand"
        return f"{tag}-s{self.seed}-{h}"

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def _one_of(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}: unknown {value!r} (allowed: {', '.join(allowed)})")
