"""Claim 1 at the quick profile, on a GPU slot: the runs the 2-core CPU cannot afford, the
strong cascade on every MAIN run, and the AutoAttack cross-check, within a time budget.

    PYTHONPATH=. python3 scripts/gpu_quick.py --budget 480 --out DIR [--data DIR] [--n 500]

1. trains, in parallel processes, the quick runs that are missing (the CIFAR-10 AT-SCE and
   AT-MMC-10 runs, and MNIST AT-MMC-10 after the switch to the original's inner attack);
2. meanwhile, stores `suites.claim1_eval` of the quick MAIN runs already there (MNIST at
   Settings.eps_strong, CIFAR-10 at 8/255 and 16/255, n points) and sets our cascade beside
   torchattacks' AutoAttack (standard) on MNIST MMC-10 at 0.1 and CIFAR-10 MMC-10 at 8/255,
   with the wall time of each (DIR/crosscheck.json);
   the claim-1 table of the slot is runs/quick/claim1-gpu.csv, in the tarball;
3. evaluates the newly trained runs as they finish;
4. packs every file it wrote under runs/quick into DIR/quick.tar.gz (unpack it at the
   repository root: ``tar -xzf DIR/quick.tar.gz``; existing files are not in it).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CIFAR_EPS = (8 / 255, 16 / 255)


def _train(cfg_dict, runs_dir, data_root, device):
    from rethinkmmc.config import TrainConfig
    from rethinkmmc.train import train
    train(TrainConfig.from_dict(cfg_dict), runs_dir=runs_dir, data_root=data_root,
          device=device, progress=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--device", default=None)
    p.add_argument("--no-crosscheck", action="store_true")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    if a.data:  # for every load, here and in the training processes (Run.test_set too)
        os.environ["RETHINKMMC_DATA"] = str(Path(a.data).resolve())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    from rethinkmmc.experiments import configs, settings
    from rethinkmmc.runs import in_checkout, load_run
    import pandas as pd

    from rethinkmmc.suites import claim1_eval

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    store = in_checkout("runs")
    S = settings("quick")
    log = []

    def say(msg):
        line = f"+{time.monotonic() - t0:6.1f}s {msg}"
        print(line, flush=True)
        log.append(line)

    start_wall = time.time()
    mnist = {k: c for k, c in configs("quick", "robustness").items()
             if k in ("SCE", "MMC-10", "AT-SCE", "AT-MMC-10")}
    mnist.update(configs("quick", "at_pull"))  # the ablation of AT-MMC's inner attack
    cifar = {**configs("quick", "cifar"), **configs("quick", "cifar_at")}
    todo = [("mnist", k, c, S.eps_strong) for k, c in mnist.items()]
    todo += [("cifar10", k, c, CIFAR_EPS) for k, c in cifar.items()]
    # the cross-checked MMC-10 runs first, then the undefended, then the trained-now ones
    todo.sort(key=lambda t: (t[1] != "MMC-10", t[1].startswith("AT"), t[0]))
    procs = {}
    ctx = mp.get_context("spawn")
    for ds, k, c, _ in todo:
        if not (store / "quick" / c.key() / "metrics.json").exists():
            pr = ctx.Process(target=_train, args=(c.to_dict(), str(store), a.data, device))
            pr.start()
            procs[c.key()] = pr
            say(f"training {ds} {k} {c.key()}")
    results, cross = [], {}

    def evaluate_one(ds, k, c, eps):
        t = time.monotonic()
        run = load_run(store / "quick" / c.key())
        frames = []
        for e in eps:
            te = time.monotonic()
            # the notebook's size (Settings.strong and its SPSA), so that 02 reads these records
            frames.append(claim1_eval(run, [e], n=a.n, seed=0, device=device, progress=False,
                                      spsa_steps=S.spsa_steps, spsa_samples=S.spsa_samples,
                                      **S.strong)
                          .assign(call_seconds=time.monotonic() - te))
        df = pd.concat(frames, ignore_index=True)
        df.insert(0, "run", k)
        df.insert(0, "dataset", ds)
        results.append(df)
        say(f"claim1 {ds} {k}: worst " + ", ".join(
            f"{e:.4g}->{w:.3f}" for e, w in zip(df[df['attack'] == 'worst-case']['eps'],
                                                  df[df['attack'] == 'worst-case']['robust_accuracy']))
            + f" ({time.monotonic() - t:.0f} s)")
        return time.monotonic() - t

    left = list(todo)
    while left and time.monotonic() - t0 < a.budget - 30:
        ready = [x for x in left if x[2].key() not in procs or not procs[x[2].key()].is_alive()]
        if not ready:
            time.sleep(2)
            continue
        ds, k, c, eps = ready[0]
        left.remove(ready[0])
        if not (store / "quick" / c.key() / "metrics.json").exists():
            say(f"skipped {ds} {k}: not trained")
            continue
        evaluate_one(ds, k, c, eps)
        if k == "MMC-10" and not a.no_crosscheck:
            sys.path.insert(0, str(REPO / "benchmarks"))
            from strong_vs_autoattack import autoattack_flags

            from rethinkmmc.evaluate import points
            e = 0.1 if ds == "mnist" else 8 / 255
            run = load_run(store / "quick" / c.key())
            model, (x, y) = run.model, points(run, a.n)
            model, x, y = model.to(device), x.to(device), y.to(device)
            t = time.monotonic()
            aa = autoattack_flags(model, x, y, e)
            df = results[-1]
            ours = df[(df["attack"] == "worst-case") & ((df["eps"] - e).abs() < 1e-9)]
            cross[f"{ds} MMC-10 {e:.4g}"] = {
                "n": a.n, "autoattack": float(aa.float().mean()),
                "autoattack_seconds": time.monotonic() - t,
                "ours": float(ours["robust_accuracy"].iloc[0]),
                "ours_seconds": float(ours["call_seconds"].iloc[0]), "device": device}
            say(f"crosscheck {ds}: {cross[f'{ds} MMC-10 {e:.4g}']}")
    for key, pr in procs.items():
        if pr.is_alive():
            pr.terminate()
            say(f"cut: {key}")
    if results:  # beside the runs, inside the tarball (a slot returns at most 8 files)
        pd.concat(results, ignore_index=True).to_csv(store / "quick" / "claim1-gpu.csv",
                                                      index=False)
    (out / "crosscheck.json").write_text(json.dumps({"crosscheck": cross, "log": log,
                                                     "torch": torch.__version__,
                                                     "gpu": torch.cuda.get_device_name(0)
                                                     if device == "cuda" else None}, indent=1))
    with tarfile.open(out / "quick.tar.gz", "w:gz") as tar:
        for f in sorted((store / "quick").rglob("*")):
            if f.is_file() and f.stat().st_mtime >= start_wall and not f.name.endswith(".tmp") \
                    and f.name != ".lock":
                tar.add(f, arcname=str(f.relative_to(REPO)))
    say("packed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
