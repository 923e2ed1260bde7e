"""Paired comparisons of two models on the same points (issue 14: McNemar / a paired interval
instead of two overlapping Wilson intervals)."""
import random

import pytest

from rethinkmmc import verdicts as V
from rethinkmmc.claims.common import Estimate, versus
from rethinkmmc.stats import mcnemar_p, paired_difference, wilson


def test_mcnemar_matches_the_binomial_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(10, 0), (5, 5), (7, 2), (30, 18), (0, 0), (1, 12)]:
        want = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_p(b, c) == pytest.approx(want, rel=1e-9)


def test_mcnemar_takes_more_than_1023_discordant_points():
    # 2.0 ** m overflows past m = 1023: quick CIFAR-10 HMMC vs MMC on 10,000 test points had
    # ~5,000 discordant pairs and crashed notebook 11
    scipy_stats = pytest.importorskip("scipy.stats")
    assert mcnemar_p(3000, 2000) == 0.0 or mcnemar_p(3000, 2000) < 1e-40
    for b, c in [(600, 500), (1024, 1000)]:
        want = scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_p(b, c) == pytest.approx(want, rel=1e-6)
    assert mcnemar_p(2500, 2500) == 1.0


def _pairs(rng, n, pa, pb, agree):
    """n points: A right with prob. pa; B copies A with prob. `agree`, else draws its own."""
    a = [rng.random() < pa for _ in range(n)]
    b = [x if rng.random() < agree else (rng.random() < pb) for x in a]
    return a, b


def test_paired_interval_covers_the_true_difference_95_percent():
    # Monte Carlo coverage of Newcombe's method 10 for correlated pairs (true difference known
    # from the generating process): 0.93-0.975 over 1,500 draws of 200 points.
    rng = random.Random(0)
    pa, pb, agree, n = 0.6, 0.45, 0.7, 200
    true = pa - (agree * pa + (1 - agree) * pb)
    hits = sum(lo <= true <= hi for _ in range(1500)
               for _, (lo, hi), _ in [paired_difference(*_pairs(rng, n, pa, pb, agree))])
    assert 0.93 <= hits / 1500 <= 0.975


def test_paired_interval_is_narrower_than_two_wilson_intervals_for_correlated_models():
    rng = random.Random(1)
    a, b = _pairs(rng, 500, 0.30, 0.22, 0.9)
    d, (lo, hi), p = paired_difference(a, b)
    wa, wb = wilson(sum(a), 500), wilson(sum(b), 500)
    assert hi - lo < (wa[1] - wa[0]) + (wb[1] - wb[0])
    assert d == pytest.approx((sum(a) - sum(b)) / 500)
    with pytest.raises(ValueError, match="a, b: per-point results of the same points"):
        paired_difference([1, 0], [1])


def test_versus_decides_point_by_point_on_the_same_points_only():
    # MMC survives 30 more of 500 points than SCE and no point SCE survives is lost: the
    # Wilson intervals (0.20 vs 0.14) overlap, the paired interval of the difference does not
    # reach 0
    a = "1" * 100 + "0" * 400
    b = "1" * 70 + "0" * 430
    ea = Estimate(0.20, wilson(100, 500), "pts", a)
    eb = Estimate(0.14, wilson(70, 500), "pts", b)
    unpaired = versus("c", "m", "r", (0.20, wilson(100, 500)), (0.14, wilson(70, 500)),
                      ("MMC", "SCE"))
    paired = versus("c", "m", "r", ea, eb, ("MMC", "SCE"))
    assert unpaired.verdict == V.OPEN          # the Wilson intervals overlap
    assert paired.verdict == V.HOLDS and "McNemar" in paired.why
    other = Estimate(0.14, wilson(70, 500), "other points", b)
    assert versus("c", "m", "r", ea, other, ("MMC", "SCE")).verdict == V.OPEN
    # and it can fail: a gain of 1 point on the same points is below the 5-point bar
    c = "1" * 75 + "0" * 425
    worse = versus("c", "m", "r", Estimate(0.15, wilson(75, 500), "pts", c), eb, ("A", "B"))
    assert worse.verdict == V.FAILS


def test_paired_bootstrap_known_answers_and_strata():
    import numpy as np

    from rethinkmmc.stats import paired_bootstrap

    a = np.arange(40, dtype=float)
    b = a - 3.0  # model B is model A shifted: every paired resample gives exactly 3
    d, (lo, hi) = paired_bootstrap(lambda i: a[i].mean() - b[i].mean(), 40, reps=200)
    assert (d, lo, hi) == pytest.approx((3.0, 3.0, 3.0), abs=1e-12)
    # unpaired noise would widen it; a real spread gives an interval around the estimate
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    d, (lo, hi) = paired_bootstrap(lambda i: x[i].mean(), 400, reps=500, seed=2)
    assert lo < d < hi and hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.25)
    # within strata: every resample keeps each stratum's size
    strata = np.array([0] * 30 + [1] * 10)
    seen = []
    paired_bootstrap(lambda i: seen.append(np.bincount(strata[i], minlength=2).tolist()) or 0.0,
                     40, strata=strata, reps=20)
    assert all(s == [30, 10] for s in seen)


def test_paired_bootstrap_errors_name_the_field():
    from rethinkmmc.stats import paired_bootstrap

    with pytest.raises(ValueError, match="reps: must be an integer >= 10"):
        paired_bootstrap(lambda i: 0.0, 5, reps=3)
    with pytest.raises(ValueError, match="strata: need one label per point"):
        paired_bootstrap(lambda i: 0.0, 5, strata=[0, 1])


def test_paired_bootstrap_two_pairs_the_models_and_counts_clusters():
    import numpy as np
    from rethinkmmc.analysis import auroc
    from rethinkmmc.stats import paired_bootstrap_two

    rng = np.random.default_rng(0)
    ins, outs = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 300)
    # model b = model a plus a little noise on the same points: the paired difference is tiny
    # and its interval narrow, much narrower than either AUROC's own spread
    ins_b, outs_b = ins + rng.normal(0, 0.05, 300), outs + rng.normal(0, 0.05, 300)
    stat = lambda i, j: auroc(ins[i], outs[j]) - auroc(ins_b[i], outs_b[j])  # noqa: E731
    d, (lo, hi) = paired_bootstrap_two(stat, 300, 300, reps=200)
    assert d == auroc(ins, outs) - auroc(ins_b, outs_b)
    assert lo <= d <= hi and hi - lo < 0.02
    _, (alo, ahi) = paired_bootstrap_two(lambda i, j: auroc(ins[i], outs[j]), 300, 300, reps=200)
    assert ahi - alo > 3 * (hi - lo)
    # 300 "crops" of 2 photographs: one photo is easy to tell apart, the other is not. By
    # cluster the resamples are {A, A}, {A, B}, {B, B}: the interval spans both photos' AUROCs
    # (about 1 and 0.5); treating crops as independent gives a falsely narrow interval
    src = np.repeat([0, 1], 150)
    out2 = np.where(src == 0, rng.normal(-5.0, 1.0, 300), rng.normal(1.0, 1.0, 300))
    f = lambda i, j: auroc(ins[i], out2[j])  # noqa: E731
    _, (clo, chi) = paired_bootstrap_two(f, 300, 300, clusters_b=src, reps=200, seed=1)
    _, (ilo, ihi) = paired_bootstrap_two(f, 300, 300, reps=200, seed=1)
    assert clo < 0.6 and chi > 0.95 and ihi - ilo < 0.1
    with pytest.raises(ValueError, match="clusters_b: need one label per point"):
        paired_bootstrap_two(f, 300, 300, clusters_b=src[:10])
    with pytest.raises(ValueError, match="n_b: must be an integer >= 1"):
        paired_bootstrap_two(f, 300, 0)


def test_above_zero_reads_the_paired_interval():
    assert V.above_zero(0.1, (0.02, 0.2)).verdict == V.HOLDS
    assert V.above_zero(0.1, (0.02, 0.2)).margin == pytest.approx(0.02)
    assert V.above_zero(-0.1, (-0.2, -0.01)).verdict == V.FAILS
    assert V.above_zero(0.0, (0.0, 0.0)).verdict == V.FAILS  # equal everywhere: not better
    d = V.above_zero(0.01, (-0.03, 0.05), "MMC - SCE")
    assert d.verdict == V.OPEN and d.why == "MMC - SCE 0.01 (95% paired CI -0.03 to 0.05) " \
        "straddles 0" and d.margin == pytest.approx(0.03)
    assert V.above_zero(float("nan"), (0.0, 1.0)).verdict == V.OPEN


def test_greater_paired_decides_where_two_wilson_intervals_cannot():
    # two models on the same 1,000 test points: A right on every point B gets right and on 12
    # more (0.962 vs 0.950). Their Wilson intervals overlap, so `greater` cannot decide; the
    # 12 discordant points all favour A, so the paired interval lies above 0
    a, b = "1" * 962 + "0" * 38, "1" * 950 + "0" * 50
    assert V.greater(0.962, 0.950, wilson(962, 1000), wilson(950, 1000)).verdict == V.OPEN
    d = V.greater_paired(0.962, 0.950, a, b, ("SGD", "Adam"))
    assert d.verdict == V.HOLDS and "McNemar p=0.00049" in d.why and "n=1000" in d.why
    lo = paired_difference([c == "1" for c in a], [c == "1" for c in b])[1][0]
    assert d.margin == pytest.approx(lo) and lo > 0
    # the other way round it does not hold
    assert V.greater_paired(0.950, 0.962, b, a).verdict == V.FAILS
    # the same accuracies from 40 points only A gets right and 28 only B does: no longer decided
    c = "1" * 922 + "0" * 40 + "1" * 28 + "0" * 10
    assert c.count("1") == 950
    mixed = V.greater_paired(0.962, 0.950, a, c)
    assert mixed.verdict == V.OPEN and "straddles 0" in mixed.why
    # identical on every point: not greater; nothing measured: open
    assert V.greater_paired(0.5, 0.5, "1" * 50 + "0" * 50, "1" * 50 + "0" * 50).verdict \
        == V.FAILS
    assert V.greater_paired(0.0, 0.0, "", "").verdict == V.OPEN


def test_not_less_paired_is_a_non_inferiority_test():
    # 04's noise row at seed 1 (quick, n=500): MMC 0.986 vs SCE 0.988, within the 1-point
    # tolerance on the point estimate, but the paired interval reaches -0.0138: not shown
    a = "1" * 488 + "0" * 5 + "1" * 5 + "0" * 2      # 493 right
    b = "1" * 488 + "1" * 5 + "0" * 5 + "1" * 1 + "0"  # 494 right
    d = V.not_less_paired(a.count("1") / 500, b.count("1") / 500, a, b, ("MMC", "SCE"), 0.01)
    lo, hi = paired_difference([c == "1" for c in a], [c == "1" for c in b])[1]
    assert lo < -0.01 < hi and d.verdict == V.OPEN and "reaches below -0.01" in d.why
    assert d.margin == pytest.approx(min(-0.01 - lo, hi + 0.01))
    # the same models on 10,000 points, as closely agreeing: the interval stays within 0.01
    big_a, big_b = a * 20, b * 20
    held = V.not_less_paired(0.986, 0.988, big_a, big_b, ("MMC", "SCE"), 0.01)
    lo, _ = paired_difference([c == "1" for c in big_a], [c == "1" for c in big_b])[1]
    assert held.verdict == V.HOLDS and held.margin == pytest.approx(lo + 0.01)
    # a loss of 5 points on every disagreement: fails
    worse = "1" * 470 + "0" * 30
    assert V.not_less_paired(0.94, 0.988, worse, b, tolerance=0.01).verdict == V.FAILS
