"""Epoch time of MMC against SCE on the same model, measured in one run.

    python benchmarks/train_speed.py [--profile quick] [--dataset cifar10] [--batches 20]
                                     [--repeats 5] [--device cpu|cuda]

Both losses train the same trunk through the package's own epoch loop (train.train_epoch, with
its augmentation and, on CUDA, its fast path) on the same batches; only the head and loss
differ. Epochs of SCE and MMC alternate (the order flipping every repeat) so drift in the
machine's speed falls on both; the median of the per-repeat ratios is printed. The 2020
reproduction measured MMC/SCE = 1.02 (CIFAR-10) to 1.21 (MNIST) on an RTX 2080 Ti; the aim
here is <= 1.05.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rethinkmmc import data as D
from rethinkmmc.losses import make_loss
from rethinkmmc.profiles import train_config
from rethinkmmc.train import _optimizer, build_model, fast_path, hardware, train_epoch


def epoch_timer(cfg, x, y, device):
    model = build_model(cfg, mean=x.mean(0).cpu()).to(device)
    model, features_fn = fast_path(cfg, model, device)
    opt = _optimizer(cfg, model)
    loss_fn = make_loss(cfg.loss, model.head)

    def once(i):
        gen = torch.Generator(device=device).manual_seed(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_epoch(cfg, model, features_fn, loss_fn, opt, x, y, gen)  # reads the loss: syncs
        return time.perf_counter() - t

    once(-1)  # warm-up (compilation on CUDA, allocator, caches)
    return once


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
    n = a.batches * cfgs["sce"].batch_size
    x, y = D.load(a.dataset, "train", a.data_root)
    x, y = x[:n].to(device), y[:n].to(device)
    timers = {loss: epoch_timer(cfg, x, y, device) for loss, cfg in cfgs.items()}
    secs = {"sce": [], "mmc": []}
    for r in range(a.repeats):
        order = ("sce", "mmc") if r % 2 == 0 else ("mmc", "sce")
        for loss in order:
            secs[loss].append(timers[loss](r))
    ratios = [m / s for m, s in zip(secs["mmc"], secs["sce"])]
    c = cfgs["sce"]
    print(f"profile {a.profile}, {a.dataset}, arch {c.arch} (n={c.depth_n}), batch {c.batch_size}, "
          f"{a.batches} batches per epoch, {a.repeats} repeats, {hardware(device)}, "
          f"torch {torch.__version__}")
    for loss in ("sce", "mmc"):
        med = statistics.median(secs[loss])
        print(f"{loss}: median {med:.3f} s per epoch of {n} images ({n / med:.0f} img/s)")
    print(f"MMC / SCE epoch-time ratio: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}; aim <= 1.05)")


if __name__ == "__main__":
    main()
