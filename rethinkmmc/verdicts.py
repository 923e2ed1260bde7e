"""Verdict rules: a claim's verdict computed from measured numbers, never typed by hand.

Every claim notebook states its rule before computing anything and ends with
:func:`verdict_table` over rows built by these functions. The three outcomes are
``holds``, ``does not hold`` and ``inconclusive at this profile``. Uncertainty is handled
through intervals: a comparison of accuracies decides only when the 95% Wilson intervals
(:func:`rethinkmmc.evaluate.wilson`) do not overlap, or when a value clears a threshold by
more than its interval.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

__all__ = ["HOLDS", "FAILS", "OPEN", "VERDICTS", "Verdict", "at_least", "at_most", "greater",
           "not_less", "improves", "verdict_table"]

HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive at this profile"
VERDICTS = (HOLDS, FAILS, OPEN)


@dataclass(frozen=True)
class Verdict:
    """One row of a verdict table."""

    claim: str
    measure: str
    reference: str
    ours: str
    verdict: str
    why: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: {self.verdict!r} is not one of {', '.join(VERDICTS)}")


def _f(v: float) -> str:
    """3 significant digits, plain for everyday magnitudes, exponent for tiny or huge ones."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.3g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.1e}"


def _interval(value: float, ci: tuple[float, float] | None) -> tuple[float, float]:
    return (value, value) if ci is None else (float(ci[0]), float(ci[1]))


def at_least(value: float, threshold: float, ci: tuple[float, float] | None = None,
             what: str = "value") -> tuple[str, str]:
    """Holds when the whole interval of `value` is >= `threshold`; does not hold when the whole
    interval is below it; inconclusive when the interval straddles it (or value is NaN)."""
    lo, hi = _interval(value, ci)
    if math.isnan(lo) or math.isnan(hi):
        return OPEN, f"{what} was not measured"
    span = "" if ci is None else f" (95% CI {_f(lo)}-{_f(hi)})"
    if lo >= threshold:
        return HOLDS, f"{what} {_f(value)}{span} >= {_f(threshold)}"
    if hi < threshold:
        return FAILS, f"{what} {_f(value)}{span} < {_f(threshold)}"
    return OPEN, f"{what} {_f(value)}{span} straddles {_f(threshold)}"


def at_most(value: float, threshold: float, ci: tuple[float, float] | None = None,
            what: str = "value") -> tuple[str, str]:
    """Holds when the whole interval of `value` is <= `threshold`; does not hold when the whole
    interval is above it; inconclusive otherwise."""
    lo, hi = _interval(value, ci)
    if math.isnan(lo) or math.isnan(hi):
        return OPEN, f"{what} was not measured"
    span = "" if ci is None else f" (95% CI {_f(lo)}-{_f(hi)})"
    if hi <= threshold:
        return HOLDS, f"{what} {_f(value)}{span} <= {_f(threshold)}"
    if lo > threshold:
        return FAILS, f"{what} {_f(value)}{span} > {_f(threshold)}"
    return OPEN, f"{what} {_f(value)}{span} straddles {_f(threshold)}"


def greater(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
            margin: float = 0.0) -> tuple[str, str]:
    """`a` > `b` + margin: holds when a's interval lies wholly above b's (+ margin); does not
    hold when a's lies wholly at or below b's + margin; inconclusive when they overlap."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return OPEN, "not measured"
    na, nb = names
    plus = f" + {_f(margin)}" if margin else ""
    apart = ", intervals apart" if a_ci is not None or b_ci is not None else ""
    if alo > bhi + margin:
        return HOLDS, f"{na} {_f(a)} > {nb} {_f(b)}{plus}{apart}"
    if ahi <= blo + margin:
        return FAILS, f"{na} {_f(a)} <= {nb} {_f(b)}{plus}{apart}"
    return OPEN, f"{na} {_f(a)} vs {nb} {_f(b)}{plus}: intervals overlap"


def not_less(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
             tolerance: float = 0.0) -> tuple[str, str]:
    """`a` is not below `b` by more than `tolerance`: does not hold when a's interval lies wholly
    below b's - tolerance; holds when a's point estimate >= b - tolerance and the intervals
    are not apart the other way; inconclusive when a < b - tolerance but the intervals overlap."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return OPEN, "not measured"
    na, nb = names
    if ahi < blo - tolerance:
        return FAILS, f"{na} {_f(a)} below {nb} {_f(b)} - {_f(tolerance)}, intervals apart"
    if a >= b - tolerance:
        return HOLDS, f"{na} {_f(a)} >= {nb} {_f(b)} - {_f(tolerance)}"
    return OPEN, f"{na} {_f(a)} < {nb} {_f(b)} - {_f(tolerance)}, intervals overlap"


def improves(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
             min_gain: float = 0.05) -> tuple[str, str]:
    """`a` improves on `b` by at least `min_gain` (absolute): holds when a's interval lies above
    b's and the point gain a - b >= min_gain; does not hold when even the most favourable
    reading (a's upper bound minus b's lower bound) gains less than min_gain; else
    inconclusive."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return OPEN, "not measured"
    na, nb = names
    if alo > bhi and a - b >= min_gain:
        return HOLDS, f"{na} {_f(a)} vs {nb} {_f(b)}: gain {_f(a - b)} >= {_f(min_gain)}, intervals apart"
    if ahi - blo < min_gain:
        return FAILS, (f"{na} {_f(a)} vs {nb} {_f(b)}: even the best reading gains "
                       f"{_f(ahi - blo)} < {_f(min_gain)}")
    return OPEN, f"{na} {_f(a)} vs {nb} {_f(b)}: gain {_f(a - b)} uncertain"


def verdict_table(rows: list[Verdict]) -> pd.DataFrame:
    """The verdict rows as a DataFrame with the columns every notebook ends with."""
    if not rows:
        raise ValueError("rows: a verdict table needs at least one row")
    return pd.DataFrame([asdict(r) for r in rows])
