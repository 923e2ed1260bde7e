"""Heads and training losses: SCE, MMC, MM-LDA, center loss and L-GM.

Every loss has one calling shape, ``loss(features, labels) -> scalar``, built by
:func:`make_loss` from a head and the config's parameters; every head maps features z to
logits, and the prediction is always ``logits.argmax(1)``.

- SCE: softmax cross-entropy on a linear head.
- MMC (Pang et al., ICLR 2020): L = ||z - mu_y||^2 with fixed Max-Mahalanobis centers. The paper
  writes 1/2 ||z - mu_y||^2; the original code (and this package) has no 1/2, which matters for
  the learning rate. Logits are -||z - mu||^2, so the prediction is the nearest center.
- MM-LDA (Pang et al., ICML 2018): softmax cross-entropy over the same logits -||z - mu||^2.
- Center loss (Wen et al., ECCV 2016): SCE + lambda/2 ||z - c_y||^2 with learned centers c.
- L-GM (Wan et al., CVPR 2018): Gaussian mixture with learned means and identity covariance;
  logits -1/2 ||z - mu||^2, the true class's distance enlarged by (1 + alpha) in the
  classification term, plus lambda times the likelihood term 1/2 ||z - mu_y||^2.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LinearHead", "CenterHead", "LOSSES", "FIXED_CENTERS", "DISTANCE_LOGITS", "make_head", "make_loss", "sq_distances"]

LOSSES = ("sce", "mmc", "mmlda", "center", "lgm")
# The loss families, named once: losses that train toward fixed centers (Max-Mahalanobis or
# other given ones), and losses whose logits are minus squared distances to centers (the
# adaptive attack objective pushes z away from mu_y for these).
FIXED_CENTERS = frozenset({"mmc", "mmlda"})
DISTANCE_LOGITS = frozenset({"mmc", "mmlda", "lgm"})


def sq_distances(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """||z_i - mu_l||^2 for every row of z and every center, shape (B, L), in float32 or wider.

    Computed from differences, not from ||z||^2 - 2 z.mu + ||mu||^2: with distances of 1e2 to
    1e4 the expansion cancels catastrophically and can change the argmin.
    """
    z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
    return (z.unsqueeze(1) - centers.to(z.dtype).unsqueeze(0)).pow(2).sum(-1)


class LinearHead(nn.Module):
    """A linear classifier on the features (SCE, center loss).

    With ``learned_centers`` it also holds per-class feature centers (center loss), exposed as
    ``centers`` for the analyses; they do not enter the logits.
    """

    def __init__(self, feat_dim: int, num_classes: int, learned_centers: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(feat_dim, num_classes)
        if learned_centers:
            self.centers = nn.Parameter(torch.zeros(num_classes, feat_dim))
        else:
            self.centers = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)


class CenterHead(nn.Module):
    """Logits ``-scale * ||z - mu_l||^2`` (MMC and MM-LDA with fixed centers, L-GM learned).

    Fixed centers are a buffer, so they travel with the state dict and never get gradients.
    """

    def __init__(self, centers: torch.Tensor, learnable: bool = False, scale: float = 1.0):
        super().__init__()
        self.num_classes = centers.shape[0]
        self.scale = scale
        if learnable:
            self.centers = nn.Parameter(centers.clone().float())
        else:
            self.register_buffer("centers", centers.clone().float())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -self.scale * sq_distances(z, self.centers)


def make_head(loss: str, feat_dim: int, num_classes: int,
              centers: torch.Tensor | None = None, seed: int = 0) -> nn.Module:
    """The head a loss trains: linear for sce/center, fixed centers for mmc/mmlda, learned for lgm."""
    if loss in ("sce", "center"):
        return LinearHead(feat_dim, num_classes, learned_centers=(loss == "center"))
    if loss in FIXED_CENTERS:
        if centers is None:
            raise ValueError(f"centers: loss {loss!r} needs fixed centers")
        if tuple(centers.shape) != (num_classes, feat_dim):
            raise ValueError(f"centers: shape {tuple(centers.shape)} does not match "
                             f"(num_classes, feat_dim) = ({num_classes}, {feat_dim})")
        return CenterHead(centers)
    if loss == "lgm":
        gen = torch.Generator().manual_seed(seed)
        # L-GM learns its means; a small random start breaks the symmetry between classes.
        return CenterHead(torch.randn(num_classes, feat_dim, generator=gen), learnable=True, scale=0.5)
    raise ValueError(f"loss: unknown {loss!r} (allowed: {', '.join(LOSSES)})")


def _sce(z, y, head):
    return F.cross_entropy(head(z), y)


def _mmc(z, y, head):
    # ||z - mu_y||^2 per example, mean over the batch (Keras' reduction in the original).
    return (z.float() - head.centers[y]).pow(2).sum(1).mean()


def _center(z, y, head, lam):
    return F.cross_entropy(head(z), y) + 0.5 * lam * (z.float() - head.centers[y]).pow(2).sum(1).mean()


def _lgm(z, y, head, alpha, lam):
    d = 0.5 * sq_distances(z, head.centers)  # (B, L): 1/2 ||z - mu_l||^2
    margin = 1.0 + alpha * F.one_hot(y, d.shape[1]).to(d.dtype)
    cls = F.cross_entropy(-d * margin, y)
    lkd = d.gather(1, y[:, None]).mean()
    return cls + lam * lkd


def make_loss(loss: str, head: nn.Module, center_lambda: float = 0.01, lgm_alpha: float = 0.1,
              lgm_lambda: float = 0.1) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(features, labels) -> scalar`` for the named loss, bound to its head and parameters."""
    if loss == "sce":
        return partial(_sce, head=head)
    if loss == "mmc":
        return partial(_mmc, head=head)
    if loss == "mmlda":
        return partial(_sce, head=head)  # CE over the center head's logits -||z - mu||^2
    if loss == "center":
        return partial(_center, head=head, lam=center_lambda)
    if loss == "lgm":
        return partial(_lgm, head=head, alpha=lgm_alpha, lam=lgm_lambda)
    raise ValueError(f"loss: unknown {loss!r} (allowed: {', '.join(LOSSES)})")
