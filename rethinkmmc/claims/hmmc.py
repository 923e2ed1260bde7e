"""Hierarchical MMC (notebook 11): centers of one superclass share a direction (C1 apart
across superclasses, C2 within), as the 2020 reproduction tried on CIFAR-100. Does HMMC beat
MMC in accuracy, and does it make fewer mistakes across superclasses?"""
from __future__ import annotations

import pandas as pd
import torch

from .. import data as D, verdicts as V
from ..evaluate import flag_string, wilson
from ..stats import paired_difference
from ..torchutil import predict

__all__ = ["SUPER_NAMES", "REF", "with_superclasses", "superclass_table", "center_distances",
           "accuracy_table", "bar_frame", "verdicts"]

SUPER_NAMES = {"cifar10": ("vehicles", "animals"),
               "digits": ("closed loop (0, 6, 8, 9)", "open (1, 2, 3, 4, 5, 7)")}
REF = ("reproduction: HMMC did not beat plain MMC on CIFAR-100; best C1 in [5, 20], "
       "C2 in [0.1, 2]")


def with_superclasses() -> list[str]:
    """The datasets HMMC can run on."""
    return [k for k, s in D.DATASETS.items() if s.superclasses is not None or k == "cifar100"]


def superclass_table(dataset: str, sup_of: list[int]) -> pd.DataFrame:
    spec = D.DATASETS[dataset]
    names = dict(enumerate(SUPER_NAMES.get(dataset, ())))
    return pd.DataFrame([{"superclass": s, "name": names.get(s, f"coarse label {s}"),
                          "classes": ", ".join(spec.classes[c] for c in range(spec.num_classes)
                                               if sup_of[c] == s)}
                         for s in sorted(set(sup_of))]).set_index("superclass")


def center_distances(runs: dict, sup_of: list[int]) -> pd.DataFrame:
    """Distances between centers within and across superclasses (HMMC trades the first,
    about 2 C2, for the second)."""
    sup = torch.tensor(sup_of)
    same = sup[:, None] == sup[None, :]
    off = ~torch.eye(len(sup_of), dtype=torch.bool)
    rows = []
    for k, r in runs.items():
        mu = r.model.centers.detach().double()
        d = torch.cdist(mu, mu)
        rows.append({"run": k, "C1 (C_MM)": r.config.c_mm,
                     "C2": r.config.hmmc_c2 if r.config.centers == "hierarchical" else None,
                     "min within superclass": d[same & off].min().item(),
                     "mean within superclass": d[same & off].mean().item(),
                     "min across superclasses": d[~same].min().item(),
                     "mean across superclasses": d[~same].mean().item()})
    return pd.DataFrame(rows)


def accuracy_table(runs: dict, sup_of: list[int], data_root=None) -> pd.DataFrame:
    """Accuracy and superclass accuracy on the test split, with Wilson intervals, and the
    mistakes within and across superclasses."""
    x, y = next(iter(runs.values())).test_set(data_root)
    sup = torch.tensor(sup_of)
    rows = []
    for k, r in runs.items():
        pred = predict(r.model, x)
        n = len(y)
        correct = (pred == y).sum().item()
        sup_ok = (sup[pred] == sup[y]).sum().item()
        rows.append({"run": k, "n": n, "accuracy": correct / n,
                     **dict(zip(("acc ci_low", "acc ci_high"), wilson(correct, n))),
                     "superclass accuracy": sup_ok / n,
                     **dict(zip(("sup ci_low", "sup ci_high"), wilson(sup_ok, n))),
                     "mistakes within superclass": sup_ok - correct,
                     "mistakes across superclasses": n - sup_ok,
                     "stored test accuracy": r.metrics["test_accuracy"],
                     # per-point results: the models are compared on the same points
                     "flags": flag_string((pred == y).tolist()),
                     "sup flags": flag_string((sup[pred] == sup[y]).tolist())})
    return pd.DataFrame(rows)


def bar_frame(acc: pd.DataFrame) -> pd.DataFrame:
    """Both accuracies with their intervals, long, for a bar chart."""
    return pd.concat([
        pd.DataFrame({"run": acc["run"], "measure": "accuracy", "value": acc["accuracy"],
                      "lo": acc["acc ci_low"], "hi": acc["acc ci_high"]}),
        pd.DataFrame({"run": acc["run"], "measure": "superclass accuracy",
                      "value": acc["superclass accuracy"], "lo": acc["sup ci_low"],
                      "hi": acc["sup ci_high"]})], ignore_index=True)


def _paired(h, a, col: str) -> V.Decision:
    d, ci, p = paired_difference([c == "1" for c in h[col]], [c == "1" for c in a[col]])
    dec = V.above_zero(d, ci, "HMMC - MMC")
    return dec._replace(why=f"{dec.why}, McNemar p={p:.2g}")


def verdicts(acc: pd.DataFrame, dataset: str, n_super: int) -> list[V.Verdict]:
    """The verdict rows of notebook 11, from one seed's accuracy table: per HMMC run (one per
    C2), its accuracy and superclass accuracy against MMC-10's on the same test points (the
    paired difference, Newcombe's interval, McNemar's p)."""
    t = acc.set_index("run")
    a = t.loc["MMC-10"]
    rows = []
    for name in [k for k in t.index if k.startswith("HMMC")]:
        h = t.loc[name]
        rows.append(V.Verdict(f"HMMC beats MMC in accuracy ({name})",
                              f"test accuracy on {dataset}, n={int(a['n'])}, paired", REF,
                              f"HMMC {h['accuracy']:.4f} vs MMC {a['accuracy']:.4f}",
                              *_paired(h, a, "flags")))
        rows.append(V.Verdict(f"HMMC makes fewer cross-superclass mistakes ({name})",
                              f"superclass accuracy on {dataset} ({n_super} superclasses), "
                              f"n={int(a['n'])}, paired",
                              "the reproduction's motivation; not reported there",
                              f"HMMC {h['superclass accuracy']:.4f} vs MMC "
                              f"{a['superclass accuracy']:.4f}",
                              *_paired(h, a, "sup flags")))
    return rows
