"""PGD-10 throughput, ours against torchattacks', on the same model and batch, in one run.

    python benchmarks/attack_speed.py [--profile quick] [--dataset cifar10] [--batch 256]
                                      [--repeats 5] [--device cpu|cuda]

torchattacks (pip install --no-deps torchattacks) is the peer. Both run L-inf PGD with random
start, eps 8/255, step 2/255, 10 steps, the CE objective, on an untrained model of the
profile's architecture (speed does not depend on the weights); calls alternate so drift in the
machine's speed falls on both; medians are printed with their ratio (ours / peer images per
second: above 1 is faster). Aims: >= 0.95 on a CPU, >= 1.5 on a GPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rethinkmmc.attacks import PGD
from rethinkmmc.data import DATASETS
from rethinkmmc.profiles import train_config
from rethinkmmc.train import build_model, hardware


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    import torchattacks

    device = torch.device(a.device)
    cfg = train_config(a.profile, a.dataset, "sce")
    model = build_model(cfg).to(device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, *DATASETS[a.dataset].shape, generator=g).to(device)
    y = torch.randint(0, DATASETS[a.dataset].num_classes, (a.batch,), generator=g).to(device)
    eps, alpha = 8 / 255, 2 / 255
    ours = PGD(eps, steps=10, step_size=alpha, objective="ce")
    peer = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=10, random_start=True)

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    runs = {"ours": lambda: ours(model, x, y), "torchattacks": lambda: peer(x, y)}
    for fn in runs.values():
        fn()  # warm-up
    secs = {k: [] for k in runs}
    for r in range(a.repeats):
        for k in (("ours", "torchattacks") if r % 2 == 0 else ("torchattacks", "ours")):
            secs[k].append(timed(runs[k]))
    print(f"PGD-10, eps 8/255, step 2/255, batch {a.batch}, {a.dataset} {cfg.arch} "
          f"(n={cfg.depth_n}), {hardware(device)}, torch {torch.__version__}, "
          f"torchattacks {torchattacks.__version__}")
    ips = {k: a.batch / statistics.median(v) for k, v in secs.items()}
    for k, v in ips.items():
        print(f"{k}: {v:.1f} images/s (median of {a.repeats})")
    print(f"ours / torchattacks throughput ratio: {ips['ours'] / ips['torchattacks']:.3f} "
          f"(aim: >= 0.95 on CPU, >= 1.5 on GPU)")


if __name__ == "__main__":
    main()
