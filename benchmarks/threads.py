"""CPU thread settings, measured in one run: intra-op threads, inter-op threads, and two
single-threaded processes side by side against one process with every core.

    python benchmarks/threads.py [--work smoke quick] [--seconds 20]

Each setting runs in a fresh worker process (torch fixes the inter-op pool at its first parallel
op, so it cannot change inside one process). A worker measures, on an untrained model of the
profile's architecture (the work per image does not depend on the weights):
- train: the package's training step (cost.batch_times: train.train_epoch, at the CPU's
  default speed), images per second;
- attack: one attack gradient step as evaluate() takes it (forward and backward to the input on
  rethinkmmc.speed.for_attacks' copy, eval mode), images per second, batch 500 (smoke) / 256
  (quick).
Settings: intra 1 and 2 (the machine's cores; torch's default) with inter-op at torch's default
and at 1, and "2 x intra 1": two workers at once, their throughputs summed, which is what
running two jobs side by side (two seeds, two notebooks) would give. Printed: images per second
and the ratio to torch's default setting.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORK = {"smoke": ("digits", 500), "quick": ("cifar10", 256)}


def _worker(work: str, intra: int, interop: int | None, seconds: float) -> dict:
    import torch

    torch.set_num_threads(intra)
    if interop:
        torch.set_num_interop_threads(interop)
    from rethinkmmc.cost import batch_times
    from rethinkmmc.data import DATASETS
    from rethinkmmc.profiles import train_config
    from rethinkmmc.speed import for_attacks
    from rethinkmmc.train import build_model

    dataset, batch = WORK[work]
    cfg = train_config(work, dataset, "mmc")
    t = batch_times({"t": cfg}, batches=4, repeats=3, threads=intra)
    train = float((t["batches"] * t["batch_size"] / t["seconds"]).median())
    torch.manual_seed(0)
    model = for_attacks(build_model(cfg).eval())
    x = torch.rand(batch, *DATASETS[dataset].shape, generator=torch.Generator().manual_seed(0))

    def step():
        xa = x.clone().requires_grad_(True)
        torch.autograd.grad(model(xa).sum(), xa)

    step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 2 or n < 3:
        step()
        n += 1
    attack = n * batch / (time.perf_counter() - t0)
    return {"train": train, "attack": attack, "intra": torch.get_num_threads(),
            "interop": torch.get_num_interop_threads()}


def _spawn(work, intra, interop, seconds):
    cmd = [sys.executable, __file__, "--worker", work, str(intra), str(interop or 0),
           str(seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS=str(intra)))


def _read(proc) -> dict:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"worker failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        work, intra, interop, seconds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
            float(sys.argv[5])
        print(json.dumps(_worker(work, intra, interop or None, seconds)))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", nargs="+", default=["smoke", "quick"], choices=sorted(WORK))
    p.add_argument("--seconds", type=float, default=20, help="attack timing per setting")
    a = p.parse_args()
    cores = os.cpu_count() or 1
    import torch
    from rethinkmmc.train import hardware

    print(f"{hardware(torch.device('cpu'))}, {cores} cores, torch {torch.__version__}")
    for work in a.work:
        rows = {f"intra {cores} (torch's default)": _read(_spawn(work, cores, None, a.seconds)),
                f"intra {cores}, interop 1": _read(_spawn(work, cores, 1, a.seconds)),
                "intra 1": _read(_spawn(work, 1, None, a.seconds))}
        pair = [_spawn(work, 1, None, a.seconds) for _ in range(2)]
        both = [_read(q) for q in pair]
        rows["2 x intra 1, side by side (sum)"] = {k: both[0][k] + both[1][k]
                                                   for k in ("train", "attack")}
        base = rows[f"intra {cores} (torch's default)"]
        print(f"\n{work} ({WORK[work][0]}, untrained {work} MMC model)")
        for name, r in rows.items():
            print(f"  {name}: train {r['train']:.0f} img/s ({r['train'] / base['train']:.2f}x), "
                  f"attack step {r['attack']:.0f} img/s ({r['attack'] / base['attack']:.2f}x)")


if __name__ == "__main__":
    main()
