"""Training epoch time, measured in one run: the fast path against plain eager, and MMC against SCE.

    python benchmarks/train_speed.py [--profile quick] [--dataset cifar10] [--batches 20]
                                     [--repeats 5] [--device cpu|cuda] [--compile]

Every config trains the same trunk through the package's own epoch loop (cost.batch_times, which
runs train.train_epoch with its augmentation and fast path) on the same batches. Epochs take
turns (the order rotating every repeat) so that drift in the machine's speed falls on all of
them; the median of the per-repeat ratios is printed.

1. Speed (rethinkmmc.speed), SCE: plain eager fp32 against channels_last (the CPU default),
   channels_last+bf16 (opt-in on a CPU; the CUDA default with compile) and, with --compile,
   channels_last+compile(+bf16). Aim: the fast path >= 1.5x plain.
2. MMC / SCE at the device's default speed. The 2020 reproduction measured 1.02 (CIFAR-10) to
   1.21 (MNIST) on an RTX 2080 Ti; the aim here is <= 1.05.
"""

from __future__ import annotations

import argparse

import torch

from rethinkmmc.cost import batch_times, time_ratios
from rethinkmmc.profiles import train_config
from rethinkmmc.speed import training_speed
from rethinkmmc.train import hardware


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--batches", type=int, default=20, help="batches per timed epoch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data-root")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow start)")
    a = p.parse_args()
    device = torch.device(a.device)
    sce, mmc = (train_config(a.profile, a.dataset, loss) for loss in ("sce", "mmc"))
    default = str(training_speed(device))
    speeds = ["plain", "channels_last", "channels_last+bf16"]
    if a.compile:
        speeds += ["channels_last+compile", "channels_last+compile+bf16"]
    speeds = list(dict.fromkeys(speeds + [default]))
    cfgs = {f"sce {s}": sce for s in speeds}
    cfgs[f"mmc {default}"] = mmc
    times = batch_times(cfgs, batches=a.batches, repeats=a.repeats, data_root=a.data_root,
                        device=device, speeds={k: k.split(" ")[1] for k in cfgs})
    n = int(times["batches"].iloc[0]) * sce.batch_size
    print(f"profile {a.profile}, {a.dataset}, arch {sce.arch} (n={sce.depth_n}), batch "
          f"{sce.batch_size}, {a.batches} batches per epoch, {a.repeats} repeats, "
          f"{hardware(device)}, torch {torch.__version__}")
    for name in cfgs:
        med = times[times["run"] == name]["seconds"].median()
        print(f"{name}: median {med:.3f} s per epoch of {n} images ({n / med:.0f} img/s)")
    fast = time_ratios(times, base="sce plain")
    for s in speeds[1:]:
        r = fast.loc[f"sce {s}"]
        print(f"speedup of {s} over plain eager: {1 / r['ratio median']:.2f}x "
              f"(range {1 / r['ratio max']:.2f}-{1 / r['ratio min']:.2f}; aim >= 1.5)")
    r = time_ratios(times, base=f"sce {default}").loc[f"mmc {default}"]
    print(f"MMC / SCE epoch-time ratio ({default}): median {r['ratio median']:.3f} "
          f"(min {r['ratio min']:.3f}, max {r['ratio max']:.3f}; aim <= 1.05)")


if __name__ == "__main__":
    main()
