"""The README's claim-1 table: quick MMC-10 (and SCE) under the paper's attack (PGD-10 on softmax
cross-entropy) and under the worst case of notebook 02's strong cascade (`suites.strong_suite`,
AutoAttack's size), seed 0, on 02's 500 seeded, class-stratified test points, with 95% Wilson
intervals. The same calls notebook 02 makes, so the numbers are those its render shows.

    python scripts/claim1_table.py [--runs MMC-10 SCE] [--datasets mnist cifar10]
                                   [--eps 0.3 0.1 ...] [--data DIR]

Stages already in the evaluation store (runs/quick/<key>/evaluations/) are read; missing ones are
computed and stored: about 20-40 min per MNIST model and budget where most points survive, on
a 2-core CPU.
"""
import argparse

import pandas as pd

from rethinkmmc import experiments as E
from rethinkmmc.claims import whitebox as W
from rethinkmmc.claims.common import lookup
from rethinkmmc.train import train


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", default=["MMC-10"])
    p.add_argument("--datasets", nargs="+", default=["cifar10", "mnist"],
                   choices=["cifar10", "mnist"])
    p.add_argument("--eps", nargs="+", type=float, default=None,
                   help="MNIST budgets (default: 02's, 8/256 16/256 0.1 0.3)")
    p.add_argument("--data", default=None, help="data root (default: the package's)")
    a = p.parse_args()
    S = E.settings("quick")
    size = dict(S.strong, spsa_steps=S.spsa_steps, spsa_samples=S.spsa_samples)
    rows = []
    for ds, group, eps_list in (("cifar10", "cifar", S.eps_cifar),
                                ("mnist", "robustness", a.eps or S.eps_strong)):
        if ds not in a.datasets:
            continue
        cfgs = E.configs("quick", group)
        for name in a.runs:
            if name not in cfgs:
                continue
            run = train(cfgs[name], data_root=a.data)
            for eps in eps_list:
                f = W.strong_results({name: run}, [eps], S.n, 0, ds, **size)
                pa, wc = lookup(f, stage=1), lookup(f, attack="worst case")
                rows.append({"model, eps": f"{'CIFAR-10' if ds == 'cifar10' else 'MNIST'} "
                             f"{name}, {pa['eps_label']}",
                             "paper's attack [95% CI]": _ci(pa), "worst case [95% CI]": _ci(wc),
                             "run": run.key})
    print(pd.DataFrame(rows).to_markdown(index=False))


def _ci(r) -> str:
    return f"{r['robust_accuracy']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


if __name__ == "__main__":
    main()
