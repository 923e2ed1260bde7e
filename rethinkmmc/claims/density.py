"""Claim 5 (notebook 07): MMC induces a higher sample density in feature space than SCE (Pang
et al., ICLR 2020: density ~ N_k for MMC against ~ N / L^2 for SCE). Measured as the median
k-NN radius within each class, raw and normalised by the mean distance between class means,
so that the unit of the features does not decide the reading; in the full feature space and in
the span of the class means, where SCE's free directions do not count; MMC against SCE on the
same test points by a paired bootstrap (stats.paired_bootstrap, within classes)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import analysis as A, verdicts as V
from ..stats import paired_bootstrap
from .common import test_outputs

__all__ = ["SPACES", "features", "usable_k", "scale", "feature_table", "density", "readings",
           "paired", "verdicts"]

SPACES = ("features", "class-mean subspace")


def features(runs: dict, data_root=None) -> dict:
    """Run name -> (test features, labels)."""
    return {k: (z, y) for k, (z, _, y) in test_outputs(runs, data_root).items()}


def usable_k(feats: dict, ks) -> tuple[list[int], list[int], int]:
    """The k below the smallest class size (used), those skipped, and that size."""
    smallest = min(int(np.bincount(y.numpy()).min()) for _, y in feats.values())
    return [k for k in ks if k < smallest], [k for k in ks if k >= smallest], smallest


def scale(z, y) -> float:
    """The normaliser of scale="centroid": the mean distance between class means."""
    m = A.class_means(z, y, int(y.max()) + 1)
    iu = np.triu_indices(len(m), 1)
    return float(A.center_distance_table(m, list(range(len(m)))).to_numpy()[iu].mean())


def feature_table(runs: dict, feats: dict) -> pd.DataFrame:
    return pd.DataFrame([{"run": k, "test accuracy": runs[k].metrics["test_accuracy"],
                          "feature dim": int(z.shape[1]),
                          "mean feature norm": float(z.norm(dim=1).mean()),
                          "mean distance between class means": scale(z, y)}
                         for k, (z, y) in feats.items()])


def density(feats: dict, ks) -> pd.DataFrame:
    """The k-NN radius (median, quartiles) per model and k, normalised and raw."""
    return pd.concat([A.density_table(feats, ks, scale="centroid").assign(scale="normalised"),
                      A.density_table(feats, ks, scale="none").assign(scale="raw")],
                     ignore_index=True)


def readings(dens: pd.DataFrame) -> pd.DataFrame:
    """Per scale and k: both median radii, their ratio and what it reads ("MMC denser" = MMC's
    median radius smaller)."""
    wide = dens.pivot_table(index=["scale", "k"], columns="model", values="median_radius",
                            sort=False)
    wide["MMC / SCE"] = wide["MMC-10"] / wide["SCE"]
    wide["reading"] = np.where(wide["MMC-10"] < wide["SCE"], "MMC denser",
                               np.where(wide["MMC-10"] > wide["SCE"], "SCE denser", "tie"))
    return wide


def _space(z, y, space: str):
    return z if space == "features" else A.class_mean_subspace(z, y, int(y.max()) + 1)


def paired(feats: dict, ks, seed: int, reps: int = 200) -> pd.DataFrame:
    """Per space and k: the median normalised k-NN radius of SCE and MMC-10 on the same test
    points, and SCE's minus MMC's with a paired bootstrap interval (points resampled within
    their class, once for both models). A positive difference: MMC's classes are denser."""
    (zs, y), (zm, ym) = feats["SCE"], feats["MMC-10"]
    if not np.array_equal(np.asarray(y), np.asarray(ym)):
        raise ValueError("feats: SCE and MMC-10 must be measured on the same test points")
    rows = []
    for space in SPACES:
        a, b = _space(zs, y, space), _space(zm, y, space)
        radii_s, radii_m = A.knn_radii(a, y, ks), A.knn_radii(b, y, ks)
        for k in ks:
            rs, rm = radii_s[k], radii_m[k]
            d, (lo, hi) = paired_bootstrap(
                lambda i: np.median(rs[i]) - np.median(rm[i]), len(rs),
                strata=np.asarray(y), reps=reps, seed=seed)
            rows.append({"space": space, "dimensions": int(a.shape[1]), "k": k,
                         "SCE": float(np.median(rs)), "MMC-10": float(np.median(rm)),
                         "SCE - MMC": d, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def verdicts(pair_by_data: dict[str, pd.DataFrame], ks: list[int]) -> list[V.Verdict]:
    """Per dataset and space: holds when SCE's median normalised radius exceeds MMC's (paired
    interval above 0) at every k, does not hold when it is at or below at every k, else
    inconclusive."""
    rows = []
    for dataset, pair in pair_by_data.items():
        for space in SPACES:
            sel = pair[pair["space"] == space].set_index("k")
            per_k = [V.above_zero(sel.loc[k, "SCE - MMC"],
                                  (sel.loc[k, "ci_low"], sel.loc[k, "ci_high"]),
                                  f"k={k}: SCE - MMC") for k in ks]
            dims = int(sel["dimensions"].iloc[0])
            rows.append(V.Verdict(
                "MMC induces a higher sample density in feature space than SCE",
                f"median k-NN radius within the class / mean distance between class means, "
                f"{dataset} test features, {space} ({dims} dimensions), k in {ks}, "
                "200-resample paired bootstrap",
                "paper: density ~ N_k (MMC) vs ~ N/L^2 (SCE); no measured density",
                "; ".join(f"k={k}: MMC {sel.loc[k, 'MMC-10']:.3g} vs SCE {sel.loc[k, 'SCE']:.3g}"
                          for k in ks),
                *V.unanimous(per_k)))
    return rows
