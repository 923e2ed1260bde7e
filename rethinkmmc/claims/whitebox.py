"""Claim 1, white-box (notebook 02): MMC is robust, also under adaptive attacks (Pang et al.,
ICLR 2020, Sec. 5.1). The paper's attacks (FGSM, BIM, PGD, MIM; untargeted and with a random
target) under the non-adaptive objective (CE on the logits) and the adaptive one, APGD-CE and
APGD-DLR (Croce & Hein 2020) beside them, and the per-example worst case."""
from __future__ import annotations

import math

import pandas as pd

from .. import verdicts as V
from ..attacks import CW
from ..bottomline import PAPER, VS_AT, VS_SCE
from ..evaluate import eps_label
from ..experiments import PULL, Settings
from ..suites import adaptive_objective, attack_table, claim1_eval, paper_whitebox, strongest
from ..train import test_loss
from .common import checked_rows, estimate, lookup, seed_pivot, flag_accuracy, test_flags, versus

__all__ = ["MAIN", "clean_table", "full_suite", "light_suite", "attack_results", "label_attacks",
           "attack_pivot", "targeted_pivot", "eps_sweep", "cw_lr", "cw_table",
           "ordering_rows", "cifar_results", "verdicts", "strong_results",
           "claim1_results", "cascade_names", "strong_size", "cascade_figure",
           "cascade_pivot", "claim1_verdicts", "left_out_verdicts", "ablation_table",
           "cascade_gaps", "gap_verdicts", "gap_table",
           "OUTSIDE", "CASCADE", "LEFT_OUT"]

MAIN = ["SCE", "MMC-10", "AT-SCE", "AT-MMC-10"]  # the runs every attack meets
# The cascade's runs: MAIN and the ablation of MMC's adversarial training (its inner attack
# pulls toward the target instead of the original's targeted softmax CE).
CASCADE = MAIN + [PULL]


def clean_table(runs: dict, data_root=None) -> pd.DataFrame:
    """Each run's loss, training, clean test accuracy and own test loss (full test split). The
    accuracy is measured again point by point (``flags``: the clean-accuracy verdict pairs MMC
    and SCE on the same points); the run's stored figure is kept beside it."""
    flags = test_flags(runs, data_root)
    return pd.DataFrame([{"run": k, "loss": r.config.loss,
                          "adversarial training": r.config.adv_train,
                          "test accuracy": flag_accuracy(flags[k])[0],
                          "stored test accuracy": r.metrics["test_accuracy"],
                          "test loss": test_loss(r, data_root),
                          "n_test": len(flags[k]), "epochs": r.config.epochs,
                          "diverged": r.metrics.get("diverged", False), "flags": flags[k]}
                         for k, r in runs.items()])


def full_suite(S: Settings, seed: int):
    """run -> its attacks at every main eps: the paper's under CE and the adaptive objective,
    then APGD-CE and APGD-DLR."""
    def suite(run):
        out = []
        for eps in S.eps_main:
            for obj in ("ce", adaptive_objective(run)):
                out += paper_whitebox(eps, obj, seed=seed)
            out += strongest(eps, seed=seed)
        return out
    return suite


def light_suite(S: Settings, seed: int):
    """run -> PGD-10 under both objectives and APGD-DLR at every main eps (MM-LDA, center
    loss, L-GM)."""
    def suite(run):
        out = []
        for eps in S.eps_main:
            out += [a for obj in ("ce", adaptive_objective(run))
                    for a in paper_whitebox(eps, obj, steps=(10,), targeted=False, seed=seed)
                    if a.name == "pgd"]
            out += strongest(eps, seed=seed)[1:]
        return out
    return suite


def label_attacks(res: pd.DataFrame) -> pd.DataFrame:
    """Rows of `attack_table` with readable names: ``attack`` becomes "pgd-10 targeted",
    "worst case", ... (the evaluator's name kept in ``method``), and the adaptive
    objectives are spelled out."""
    res = res.copy()
    res["method"] = res["attack"]
    res["attack"] = [("worst case" if a == "worst-case" else f"{a}-{s}" if a != "fgsm" else a)
                     + (" targeted" if t else "")
                     for a, s, t in zip(res["attack"], res["steps"], res["targeted"])]
    res["objective"] = res["objective"].replace({"cw": "adaptive (C&W)", "adaptive": "adaptive"})
    return res


def attack_results(runs: dict, S: Settings, n: int, seed: int, progress=None) -> pd.DataFrame:
    """Every run of `runs` under its suite (MAIN: `full_suite`, the others: `light_suite`), on
    the same `n` seeded points, with the worst case; attack names as `label_attacks`."""
    main = {k: runs[k] for k in MAIN}
    rest = {k: r for k, r in runs.items() if k not in MAIN}
    frames = [attack_table(main, full_suite(S, seed), n=n, seed=seed, progress=progress)]
    if rest:
        frames.append(attack_table(rest, light_suite(S, seed), n=n, seed=seed, progress=progress))
    return label_attacks(pd.concat(frames, ignore_index=True))


def attack_pivot(res: pd.DataFrame, order: list[str]):
    return seed_pivot(res, ["eps_label", "attack", "objective"], "run", "robust_accuracy", order)


def targeted_pivot(res: pd.DataFrame):
    """The targeted rows' target success (accuracy above is on the true label)."""
    return seed_pivot(res[res["targeted"]], ["eps_label", "objective"], "run", "target_success")


def eps_sweep(runs: dict, S: Settings, n: int, seed: int, progress=None) -> pd.DataFrame:
    """PGD-10 under CE and the adaptive objective at every eps of the sweep (MAIN runs)."""
    def suite(r):
        return [a for e in S.eps for o in ("ce", adaptive_objective(r))
                for a in paper_whitebox(e, o, steps=(10,), targeted=False, seed=seed)
                if a.name == "pgd"]
    out = attack_table({k: runs[k] for k in MAIN}, suite, n=n, seed=seed, progress=progress,
                       worst=False)
    out["objective"] = out["objective"].map(lambda o: "CE" if o == "ce" else "adaptive")
    return out


def cw_lr(steps: int) -> float:
    """C&W's Adam learning rate for `steps` iterations: the original's 5e-3 at 1000, scaled so
    that lr x steps stays 5 below that. In tanh space a pixel at 0 or 1 starts near
    atanh(0.999999) ~ 7.25, and Adam moves it by about lr per step: 100 steps at 5e-3 cannot
    bring it back into range, so on MNIST's saturated pixels the attack would hardly move."""
    return 5e-3 * max(1.0, 1000 / steps)


def cw_table(runs: dict, S: Settings, seed: int, progress=None) -> pd.DataFrame:
    """C&W-L2 (Carlini & Wagner 2017) on the MAIN runs: the size of the smallest adversarials
    found at this profile's binary search and iterations."""
    lr = cw_lr(S.cw_steps)
    cw = attack_table({k: runs[k] for k in MAIN},
                      lambda r: [CW(binary_steps=S.cw_binary, steps=S.cw_steps, lr=lr,
                                    seed=seed)],
                      n=S.n_cw, seed=seed, progress=progress, worst=False)
    cw["setting"] = (f"{S.cw_binary} binary steps x {S.cw_steps} iterations, lr {lr:g}, "
                     "c0 0.01")
    return cw[["run", "n", "clean_accuracy", "robust_accuracy", "median_dist", "mean_dist",
               "setting"]]


def ordering_rows(res: pd.DataFrame) -> pd.DataFrame:
    """The untargeted PGD rows as `rethinkmmc.checks` reads them (its attack-ordering check)."""
    pgd = res[(res["method"] == "pgd") & ~res["targeted"]]
    return checked_rows(pgd.assign(attack=pgd["method"]))


def cifar_results(runs: dict, n: int, seed: int, progress=None) -> pd.DataFrame:
    """The CIFAR-10 runs at 8/255: PGD-10/50 under CE and the adaptive objective, APGD."""
    out = attack_table(runs, lambda r: [
        a for o in ("ce", adaptive_objective(r))
        for a in paper_whitebox(8 / 255, o, targeted=False, seed=seed) if a.name == "pgd"]
        + strongest(8 / 255, seed=seed), n=n, seed=seed, progress=progress)
    out["attack"] = [f"{a}-{s}" for a, s in zip(out["attack"], out["steps"])]
    return out


def verdicts(res: pd.DataFrame, clean: pd.DataFrame, cifar: pd.DataFrame | None, S: Settings,
             n: int) -> list[V.Verdict]:
    """The verdict rows of notebook 02 (its rules 1-5, and the CIFAR-10 known answer), from
    one seed's frames."""
    rows = []
    for e in S.eps_main:
        label = lookup(res, eps=e)["eps_label"]

        def at(run, attack, **more):
            return estimate(res, run=run, attack=attack, eps=e, **more)

        rows += [versus("MMC is more robust than SCE under the paper's attack",
                        f"PGD-10 (CE objective) accuracy at {label}, n={n}",
                        "paper: MMC >> SCE; MTandHJ CIFAR MMC 84.71% at 8/255",
                        at("MMC-10", "pgd-10", objective="ce"), at("SCE", "pgd-10", objective="ce"),
                        ("MMC", "SCE"))]
    e0 = S.eps_main[0]
    label = lookup(res, eps=e0)["eps_label"]
    a, _ = estimate(res, run="MMC-10", attack="pgd-10", objective="adaptive", eps=e0)
    b, _ = estimate(res, run="MMC-10", attack="pgd-10", objective="ce", eps=e0)
    rows.append(V.Verdict("The adaptive objective is at least as strong as CE on MMC",
                          f"PGD-10 accuracy on MMC-10 at {label}", "issue 3: known answer",
                          f"adaptive {a:.3f} vs CE {b:.3f}",
                          *(V.at_most(a, b, what="adaptive accuracy"))))
    c = clean.set_index("run")
    m, sce = c.loc["MMC-10"], c.loc["SCE"]
    rows.append(V.Verdict("MMC costs no clean accuracy",
                          f"test accuracy, full test split (n={int(sce['n_test'])}), paired: "
                          "non-inferiority within 1 point",
                          "reproduction: within 2 points of the paper",
                          f"MMC {m['test accuracy']:.4f} vs SCE {sce['test accuracy']:.4f}",
                          *V.not_less_paired(m["test accuracy"], sce["test accuracy"],
                                             m["flags"], sce["flags"], ("MMC", "SCE"), 0.01)))
    if cifar is not None:
        s, sci = estimate(cifar, run="SCE", attack="pgd-50", objective="ce", eps=8 / 255)
        rows.append(V.Verdict("An undefended SCE model falls to ~0% under PGD-50 at 8/255",
                              f"CIFAR-10 SCE, PGD-50 CE, n={n}", "Madry et al. 2018: ~0%",
                              f"{s:.3f}", *V.at_most(s, 0.05, sci, "PGD-50 accuracy")))
    return rows


# Outside evaluations of MMC on CIFAR-10 (../shared/reference.md): RobustBench's entry for
# the original AT-MMC (reported 55.0%, AutoAttack 43.48%), and an independent PyTorch MMC
# (MTandHJ: PGD-10 84.71%, AutoAttack 0.00%).
OUTSIDE = {"MMC-10": "independent PyTorch MMC, CIFAR-10 8/255: PGD-10 84.71%, AutoAttack 0.00%",
           "AT-MMC-10": "RobustBench AT-MMC, CIFAR-10 8/255: reported 55.0%, AutoAttack 43.48%"}


def strong_results(runs: dict, eps_list, n: int, seed: int, dataset: str,
                   progress=None, skip=(), **suite) -> pd.DataFrame:
    """Claim 1's strong cascade (`suites.claim1_eval`; `suite` sets its size: steps, targets,
    square_queries, SPSA's) on each CASCADE run present in `runs` (MAIN and the pull
    ablation), at every eps of `eps_list` but the (run, eps) pairs in `skip`: one row per
    stage and run with the robust accuracy after it (``stage`` 1 is the paper's attack; the
    ``worst case`` row is the last stage), a readable ``attack`` name, the ``dataset`` and each
    run's adversarial-training eps. Empty where every pair is skipped."""
    frames, skip = [], set(skip)
    for name in CASCADE:
        todo = [e for e in eps_list if (name, e) not in skip]
        if name not in runs or not todo:
            continue
        r = runs[name]
        df = claim1_eval(r, todo, n=n, seed=seed, progress=progress, **suite)
        df.insert(0, "run", name)
        df["dataset"] = dataset
        df["trained_eps"] = r.config.adv_eps if r.config.adv_train else float("nan")
        frames.append(df)
    return cascade_names(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


def cascade_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Cascade rows (`claim1_eval`) named for the table: ``attack`` as "apgd-100 (ce)", ...,
    and ``rank``, the stage's place in a center model's cascade."""
    out = label_attacks(frame)
    # One row name per attack across runs (SCE's adaptive objective is the C&W margin, MMC's
    # the center distance: both are "adaptive" here), ranked in the center models' cascade
    # order, so that SCE's rows line up with MMC's and lack only the center-margin stages.
    obj = out["objective"].replace({"adaptive (C&W)": "adaptive"})
    out["attack"] = [_SHORT[8] if m == "any_of" else a if m in ("worst-case", "square")
                     else f"{a} ({o})" for a, m, o in zip(out["attack"], out["method"], obj)]
    out["rank"] = [_RANK.get((m, o), _RANK.get((m, None), len(_RANK)))
                   for m, o in zip(out["method"], obj)]
    return out


# The cascade's stages in the order strong_suite runs them for a center model.
_RANK = {("pgd", "ce"): 1, ("pgd", "adaptive"): 2, ("apgd", "mmc_margin"): 3, ("apgd", "ce"): 4,
         ("apgd_t", "dlr"): 5, ("apgd_t", "mmc_margin"): 6, ("square", None): 7,
         ("any_of", None): 8, ("worst-case", None): 9}
_SHORT = {1: "PGD-10 CE (paper)", 2: "PGD-50 adaptive", 3: "APGD margin", 4: "APGD-CE",
          5: "APGD-T DLR", 6: "APGD-T margin", 7: "Square", 8: "paper's attacks + SPSA"}


def claim1_results(runs: dict, cifar_runs: dict | None, S: Settings, n: int, seed: int,
                   progress=None, gaps=()) -> pd.DataFrame:
    """The strong cascade at the profile's size (`S.strong`): the main runs at `S.eps_strong`
    and, where the profile has them apart from its main set, the CIFAR-10 runs (`cifar_runs`)
    at `S.eps_cifar`; the (dataset, eps, run) of `gaps` (:func:`cascade_gaps`) left out."""
    parts = [(runs, S.eps_strong, S.dataset)]
    if cifar_runs and S.eps_cifar:
        parts.append((cifar_runs, S.eps_cifar, S.cifar))
    frames = [strong_results(group, eps_list, n, seed, ds, progress,
                             skip={(g["run"], g["eps"]) for g in gaps if g["dataset"] == ds},
                             **_size(S))
              for group, eps_list, ds in parts]
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def _size(S: Settings) -> dict:
    return dict(S.strong, spsa_steps=S.spsa_steps, spsa_samples=S.spsa_samples)


def cascade_gaps(runs: dict, cifar_runs: dict | None, S: Settings, n: int,
                 seed: int) -> list[dict]:
    """The (dataset, eps, run) of :func:`claim1_results` whose cascade is not wholly in the
    store, each with the stages it lacks (``missing``). Nothing is attacked: notebook 02 with
    ``cascade_stored=True`` renders what is stored and names the rest, where computing it would
    take longer than the render may (an hour per run and budget on a 2-core CPU where most
    points survive every stage)."""
    from ..evaluate import missing_records  # noqa: PLC0415
    from ..suites import strong_suite  # noqa: PLC0415

    out = []
    for ds, group, eps_list in ((S.dataset, runs, S.eps_strong),
                                (S.cifar, cifar_runs or {}, S.eps_cifar if cifar_runs else ())):
        for e in eps_list:
            for k in CASCADE:
                if k in group:
                    miss = missing_records(group[k], strong_suite(e, group[k], seed=seed,
                                                                  **_size(S)),
                                           n=n, seed=seed, cascade=True)
                    if miss:
                        out.append({"dataset": ds, "eps": e, "eps_label": eps_label(e),
                                    "run": k, "missing": ", ".join(miss)})
    return out


def strong_size(S: Settings) -> str:
    """The cascade's size at this profile, beside AutoAttack's standard version."""
    z = S.strong
    return (f"APGD and APGD-T {z['steps']} steps, APGD-T toward the top {z['targets']} other "
            f"classes, Square {z['square_queries']:,} queries (AutoAttack's standard version: "
            f"100 steps, 9 classes, 5,000 queries)")


def cascade_figure(strong: pd.DataFrame):
    """Robust accuracy after each stage, one line per run, one panel per dataset and eps."""
    from .. import plots  # noqa: PLC0415  (matplotlib only where a figure is drawn)

    d = strong[strong["method"] != "worst-case"].copy()
    d["budget"] = d["dataset"] + ", eps " + d["eps_label"]
    d["stage"] = d["rank"].map(_SHORT)
    fig = plots.lines(d, x="rank", y="robust_accuracy", hue="run", panel="budget",
                      xlabel="cascade stage (SCE skips the center margins)",
                      ylabel="robust accuracy", xticklabels="stage")
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + 1.2)  # room for the stage names under the axes
    for ax in fig.axes:
        for t in ax.get_xticklabels():
            t.set(rotation=40, ha="right")
    return fig


def cascade_pivot(strong: pd.DataFrame):
    """Stages (in cascade order) x runs: the robust accuracy after each stage."""
    ordered = strong.sort_values(["dataset", "eps", "rank"], kind="stable")
    return seed_pivot(ordered, ["dataset", "eps_label", "attack"], "run", "robust_accuracy",
                      [k for k in CASCADE if k in set(strong["run"])])


def ablation_table(strong: pd.DataFrame) -> pd.DataFrame | None:
    """The ablation of MMC's adversarial training: AT-MMC-10 (the original's inner attack,
    targeted softmax CE toward a target over all classes) beside its pull-only variant, under
    the paper's attack and the strong cascade's worst case, with 95% Wilson intervals (the
    mean over seeds where there are several). None where the profile has no pull run."""
    pair = [k for k in ("AT-MMC-10", PULL) if k in set(strong["run"])]
    if len(pair) < 2:
        return None
    d = strong[strong["run"].isin(pair) & strong["rank"].isin([1, _RANK[("worst-case", None)]])]
    d = d.assign(stage=d["rank"].map({1: "paper's attack (PGD-10 CE)"}).fillna("worst case"),
                 inner=d["run"].map({"AT-MMC-10": "softmax CE, target over all classes",
                                     PULL: "pull toward a target among the others"}))
    keys = ["dataset", "eps_label", "stage", "run", "inner"]
    g = d.groupby(keys, sort=False)[["robust_accuracy", "ci_low", "ci_high"]].mean()
    g["accuracy [95% CI]"] = [f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in g.to_numpy()]
    return g[["accuracy [95% CI]"]].unstack(["run", "inner"])["accuracy [95% CI]"]


def claim1_verdicts(strong: pd.DataFrame, n: int) -> list[V.Verdict]:
    """Claim 1 at every (dataset, eps) of the strong cascade, from one seed's frame:

    (a) "The paper's attack measures MMC's robustness": MMC-10's accuracy under the paper's
        attack (stage 1) against its worst case; does not hold when the worst case lies
        below the paper attack's 95% interval;
    (b) "MMC is more robust than SCE under the strongest attacks": worst cases, MMC-10 vs SCE
        (intervals apart and a gain of 5 points);
    (c) "AT-MMC is more robust than AT-SCE under the strongest attacks", likewise; where the
        runs were adversarially trained at a smaller eps than attacked, inconclusive at this
        profile, with that reason.
    Rows whose runs are absent at that (dataset, eps) are left out (:func:`gap_verdicts`).
    """
    rows = []
    for (ds, e), g in strong.groupby(["dataset", "eps"], sort=False):
        label = g["eps_label"].iloc[0]
        have = set(g["run"])

        def worst(run):
            return estimate(g, run=run, attack="worst case")

        if "MMC-10" in have:
            p, pci = estimate(g, run="MMC-10", stage=1)
            w, wci = worst("MMC-10")
            d = V.at_least(w, pci[0], what="worst case")
            why = (f"worst case {w:.3f} (95% CI {wci[0]:.3f}-{wci[1]:.3f}) "
                   + ("within or above" if d.verdict == V.HOLDS else "below")
                   + f" the paper attack's interval {pci[0]:.3f}-{pci[1]:.3f}")
            rows.append(V.Verdict(
                f"{PAPER} ({ds}, {label})",
                f"MMC-10: PGD-10 CE vs worst case of the strong cascade, n={n}",
                OUTSIDE["MMC-10"], f"paper attack {p:.3f} vs worst case {w:.3f}",
                d.verdict, why, d.margin))
        if {"MMC-10", "SCE"} <= have:
            rows.append(versus(f"{VS_SCE} ({ds}, {label})",
                               f"worst case of the strong cascade, n={n}", OUTSIDE["MMC-10"],
                               worst("MMC-10"), worst("SCE"), ("MMC", "SCE")))
        if {"AT-MMC-10", "AT-SCE"} <= have:
            claim = f"{VS_AT} ({ds}, {label})"
            measure = f"worst case of the strong cascade, n={n}"
            trained = float(lookup(g, run="AT-MMC-10", attack="worst case")["trained_eps"])
            if e > trained * 1.05:  # 8/256 vs 8/255 is the same budget
                a, b = worst("AT-MMC-10")[0], worst("AT-SCE")[0]
                rows.append(V.Verdict(claim, measure, OUTSIDE["AT-MMC-10"],
                                      f"AT-MMC {a:.3f} vs AT-SCE {b:.3f}", V.OPEN,
                                      f"trained at {eps_label(trained)}, attacked at {label}: "
                                      "this profile does not test it", math.nan))
            else:
                rows.append(versus(claim, measure, OUTSIDE["AT-MMC-10"], worst("AT-MMC-10"),
                                   worst("AT-SCE"), ("AT-MMC", "AT-SCE")))
    return rows


# Why a render may leave the adversarially trained CIFAR-10 runs out (notebook 02's parameter
# cifar_at=False): PGD adversarial training multiplies a CIFAR-10 run's cost by the inner
# attack's steps, hours per run on a laptop CPU.
LEFT_OUT = ("not evaluated in this render: the adversarially trained CIFAR-10 runs were left "
            "out (parameter cifar_at=False; adversarial training on CIFAR-10 takes hours per "
            "run without a GPU)")


def left_out_verdicts(S: Settings, n: int) -> list[V.Verdict]:
    """Claim 1's row (c) at each CIFAR-10 budget of the cascade (`S.eps_cifar`) when its runs
    were left out of the render: inconclusive at this profile, saying so, so that the verdict
    table, 99 and the bottom line show the gap instead of silently losing the rows."""
    if not (S.cifar and S.eps_cifar):
        return []
    return [V.Verdict(f"{VS_AT} ({S.cifar}, {eps_label(e)})",
                      f"worst case of the strong cascade, n={n}",
                      OUTSIDE["AT-MMC-10"], "not evaluated", V.OPEN, LEFT_OUT, math.nan)
            for e in S.eps_cifar]


def gap_verdicts(gaps: list[dict], n: int) -> list[V.Verdict]:
    """Claim 1's rows (a)-(c) that :func:`claim1_verdicts` could not give because a run's
    cascade at that (dataset, eps) was left out of the render (:func:`cascade_gaps`):
    inconclusive at this profile, naming the runs, so that 99 and the bottom line show the gap
    instead of silently losing the rows."""
    rows = []
    where = {}
    for g in gaps:
        where.setdefault((g["dataset"], g["eps_label"]), set()).add(g["run"])
    for (ds, label), absent in where.items():
        for claim, needs in ((PAPER, ["MMC-10"]), (VS_SCE, ["MMC-10", "SCE"]),
                             (VS_AT, ["AT-MMC-10", "AT-SCE"])):
            lacking = [k for k in needs if k in absent]
            if lacking:
                rows.append(V.Verdict(
                    f"{claim} ({ds}, {label})", f"worst case of the strong cascade, n={n}",
                    OUTSIDE["AT-MMC-10" if claim == VS_AT else "MMC-10"], "not evaluated",
                    V.OPEN, f"not evaluated in this render: the strong cascade of "
                    f"{' and '.join(lacking)} at {label} is not in the store (parameter "
                    "cascade_stored=True renders the stored stages only)", math.nan))
    return rows


def gap_table(gaps: dict[int, list[dict]]) -> pd.DataFrame:
    """seed -> :func:`cascade_gaps`, as one table: what a ``cascade_stored`` render left out."""
    rows = [{"seed": s, **{k: g[k] for k in ("dataset", "eps_label", "run", "missing")}}
            for s, gs in gaps.items() for g in gs]
    return pd.DataFrame(rows, columns=["seed", "dataset", "eps_label", "run", "missing"])
