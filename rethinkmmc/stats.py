"""The intervals and tests of the verdicts: one proportion, and two models on the same points.

- :func:`wilson`: the 95% Wilson score interval of a proportion (Wilson 1927).
- :func:`paired_difference`: the difference of two accuracies measured on the same points,
  with Newcombe's hybrid score interval for paired proportions (Newcombe, "Improved confidence
  intervals for the difference between binomial proportions based on paired data", Statistics
  in Medicine 1998, method 10) and the exact McNemar test (McNemar 1947; the binomial test on
  the discordant points). Two models attacked on the same points are correlated: a point one
  survives the other often survives too, so comparing two independent intervals is too
  cautious where they agree and says nothing about where they differ.
- :func:`paired_bootstrap`: a percentile interval of any statistic of two models' outputs on the
  same points (Efron & Tibshirani 1993, ch. 13), resampling the points once for both models and
  within each class, so that no resample loses a class.
- :func:`paired_bootstrap_two`: the same for a statistic of two samples, such as the difference
  of two models' AUROCs on the same test points and the same out-of-distribution points; a
  sample whose points come in clusters (crops of one photograph) is resampled by cluster
  (Davison & Hinkley 1997, sec. 3.8), so that the interval counts photographs, not crops.
"""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["wilson", "paired_difference", "mcnemar_p", "paired_bootstrap",
           "paired_bootstrap_two", "Z95"]

Z95 = 1.959964


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at k = 0 (k = n) the bound is exactly 0 (1); the formula leaves rounding dust like 4e-19
    return (0.0 if k == 0 else max(0.0, mid - half), 1.0 if k == n else min(1.0, mid + half))


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: b points only A got right, c only B."""
    m = b + c
    if m == 0:
        return 1.0
    k = min(b, c)
    # integer numerator over 2**m as an int: Python divides big ints exactly-rounded, where
    # 2.0 ** m overflows a float beyond 1023 discordant points (a 10,000-point test set)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / (1 << m)
    return min(1.0, 2 * tail)


def paired_difference(a: Sequence[int], b: Sequence[int]) -> tuple[float, tuple[float, float],
                                                                   float]:
    """(acc_a - acc_b, its 95% interval, McNemar's p) from per-point 0/1 results of two models
    on the same points, in the same order."""
    if len(a) != len(b):
        raise ValueError(f"a, b: per-point results of the same points, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        nan = float("nan")
        return nan, (nan, nan), nan
    both = sum(1 for x, y in zip(a, b) if x and y)
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = wilson(both + only_a, n)
    l2, u2 = wilson(both + only_b, n)
    den = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(den) if den else 0.0
    d = p1 - p2
    lo = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
    hi = d + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
    return d, (max(lo, -1.0), min(hi, 1.0)), mcnemar_p(only_a, only_b)


def paired_bootstrap(stat, n: int, strata=None, reps: int = 1000, seed: int = 0
                     ) -> tuple[float, tuple[float, float]]:
    """(stat(all points), its 95% percentile interval) over `reps` resamples of the `n` points.

    `stat(idx)` computes the statistic (typically model A's minus model B's) from the points at
    the integer array `idx`; the same `idx` serves both models, which is what pairs them.
    `strata` (length n, e.g. the labels) resamples within each stratum, keeping its size.
    """
    import numpy as np

    _int_at_least("reps", reps, 10)
    _int_at_least("n", n, 1)
    groups = [np.arange(n)] if strata is None else \
        [np.flatnonzero(np.asarray(strata) == v) for v in np.unique(np.asarray(strata))]
    if sum(len(g) for g in groups) != n:
        raise ValueError(f"strata: need one label per point ({n}), got "
                         f"{sum(len(g) for g in groups)}")
    rng = np.random.default_rng(seed)
    full = float(stat(np.arange(n)))
    draws = np.array([float(stat(np.concatenate([g[rng.integers(0, len(g), len(g))]
                                                 for g in groups]))) for _ in range(reps)])
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return full, (float(lo), float(hi))


def _int_at_least(name: str, v, least: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise ValueError(f"{name}: must be an integer >= {least}, got {v!r}")


def _draw(rng, n: int, groups):
    """One resample of n points: with replacement, or by whole groups (index arrays) when
    given, the groups drawn with replacement."""
    import numpy as np

    if groups is None:
        return rng.integers(0, n, n)
    return np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])


def paired_bootstrap_two(stat, n_a: int, n_b: int, clusters_b=None, reps: int = 1000,
                         seed: int = 0) -> tuple[float, tuple[float, float]]:
    """(stat(all points), its 95% percentile interval) for a statistic of two samples.

    `stat(idx_a, idx_b)` computes it (typically model A's AUROC minus model B's) from the points
    of sample a at `idx_a` and of sample b at `idx_b`; each resample draws both index arrays
    once and hands them to both models, which pairs them. `clusters_b` (one label per point of
    sample b, or None for independent points): points sharing a label are drawn together, and
    the clusters with replacement, so that correlated points (crops of one photograph) count
    as one draw. With few clusters the interval is wide, as it should be.
    """
    import numpy as np

    _int_at_least("reps", reps, 10)
    _int_at_least("n_a", n_a, 1)
    _int_at_least("n_b", n_b, 1)
    groups_b = None
    if clusters_b is not None:
        clusters_b = np.asarray(clusters_b)
        if clusters_b.shape != (n_b,):
            raise ValueError(f"clusters_b: need one label per point of sample b ({n_b}), got "
                             f"shape {clusters_b.shape}")
        groups_b = [np.flatnonzero(clusters_b == v) for v in np.unique(clusters_b)]
    rng = np.random.default_rng(seed)
    full = float(stat(np.arange(n_a), np.arange(n_b)))
    draws = np.array([float(stat(_draw(rng, n_a, None), _draw(rng, n_b, groups_b)))
                      for _ in range(reps)])
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return full, (float(lo), float(hi))
