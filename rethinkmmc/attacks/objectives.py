"""Objectives that gradient attacks maximise, each per example, shape (B,).

Untargeted objectives grow as x moves away from its true label y; targeted ones grow as x moves
toward the target t. The attack only ever ascends.

- ``ce``: softmax cross-entropy on the logits, what stock cleverhans computed (the paper's
  "non-adaptive" attacks on MMC models, whose logits are -||z - mu||^2).
- ``adaptive``: the original code's adaptive attack, -sum(logits * onehot(y)) with MMC logits,
  i.e. ||z - mu_y||^2: push z away from its true center (Pang et al. 2020, Sec. 5). Targeted:
  -||z - mu_t||^2, pull z toward the target's center.
- ``mmc_margin``: ||z - mu_y||^2 - min_{l != y} ||z - mu_l||^2, the distance margin between the
  true center and the nearest other one (positive once misclassified). Targeted:
  min_{l != t} ||z - mu_l||^2 - ||z - mu_t||^2 (positive once t is the nearest center).
- ``cw``: the Carlini & Wagner (2017) logit margin max_{l != y} logit_l - logit_y. Targeted:
  logit_t - max_{l != t} logit_l.
- ``dlr``: the Difference of Logits Ratio of Croce & Hein (ICML 2020), invariant to shifting and
  scaling the logits; targeted: their targeted DLR.

``adaptive`` and ``mmc_margin`` need the model's ``features`` and ``centers``; asking them of a
model without centers is an error.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["OBJECTIVES", "objective", "needs_centers", "model_centers"]

NEEDS_CENTERS = {"adaptive", "mmc_margin"}


def needs_centers(name: str) -> bool:
    return name in NEEDS_CENTERS


def model_centers(model: nn.Module, name: str) -> torch.Tensor:
    centers = getattr(model, "centers", None)
    if centers is None or not hasattr(model, "features"):
        raise ValueError(f"objective: {name!r} needs a model with class centers "
                         f"(MMC, MM-LDA, L-GM); this model has none (use ce, cw or dlr)")
    return centers


def _other_max(v: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """max over l != idx of v[:, l]."""
    return v.masked_fill(F.one_hot(idx, v.shape[1]).bool(), float("-inf")).amax(1)


def _pick(v, idx):
    return v.gather(1, idx[:, None]).squeeze(1)


def _ce(logits, y, t):
    if t is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, t, reduction="none")


def _cw(logits, y, t):
    if t is None:
        return _other_max(logits, y) - _pick(logits, y)
    return _pick(logits, t) - _other_max(logits, t)


def _dlr(logits, y, t):
    s = logits.sort(1, descending=True).values
    if t is None:
        # -(z_y - max_{l != y} z_l) / (z_pi1 - z_pi3)
        return -(_pick(logits, y) - _other_max(logits, y)) / (s[:, 0] - s[:, 2] + 1e-12)
    # targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
    return -(_pick(logits, y) - _pick(logits, t)) / (s[:, 0] - 0.5 * (s[:, 2] + s[:, 3]) + 1e-12)


def _sq_dist(model, x, name):
    centers = model_centers(model, name)
    z = model.features(x)
    return (z.unsqueeze(1) - centers.to(z.dtype).unsqueeze(0)).pow(2).sum(-1)


OBJECTIVES = ("ce", "adaptive", "mmc_margin", "cw", "dlr")


def objective(name: str) -> Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None],
                                     torch.Tensor]:
    """The objective `name` as ``f(model, x, y, target=None) -> (B,)`` to maximise."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective: unknown {name!r} (allowed: {', '.join(OBJECTIVES)})")

    def f(model, x, y, t=None):
        if name == "adaptive":
            d = _sq_dist(model, x, name)
            return _pick(d, y) if t is None else -_pick(d, t)
        if name == "mmc_margin":
            d = _sq_dist(model, x, name)
            if t is None:
                return _pick(d, y) + _other_max(-d, y)  # d_y - min_{l != y} d_l
            return -_pick(d, t) - _other_max(-d, t)      # min_{l != t} d_l - d_t
        logits = model(x)
        if name == "dlr" and logits.shape[1] < 4:
            raise ValueError("objective: 'dlr' needs at least 4 classes")
        return {"ce": _ce, "cw": _cw, "dlr": _dlr}[name](logits, y, t)

    f.__name__ = name
    return f
