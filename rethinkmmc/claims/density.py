"""Claim 5 (notebook 07): MMC induces a higher sample density in feature space than SCE (Pang
et al., ICLR 2020: density ~ N_k for MMC against ~ N / L^2 for SCE). Measured as the median
k-NN radius within each class, raw and normalised by the mean distance between class means,
so that the unit of the features does not decide the reading."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import analysis as A, verdicts as V
from .common import test_outputs

__all__ = ["features", "usable_k", "scale", "feature_table", "density", "readings", "verdicts"]


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


def verdicts(wide: pd.DataFrame, ks: list[int], dataset: str) -> list[V.Verdict]:
    """Holds when MMC's normalised median radius is smaller at every k, does not hold when it
    is not smaller at any, else inconclusive (the reading depends on k)."""
    norm = wide.loc["normalised"]
    per_k = {k: V.greater(norm.loc[k, "SCE"], norm.loc[k, "MMC-10"], names=("SCE", "MMC"))
             for k in ks}
    outcome = V.unanimous(per_k.values())
    words = {V.HOLDS: "MMC smaller", V.FAILS: "MMC not smaller", V.OPEN: "?"}
    why = ("MMC / SCE median normalised radius: "
           + ", ".join(f"k={k} {norm.loc[k, 'MMC / SCE']:.3g}" for k in ks)
           + {V.HOLDS: " (< 1 at every k)", V.FAILS: " (>= 1 at every k)",
              V.OPEN: " (depends on k)"}[outcome.verdict])
    return [V.Verdict("MMC induces a higher sample density in feature space than SCE",
                      "median k-NN radius within the class / mean distance between class means, "
                      f"{dataset} test features, k in {ks}",
                      "paper: density ~ N_k (MMC) vs ~ N/L^2 (SCE); no measured density",
                      "; ".join(f"k={k}: {words[d.verdict]} ({norm.loc[k, 'MMC-10']:.3g} vs "
                                f"{norm.loc[k, 'SCE']:.3g})" for k, d in per_k.items()),
                      *outcome._replace(why=why))]
