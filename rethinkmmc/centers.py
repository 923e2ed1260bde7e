"""Class centers for the Max-Mahalanobis Center (MMC) loss.

Pang et al., "Rethinking Softmax Cross-Entropy Loss for Adversarial Robustness", ICLR 2020, fix
the class centers mu_1..mu_L in feature space before training, choosing the Max-Mahalanobis
centers of Pang et al., "Max-Mahalanobis Linear Discriminant Analysis Networks", ICML 2018: L
points of norm C_MM whose pairwise inner products all equal -C_MM^2 / (L - 1), the most
separated configuration there is (a regular simplex).

Also here: the paper's "MMC-10 (rand)" variant (random directions) and the hierarchical centers
(HMMC) of the 2020 ML Reproducibility Challenge report on the paper.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = ["mm_centers", "unit_mm_centers", "max_min_angle_centers", "random_centers", "geometry",
           "geometry_table",
           "hierarchical_centers", "CENTER_KINDS"]

CENTER_KINDS = ("mm", "random", "hierarchical")


def _check(num_classes: int, dim: int, c_mm: float) -> None:
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes: must be an integer >= 2, got {num_classes!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim: must be an integer >= 1, got {dim!r}")
    if not (isinstance(c_mm, (int, float)) and math.isfinite(c_mm) and c_mm > 0):
        raise ValueError(f"c_mm: must be a finite number > 0, got {c_mm!r}")
    if dim == 1 and num_classes > 2:
        raise ValueError(f"dim: 1 dimension holds at most 2 separated centers, "
                         f"got num_classes={num_classes}")


def unit_mm_centers(num_classes: int, diagonal: str = "squared") -> np.ndarray:
    """The unit Max-Mahalanobis centers as an (L, L) float64 array, row k = mu_{k+1}.

    Exactly the recursion of the original code (kernel_paras/craft_MMcenters.m of
    P2333/Max-Mahalanobis-Training): mu_1 = e_1; for k >= 2 and j < k,
    mu_k[j] = -(1/(L-1) + <mu_k, mu_j>) / mu_j[j], then mu_k[k] = sqrt(|1 - ||mu_k||^2|).
    The diagonal takes the *squared* norm. The 2020 reproduction's Python script
    (kaiyon07/rp2020_rethinking_softmax, center_gen_python/mmc_center_gen.py) takes
    sqrt(|1 - ||mu_k|| |^2) = |1 - ||mu_k|| |, the unsquared norm without the root, which breaks
    unit norm from the second center on and the equal angles from the third;
    ``diagonal="unsquared"`` is that script's formula, to show what it gives, never to train
    with. The center files the reproduction committed and trained with are exact MM centers
    (checked in notebook 01's note and README), so the script's flaw does not reach its results.
    """
    if diagonal not in ("squared", "unsquared"):
        raise ValueError(f"diagonal: unknown {diagonal!r} (allowed: squared, unsquared)")
    L = int(num_classes)
    mu = np.zeros((L, L), dtype=np.float64)
    mu[0, 0] = 1.0
    for k in range(1, L):
        for j in range(k):
            # mu[k] has only coordinates < j filled here, which is all mu[j] shares with it.
            mu[k, j] = -(1.0 / (L - 1) + mu[k] @ mu[j]) / mu[j, j]
        sq = mu[k] @ mu[k]
        mu[k, k] = (math.sqrt(abs(1.0 - sq)) if diagonal == "squared"
                    else abs(1.0 - math.sqrt(sq)))  # the script: sqrt(|1 - ||mu|| |**2)
    return mu


def max_min_angle_centers(num_classes: int, dim: int, iters: int = 3000, seed: int = 0) -> np.ndarray:
    """Unit centers in `dim` dimensions that maximise the smallest pairwise angle.

    Used below dim = L - 1, where no regular simplex fits, as the original does for its 2-D
    feature demo. The smallest angle is raised by minimising a smooth maximum
    (log-sum-exp with a growing temperature) of the pairwise cosines on the unit sphere, from a
    seeded start; for L points in 2-D the optimum is the regular L-gon. The result is rotated so
    that the first center is e_1 (as mu_1 of the recursion) and returned as float64.
    """
    L, d = int(num_classes), int(dim)
    gen = torch.Generator().manual_seed(seed)
    if d == 2:
        # Start from random angles: in the plane the smooth max converges to the regular L-gon.
        theta = torch.rand(L, generator=gen, dtype=torch.float64) * 2 * math.pi
        w = torch.stack([theta.cos(), theta.sin()], 1)
    else:
        w = torch.randn(L, d, generator=gen, dtype=torch.float64)
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=0.05)
    off = ~torch.eye(L, dtype=torch.bool)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters, eta_min=1e-4)
    for it in range(iters):
        u = w / w.norm(dim=1, keepdim=True)
        cos = (u @ u.T)[off]
        temp = 10.0 + 490.0 * it / max(iters - 1, 1)
        loss = torch.logsumexp(temp * cos, 0) / temp
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    u = (w / w.norm(dim=1, keepdim=True)).detach()
    u = u.numpy()
    return _rotate_first_to_e1(u)


def _rotate_first_to_e1(u: np.ndarray) -> np.ndarray:
    """Apply the Householder reflection (a rotation in 2-D) mapping u[0] to e_1."""
    e1 = np.zeros(u.shape[1])
    e1[0] = 1.0
    if u.shape[1] == 2:
        a = math.atan2(u[0, 1], u[0, 0])
        r = np.array([[math.cos(-a), -math.sin(-a)], [math.sin(-a), math.cos(-a)]])
        return u @ r.T
    v = u[0] - e1
    if np.linalg.norm(v) < 1e-12:
        return u
    v = v / np.linalg.norm(v)
    return u - 2.0 * np.outer(u @ v, v)


def mm_centers(num_classes: int, dim: int, c_mm: float = 10.0,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Max-Mahalanobis centers, shape (num_classes, dim), each of norm `c_mm`.

    Pang et al. (ICLR 2020) scale the unit centers by C_MM (the original multiplies by
    ``mean_var``, default 10); every pairwise inner product is then -c_mm^2 / (L - 1).

    - dim >= L: the recursion of :func:`unit_mm_centers`, zero-padded to `dim`.
    - dim == L - 1: the recursion's last coordinate is zero up to rounding and is dropped.
    - dim < L - 1: no simplex fits; the centers maximise the smallest pairwise angle
      (:func:`max_min_angle_centers`): the regular L-gon in 2-D.
    """
    _check(num_classes, dim, c_mm)
    L, d = int(num_classes), int(dim)
    if d >= L - 1:
        unit = unit_mm_centers(L)
        if d >= L:
            unit = np.concatenate([unit, np.zeros((L, d - L))], axis=1)
        else:
            unit = unit[:, : L - 1]
    else:
        unit = max_min_angle_centers(L, d)
    return torch.as_tensor(unit * float(c_mm), dtype=dtype)


def random_centers(num_classes: int, dim: int, c_mm: float = 10.0, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random directions of norm `c_mm`: the paper's "MMC-10 (rand)" ablation.

    Pang et al. (ICLR 2020) compare MM centers with centers drawn at random; the original code
    never implemented that flag. Directions are standard normal vectors, normalised, drawn from
    a generator seeded by `seed`.
    """
    _check(num_classes, dim, c_mm)
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.randn(int(num_classes), int(dim), generator=gen, dtype=torch.float64)
    return (w / w.norm(dim=1, keepdim=True) * float(c_mm)).to(dtype)


def hierarchical_centers(superclass_of: Sequence[int], dim: int, c1: float = 10.0,
                         c2: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Hierarchical MM centers (HMMC) of the 2020 reproduction report: mu_l = mu_s(C1) + nu_l(C2).

    `superclass_of[l]` names the superclass of class l (0..S-1). The S superclass centers are MM
    centers of norm c1; within each superclass of size n the subclass offsets are MM centers of
    norm c2 for n classes (a superclass with one class gets no offset). Groups may differ in
    size (CIFAR-10: 4 vehicles, 6 animals). The reproduction recommends C1 >> C2
    (C1 in [5, 20], C2 in [0.1, 2]).
    """
    sup = [int(s) for s in superclass_of]
    if len(sup) < 2:
        raise ValueError(f"superclass_of: need at least 2 classes, got {len(sup)}")
    n_sup = max(sup) + 1
    if min(sup) < 0 or sorted(set(sup)) != list(range(n_sup)):
        raise ValueError("superclass_of: superclass labels must be 0..S-1, each used at least "
                         f"once, got {sorted(set(sup))}")
    if not (isinstance(c2, (int, float)) and math.isfinite(c2) and c2 > 0):
        raise ValueError(f"c2: must be a finite number > 0, got {c2!r}")
    if n_sup >= 2:
        top = mm_centers(n_sup, dim, c1, dtype=torch.float64)
    else:
        _check(2, dim, c1)
        top = torch.zeros(1, int(dim), dtype=torch.float64)
    out = top[torch.tensor(sup)].clone()
    for s in range(n_sup):
        members = [i for i, t in enumerate(sup) if t == s]
        if len(members) >= 2:
            out[members] += mm_centers(len(members), dim, c2, dtype=torch.float64)
    return out.to(dtype)


def geometry(centers: torch.Tensor) -> dict:
    """How close `centers` (L, d) are to Max-Mahalanobis centers, in float64.

    With c^2 the mean squared norm: ``norm_error`` = max |‖mu_i‖^2 - c^2| / c^2,
    ``inner_error`` = max over i != j of |<mu_i, mu_j> + c^2/(L-1)| / c^2 (both 0 for MM
    centers), ``min_angle_deg`` (arccos(-1/(L-1)) for MM centers, the largest possible),
    ``min_distance``.
    """
    mu = torch.as_tensor(centers, dtype=torch.float64)
    L, d = mu.shape
    gram = mu @ mu.T
    sq = gram.diagonal()
    c2 = sq.mean()
    off = ~torch.eye(L, dtype=torch.bool)
    cos = gram / (sq.sqrt()[:, None] * sq.sqrt()[None, :])
    dist = torch.cdist(mu, mu)[off]
    return {"L": L, "d": d, "c_mm": float(c2.sqrt()),
            "norm_error": float(((sq - c2).abs() / c2).max()),
            "inner_error": float(((gram[off] + c2 / (L - 1)).abs() / c2).max()),
            "min_angle_deg": float(torch.rad2deg(torch.arccos(cos[off].clamp(-1, 1).max()))),
            "min_distance": float(dist.min())}


def geometry_table(centers: dict) -> "pd.DataFrame":
    """:func:`geometry` of each named set of centers, one row per name."""
    import pandas as pd  # noqa: PLC0415

    return pd.DataFrame({name: geometry(mu) for name, mu in centers.items()}).T.astype(
        {"L": int, "d": int})
