"""Verdict rules: a claim's verdict computed from measured numbers, never typed by hand.

Every claim notebook states its rule before computing anything and ends with
:func:`verdict_table` over rows built by these functions. The three outcomes are
``holds``, ``does not hold`` and ``inconclusive at this profile``. Uncertainty is handled
through intervals: a comparison of accuracies decides only when the 95% Wilson intervals
(:func:`rethinkmmc.evaluate.wilson`) do not overlap, or when a value clears a threshold by
more than its interval.

Every rule returns a :class:`Decision`: the verdict, why, and its **margin**, the smallest
shift of the compared quantity (in its own units, intervals moving with it) that would change
the verdict. The margin is stored with the verdict records (not shown in the tables): a
re-computation on other hardware must reproduce every verdict whose margin is wide
(tests/test_smoke_cold.py).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping, NamedTuple

import pandas as pd

from .stats import paired_difference

__all__ = ["HOLDS", "FAILS", "OPEN", "VERDICTS", "Decision", "Verdict", "at_least", "at_most",
           "greater", "not_less", "improves", "greater_paired", "improves_paired",
           "not_less_paired", "above_zero", "all_of", "unanimous", "across_seeds",
           "verdict_table"]

HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive at this profile"
VERDICTS = (HOLDS, FAILS, OPEN)


class Decision(NamedTuple):
    """What a rule decides: the verdict, why, and how far the data are from changing it."""

    verdict: str
    why: str
    margin: float = math.nan


@dataclass(frozen=True)
class Verdict:
    """One row of a verdict table. `margin`: see the module docstring (NaN: not known)."""

    claim: str
    measure: str
    reference: str
    ours: str
    verdict: str
    why: str
    margin: float = field(default=math.nan, compare=False)

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
        return Decision(OPEN, f"{what} was not measured")
    span = "" if ci is None else f" (95% CI {_f(lo)}-{_f(hi)})"
    if lo >= threshold:
        return Decision(HOLDS, f"{what} {_f(value)}{span} >= {_f(threshold)}", lo - threshold)
    if hi < threshold:
        return Decision(FAILS, f"{what} {_f(value)}{span} < {_f(threshold)}", threshold - hi)
    return Decision(OPEN, f"{what} {_f(value)}{span} straddles {_f(threshold)}",
                    min(threshold - lo, hi - threshold))


def at_most(value: float, threshold: float, ci: tuple[float, float] | None = None,
            what: str = "value") -> tuple[str, str]:
    """Holds when the whole interval of `value` is <= `threshold`; does not hold when the whole
    interval is above it; inconclusive otherwise."""
    lo, hi = _interval(value, ci)
    if math.isnan(lo) or math.isnan(hi):
        return Decision(OPEN, f"{what} was not measured")
    span = "" if ci is None else f" (95% CI {_f(lo)}-{_f(hi)})"
    if hi <= threshold:
        return Decision(HOLDS, f"{what} {_f(value)}{span} <= {_f(threshold)}", threshold - hi)
    if lo > threshold:
        return Decision(FAILS, f"{what} {_f(value)}{span} > {_f(threshold)}", lo - threshold)
    return Decision(OPEN, f"{what} {_f(value)}{span} straddles {_f(threshold)}",
                    min(threshold - lo, hi - threshold))


def greater(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
            margin: float = 0.0) -> tuple[str, str]:
    """`a` > `b` + margin: holds when a's interval lies wholly above b's (+ margin); does not
    hold when a's lies wholly at or below b's + margin; inconclusive when they overlap."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return Decision(OPEN, "not measured")
    na, nb = names
    plus = f" + {_f(margin)}" if margin else ""
    apart = ", intervals apart" if a_ci is not None or b_ci is not None else ""
    if alo > bhi + margin:
        return Decision(HOLDS, f"{na} {_f(a)} > {nb} {_f(b)}{plus}{apart}", alo - bhi - margin)
    if ahi <= blo + margin:
        return Decision(FAILS, f"{na} {_f(a)} <= {nb} {_f(b)}{plus}{apart}",
                        blo + margin - ahi)
    return Decision(OPEN, f"{na} {_f(a)} vs {nb} {_f(b)}{plus}: intervals overlap",
                    min(bhi + margin - alo, ahi - blo - margin))


def not_less(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
             tolerance: float = 0.0) -> tuple[str, str]:
    """`a` is not below `b` by more than `tolerance`, from two independent intervals (where no
    per-point results pair them; :func:`not_less_paired` where they do): does not hold when
    a's interval lies wholly below b's - tolerance; holds when even the least favourable
    reading, a's lower end against b's upper end, is within the tolerance; inconclusive
    otherwise. Without intervals the point estimates decide."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return Decision(OPEN, "not measured")
    na, nb = names
    t = _f(tolerance)
    if ahi < blo - tolerance:
        return Decision(FAILS, f"{na} {_f(a)} below {nb} {_f(b)} - {t}, intervals apart",
                        blo - tolerance - ahi)
    if alo >= bhi - tolerance:
        return Decision(HOLDS, f"{na} {_f(a)} >= {nb} {_f(b)} - {t}, even at the intervals' "
                        "least favourable ends", alo - (bhi - tolerance))
    return Decision(OPEN, f"{na} {_f(a)} vs {nb} {_f(b)} - {t}: the intervals allow a larger "
                    "loss", min(bhi - tolerance - alo, ahi - (blo - tolerance)))


def improves(a: float, b: float, a_ci=None, b_ci=None, names=("a", "b"),
             min_gain: float = 0.05) -> tuple[str, str]:
    """`a` improves on `b` by at least `min_gain` (absolute): holds when a's interval lies above
    b's and the point gain a - b >= min_gain; does not hold when even the most favourable
    reading (a's upper bound minus b's lower bound) gains less than min_gain; else
    inconclusive."""
    alo, ahi = _interval(a, a_ci)
    blo, bhi = _interval(b, b_ci)
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return Decision(OPEN, "not measured")
    na, nb = names
    if alo > bhi and a - b >= min_gain:
        return Decision(HOLDS, f"{na} {_f(a)} vs {nb} {_f(b)}: gain {_f(a - b)} >= "
                        f"{_f(min_gain)}, intervals apart", min(alo - bhi, a - b - min_gain))
    if ahi - blo < min_gain:
        return Decision(FAILS, f"{na} {_f(a)} vs {nb} {_f(b)}: even the best reading gains "
                        f"{_f(ahi - blo)} < {_f(min_gain)}", min_gain - (ahi - blo))
    to_hold = max(bhi - alo, min_gain - (a - b), 0.0)
    return Decision(OPEN, f"{na} {_f(a)} vs {nb} {_f(b)}: gain {_f(a - b)} uncertain",
                    min(to_hold, ahi - blo - min_gain))


def _paired(a, b, flags_a: str, flags_b: str, names, word: str, extra: str = ""):
    """(a - b, its paired 95% interval's ends, the reason's head) from per-point flags."""
    d, (lo, hi), p = paired_difference([c == "1" for c in flags_a], [c == "1" for c in flags_b])
    na, nb = names
    return d, lo, hi, (f"{na} {_f(a)} vs {nb} {_f(b)}: paired {word} {_f(d)} (95% CI {_f(lo)} "
                       f"to {_f(hi)}, McNemar p={p:.2g}{extra})")


def improves_paired(a: float, b: float, flags_a: str, flags_b: str, names=("a", "b"),
                    min_gain: float = 0.05) -> Decision:
    """:func:`improves` for two models measured on the same points: decided on the paired 95%
    interval of the difference a - b (stats.paired_difference: Newcombe's method 10, with
    McNemar's exact p in the reason). Holds when that interval lies above 0 and the gain
    a - b >= min_gain; does not hold when even its upper end gains < min_gain; else
    inconclusive."""
    d, lo, hi, head = _paired(a, b, flags_a, flags_b, names, "gain", f", n={len(flags_a)}")
    if math.isnan(d):
        return Decision(OPEN, "not measured")
    if lo > 0 and d >= min_gain:
        return Decision(HOLDS, f"{head} >= {_f(min_gain)}", min(lo, d - min_gain))
    if hi < min_gain:
        return Decision(FAILS, f"{head}: even the best reading gains < {_f(min_gain)}",
                        min_gain - hi)
    return Decision(OPEN, f"{head}: uncertain", min(max(-lo, min_gain - d, 0.0),
                                                    hi - min_gain))


def greater_paired(a: float, b: float, flags_a: str, flags_b: str, names=("a", "b"),
                   margin: float = 0.0) -> Decision:
    """:func:`greater` for two models measured on the same points (e.g. two models' test
    accuracies on the whole test split): decided on the paired 95% interval of a - b
    (stats.paired_difference: Newcombe's method 10, McNemar's exact p in the reason), which is
    narrower than two independent intervals where the models agree point by point. Holds when
    the interval lies wholly above `margin`; does not hold when it lies wholly at or below it;
    inconclusive when it straddles `margin`."""
    d, lo, hi, head = _paired(a, b, flags_a, flags_b, names, "difference",
                              f", n={len(flags_a)}")
    if math.isnan(d):
        return Decision(OPEN, "not measured")
    m = _f(margin)
    if lo > margin:
        return Decision(HOLDS, f"{head} > {m}", lo - margin)
    if hi <= margin:
        return Decision(FAILS, f"{head} <= {m}", margin - hi)
    return Decision(OPEN, f"{head} straddles {m}", min(margin - lo, hi - margin))


def not_less_paired(a: float, b: float, flags_a: str, flags_b: str, names=("a", "b"),
                    tolerance: float = 0.0) -> Decision:
    """:func:`not_less` on the paired interval of a - b, as a non-inferiority test: holds when
    the whole 95% interval lies at or above -tolerance (the data exclude a loss of more than
    `tolerance`); does not hold when the whole interval lies below -tolerance; inconclusive
    otherwise, also when the point estimate is within the tolerance but the interval reaches
    beyond it (too few points to show it)."""
    d, lo, hi, head = _paired(a, b, flags_a, flags_b, names, "difference",
                              f", n={len(flags_a)}")
    if math.isnan(d):
        return Decision(OPEN, "not measured")
    t = _f(tolerance)
    if hi < -tolerance:
        return Decision(FAILS, f"{head} < -{t}", -tolerance - hi)
    if lo >= -tolerance:
        return Decision(HOLDS, f"{head} >= -{t}", lo + tolerance)
    return Decision(OPEN, f"{head} reaches below -{t}", min(-tolerance - lo, hi + tolerance))


def above_zero(d: float, ci: tuple[float, float], what: str = "difference") -> Decision:
    """A paired difference `d` (a - b, measured on the same points) with its 95% interval `ci`
    (e.g. stats.paired_bootstrap_two): a beats b when the whole interval lies above 0; does not
    when it lies at or below 0; inconclusive when it straddles 0."""
    lo, hi = _interval(d, ci)
    if any(math.isnan(v) for v in (d, lo, hi)):
        return Decision(OPEN, f"{what} was not measured")
    head = f"{what} {_f(d)} (95% paired CI {_f(lo)} to {_f(hi)})"
    if lo > 0:
        return Decision(HOLDS, f"{head} > 0", lo)
    if hi <= 0:
        return Decision(FAILS, f"{head} <= 0", -hi if hi < 0 else 0.0)
    return Decision(OPEN, f"{head} straddles 0", min(-lo, hi))


PAIRED = {improves: improves_paired, not_less: not_less_paired, greater: greater_paired}


def all_of(decisions: Iterable[Decision], joiner: str = "; ") -> Decision:
    """Combine rules that must all hold: does not hold when any does not hold, holds when all
    hold, else inconclusive. The margin is the smallest shift that changes the combination:
    the least decisive holding rule, or the most decisive failing one (every failing rule
    must flip before the combination can), or the nearest open one."""
    ds = list(decisions)
    if not ds:
        raise ValueError("decisions: all_of needs at least one decision")
    vs = [d.verdict for d in ds]
    why = joiner.join(d.why for d in ds)
    if FAILS in vs:
        return Decision(FAILS, why, max(d.margin for d in ds if d.verdict == FAILS))
    if all(v == HOLDS for v in vs):
        return Decision(HOLDS, why, min(d.margin for d in ds))
    return Decision(OPEN, why, min(d.margin for d in ds if d.verdict == OPEN))


def unanimous(decisions: Iterable[Decision], joiner: str = "; ") -> Decision:
    """Combine rules asked the same question in several settings (e.g. every k): holds when all
    hold, does not hold when none holds and all fail, inconclusive when they disagree. The
    margin: the least decisive rule of a unanimous verdict; for a split one, the shift that
    makes it unanimous either way (every dissenting rule must flip)."""
    ds = list(decisions)
    if not ds:
        raise ValueError("decisions: unanimous needs at least one decision")
    why = joiner.join(d.why for d in ds)
    for v in (HOLDS, FAILS):
        if all(d.verdict == v for d in ds):
            return Decision(v, why, min(d.margin for d in ds))
    to = [max((d.margin for d in ds if d.verdict != v), default=0.0) for v in (HOLDS, FAILS)]
    return Decision(OPEN, why, min(to))


def across_seeds(rows_by_seed: Mapping[int, list[Verdict]]) -> list[Verdict]:
    """One verdict table from the same rows computed on each seed's runs: a row holds when it
    holds on every seed, does not hold when it fails on every seed, and is inconclusive when
    the seeds disagree (or any is inconclusive); see :func:`unanimous`. With one seed the rows
    are returned as they are. The rows of every seed must name the same claims in the same
    order; ``ours`` lists each seed's reading."""
    seeds = list(rows_by_seed)
    if not seeds:
        raise ValueError("rows_by_seed: at least one seed is needed")
    if len(seeds) == 1:
        return list(rows_by_seed[seeds[0]])
    tables = [rows_by_seed[s] for s in seeds]
    if len({len(t) for t in tables}) != 1 or any(
            [r.claim for r in t] != [r.claim for r in tables[0]] for t in tables):
        raise ValueError("rows_by_seed: every seed must give the same claims in the same order")
    out = []
    for rows in zip(*tables):
        d = unanimous([Decision(r.verdict, f"seed {s}: {r.why}", r.margin)
                       for s, r in zip(seeds, rows)])
        tag = {HOLDS: "holds on every seed", FAILS: "fails on every seed",
               OPEN: "seeds disagree or inconclusive"}[d.verdict]
        out.append(Verdict(rows[0].claim, f"{rows[0].measure}; seeds {', '.join(map(str, seeds))}",
                           rows[0].reference,
                           "; ".join(f"seed {s}: {r.ours}" for s, r in zip(seeds, rows)),
                           d.verdict, f"{tag}: {d.why}", d.margin))
    return out


def verdict_table(rows: list[Verdict]) -> pd.DataFrame:
    """The verdict rows as a DataFrame with the columns every notebook ends with. Each row's
    margin travels in ``.attrs["margin"]`` (stored with the records, not displayed)."""
    if not rows:
        raise ValueError("rows: a verdict table needs at least one row")
    table = pd.DataFrame([{k: v for k, v in asdict(r).items() if k != "margin"} for r in rows])
    table.attrs["margin"] = [float(r.margin) for r in rows]
    return table
