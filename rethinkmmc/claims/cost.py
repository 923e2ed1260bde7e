"""Claim 4 (notebook 06): MMC costs little more computation than SCE (the reproduction's
Table 1, as time ratios measured here), and SGD with momentum is MMC's best optimizer (its
Table 2)."""
from __future__ import annotations

import pandas as pd

from .. import verdicts as V
from ..runs import Run, run_dir
from .common import flag_accuracy, test_flags

__all__ = ["MAIN", "TIMING", "REF_MIN", "REF_OPT", "setup_table", "reference_ratios",
           "recorded_seconds", "optimizer_table", "optimizer_seconds", "optimizer_history",
           "ratio_row", "optimizer_verdict"]

MAIN = ["SCE", "MMC-10", "AT-SCE", "AT-MMC-10"]
TIMING = {"smoke": (10, 5), "quick": (5, 5), "paper": (20, 5)}  # batches, repeats
# The reproduction's Table 1: whole runs of 50 epochs, batch 50, minutes, one RTX 2080 Ti.
REF_MIN = {("SCE", "MNIST"): 39.8, ("MMC-10", "MNIST"): 48.075, ("AT-SCE", "MNIST"): 271.14,
           ("AT-MMC-10", "MNIST"): 280.0, ("SCE", "CIFAR-10"): 54.04,
           ("MMC-10", "CIFAR-10"): 55.23, ("SCE", "CIFAR-100"): 42.8,
           ("MMC-10", "CIFAR-100"): 45.55}
# Its Table 2: MMC-10 on MNIST by optimizer (test accuracy, minutes).
REF_OPT = {"SGD momentum": (0.9969, 47.7), "Adam": (0.9953, 62.7), "RMSProp": (0.9940, 55.9)}


def setup_table(cfgs: dict, batches: int, repeats: int, device: str, threads) -> pd.DataFrame:
    """What is timed."""
    return pd.DataFrame([{"run": k, "dataset": c.dataset, "arch": c.arch, "loss": c.loss,
                          "adversarial training": (f"PGD-{c.adv_steps}" if c.adv_train
                                                   else "no"),
                          "batch size": c.batch_size, "batches per pass": batches,
                          "repeats": repeats, "device": device, "threads": threads or "-"}
                         for k, c in cfgs.items()])


def reference_ratios() -> pd.DataFrame:
    """The reproduction's Table 1 as time ratios to SCE, per dataset."""
    ref = pd.DataFrame([{"run": k, "dataset": d, "minutes": m,
                         "ratio to SCE": m / REF_MIN[("SCE", d)]}
                        for (k, d), m in REF_MIN.items()])
    return ref.pivot_table(index="run", columns="dataset", values="ratio to SCE",
                           sort=False).reindex(MAIN)


def recorded_seconds(cfgs: dict, runs_dir=None) -> tuple[pd.DataFrame, list[str]]:
    """The training seconds the stored runs of `cfgs` recorded (not training any), and the
    names of those not stored yet."""
    stored = {k: Run(run_dir(c, runs_dir)) for k, c in cfgs.items()
              if (run_dir(c, runs_dir) / "metrics.json").exists()}
    whole = pd.DataFrame([{"run": k, "epochs": r.metrics["epochs"],
                           "seconds": r.metrics["seconds"], "hardware": r.metrics.get("hardware")}
                          for k, r in stored.items()],
                         columns=["run", "epochs", "seconds", "hardware"])
    if "SCE" in stored:
        whole["ratio to SCE"] = whole["seconds"] / stored["SCE"].metrics["seconds"]
    return whole, [k for k in cfgs if k not in stored]


def optimizer_table(runs: dict, data_root=None) -> pd.DataFrame:
    """MMC-10's test accuracy by optimizer with 95% Wilson intervals, beside Table 2; measured
    again on the whole test split point by point (``flags``: the verdict pairs the optimizers
    on the same points), the run's stored figure beside it."""
    flags = test_flags(runs, data_root)
    rows = []
    for k, r in runs.items():
        acc, lo, hi, n = flag_accuracy(flags[k])
        rows.append({"optimizer": k, "lr": r.config.lr,
                     "momentum": r.config.momentum if r.config.optimizer != "adam" else None,
                     "epochs": r.metrics["epochs"], "diverged": r.metrics.get("diverged", False),
                     "test accuracy": acc, "ci_low": lo, "ci_high": hi, "n_test": n,
                     "reproduction (MNIST, 50 ep.)": REF_OPT[k][0],
                     "stored test accuracy": r.metrics["test_accuracy"], "flags": flags[k]})
    return pd.DataFrame(rows)


def optimizer_seconds(runs: dict) -> pd.DataFrame:
    """Their recorded training seconds, next to Table 2's minutes, as ratios to SGD."""
    secs = pd.DataFrame([{"optimizer": k, "seconds": r.metrics["seconds"],
                          "hardware": r.metrics.get("hardware"),
                          "reproduction minutes": REF_OPT[k][1]} for k, r in runs.items()])
    secs["ratio to SGD"] = secs["seconds"] / secs["seconds"].iloc[0]
    secs["reproduction ratio"] = secs["reproduction minutes"] / REF_OPT["SGD momentum"][1]
    return secs


def optimizer_history(runs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"optimizer": k, "epoch": h["epoch"], "test accuracy": h["test_accuracy"]}
                         for k, r in runs.items() for h in r.history])


def ratio_row(claim: str, run: str, base: str, table: pd.DataFrame, reference: str,
              batches: int, repeats: int, device: str) -> V.Verdict:
    """A time-ratio claim: holds when the median ratio over the repeats is at most 1.10 and the
    whole min..max range agrees (see verdicts.at_most)."""
    med, lo, hi = table.loc[run, ["ratio median", "ratio min", "ratio max"]]
    d = V.at_most(med, 1.10, (lo, hi), f"{run}/{base} time ratio")
    return V.Verdict(claim, f"{run}/{base} time per training batch, median of {repeats} repeats "
                            f"(min..max), {batches} batches, {device}",
                     reference, f"{med:.3f} ({lo:.3f}..{hi:.3f})",
                     *d._replace(why=d.why.replace("95% CI", "min..max over repeats")))


def optimizer_verdict(opt: pd.DataFrame, dataset: str) -> V.Verdict:
    """SGD momentum's accuracy above Adam's and RMSProp's, each on the same test points: the
    paired 95% interval of the difference above 0 (verdicts.greater_paired)."""
    o = opt.set_index("optimizer")
    acc = o["test accuracy"].to_dict()
    sgd = "SGD momentum"
    return V.Verdict("SGD momentum is the best optimizer for MMC",
                     f"test accuracy of MMC-10 on {dataset} by optimizer, "
                     f"n={int(o['n_test'].iloc[0])}, paired against SGD on the same points "
                     "(Newcombe's 95% interval, McNemar's p)",
                     "reproduction Table 2: SGD 99.69%, Adam 99.53%, RMSProp 99.40% "
                     "(MNIST, 50 epochs)",
                     ", ".join(f"{k} {v:.4f}" for k, v in acc.items()),
                     *V.all_of(V.greater_paired(acc[sgd], acc[k], o.loc[sgd, "flags"],
                                                o.loc[k, "flags"], (sgd, k))
                               for k in ("Adam", "RMSProp")))
