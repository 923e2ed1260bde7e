"""Claim 6 (notebook 08): MMC's features cluster around their centers, and its centers are
equally spaced where SCE's class means are not (Pang et al., ICLR 2020, Fig. 2-3; the 2020
reproduction's Figures 2-3 and its cat/dog argument)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from .. import analysis as A, verdicts as V
from ..evaluate import wilson
from .density import features

__all__ = ["features", "table_2d", "nn_same_class", "projections", "distance_tables",
           "distance_summary", "own_center_share", "verdicts"]


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


def own_center_share(run, z, y):
    """The share of features nearest their own class's center, its Wilson interval, n."""
    nearest = torch.cdist(z.double(), run.model.centers.double()).argmin(1)
    k = int((nearest == y).sum())
    return k / len(y), wilson(k, len(y)), len(y)


def verdicts(runs: dict, feats: dict, runs2d: dict, f2d: dict,
             summary: pd.DataFrame) -> list[V.Verdict]:
    """The verdict rows of notebook 08, from one seed's runs and tables."""
    rows = []
    for label, run, (z, y) in [("MMC-10", runs["MMC-10"], feats["MMC-10"]),
                               ("MMC-10 2-D", runs2d["MMC-10 2-D"], f2d["MMC-10 2-D"])]:
        share, ci, m = own_center_share(run, z, y)
        rows.append(V.Verdict("MMC features cluster around their centers",
                              f"{label}: share of {m} test features nearest their own center "
                              "(= test accuracy)",
                              "paper Fig. 2/3; reproduction Fig. 2/3 (pictures)",
                              f"{share:.3f} (accuracy {run.metrics['test_accuracy']:.3f})",
                              *V.at_least(share, 0.95, ci, "share")))
    cv = summary.set_index("distances of")["coefficient of variation"]
    rows.append(V.Verdict("SCE's class means are unequally spaced, MMC's centers equally",
                          "coefficient of variation of the off-diagonal distances: SCE class "
                          "means vs MMC-10 centers",
                          "reproduction: cat/dog closer for SCE; MMC centers equidistant",
                          f"SCE {cv['SCE class means']:.3f} vs MMC centers "
                          f"{cv['MMC-10 centers']:.3g} (MMC class means "
                          f"{cv['MMC-10 class means']:.3f})",
                          *V.greater(cv["SCE class means"], cv["MMC-10 centers"],
                                     names=("SCE CV", "MMC centers CV"))))
    return rows
