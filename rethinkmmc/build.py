"""A model from its config: the fixed centers, the untrained classifier, the test split.

Below both the run store (which rebuilds a stored model) and training (which builds one to
train), so that neither imports the other for it.
"""
from __future__ import annotations

import torch

from . import data as D
from .centers import hierarchical_centers, mm_centers, random_centers
from .config import TrainConfig
from .losses import FIXED_CENTERS, make_head
from .models import Classifier, make_trunk

__all__ = ["make_centers", "build_model", "subset", "test_split"]


def make_centers(cfg: TrainConfig, data_root=None) -> torch.Tensor | None:
    """The fixed centers a center loss (MMC, MM-LDA) trains toward, or None."""
    if cfg.loss not in FIXED_CENTERS:
        return None
    L = D.DATASETS[cfg.dataset].num_classes
    if cfg.centers == "mm":
        return mm_centers(L, cfg.feat_dim, cfg.c_mm)
    if cfg.centers == "random":
        return random_centers(L, cfg.feat_dim, cfg.c_mm, seed=cfg.seed)
    sup = D.superclass_of_class(cfg.dataset, data_root)
    if sup is None:
        raise ValueError(f"centers: 'hierarchical' needs superclasses, which {cfg.dataset} lacks")
    return hierarchical_centers(sup, cfg.feat_dim, cfg.c_mm, cfg.hmmc_c2)


def build_model(cfg: TrainConfig, mean: torch.Tensor | None = None,
                centers: torch.Tensor | None = None, data_root=None) -> Classifier:
    """The untrained model of `cfg`, initialised from cfg.seed.

    MNIST-like (1-channel) inputs: the original's ResNet ("resnet_v2") sees them repeated to 3
    channels, as the original feeds MNIST; the other architectures take 1 channel. Either way
    the model's input, and so every attack, is the 1-channel [0, 1] image. `centers` (e.g.
    from a checkpoint) replaces the centers of `cfg`.
    """
    spec = D.DATASETS[cfg.dataset]
    c = spec.shape[0]
    repeat = 3 if (cfg.arch == "resnet_v2" and c == 1) else 1
    torch.manual_seed(cfg.seed)
    trunk = make_trunk(cfg.arch, in_channels=c * repeat, feat_dim=cfg.feat_dim,
                       depth_n=cfg.depth_n, width=cfg.width)
    if centers is None:
        centers = make_centers(cfg, data_root)
    head = make_head(cfg.loss, cfg.feat_dim, spec.num_classes, centers, seed=cfg.seed)
    if mean is None:
        mean = torch.zeros(spec.shape)
    return Classifier(trunk, head, mean=mean, repeat_channels=repeat)


def subset(x, y, n, seed):
    """The seeded, class-stratified subset of n examples of (x, y), or all of them."""
    if n is None or n >= len(y):
        return x, y
    idx = D.stratified_subset(y, n, seed)
    return x[idx], y[idx]


def test_split(cfg: TrainConfig, root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The test examples a run is evaluated on (its seeded, stratified subset if it takes one)."""
    x, y = D.load(cfg.dataset, "test", root)
    return subset(x, y, cfg.test_subset, cfg.seed)
