"""Claim 1's strong cascade against torchattacks' AutoAttack (standard version), on the same
model and points, with the wall time of each.

    python benchmarks/strong_vs_autoattack.py RUN [RUN ...] --eps 0.1 [--n 500] [--runs DIR]
                                              [--skip-peer] [--no-store]

RUN is a run key (or a unique prefix) of the store. AutoAttack (Croce & Hein, ICML 2020) is
torchattacks' port: APGD-CE, APGD-T, FAB-T, Square (5,000 queries), each on the points still
robust. Ours is `rethinkmmc.suites.claim1_eval` (stored beside the run, so a second call reads
it). Printed per run: our robust accuracy after each stage and AutoAttack's, with the wall time of
each. The strong suite should be at most AutoAttack + 1 point.
"""
from __future__ import annotations

import argparse
import time

import torch

from rethinkmmc.evaluate import points, wilson
from rethinkmmc.runs import load_run
from rethinkmmc.suites import claim1_eval
from rethinkmmc.torchutil import eval_mode, predict


def autoattack_flags(model, x, y, eps, seed=0, batch=500):
    import torchattacks

    out = torch.zeros(len(y), dtype=torch.bool)
    with eval_mode(model):
        atk = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard",
                                      n_classes=int(model.num_classes), seed=seed)
        for i in range(0, len(y), batch):
            xa = atk(x[i:i + batch], y[i:i + batch])
            out[i:i + batch] = predict(model, xa, batch) == y[i:i + batch]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--no-store", action="store_true",
                   help="compute ours afresh, neither reading nor writing the store (a timing)")
    a = p.parse_args()
    for key in a.runs:
        run = load_run(key, a.runs_dir)
        t0 = time.perf_counter()
        ours = claim1_eval(run, [a.eps], n=a.n, progress=False, store=not a.no_store)
        t_ours = time.perf_counter() - t0
        print(f"\n{run.key}  eps {a.eps:.4g}  n {a.n}")
        stages = ours[ours["attack"] != "worst-case"]
        for _, r in stages.iterrows():
            print(f"  {int(r['stage'])}. {r['attack']:7s} {r['objective']:10s} steps {r['steps']:5d}"
                  f"  robust {r['robust_accuracy']:.3f}  ({r['seconds']:.0f} s)")
        print(f"  ours: {stages['robust_accuracy'].iloc[-1]:.3f} in {t_ours:.0f} s this call")
        if a.skip_peer:
            continue
        model, (x, y) = run.model, points(run, a.n)
        t0 = time.perf_counter()
        aa = autoattack_flags(model, x, y, a.eps)
        t_aa = time.perf_counter() - t0
        k = int(aa.sum())
        lo, hi = wilson(k, len(y))
        print(f"  torchattacks AutoAttack: {k / len(y):.3f} [{lo:.3f}, {hi:.3f}] in {t_aa:.0f} s")


if __name__ == "__main__":
    main()
