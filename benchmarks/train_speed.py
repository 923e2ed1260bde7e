"""Epoch time of MMC against SCE on the same model, measured in one run.

    python benchmarks/train_speed.py [--profile quick] [--dataset cifar10] [--batches 20]
                                     [--repeats 5] [--device cpu|cuda]

Both losses train the same trunk through the package's own epoch loop (cost.batch_times, which
runs train.train_epoch with its augmentation and, on CUDA, its fast path) on the same batches;
only the head and loss differ. Epochs of SCE and MMC alternate (the order flipping every repeat)
so drift in the machine's speed falls on both; the median of the per-repeat ratios is printed.
The 2020 reproduction measured MMC/SCE = 1.02 (CIFAR-10) to 1.21 (MNIST) on an RTX 2080 Ti; the
aim here is <= 1.05.
"""
from __future__ import annotations

import argparse

import torch

from rethinkmmc.cost import batch_times, time_ratios
from rethinkmmc.profiles import train_config
from rethinkmmc.train import hardware


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--batches", type=int, default=20, help="batches per timed epoch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data-root")
    a = p.parse_args()
    device = torch.device(a.device)
    cfgs = {loss: train_config(a.profile, a.dataset, loss) for loss in ("sce", "mmc")}
    # cost.batch_times alternates the two (order flipping every repeat) after one warm-up pass
    times = batch_times(cfgs, batches=a.batches, repeats=a.repeats, data_root=a.data_root,
                        device=device)
    ratios = time_ratios(times, base="sce").loc["mmc"]
    c, n = cfgs["sce"], int(times["batches"].iloc[0]) * cfgs["sce"].batch_size
    print(f"profile {a.profile}, {a.dataset}, arch {c.arch} (n={c.depth_n}), batch {c.batch_size}, "
          f"{a.batches} batches per epoch, {a.repeats} repeats, {hardware(device)}, "
          f"torch {torch.__version__}")
    for loss in ("sce", "mmc"):
        med = times[times["run"] == loss]["seconds"].median()
        print(f"{loss}: median {med:.3f} s per epoch of {n} images ({n / med:.0f} img/s)")
    print(f"MMC / SCE epoch-time ratio: median {ratios['ratio median']:.3f} "
          f"(min {ratios['ratio min']:.3f}, max {ratios['ratio max']:.3f}; aim <= 1.05)")


if __name__ == "__main__":
    main()
