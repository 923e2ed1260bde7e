"""Claim 2 (notebook 05): MMC's distance to the nearest center, ||z - mu||^2, is a reliable
uncertainty score where SCE's softmax is over-confident (Pang et al., ICLR 2020). The 2020
reproduction's one-image Table 3, and the measurement that replaces it: the AUROC of telling
test points from out-of-distribution inputs and from adversarial examples, by MMC's minus
min-distance and by SCE's three usual scores: the maximum softmax probability (Hendrycks &
Gimpel 2017), the maximum logit (Hendrycks et al. 2022) and the energy, log-sum-exp of the
logits (Liu et al. 2020). MMC and SCE are scored on the same points, so their AUROCs are
compared by a paired bootstrap (stats.paired_bootstrap_two), by photograph for the crops."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .. import analysis as A, data as D, verdicts as V
from ..attacks import PGD, craft
from ..evaluate import eps_label, select_points
from ..experiments import Settings
from ..ood import ood_sample, photo, photos, to_input
from ..stats import paired_bootstrap_two
from ..suites import adaptive_objective
from .common import lookup

__all__ = ["REF", "MAIN", "SCE_SCORES", "ood_names", "Scores", "test_points", "ood_inputs",
           "input_table", "table3", "adv_name", "aware_name", "strong_aware_name", "adversarials",
           "scores",
           "detection", "compared", "paired", "histogram_panels", "verdicts"]

REF = {("digits", "sce"): "0.997 / 0.00292 / 0.00004 (SCE-MNIST, a lion)",
       ("mnist", "sce"): "0.997 / 0.00292 / 0.00004 (SCE-MNIST, a lion)",
       ("digits", "mmc"): "-1618.7 / -1670 / -1680 (MMC-MNIST, a lion)",
       ("mnist", "mmc"): "-1618.7 / -1670 / -1680 (MMC-MNIST, a lion)",
       ("cifar10", "sce"): "1 / 0 / 0 (SCE-CIFAR-10, an MNIST digit)",
       ("cifar10", "mmc"): "-10143 / -10152 / -10564 (MMC-CIFAR-10, an MNIST digit)"}
MAIN = {"SCE": "max_softmax", "MMC-10": "min_distance"}  # the paper's score of each model
SCE_SCORES = ("max_softmax", "max_logit", "energy")       # SCE's baselines MMC must beat


def ood_names(S: Settings, cifar: str | None) -> dict[str, list[str]]:
    """In-distribution dataset -> its out-of-distribution sets."""
    out = {S.dataset: list(S.ood)}
    if cifar:
        out[cifar] = ["mnist", "noise"]
    return out


def test_points(groups: dict, n: int, seed: int, data_root=None) -> dict:
    """Per dataset: `n` seeded, class-stratified test points (x, y)."""
    out = {}
    for d, rs in groups.items():
        x, y = next(iter(rs.values())).test_set(data_root)
        out[d] = select_points(x, y, n, seed)
    return out


def ood_inputs(names: dict[str, list[str]], n: int, seed: int, data_root=None) -> dict:
    """Per dataset: its out-of-distribution sets at its input shape, `n` points each, as
    (inputs, clusters): the photograph of each crop for ``photos``, else None."""
    return {d: {o: ood_sample(o, D.DATASETS[d].shape, n, seed, data_root) for o in sets}
            for d, sets in names.items()}


def input_table(ins: dict, inputs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"in-distribution": d, "set": o, "n": len(x),
                          "shape": str(tuple(x.shape[1:])), "mean pixel": float(x.mean())}
                         for d in inputs
                         for o, x in [("test", ins[d][0])]
                         + [(o, xc[0]) for o, xc in inputs[d].items()]])


def table3(groups: dict, ins: dict, data_root=None) -> pd.DataFrame:
    """The reproduction's Table 3: each model's top-3 scores for the photographs (and, for
    CIFAR models, an MNIST digit), beside its median top-1 score on its own test points.
    SCE: softmax probabilities; MMC: the logits -||z - mu_l||^2 of the three nearest centers."""
    rows = []
    for d, rs in groups.items():
        shape, names = D.DATASETS[d].shape, D.DATASETS[d].classes
        probes = {f"photo {p}": photo(p, shape) for p in sorted(photos())}
        if shape[0] == 3:  # the reproduction's input for CIFAR models: an MNIST digit
            xm, ym = D.load("mnist", "test", data_root)
            probes[f"MNIST digit ({int(ym[0])})"] = to_input(xm[:1], shape)
        for k, r in rs.items():
            soft = r.model.centers is None
            _, h_test = A.embed(r.model, ins[d][0])
            med = float(np.median(A.top_k(h_test, 1, softmax=soft)[0][:, 0]))
            for probe, x in probes.items():
                v, i = A.top_k(A.embed(r.model, x)[1], 3, softmax=soft)
                rows.append({"model": f"{k} ({d})", "input": probe,
                             "top-3 scores": " / ".join(f"{s:.3g}" for s in v[0]),
                             "top-3 classes": ", ".join(names[j] for j in i[0]),
                             "test median top-1": f"{med:.3g}",
                             "reproduction": REF.get((d, r.config.loss), "-")})
    return pd.DataFrame(rows)


def adversarials(run, x, y, eps: float, seed: int, detector_aware: bool = False,
                 strong: int | None = None):
    """PGD-10 at `eps` on the clean-correct points: the successful adversarials, and the counts
    (clean-correct, fooled). The adaptive objective, untargeted (MMC: push z away from mu_y,
    which also pushes it away from every center and so raises the distance score), or with
    `detector_aware` targeted at a random other class (MMC: pull z toward mu_t, so that it
    lands near a center where the distance score calls it confident; Carlini & Wagner,
    "Adversarial examples are not easily detected", AISec 2017). With `strong` (a step
    count): that many steps of the same pull, so that enough adversarials succeed for the
    AUROC to rest on more than a few points (PGD-10 at MNIST 0.1 fools 16 of 495 quick-profile
    points). PGD returns its last iterate, not its first successful one (as APGD and
    ``keep_best`` do): the point goes on toward mu_t after it crosses the decision boundary,
    as an attacker who knows the detector would have it."""
    steps = strong or 10
    attack = PGD(eps, steps=steps, step_size=2.5 * eps / steps,
                 objective=adaptive_objective(run), targeted=detector_aware, seed=seed)
    with torch.no_grad():
        ok = A.embed(run.model, x)[1].argmax(1) == y
    xa = craft(attack, run.model, x[ok], y[ok], batch_size=250)
    with torch.no_grad():
        fooled = A.embed(run.model, xa)[1].argmax(1) != y[ok]
    return xa[fooled], int(ok.sum()), int(fooled.sum())


@dataclass
class Scores:
    """One seed's detection scores: per model (``"MMC-10 (digits)"``) its scores on the test
    points, on each out-of-distribution set, and the adversarial counts."""

    clean: dict = field(default_factory=dict)
    outs: dict = field(default_factory=dict)
    adv_counts: dict = field(default_factory=dict)
    aware_counts: dict = field(default_factory=dict)
    strong_counts: dict = field(default_factory=dict)
    clusters: dict = field(default_factory=dict)  # (dataset, out set) -> clusters or None


def _model_scores(run, x):
    return A.scores(A.embed(run.model, x)[1], run.model.centers is not None)


def adv_name(S: Settings) -> str:
    return f"PGD-10 {eps_label(S.eps_main[0])} adversarial"


def aware_name(S: Settings) -> str:
    return f"PGD-10 {eps_label(S.eps_main[0])} detector-aware adversarial"


def strong_aware_name(S: Settings) -> str:
    """The strong detector-aware attack: PGD with the cascade's step count at the largest main
    budget, where claim 1's cascade leaves MMC little robustness, so that what is tested is
    the detector and not whether the attack succeeds."""
    return f"PGD-{S.strong['steps']} {eps_label(S.eps_main[-1])} detector-aware adversarial"


def scores(groups: dict, ins: dict, inputs: dict, S: Settings, seed: int) -> Scores:
    """Every model's scores on its test points, its out-of-distribution sets and (main
    dataset) its successful PGD-10 adversarials at the first main eps, untargeted and
    detector-aware, and its successful long-PGD detector-aware ones at the last main eps
    (:func:`adversarials`)."""
    sc = Scores()
    for d, rs in groups.items():
        sc.clusters.update({(d, o): c for o, (_, c) in inputs[d].items()})
        for k, r in rs.items():
            name = f"{k} ({d})"
            sc.clean[name] = _model_scores(r, ins[d][0])
            sc.outs[name] = {o: _model_scores(r, x) for o, (x, _) in inputs[d].items()}
            if d == S.dataset:
                for aware, counts, label, eps, strong in (
                        (False, sc.adv_counts, adv_name(S), S.eps_main[0], None),
                        (True, sc.aware_counts, aware_name(S), S.eps_main[0], None),
                        (True, sc.strong_counts, strong_aware_name(S), S.eps_main[-1],
                         S.strong["steps"])):
                    xa, n_ok, n_fool = adversarials(r, *ins[d], eps, seed, aware, strong)
                    counts[name] = (n_ok, n_fool)
                    if n_fool:
                        sc.outs[name][label] = _model_scores(r, xa)
    return sc


def detection(sc: Scores) -> pd.DataFrame:
    """AUROC of every score of every model for each of its out-of-distribution sets."""
    det = A.detection_table(sc.clean, sc.outs)
    det["n_out"] = [len(sc.outs[m][o][s]) for m, o, s in zip(det["model"], det["out_data"],
                                                              det["score"])]
    return det


def compared(det: pd.DataFrame, sc: Scores, seed: int, n_boot: int = 200) -> pd.DataFrame:
    """The rows of each model's own score (SCE: max-softmax, MMC: min-distance), with a seeded
    percentile-bootstrap interval (`analysis.auroc_ci`)."""
    out = det[[MAIN[m.split(" (")[0]] == s for m, s in zip(det["model"], det["score"])]].copy()
    ci = [A.auroc_ci(sc.clean[m][s], sc.outs[m][o][s], n_boot=n_boot, seed=seed)
          for m, o, s in zip(out["model"], out["out_data"], out["score"])]
    out["ci_low"], out["ci_high"] = [c[0] for c in ci], [c[1] for c in ci]
    return out[["model", "out_data", "score", "n_out", "auroc", "ci_low", "ci_high"]] \
        .reset_index(drop=True)


def paired(sc: Scores, names: dict[str, list[str]], seed: int, n_boot: int = 200
           ) -> pd.DataFrame:
    """MMC-10's min-distance AUROC minus each of SCE's scores' AUROCs, on the same test and
    out-of-distribution points, with the paired bootstrap interval (by photograph for crops)."""
    rows = []
    for d, sets in names.items():
        m, s = f"MMC-10 ({d})", f"SCE ({d})"
        for o in sets:
            cl = sc.clusters.get((d, o))
            a_in, a_out = sc.clean[m]["min_distance"], sc.outs[m][o]["min_distance"]
            for score in SCE_SCORES:
                b_in, b_out = sc.clean[s][score], sc.outs[s][o][score]
                diff, (lo, hi) = paired_bootstrap_two(
                    lambda i, j: A.auroc(a_in[i], a_out[j]) - A.auroc(b_in[i], b_out[j]),
                    len(a_in), len(a_out), clusters_b=cl, reps=n_boot, seed=seed)
                rows.append({"data": d, "out_data": o, "SCE score": score,
                             "MMC AUROC": A.auroc(a_in, a_out), "SCE AUROC": A.auroc(b_in, b_out),
                             "difference": diff, "ci_low": lo, "ci_high": hi,
                             "resampled": "points" if cl is None else
                             f"{len(np.unique(cl))} photographs"})
    return pd.DataFrame(rows)


def histogram_panels(runs: dict, sc: Scores, dataset: str) -> dict:
    """Score histograms of the main dataset's models: SCE's max-softmax, MMC's log10 of the
    squared distance to the nearest center (lower = more in-distribution)."""
    panels = {}
    for k in runs:
        name, s = f"{k} ({dataset})", MAIN[k]
        f = (lambda v: v) if s == "max_softmax" else (lambda v: np.log10(np.maximum(-v, 1e-12)))
        series = {"test": f(sc.clean[name][s])}
        series.update({o: f(v[s]) for o, v in sc.outs[name].items()})
        label = "max softmax" if s == "max_softmax" else "log10 min ||z - mu||^2"
        panels[f"{k}: {label}"] = series
    return panels


def verdicts(comp: pd.DataFrame, pair: pd.DataFrame, sc: Scores,
             names: dict[str, list[str]], S: Settings, n: int) -> list[V.Verdict]:
    """The verdict rows of notebook 05 (its rules 1-2), from one seed's frames."""
    rows = []
    for d, sets in names.items():
        for o in sets:
            sel = pair[(pair["data"] == d) & (pair["out_data"] == o)].set_index("SCE score")
            cl = sel["resampled"].iloc[0]
            rows.append(V.Verdict(
                "MMC's min-distance score detects OOD inputs better than SCE's max-softmax, "
                "max-logit and energy scores",
                f"AUROC, {d} test vs {o} (n={n} each), MMC minus SCE, 200-resample paired "
                f"bootstrap over {cl}",
                "paper: MMC distance flags OOD; reproduction Table 3: SCE 0.997 on a lion",
                f"MMC {sel['MMC AUROC'].iloc[0]:.3f} vs SCE "
                + " / ".join(f"{sel.loc[k, 'SCE AUROC']:.3f}" for k in SCE_SCORES)
                + " (" + " / ".join(k.replace("_", "-") for k in SCE_SCORES) + ")",
                *V.all_of(V.above_zero(sel.loc[k, "difference"],
                                       (sel.loc[k, "ci_low"], sel.loc[k, "ci_high"]),
                                       f"vs {k.replace('_', '-')}: MMC - SCE")
                          for k in SCE_SCORES)))
    d0, m = S.dataset, f"MMC-10 ({S.dataset})"
    parts, readings = [], []
    for label, counts, kind in ((adv_name(S), sc.adv_counts, "untargeted"),
                                (aware_name(S), sc.aware_counts, "detector-aware"),
                                (strong_aware_name(S), sc.strong_counts,
                                 f"PGD-{S.strong['steps']} detector-aware at "
                                 f"{eps_label(S.eps_main[-1])}")):
        n_ok, n_fool = counts[m]
        try:
            a = lookup(comp, model=m, out_data=label)
        except KeyError:  # no adversarial succeeded
            parts.append(V.at_least(float("nan"), 0.9, what=f"{kind} AUROC"))
            readings.append(f"{kind}: none of {n_ok} succeeded")
            continue
        parts.append(V.at_least(a["auroc"], 0.9, (a["ci_low"], a["ci_high"]), f"{kind} AUROC"))
        readings.append(f"{kind} {a['auroc']:.3f} ({n_fool} of {n_ok})")
    rows.append(V.Verdict(
        "Adversarial examples are detectable by MMC's distance score",
        f"AUROC, {d0} test vs successful PGD-10 adversarials at {eps_label(S.eps_main[0])} "
        "(adaptive untargeted; detector-aware, pulled toward a random other center) and "
        f"PGD-{S.strong['steps']} detector-aware ones at {eps_label(S.eps_main[-1])} (last "
        "iterate)",
        "paper: the MMC loss value flags adversarial inputs; Carlini & Wagner 2017",
        "; ".join(readings), *V.all_of(parts)))
    return rows
