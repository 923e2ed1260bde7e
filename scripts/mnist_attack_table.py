"""Robust accuracy of the quick-profile MNIST SCE and MMC runs: PGD-10 / PGD-50, non-adaptive
(CE) against adaptive objectives, APGD-DLR, and the per-example worst case, at eps 0.1 and 0.3
(over 1: MNIST's usual L-inf budgets; the paper's 8/256 is far below what MNIST models resist).

    python scripts/mnist_attack_table.py [--n 500]

Results go to the evaluation store beside each run, so a second call only prints.
"""
import argparse

import pandas as pd

from rethinkmmc import load_run
from rethinkmmc.attacks import APGD, PGD
from rethinkmmc.evaluate import evaluate
from rethinkmmc.experiments import configs

# the quick profile's own MNIST SCE and MMC-10 runs, whatever its settings now are
RUNS = {name: cfg.key() for name, cfg in configs("quick", "standard").items()}


def attacks(eps, adaptive):
    objs = ["ce", "adaptive"] if adaptive else ["ce", "cw"]
    out = [PGD(eps, steps=s, step_size=2.5 * eps / s, objective=o) for o in objs for s in (10, 50)]
    return out + [APGD(eps, steps=50, objective="dlr")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    a = p.parse_args()
    frames = []
    for name, key in RUNS.items():
        run = load_run(key)
        for eps in (0.1, 0.3):
            df = evaluate(run, attacks(eps, run.model.centers is not None), n=a.n)
            df.insert(0, "run", name)
            frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["attack"] = [f"{r.attack}-{r.steps}" if r.attack != "worst-case" else "worst case"
                    for r in df.itertuples()]
    cols = ["run", "eps_label", "attack", "objective", "n", "clean_accuracy", "robust_accuracy",
            "ci_low", "ci_high", "seconds"]
    print(df[cols].to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
