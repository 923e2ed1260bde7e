"""The claim modules' logic on small synthetic frames with known answers: lookups, results over
seeds, verdicts across seeds, the out-of-distribution sets, and each claim's verdict rule."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rethinkmmc import ood, plots, verdicts as V
from rethinkmmc.claims import blackbox, cmm, density, features, hmmc, remark3, whitebox
from rethinkmmc.claims.common import (at_seed, estimate, lookup, one_seed_view, over_seeds,
                                      seed_pivot, seed_spread)
from rethinkmmc.experiments import settings


def frame():
    return pd.DataFrame({"run": ["SCE", "MMC-10", "SCE", "MMC-10"], "eps": [0.1, 0.1, 0.3, 0.3],
                         "robust_accuracy": [0.2, 0.9, 0.0, 0.5],
                         "ci_low": [0.1, 0.8, 0.0, 0.4], "ci_high": [0.3, 0.95, 0.05, 0.6]})


def test_lookup_finds_the_row_and_names_what_is_missing():
    assert lookup(frame(), run="MMC-10", eps=0.3)["robust_accuracy"] == 0.5
    assert estimate(frame(), run="SCE", eps=0.1) == (0.2, (0.1, 0.3))
    with pytest.raises(KeyError, match=r"run='AT-SCE', eps=0.1"):
        lookup(frame(), run="AT-SCE", eps=0.1)
    with pytest.raises(KeyError, match="no column 'attack'"):
        lookup(frame(), attack="pgd")


def test_over_seeds_stacks_and_at_seed_takes_one_back():
    f = over_seeds([0, 3], lambda s: frame().assign(robust_accuracy=frame()["robust_accuracy"] + s))
    assert sorted(f["seed"].unique()) == [0, 3] and len(f) == 8
    pd.testing.assert_frame_equal(at_seed(f, 0), frame())
    assert at_seed(None, 0) is None
    assert "seed" not in one_seed_view(over_seeds([0], lambda s: frame()))
    assert "seed" in one_seed_view(f)
    with pytest.raises(ValueError, match="seeds"):
        over_seeds([], lambda s: frame())


def test_seed_pivot_mean_and_sd_over_seeds():
    one = over_seeds([0], lambda s: frame())
    pd.testing.assert_frame_equal(
        seed_pivot(one, "eps", "run", "robust_accuracy", ["SCE", "MMC-10"]),
        frame().pivot_table(index="eps", columns="run", values="robust_accuracy",
                            sort=False)[["SCE", "MMC-10"]])
    two = over_seeds([0, 1], lambda s: frame().assign(
        robust_accuracy=frame()["robust_accuracy"] + 0.1 * s))
    p = seed_pivot(two, "eps", "run", "robust_accuracy", ["SCE", "MMC-10"])
    assert list(p.columns.get_level_values(0).unique()) == ["mean", "sd"]
    assert p.loc[0.1, ("mean", "MMC-10")] == pytest.approx(0.95)
    assert p.loc[0.1, ("sd", "SCE")] == pytest.approx(0.1 / math.sqrt(2))


def test_seed_spread_is_mean_sd_min_max_over_seeds_per_group():
    three = over_seeds([0, 1, 2], lambda s: frame().assign(
        robust_accuracy=frame()["robust_accuracy"] + 0.1 * s, ref=frame()["eps"] * 2))
    t = seed_spread(three, ["run", "eps"], "robust_accuracy", keep=["ref"])
    assert list(t.index) == [("SCE", 0.1), ("MMC-10", 0.1), ("SCE", 0.3), ("MMC-10", 0.3)]
    r = t.loc[("MMC-10", 0.3)]
    assert r["robust_accuracy mean"] == pytest.approx(0.6)
    assert r["robust_accuracy sd"] == pytest.approx(0.1)   # sample sd of 0.5, 0.6, 0.7
    assert (r["robust_accuracy min"], r["robust_accuracy max"]) == pytest.approx((0.5, 0.7))
    assert r["seeds"] == 3 and r["ref"] == pytest.approx(0.6)
    one = seed_spread(over_seeds([4], lambda s: frame()), "eps", "robust_accuracy")
    # one seed per group here is two points (SCE and MMC-10) pooled: by eps, not by seed
    assert one.loc[0.1, "seeds"] == 1 and one.loc[0.1, "robust_accuracy mean"] == \
        pytest.approx(0.55)
    alone = seed_spread(over_seeds([4], lambda s: frame()), ["run", "eps"], "robust_accuracy")
    assert math.isnan(alone.loc[("SCE", 0.1), "robust_accuracy sd"])
    with pytest.raises(KeyError, match="no column 'accuracy'"):
        seed_spread(three, "run", "accuracy")


def row(verdict, claim="c", ours="x"):
    return V.Verdict(claim, "m", "r", ours, verdict, "because", 0.1)


def test_across_seeds_is_unanimous():
    assert V.across_seeds({0: [row(V.HOLDS)]}) == [row(V.HOLDS)]
    both = V.across_seeds({0: [row(V.HOLDS), row(V.FAILS, "d")],
                           1: [row(V.HOLDS, ours="y"), row(V.FAILS, "d")]})
    assert [r.verdict for r in both] == [V.HOLDS, V.FAILS]
    assert both[0].ours == "seed 0: x; seed 1: y" and "seeds 0, 1" in both[0].measure
    split = V.across_seeds({0: [row(V.HOLDS)], 1: [row(V.FAILS)]})
    assert split[0].verdict == V.OPEN and "disagree" in split[0].why
    with pytest.raises(ValueError, match="same claims"):
        V.across_seeds({0: [row(V.HOLDS)], 1: [row(V.HOLDS, "other")]})


def test_seed_verdicts_keeps_a_once_measured_row_single():
    """06's timing is measured once: over three seeds it stays one reading, first, and is not
    listed per seed, while the seeded rows are combined across seeds."""
    from rethinkmmc.notebook import Context

    ctx = Context("06_cost", {"profile": "smoke", "seeds": [0, 1, 2], "overrides": {}})
    table = ctx.seed_verdicts(lambda s: [row(V.HOLDS, "opt", ours=f"s{s}")],
                              once=[row(V.OPEN, "time", ours="0.98")])
    assert list(table["claim"]) == ["time", "opt"]
    assert table["ours"][0] == "0.98" and table["ours"][1] == "seed 0: s0; seed 1: s1; seed 2: s2"
    assert table.attrs["margin"] == [0.1, 0.1]


def test_ood_sets_are_seeded_shaped_and_in_range():
    a = ood.ood_set("noise", (1, 8, 8), 5, seed=1)
    assert a.shape == (5, 1, 8, 8) and torch.equal(a, ood.ood_set("noise", (1, 8, 8), 5, seed=1))
    assert not torch.equal(a, ood.ood_set("noise", (1, 8, 8), 5, seed=2))
    p = ood.ood_set("photos", (3, 32, 32), 4, seed=0)
    x, src = ood.ood_sample("photos", (3, 32, 32), 40, seed=0)
    # the crops' photographs: both appear, and the first 4 crops are ood_set's 4
    assert src.shape == (40,) and set(src.tolist()) == {0, 1} and torch.equal(x[:4], p)
    assert ood.ood_sample("noise", (1, 8, 8), 5, seed=1)[1] is None
    assert p.shape == (4, 3, 32, 32) and 0 <= p.min() and p.max() <= 1
    assert ood.photo("china.jpg", (1, 28, 28)).shape == (1, 1, 28, 28)
    grey = ood.to_input(torch.full((2, 1, 4, 4), 0.5), (3, 4, 4))
    assert grey.shape == (2, 3, 4, 4) and torch.all(grey == 0.5)
    with pytest.raises(ValueError, match="out-of-distribution set 'lions'"):
        ood.ood_set("lions", (1, 8, 8), 2, seed=0)


def attack_rows():
    """A 02 result frame: MMC-10 beats SCE under PGD-10 but falls under the worst case."""
    rows = []
    for run, pgd_ce, pgd_ad, worst in (("SCE", 0.05, 0.04, 0.0), ("MMC-10", 0.95, 0.6, 0.39),
                                       ("AT-SCE", 0.8, 0.8, 0.7), ("AT-MMC-10", 0.8, 0.7, 0.6)):
        for attack, obj, acc in (("pgd-10", "ce", pgd_ce), ("pgd-10", "adaptive", pgd_ad),
                                 ("worst case", "", worst)):
            for e in (0.1, 0.3):
                rows.append({"run": run, "attack": attack, "objective": obj, "eps": e,
                             "eps_label": f"{e:g}", "robust_accuracy": acc,
                             "ci_low": acc - 0.02, "ci_high": acc + 0.02})
    return pd.DataFrame(rows)


def test_whitebox_verdicts_known_answers():
    clean = pd.DataFrame({"run": ["SCE", "MMC-10"], "test accuracy": [0.97, 0.94],
                          "n_test": [10000, 10000],
                          "flags": ["1" * 9700 + "0" * 300, "1" * 9400 + "0" * 600]})
    rows = whitebox.verdicts(attack_rows(), clean, None, settings("smoke"), 450)
    by = {(r.claim, r.measure.split(" at ")[-1]): r.verdict for r in rows}
    assert by[("MMC is more robust than SCE under the paper's attack", "0.1, n=450")] == V.HOLDS
    assert not any("survives" in r.claim or "Adversarially trained" in r.claim for r in rows)
    assert rows[-2].claim == "The adaptive objective is at least as strong as CE on MMC"
    assert rows[-2].verdict == V.HOLDS
    assert rows[-1].claim == "MMC costs no clean accuracy" and rows[-1].verdict == V.FAILS
    assert "McNemar" in rows[-1].why
    # 0.5 points behind on the same points, paired interval within the 1-point tolerance: holds
    near = clean.assign(flags=["1" * 9700 + "0" * 300, "1" * 9650 + "0" * 350])
    assert whitebox.verdicts(attack_rows(), near, None, settings("smoke"), 450)[-1].verdict \
        == V.HOLDS


def strong_rows(worst_mmc=0.39, paper_mmc=0.95, trained=8 / 256):
    """A strong-cascade frame at eps 0.1 and 8/256 for the four MAIN runs (stage 1 = the
    paper's attack, then the worst case)."""
    rows = []
    for run, paper, worst in (("SCE", 0.02, 0.0), ("MMC-10", paper_mmc, worst_mmc),
                              ("AT-SCE", 0.8, 0.5), ("AT-MMC-10", 0.8, 0.6)):
        for e in (0.1, 8 / 256):
            for attack, stage, acc in (("1. pgd-10 (ce)", 1, paper), ("worst case", None, worst)):
                rows.append({"run": run, "dataset": "mnist", "eps": e, "eps_label": f"{e:g}",
                             "attack": attack, "stage": stage, "robust_accuracy": acc,
                             "ci_low": max(acc - 0.04, 0), "ci_high": min(acc + 0.04, 1),
                             "trained_eps": trained if run.startswith("AT") else float("nan")})
    return pd.DataFrame(rows)


def test_claim1_verdicts_say_what_the_data_say():
    rows = whitebox.claim1_verdicts(strong_rows(), 500)
    by = {r.claim: r for r in rows}
    a = by["The paper's attack measures MMC's robustness (mnist, 0.1)"]
    assert a.verdict == V.FAILS and "below the paper attack's interval" in a.why
    # MMC 0.39 vs SCE 0.0 under the strongest attacks: MMC still beats an undefended model
    assert by["MMC is more robust than SCE under the strongest attacks (mnist, 0.1)"].verdict \
        == V.HOLDS
    # AT trained at 8/256 and attacked at 0.1: not tested by this profile
    at = by["AT-MMC is more robust than AT-SCE under the strongest attacks (mnist, 0.1)"]
    assert at.verdict == V.OPEN and "trained at 8/256, attacked at 0.1" in at.why
    at8 = by[f"AT-MMC is more robust than AT-SCE under the strongest attacks (mnist, {8 / 256:g})"]
    assert at8.verdict == V.HOLDS and "43.48" in at8.reference
    # When the worst case stays inside the paper attack's interval, (a) holds
    ok = whitebox.claim1_verdicts(strong_rows(worst_mmc=0.93), 500)
    assert ok[0].verdict == V.HOLDS and "within or above" in ok[0].why
    # rows whose runs are absent are left out
    only = strong_rows()[lambda d: d["run"].isin(["SCE", "MMC-10"])]
    assert len(whitebox.claim1_verdicts(only, 500)) == 4


def test_left_out_cifar_at_rows_are_inconclusive_and_say_why():
    """02 with cifar_at=False: one row (c) per CIFAR-10 budget, inconclusive, naming the
    parameter, worded as the row the runs would give (so 99 lines them up); none at smoke
    (no CIFAR-10 there); the bottom line lists them among the inconclusive."""
    import dataclasses
    from rethinkmmc.bottomline import bottom_line
    from rethinkmmc.experiments import settings
    rows = whitebox.left_out_verdicts(settings("quick"), 500)
    assert [r.claim for r in rows] == [
        "AT-MMC is more robust than AT-SCE under the strongest attacks (cifar10, 8/255)",
        "AT-MMC is more robust than AT-SCE under the strongest attacks (cifar10, 16/255)"]
    assert all(r.verdict == V.OPEN and "cifar_at=False" in r.why and r.ours == "not evaluated"
               for r in rows)
    assert whitebox.left_out_verdicts(settings("smoke"), 450) == []
    text = bottom_line([dataclasses.asdict(v) for v in whitebox.claim1_verdicts(strong_rows(), 500)
                        + rows], "quick")
    assert "cifar10, 8/255 (not evaluated)" in text


def test_gap_rows_replace_the_rows_a_left_out_cascade_would_give():
    """02 with cascade_stored=True: where a run's cascade at a budget is not stored, the rows
    that need it read inconclusive and name it; the rows at that budget that do not need it,
    and every row at a wholly stored budget, are decided from the data as before."""
    import dataclasses
    from rethinkmmc.bottomline import bottom_line
    d = strong_rows()
    e = 8 / 256
    # the cascade of MMC-10 and AT-SCE at 8/256 was left out of the render
    stored = d[~((d["eps"] == e) & d["run"].isin(["MMC-10", "AT-SCE"]))]
    gaps = [{"dataset": "mnist", "eps": e, "eps_label": f"{e:g}", "run": k,
             "missing": "apgd_t, square"} for k in ("MMC-10", "AT-SCE")]
    decided = whitebox.claim1_verdicts(stored, 500)
    left = whitebox.gap_verdicts(gaps, 500)
    # at 8/256 no decided row needs MMC-10 or AT-SCE; at 0.1 all three rows stay
    assert [r.claim for r in decided if r.claim.endswith(f"{e:g})")] == []
    assert len([r for r in decided if r.claim.endswith("0.1)")]) == 3
    assert [r.claim for r in left] == [f"{c} (mnist, {e:g})" for c in (
        "The paper's attack measures MMC's robustness",
        "MMC is more robust than SCE under the strongest attacks",
        "AT-MMC is more robust than AT-SCE under the strongest attacks")]
    assert all(r.verdict == V.OPEN and r.ours == "not evaluated" and "cascade_stored=True"
               in r.why for r in left)
    assert "of MMC-10 at" in left[0].why and "of AT-SCE at" in left[2].why
    # only SCE left out: only the row that compares with SCE is affected
    only_sce = whitebox.gap_verdicts([{**gaps[0], "run": "SCE"}], 500)
    assert [r.claim.split(" (")[0] for r in only_sce] == [
        "MMC is more robust than SCE under the strongest attacks"]
    text = bottom_line([dataclasses.asdict(v) for v in decided + left], "quick")
    assert "overstates MMC's robustness at 1 of 1 budgets tested" in text
    assert f"not evaluated at this render: mnist, {e:g}." in text
    assert "stays within" not in text


def test_gap_table_lists_each_left_out_run_per_seed():
    g = {"dataset": "mnist", "eps": 0.1, "eps_label": "0.1", "run": "SCE", "missing": "square"}
    t = whitebox.gap_table({0: [g], 1: []})
    assert t.to_dict(orient="records") == [{"seed": 0, "dataset": "mnist", "eps_label": "0.1",
                                            "run": "SCE", "missing": "square"}]
    assert list(whitebox.gap_table({0: []}).columns) == ["seed", "dataset", "eps_label", "run",
                                                         "missing"]


def test_label_attacks_names_rows_and_keeps_the_method():
    res = pd.DataFrame({"attack": ["pgd", "fgsm", "worst-case", "pgd"], "steps": [10, 1, 0, 10],
                        "targeted": [False, False, False, True],
                        "objective": ["ce", "cw", "", "adaptive"]})
    out = whitebox.label_attacks(res)
    assert list(out["attack"]) == ["pgd-10", "fgsm", "worst case", "pgd-10 targeted"]
    assert list(out["method"]) == ["pgd", "fgsm", "worst-case", "pgd"]
    assert out["objective"][1] == "adaptive (C&W)"


def test_gap_table_and_masking_verdict():
    def rows(kind, attack, acc):
        return {"model": "MMC-10", "eps": 0.1, "eps_label": "0.1", "kind": kind,
                "attack": attack, "robust_accuracy": acc, "points": "p"}
    f = pd.DataFrame([rows("white-box", "pgd", 0.5), rows("black-box", "square", 0.3),
                      rows("black-box", "spsa", 0.6)])
    g = blackbox.gap_table([f])
    assert g.loc[0, "gap"] == pytest.approx(0.2) and g.loc[0, "best black-box/transfer"] == "square"
    bb = pd.DataFrame([{"run": r, "attack": "spsa", "eps": e, "eps_label": f"{e:g}",
                        "robust_accuracy": a, "ci_low": a - 0.01, "ci_high": a + 0.01}
                       for r, a in (("MMC-10", 0.9), ("SCE", 0.1)) for e in (0.1, 0.3)])
    trans = pd.DataFrame([{"source": blackbox.SURROGATE, "target": t, "method": "pgd", "eps": e,
                           "eps_label": f"{e:g}", "robust_accuracy": a, "ci_low": a - 0.01,
                           "ci_high": a + 0.01} for t, a in (("MMC-10", 0.5), ("SCE", 0.0))
                          for e in (0.1, 0.3)])
    out = blackbox.verdicts(bb, trans, g, settings("smoke"), 100)
    # the gap of 0.2 exceeds the tolerance: signs of masking are present, and the row says so
    assert [r.verdict for r in out] == [V.HOLDS] * 5
    assert out[-1].ours.startswith("present: 1 of 1 beaten")
    assert out[-1].claim.startswith("Signs of gradient masking")
    # the transfer rows compare both targets under the independent surrogate's adversarials
    assert "independent SCE" in out[2].claim and out[2].ours == "MMC 0.500 vs SCE 0.000"
    # per-point flags on the same points (as transfer_table gives them): the paired rule decides,
    # and a significant gain below the 5 points the claim names does not hold, saying so
    n = 500
    mmc, sce = "1" * 490 + "0" * 10, "1" * 481 + "0" * 19
    paired = trans.assign(points="p", flags=[mmc, sce, mmc, sce],
                          robust_accuracy=[0.98, 0.962, 0.98, 0.962])
    row = blackbox.verdicts(bb, paired, g, settings("smoke"), n)[2]
    assert row.claim.endswith("by at least 5 points") and row.verdict == V.FAILS
    assert "McNemar" in row.why and "paired" in row.why
    # with adversarials from SCE itself only, the transfer rows cannot be computed
    with pytest.raises(KeyError):
        blackbox.verdicts(bb, trans.assign(source="SCE"), g, settings("smoke"), 100)


def test_spsa_and_cw_steps_reach_the_budget():
    # SPSA: the original's lr 0.01 at 8/256; 10 Adam steps of lr cover 3.2 eps at every eps
    assert blackbox.spsa_lr(8 / 256) == pytest.approx(0.01)
    for e in (0.1, 0.3):
        assert 10 * blackbox.spsa_lr(e) >= 3 * e
    # C&W: the original's 5e-3 at 1000 iterations; fewer iterations keep lr x steps = 5
    assert whitebox.cw_lr(1000) == pytest.approx(5e-3)
    assert whitebox.cw_lr(2000) == pytest.approx(5e-3)
    assert whitebox.cw_lr(100) * 100 == pytest.approx(5.0)


def test_surrogate_is_seeded_apart_from_every_target():
    from rethinkmmc.experiments import SURROGATE_SEED, configs
    for seed in (0, 3):
        sur = configs("smoke", "surrogate", seed=seed)[blackbox.SURROGATE]
        sce = configs("smoke", "robustness", seed=seed)["SCE"]
        assert sur.seed == seed + SURROGATE_SEED and sur.key() != sce.key()
        assert sur.replace(seed=seed).key() == sce.key()  # otherwise the same model


def test_cascade_pivot_lines_up_stages_in_cascade_order():
    rows = []
    stages = {"SCE": [("pgd", "ce", 10), ("pgd", "adaptive (C&W)", 50), ("apgd", "ce", 20),
                      ("apgd_t", "dlr", 20), ("square", "-", 100)],
              "MMC-10": [("pgd", "ce", 10), ("pgd", "adaptive", 50), ("apgd", "mmc_margin", 20),
                         ("apgd", "ce", 20), ("apgd_t", "dlr", 20),
                         ("apgd_t", "mmc_margin", 20), ("square", "-", 100)]}
    for run, st in stages.items():
        for i, (m, o, k) in enumerate(st + [("worst-case", "", 0)]):
            rows.append({"run": run, "dataset": "digits", "eps": 0.1, "eps_label": "1/10",
                         "method": m, "objective": o, "steps": k, "targeted": False,
                         "stage": i + 1 if m != "worst-case" else None,
                         "robust_accuracy": 1 - i / 10, "seed": 0})
    df = pd.DataFrame(rows)
    lab = whitebox.cascade_names(df.rename(columns={"method": "attack"}))
    piv = whitebox.cascade_pivot(lab)
    names = list(piv.index.get_level_values("attack"))
    assert names == ["pgd-10 (ce)", "pgd-50 (adaptive)", "apgd-20 (mmc_margin)", "apgd-20 (ce)",
                     "apgd_t-20 (dlr)", "apgd_t-20 (mmc_margin)", "square-100", "worst case"]
    assert math.isnan(piv.loc[("digits", "1/10", "apgd-20 (mmc_margin)"), "SCE"])
    assert piv.loc[("digits", "1/10", "worst case"), "SCE"] == pytest.approx(0.5)


def test_density_reading_and_verdict():
    dens = pd.DataFrame([{"scale": s, "k": k, "model": m, "median_radius": r}
                         for s in ("normalised", "raw") for k in (5, 10)
                         for m, r in (("SCE", 1.0), ("MMC-10", 0.5 if k == 5 else 2.0))])
    wide = density.readings(dens)
    assert list(wide.loc["normalised", "reading"]) == ["MMC denser", "SCE denser"]


def _clusters(spread_free: float, spread_span: float = 0.1, seed: int = 0):
    # 4 classes, 60 points each, in 12 dimensions: class means on the first 3 axes, a spread of
    # `spread_span` around them there, and `spread_free` along the other 9 (directions no class
    # mean uses)
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(4).repeat_interleave(60)
    means = torch.zeros(4, 12)
    means[1, 0], means[2, 1], means[3, 2] = 5.0, 5.0, 5.0
    noise = torch.randn(240, 12, generator=g, dtype=torch.float64)
    noise[:, :3] *= spread_span
    # the free spread comes in +- pairs within each class, so no class mean moves off the span
    half = torch.randn(4, 30, 9, generator=g, dtype=torch.float64) * spread_free
    noise[:, 3:] = torch.cat([half, -half], 1).reshape(240, 9)
    return means.double()[y] + noise, y


def test_class_mean_subspace_drops_the_free_directions():
    from rethinkmmc.analysis import class_mean_subspace
    z, y = _clusters(3.0)
    p = class_mean_subspace(z, y, 4)
    assert p.shape == (240, 3)  # rank of the centred means: L - 1
    a = class_mean_subspace(_clusters(0.0)[0], y, 4)  # free spread: gone after projection
    assert torch.allclose(torch.cdist(a, a), torch.cdist(p, p), atol=1e-6)
    # distances between class means survive the projection
    m, m0 = (torch.stack([v[y == c].mean(0) for c in range(4)]) for v in (p, z))
    assert torch.allclose(torch.cdist(m, m), torch.cdist(m0, m0), atol=1e-6)


def test_density_paired_verdict_per_space():
    # "SCE" spreads widely along the free directions, "MMC-10" not at all but twice as much
    # within the class-mean span: MMC is denser in the feature space, SCE in the subspace
    (zs, y), (zm, _) = _clusters(3.0), _clusters(0.0, spread_span=0.2)
    pair = density.paired({"SCE": (zs, y), "MMC-10": (zm, y)}, [5, 10], seed=0, reps=50)
    full = pair[pair["space"] == "features"]
    sub = pair[pair["space"] == "class-mean subspace"]
    assert (full["ci_low"] > 0).all() and list(sub["dimensions"]) == [3, 3]
    assert (sub["ci_high"] < 0).all()
    v_full, v_sub = density.verdicts({"toy": pair}, [5, 10])
    assert v_full.verdict == V.HOLDS and "features (12 dimensions)" in v_full.measure
    assert v_sub.verdict == V.FAILS and "class-mean subspace (3 dimensions)" in v_sub.measure
    with pytest.raises(ValueError, match="same test points"):
        density.paired({"SCE": (zs, y), "MMC-10": (zm, y.flip(0))}, [5], seed=0)


def _flags(k: int, n: int = 1000) -> str:
    return "1" * k + "0" * (n - k)


def test_cmm_verdicts():
    sweep = pd.DataFrame({"C_MM": [1.0, 10.0, 100.0], "test accuracy": [0.80, 0.95, 0.10],
                          "ci_low": [0.78, 0.94, 0.08], "ci_high": [0.82, 0.96, 0.12],
                          "n_test": 1000, "status": ["trains", "trains", "fails to train"],
                          "diverged": [False, False, True],
                          "flags": [_flags(800), _flags(950), _flags(100)]})
    best, fails = cmm.verdicts(sweep, majority=0.1, dataset="digits")
    assert best.verdict == V.HOLDS and fails.verdict == V.HOLDS and "diverged" in fails.ours
    assert "paired" in best.measure and best.why.count("McNemar") == 2
    # C_MM=1 at 0.940, 20 points only C_MM=10 gets right and 10 only C_MM=1 does: the paired
    # interval straddles 0; C_MM=1 right on every point C_MM=10 is and on 40 more: fails
    close = sweep.assign(flags=["1" * 930 + "0" * 20 + "1" * 10 + "0" * 40, _flags(950),
                                _flags(100)])
    assert cmm.verdicts(close, 0.1, "digits")[0].verdict == V.OPEN
    better = sweep.assign(flags=[_flags(990), _flags(950), _flags(100)])
    assert cmm.verdicts(better, 0.1, "digits")[0].verdict == V.FAILS
    # robustness: MMC-100 survives 60 of 100 points where MMC-10 survives 20 (the same 20 and
    # 40 more): the paired gain holds, unless MMC-100 did not train
    f10, f100 = "1" * 20 + "0" * 80, "1" * 60 + "0" * 40
    robust = pd.DataFrame([{"C_MM": c, "stage": st, "eps": "1/10", "n": 100,
                            "robust accuracy": f.count("1") / 100 + (0.3 if st == 1 else 0),
                            "flags": f if st == 2 else "1" * 100}
                           for c, f in ((1.0, f10), (10.0, f10), (100.0, f100))
                           for st in (1, 2)])
    *_, row = cmm.verdicts(sweep, 0.1, "digits", robust)
    assert row.verdict == V.OPEN and "C_MM=100 did not train" in row.why
    assert "C_MM=100 0.600" in row.ours and "C_MM=10 0.200" in row.ours  # the last stage
    trained = sweep.assign(status="trains")
    *_, row = cmm.verdicts(trained, 0.1, "digits", robust)
    assert row.verdict == V.HOLDS and "McNemar" in row.why
    *_, row = cmm.verdicts(trained, 0.1, "digits", robust.assign(
        flags=lambda d: np.where(d["C_MM"] == 100.0, f10, d["flags"])))
    assert row.verdict == V.FAILS


def test_distance_summary_equal_centers_and_unequal_means():
    names = ["a", "b", "c"]
    eq = pd.DataFrame(np.ones((3, 3)) - np.eye(3), index=names, columns=names)
    uneq = pd.DataFrame([[0, 1, 2], [1, 0, 3], [2, 3, 0]], index=names, columns=names,
                        dtype=float)
    s = features.distance_summary({"eq": eq, "uneq": uneq}, names)
    assert s.loc[0, "closest pair"] == "all equal" and s.loc[0, "coefficient of variation"] < 1e-9
    assert s.loc[1, "closest pair"] == "a-b" and s.loc[1, "farthest pair"] == "b-c"


def test_remark3_shares_known_answer():
    # other-class logits: one point with runner-up within ln 5, one far apart
    h = torch.tensor([[10.0, 5.0, 4.0, 0.0], [10.0, 5.0, 0.0, -5.0]])
    y = torch.tensor([0, 0])
    sh = remark3.shares({"toy": (h, y)})
    assert lookup(sh, pair="h(1) - h(2) <= ln 5")["share"] == pytest.approx(0.5)


def test_remark3_short_training_is_inconclusive_whichever_way_it_reads():
    # 200 points, all with the runner-up far below: the share is 0, so the rule alone holds
    h = torch.tensor([[10.0, 5.0, -5.0, -9.0, -13.0, -17.0, -21.0]]).repeat(200, 1)
    y = torch.zeros(200, dtype=torch.long)
    lg = {"toy": (h, y)}
    sh, err = remark3.shares(lg), remark3.errors(lg)
    full = remark3.verdicts(sh, err, {"toy": (50, 50)})
    assert [v.verdict for v in full] == ["holds", "holds"]
    assert remark3.verdicts(sh, err) == full  # no schedule given: the rule alone
    short = remark3.verdicts(sh, err, {"toy": (4, 50)})
    assert [v.verdict for v in short] == ["inconclusive at this profile"] * 2
    assert all("after 4 of the original's 50 epochs" in v.why for v in short)
    assert short[0].why.startswith(full[0].why)


def test_lines_over_seeds_draws_mean_and_band():
    df = pd.DataFrame({"x": [1, 2, 1, 2], "y": [0.1, 0.2, 0.3, 0.4], "run": "A",
                       "seed": [0, 0, 1, 1]})
    fig = plots.lines(df, x="x", y="y", hue="run", ci=None)
    ax = fig.axes[0]
    assert np.allclose(ax.lines[0].get_ydata(), [0.2, 0.3])
    assert ax.collections and "over seeds" in ax.get_title()
    one = plots.lines(df[df["seed"] == 0], x="x", y="y", hue="run", ci=None)
    assert np.allclose(one.axes[0].lines[0].get_ydata(), [0.1, 0.2])


def test_bottom_line_says_what_the_verdicts_say():
    import dataclasses
    from rethinkmmc.bottomline import bottom_line
    rows = [dataclasses.asdict(v) for v in whitebox.claim1_verdicts(strong_rows(), 500)]
    text = bottom_line(rows, "quick")
    assert "overstates MMC's robustness at 2 of 2 budgets tested" in text
    assert "mnist, 0.1: 0.950 under the paper's attack, 0.390 in the worst case" in text
    assert "MMC's advantage holds at mnist, 0.1 (MMC 0.390 vs SCE 0.000)" in text
    assert "and is inconclusive at this profile at mnist, 0.1 (AT-MMC 0.600 vs AT-SCE 0.500)" \
        in text
    assert text.endswith("Over all 6 verdicts here: 3 hold, 2 do not hold, 1 is inconclusive "
                         "at this profile.")
    # a worst case inside the paper attack's interval: the words turn
    ok = [dataclasses.asdict(v) for v in whitebox.claim1_verdicts(strong_rows(worst_mmc=0.93),
                                                                  500)]
    assert "stays within the interval of the paper's attack" in bottom_line(ok, "quick")
    assert "overstates" not in bottom_line(ok, "quick")
    # no claim-1 rows: it says so instead of guessing
    assert "no strong-cascade verdicts are stored" in bottom_line([], "paper")


def test_readme_bottom_line_is_what_the_smoke_report_says():
    """The README's smoke paragraph is the one the committed 99 notebook computed from the
    stored verdicts (nbval re-executes 99, so that output is itself checked)."""
    import json
    from pathlib import Path
    from rethinkmmc.bottomline import fill_readme, readme_block
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    cells = json.loads((root / "notebooks" / "99_index.ipynb").read_text())["cells"]
    cell = next(c for c in cells if "bottom_line(" in "".join(c["source"]))
    shown = "".join(cell["outputs"][0]["data"]["text/markdown"]).strip()
    assert readme_block(readme, "smoke") == shown, \
        "README's bottom line is stale: python -m rethinkmmc.bottomline --profile smoke " \
        "--verdicts notebooks/verdicts"
    assert readme_block(fill_readme(readme, "smoke", "X"), "smoke") == "X"
    with pytest.raises(ValueError, match="bottom-line paper"):
        readme_block(readme, "paper")


def test_hmmc_verdicts_are_paired_per_c2():
    # 200 points: MMC right on the first 150; HMMC 10/1 on the same 150 and 20 more (a paired
    # gain of 0.1 with no point lost: holds), HMMC 10/2 right on 140 of MMC's (loses 10: fails)
    def row(run, correct, sup):
        return {"run": run, "n": 200, "accuracy": correct.count("1") / 200,
                "superclass accuracy": sup.count("1") / 200, "flags": correct, "sup flags": sup}
    mmc = "1" * 150 + "0" * 50
    acc = pd.DataFrame([row("MMC-10", mmc, mmc),
                        row("HMMC 10/1", "1" * 170 + "0" * 30, mmc),
                        row("HMMC 10/2", "1" * 140 + "0" * 60, mmc)])
    rows = hmmc.verdicts(acc, "toy", 2)
    assert [r.claim for r in rows] == [
        "HMMC beats MMC in accuracy (HMMC 10/1)",
        "HMMC makes fewer cross-superclass mistakes (HMMC 10/1)",
        "HMMC beats MMC in accuracy (HMMC 10/2)",
        "HMMC makes fewer cross-superclass mistakes (HMMC 10/2)"]
    # the same superclass results: no gain measured, none ruled out
    assert [r.verdict for r in rows] == [V.HOLDS, V.OPEN, V.FAILS, V.OPEN]
    assert "McNemar p=1.9e-06" in rows[0].why


def test_strong_detector_aware_attack_fools_more_and_lands_nearer_a_center(digits_runs):
    """05's long detector-aware attack: within eps and [0, 1], input untouched, at least as
    many successes as PGD-10's pull on the same points, and (being a pull toward a center,
    last iterate) its adversarials sit nearer a center than PGD-10's pulled ones and the
    untargeted ones, which push away from mu_y."""
    from rethinkmmc import analysis as A
    from rethinkmmc.claims import uncertainty as U
    from rethinkmmc.evaluate import select_points

    run = digits_runs["mmc"]
    x, y = select_points(*run.test_set(), 120, 0, "stratified")
    x0, eps = x.clone(), 0.3
    push, _, n_push = U.adversarials(run, x, y, eps, 0)
    pull, n_ok, n_pull = U.adversarials(run, x, y, eps, 0, True)
    strong, n_ok2, n_strong = U.adversarials(run, x, y, eps, 0, True, strong=20)
    assert torch.equal(x, x0) and n_ok == n_ok2
    assert n_strong >= n_pull and n_strong > 0 and len(strong) == n_strong
    assert strong.min() >= 0 and strong.max() <= 1
    clean = x[A.embed(run.model, x)[1].argmax(1) == y]
    assert len(clean) == n_ok
    # each adversarial is some clean-correct point moved by at most eps
    gap = (strong.flatten(1)[:, None] - clean.flatten(1)[None]).abs().amax(2).min(1).values
    assert (gap <= eps + 1e-6).all()
    near = lambda xa: -A.scores(A.embed(run.model, xa)[1], True)["min_distance"]  # noqa: E731
    assert np.median(near(strong)) < min(np.median(near(push)), np.median(near(pull)))


def test_cmm_spread_over_seeds_takes_each_seeds_last_stage():
    sweep = over_seeds([0, 1], lambda s: pd.DataFrame({
        "C_MM": [10.0, 100.0], "test accuracy": [0.99 - 0.01 * s, 0.5 + 0.2 * s],
        "reproduction (CIFAR-10)": [cmm.REF[10], cmm.REF[100]]}))
    # two stages per C_MM and seed; the worst case is the last stage's, not the min over rows
    robust = over_seeds([0, 1], lambda s: pd.DataFrame({
        "C_MM": [10.0, 10.0, 100.0, 100.0], "stage": [1, 2, 1, 2], "eps": "1/10",
        "robust accuracy": [0.9, 0.6 + 0.2 * s, 0.3, 0.1 + 0.1 * s]}))
    t = cmm.spread(sweep, robust)
    assert list(t.index) == [10.0, 100.0]
    assert t.loc[10.0, "test accuracy mean"] == pytest.approx(0.985)
    assert t.loc[100.0, "test accuracy max"] == pytest.approx(0.7)
    assert t.loc[10.0, "reproduction (CIFAR-10)"] == cmm.REF[10]
    assert t.loc[10.0, "robust accuracy mean (1/10)"] == pytest.approx(0.7)
    assert t.loc[100.0, "robust accuracy min (1/10)"] == pytest.approx(0.1)
    assert t.loc[100.0, "robust accuracy sd (1/10)"] == pytest.approx(0.1 / math.sqrt(2))
    assert (t["seeds"] == 2).all() and "robust accuracy" not in " ".join(cmm.spread(sweep))


def test_flag_accuracy_is_the_share_of_ones_with_its_wilson_interval():
    """claims.common.flag_accuracy: 9 of 10 correct is 0.9 with Wilson's (0.596, 0.982)
    (the textbook score interval, computed by hand); an empty split gives nan, not a crash."""
    from rethinkmmc.claims.common import flag_accuracy

    acc, lo, hi, n = flag_accuracy("1111011111")
    assert (acc, n) == (0.9, 10)
    assert lo == pytest.approx(0.5958, abs=5e-4) and hi == pytest.approx(0.9821, abs=5e-4)
    acc, lo, hi, n = flag_accuracy("")
    assert n == 0 and math.isnan(acc) and math.isnan(lo)


def test_cmm_sweep_table_measures_each_point_of_the_test_split():
    from pathlib import Path

    from rethinkmmc import load_run
    from rethinkmmc.experiments import configs
    from rethinkmmc.runs import run_dir

    store = Path(__file__).resolve().parents[1] / "runs"
    runs = {k: load_run(run_dir(c, store)) for k, c in configs("smoke", "cmm").items()}
    _, y = next(iter(runs.values())).test_set()
    sweep = cmm.sweep_table(runs, cmm.majority_rate(y))
    assert (sweep["flags"].str.len() == len(y)).all()
    assert sweep["test accuracy"].tolist() == [f.count("1") / len(y) for f in sweep["flags"]]
    assert ((sweep["test accuracy"] - sweep["stored test accuracy"]).abs() <= 1.5 / len(y)).all()
    best = cmm.verdicts(sweep, cmm.majority_rate(y), "digits")[0]
    assert best.why.count("McNemar") == len(runs) - 1
