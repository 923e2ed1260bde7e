"""Claim 6 (notebook 08): MMC's features cluster more tightly than SCE's, and its class means
are more equally spaced than SCE's (Pang et al., ICLR 2020, Fig. 2-3; the 2020 reproduction's
Figures 2-3 and its cat/dog argument). Both are compared on learned quantities of the two
models on the same test points (a paired bootstrap): the share of features nearest their own
center is MMC's accuracy, and its fixed centers are equally spaced by construction, so neither
can decide the claim."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from .. import analysis as A, verdicts as V
from ..stats import paired_bootstrap
from .density import features

__all__ = ["features", "table_2d", "nn_same_class", "projections", "distance_tables",
           "distance_summary", "compactness", "spacing_cv", "verdicts"]


def table_2d(runs: dict, feats: dict, centers: dict) -> pd.DataFrame:
    return pd.DataFrame([{"run": k, "test accuracy": runs[k].metrics["test_accuracy"],
                          "mean feature norm": float(z.norm(dim=1).mean()),
                          "center norms": ("-" if k not in centers else
                                           f"{np.linalg.norm(centers[k], axis=1).mean():.3f}")}
                         for k, (z, y) in feats.items()])


def nn_same_class(xy, y) -> float:
    """The share of points whose nearest other point (in `xy`) has the same class: how well a
    2-D picture keeps the classes apart, whatever its sign or rotation."""
    d = torch.cdist(torch.as_tensor(xy), torch.as_tensor(xy))
    d.fill_diagonal_(float("inf"))
    return float((y[d.argmin(1)] == y).double().mean())


def projections(feats: dict, methods: list[str], n: int, seed: int):
    """Each run's features projected to 2-D by each method on a seeded, class-stratified
    subset of `n` points: {"run, method": (xy, labels)} and the 1-NN same-class table."""
    proj, rows = {}, []
    for k, (z, y) in feats.items():
        for m in methods:
            with warnings.catch_warnings():
                # Well-separated classes leave Isomap's 10-neighbour graph in several
                # components; scikit-learn then joins them by their closest points (and says
                # so, slowly).
                warnings.simplefilter("ignore")
                xy, idx = A.project_2d(z, method=m, n_neighbors=10, seed=seed, max_points=n, y=y)
            proj[f"{k}, {m}"] = (xy, y[idx].numpy())
            rows.append({"run": k, "method": m, "points": len(idx),
                         "1-NN same class in 2-D": nn_same_class(xy, y[idx])})
    return proj, pd.DataFrame(rows)


def _normalised(table: pd.DataFrame) -> pd.DataFrame:
    off = ~np.eye(len(table), dtype=bool)
    return table / table.to_numpy()[off].mean()


def _off_diagonal(table: pd.DataFrame) -> np.ndarray:
    return table.to_numpy()[~np.eye(len(table), dtype=bool)]


def distance_tables(runs: dict, feats: dict, names: list[str]) -> dict[str, pd.DataFrame]:
    """Distances between SCE's and MMC-10's class means and between MMC-10's centers, each
    divided by the mean of its off-diagonal entries."""
    L = len(names)
    return {"SCE class means": _normalised(A.center_distance_table(
                A.class_means(*feats["SCE"], L), names)),
            "MMC-10 class means": _normalised(A.center_distance_table(
                A.class_means(*feats["MMC-10"], L), names)),
            "MMC-10 centers": _normalised(A.center_distance_table(
                runs["MMC-10"].model.centers, names))}


def distance_summary(tables: dict[str, pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """Per table: the coefficient of variation of its off-diagonal distances, the closest and
    farthest pairs (and cat-dog where the classes have them)."""
    L = len(names)
    summary = []
    for k, t in tables.items():
        off = _off_diagonal(t)
        cv = float(off.std() / off.mean())
        iu = np.triu_indices(L, 1)
        pairs = sorted(zip(t.to_numpy()[iu], iu[0], iu[1]))
        lo, hi = pairs[0], pairs[-1]
        equal = cv < 1e-6  # equal up to rounding: no closest pair to name
        row = {"distances of": k, "coefficient of variation": cv,
               "min / mean": lo[0], "max / mean": hi[0],
               "closest pair": "all equal" if equal else f"{names[lo[1]]}-{names[lo[2]]}",
               "farthest pair": "all equal" if equal else f"{names[hi[1]]}-{names[hi[2]]}"}
        if {"cat", "dog"} <= set(names):
            row["cat-dog / mean"] = float(t.loc["cat", "dog"])
        summary.append(row)
    return pd.DataFrame(summary)


def compactness(z, y, num_classes: int) -> float:
    """Mean distance of a feature to its class mean over the mean distance between class means:
    0 when every feature sits on its class mean, and free of the features' scale (MMC's norm
    C_MM, SCE's unconstrained one)."""
    z = torch.as_tensor(z, dtype=torch.float64)
    m = A.class_means(z, y, num_classes)
    within = (z - m[torch.as_tensor(y)]).norm(dim=1).mean()
    return float(within / torch.pdist(m).mean())


def spacing_cv(z, y, num_classes: int) -> float:
    """Coefficient of variation (std / mean) of the distances between the class means: 0 when
    they are equally spaced."""
    d = torch.pdist(A.class_means(z, y, num_classes))
    return float(d.std() / d.mean())


def _paired(stat, a, b, num_classes: int, seed: int, reps: int):
    """(stat(a), stat(b), their difference, its 95% paired bootstrap interval), the two
    models' features `a` and `b` (z, y) on the same test points."""
    (za, ya), (zb, yb) = a, b
    if not torch.equal(torch.as_tensor(ya), torch.as_tensor(yb)):
        raise ValueError("features: the two models must be compared on the same test points")
    za, zb = torch.as_tensor(za, dtype=torch.float64), torch.as_tensor(zb, dtype=torch.float64)
    y = torch.as_tensor(ya)
    d, ci = paired_bootstrap(lambda i: stat(za[i], y[i], num_classes)
                             - stat(zb[i], y[i], num_classes), len(y), strata=y.numpy(),
                             reps=reps, seed=seed)
    return stat(za, y, num_classes), stat(zb, y, num_classes), d, ci


def _above_zero(d: float, ci: tuple[float, float], what: str) -> V.Decision:
    lo, hi = ci
    span = f"{what} {d:.3g} (95% paired bootstrap CI {lo:.3g}-{hi:.3g})"
    if lo > 0:
        return V.Decision(V.HOLDS, f"{span} above 0", lo)
    if hi < 0:
        return V.Decision(V.FAILS, f"{span} below 0", -hi)
    return V.Decision(V.OPEN, f"{span} includes 0", 0.0)


def verdicts(runs: dict, feats: dict, f2d: dict, seed: int = 0,
             reps: int = 1000) -> list[V.Verdict]:
    """The verdict rows of notebook 08, from one seed's runs and features, standard and 2-D
    (test points shared by the models; `seed` seeds the bootstrap). The CV of MMC's fixed
    centers (0 by construction, in the distance summary) decides nothing."""
    rows = []
    L = int(runs["MMC-10"].model.num_classes)
    for sce, mmc, f in (("SCE", "MMC-10", feats), ("SCE 2-D", "MMC-10 2-D", f2d)):
        a, b, d, ci = _paired(compactness, f[sce], f[mmc], L, seed, reps)
        rows.append(V.Verdict(f"MMC's features are more compact than SCE's ({mmc} vs {sce})",
                              f"mean distance to the class mean / mean distance between class "
                              f"means, {sce} minus {mmc}, n={len(f[sce][1])} test points",
                              "paper Fig. 2/3; reproduction Fig. 2/3 (pictures)",
                              f"{sce} {a:.3f} vs {mmc} {b:.3f}",
                              *_above_zero(d, ci, f"{sce} - {mmc}")))
    a, b, d, ci = _paired(spacing_cv, feats["SCE"], feats["MMC-10"], L, seed, reps)
    rows.append(V.Verdict("SCE's class means are less equally spaced than MMC's",
                          "coefficient of variation of the distances between class means (test "
                          f"features), SCE minus MMC-10, n={len(feats['SCE'][1])}",
                          "reproduction: cat/dog closer for SCE; MMC centers equidistant",
                          f"SCE {a:.3f} vs MMC-10 {b:.3f}",
                          *_above_zero(d, ci, "SCE - MMC-10")))
    return rows
