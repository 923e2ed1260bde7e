"""Claim 3 (notebook 04): MMC is at least as robust as SCE to general corruptions, Gaussian
noise and rotation (Pang et al., ICLR 2020, Sec. 5.3; the original's std 0.05 and +-30
degrees), and how accuracy falls as each grows."""
from __future__ import annotations

import json

import pandas as pd

from .. import verdicts as V
from ..attacks import GaussianNoise, Rotation
from ..suites import attack_table
from .common import estimate, versus

__all__ = ["NOISE_STD", "ROTATION_DEGREES", "STDS", "DEGREES", "results", "verdicts"]

NOISE_STD = 0.05        # the original's settings
ROTATION_DEGREES = 30.0
STDS = (0.02, 0.05, 0.1, 0.2, 0.3)
DEGREES = (10.0, 20.0, 30.0, 45.0, 60.0)
KINDS = {"noise": "Gaussian noise (std)", "rotation": "random rotation (max degrees)"}


def results(runs: dict, data, n: int, seed: int, progress=None) -> pd.DataFrame:
    """Accuracy of every run under noise of each std and rotation of each maximum angle, on
    the same `n` seeded points; ``corruption`` and ``level`` name each row."""
    def suite(run):
        return ([GaussianNoise(std=s, seed=seed) for s in STDS]
                + [Rotation(max_degrees=d, seed=seed) for d in DEGREES])
    res = attack_table(runs, suite, n=n, seed=seed, progress=progress, worst=False, data=data)
    res["corruption"] = res["attack"].map(KINDS)
    res["level"] = [json.loads(s).get("std", json.loads(s).get("max_degrees"))
                    for s in res["settings"]]
    return res


def verdicts(res: pd.DataFrame, n: int) -> list[V.Verdict]:
    """MMC against SCE at the original's noise and rotation (one seed's rows)."""
    rows = []
    for attack, level, claim, measure in (
            ("noise", NOISE_STD, "MMC is at least as robust as SCE to Gaussian noise (std 0.05)",
             f"accuracy under Gaussian noise, std {NOISE_STD:g}, n={n}"),
            ("rotation", ROTATION_DEGREES,
             "MMC is at least as robust as SCE to rotation (+-30 degrees)",
             f"accuracy under random rotation within +-{ROTATION_DEGREES:g} degrees, n={n}")):
        rows.append(versus(claim, measure, "paper Sec. 5.3: MMC at least as robust as SCE "
                                           "(tables not read offline)",
                           estimate(res, run="MMC-10", attack=attack, level=level),
                           estimate(res, run="SCE", attack=attack, level=level), ("MMC", "SCE"),
                           rule=V.not_less, margin=0.01))
    return rows
