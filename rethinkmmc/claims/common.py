"""What every claim module needs of its result frames: one row looked up by its labels, and
results over several seeds (stacked with a ``seed`` column, shown as mean and spread)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pandas as pd

from .. import verdicts as V

__all__ = ["lookup", "estimate", "over_seeds", "at_seed", "seed_pivot", "seed_spread",
           "one_seed_view", "checked_rows", "test_outputs", "test_flags", "flag_accuracy", "versus"]

BLACK_BOX = ("spsa", "square")  # the gradient-free attacks: "black-box" rows of the checks


def lookup(frame: pd.DataFrame, **labels: Any) -> pd.Series:
    """The first row of `frame` whose columns equal `labels` (``lookup(res, run="SCE",
    eps=0.1)``). Raises KeyError naming the labels when no row matches."""
    mask = pd.Series(True, index=frame.index)
    for k, v in labels.items():
        if k not in frame.columns:
            raise KeyError(f"lookup: no column {k!r} "
                           f"(columns: {', '.join(map(str, frame.columns))})")
        mask &= frame[k] == v
    hit = frame[mask]
    if hit.empty:
        raise KeyError("lookup: no row with " + ", ".join(f"{k}={v!r}" for k, v in labels.items()))
    return hit.iloc[0]


class Estimate(tuple):
    """``(value, (ci_low, ci_high))``, and where the row has them, the checksum of its points
    and its per-point results (``points``, ``flags``), so that two estimates on the same points
    can be compared point by point."""

    points: str | None = None
    flags: str | None = None

    def __new__(cls, value: float, ci: tuple[float, float], points=None, flags=None):
        out = super().__new__(cls, (value, ci))
        out.points, out.flags = points, flags
        return out


def estimate(frame: pd.DataFrame, value: str = "robust_accuracy", **labels: Any) -> Estimate:
    """A row's `value` and its interval (``ci_low``, ``ci_high``), the row found by `lookup`;
    with its points and per-point flags where the frame has them (robust accuracy only)."""
    r = lookup(frame, **labels)
    paired = value == "robust_accuracy" and isinstance(r.get("flags"), str)
    return Estimate(float(r[value]), (float(r["ci_low"]), float(r["ci_high"])),
                    r.get("points") if paired else None, r.get("flags") if paired else None)


def over_seeds(seeds: Iterable[int], measure: Callable[[int], pd.DataFrame]) -> pd.DataFrame:
    """``measure(seed)`` for every seed, stacked into one frame with a ``seed`` column."""
    frames = [measure(s).assign(seed=s) for s in seeds]
    if not frames:
        raise ValueError("seeds: at least one seed is needed")
    return pd.concat(frames, ignore_index=True)


def at_seed(frame: pd.DataFrame | None, seed: int) -> pd.DataFrame | None:
    """The rows of one seed (without the ``seed`` column); None stays None."""
    if frame is None:
        return None
    return frame[frame["seed"] == seed].drop(columns="seed").reset_index(drop=True)


def _seeds(frame: pd.DataFrame) -> int:
    return frame["seed"].nunique() if "seed" in frame.columns else 1


def one_seed_view(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` for display: the ``seed`` column dropped when it holds a single seed."""
    return frame.drop(columns="seed") if _seeds(frame) == 1 and "seed" in frame else frame


def seed_pivot(frame: pd.DataFrame, index, columns, values: str,
               order: list | None = None) -> pd.DataFrame:
    """A pivot of `values` (rows `index`, columns `columns`). With one seed, the plain
    pivot; with several, the mean over seeds and their standard deviation (``sd``) side by
    side under a first column level. `order`: the column order (labels of `columns`)."""
    if _seeds(frame) == 1:
        out = frame.pivot_table(index=index, columns=columns, values=values, sort=False)
        return out[order] if order else out
    out = frame.pivot_table(index=index, columns=columns, values=values, sort=False,
                            aggfunc=["mean", "std"]).rename(columns={"std": "sd"}, level=0)
    if order:
        out = out.reindex(columns=pd.MultiIndex.from_product([["mean", "sd"], order]))
    return out


def seed_spread(frame: pd.DataFrame, by, value: str, keep=()) -> pd.DataFrame:
    """`value` over seeds, one row per `by` group in the frame's order: its mean, sample
    standard deviation (``sd``, empty with one seed), min, max and the number of seeds; the
    columns named in `keep` (constant within a group, e.g. a reference figure) ride along."""
    by = [by] if isinstance(by, str) else list(by)
    if value not in frame.columns:
        raise KeyError(f"seed_spread: no column {value!r} "
                       f"(columns: {', '.join(map(str, frame.columns))})")
    g = frame.groupby(by, sort=False)
    out = g[value].agg(mean="mean", sd="std", min="min", max="max").rename(
        columns=lambda c: f"{value} {c}")
    out["seeds"] = g["seed"].nunique() if "seed" in frame.columns else 1
    for k in keep:
        out[k] = g[k].first()
    return out


def checked_rows(df: pd.DataFrame, points: str | None = None) -> pd.DataFrame:
    """Evaluation rows (evaluate / attack_table) as `rethinkmmc.checks.run_checks(results=...)`
    reads them: the worst-case rows dropped, the display name as ``model``, ``kind``
    "black-box" for SPSA and Square, else "white-box", and (given) the ``points`` they share."""
    out = df[df["attack"] != "worst-case"].drop(columns=["model", "method", "attack name"],
                                                errors="ignore").rename(columns={"run": "model"})
    out = out.assign(kind=out["attack"].map(lambda a: "black-box" if a in BLACK_BOX
                                            else "white-box"))
    return out if points is None else out.assign(points=points)


def test_outputs(runs: dict, data_root=None) -> dict:
    """Run name -> (test-set features, logits, labels): one pass of each model over its test
    split (analysis.embed)."""
    # here, not at the top: notebook.py imports this module before any model is needed
    from .. import analysis as A  # noqa: PLC0415

    out = {}
    for k, r in runs.items():
        x, y = r.test_set(data_root)
        z, h = A.embed(r.model, x)
        out[k] = (z, h, y)
    return out


def test_flags(runs: dict, data_root=None) -> dict[str, str]:
    """Run name -> which of its test split's points it classifies correctly, as a string of
    0s and 1s in the split's order (evaluate.clean_flags: one pass of each model, stored beside
    the run and read back on a re-render). Two models on the same split are then compared
    point by point (verdicts.greater_paired), not by whether two independent intervals
    overlap."""
    from ..evaluate import clean_flags  # noqa: PLC0415 (see test_outputs)

    return {k: clean_flags(r, data_root) for k, r in runs.items()}


def flag_accuracy(flags: str) -> tuple[float, float, float, int]:
    """``(accuracy, ci_low, ci_high, n)`` of one run's :func:`test_flags` string: the share of
    1s with its 95% Wilson interval (stats.wilson), over the n points of the split."""
    from ..stats import wilson  # noqa: PLC0415 (see test_outputs)

    n, k = len(flags), flags.count("1")
    return (k / n if n else float("nan"), *wilson(k, n), n)


def versus(claim: str, measure: str, reference: str, a: tuple, b: tuple,
           labels: tuple[str, str], names: tuple[str, str] | None = None,
           rule: Callable = V.improves, margin: float = 0.05) -> V.Verdict:
    """A verdict row comparing two estimates ``(value, interval)`` of one measure (as
    :func:`estimate` gives them): `ours` reads "<A> 0.907 vs <B> 0.136", and `rule`
    (verdicts.improves, or not_less) decides with its gain or tolerance `margin`; `names` say
    the two sides in the rule's reasons (default: `labels`). Where both estimates carry
    per-point results on the same points, the rule's paired form decides
    (verdicts.improves_paired / not_less_paired)."""
    (va, ca), (vb, cb) = a, b
    ours = f"{labels[0]} {va:.3f} vs {labels[1]} {vb:.3f}"
    fa, fb = getattr(a, "flags", None), getattr(b, "flags", None)
    if (fa and fb and rule in V.PAIRED and a.points is not None and a.points == b.points
            and len(fa) == len(fb)):
        # the same points: decided point by point (McNemar / Newcombe's paired interval)
        return V.Verdict(claim, measure, reference, ours,
                         *V.PAIRED[rule](va, vb, fa, fb, names or labels, margin))
    return V.Verdict(claim, measure, reference, ours, *rule(va, vb, ca, cb, names or labels,
                                                            margin))
