"""Attack throughput, ours against torchattacks', on the same model, points and batch, in one run.

    python benchmarks/attack_speed.py [--profile quick] [--dataset cifar10] [--batch 256]
                                      [--repeats 5] [--device cpu|cuda] [--compile]

torchattacks (pip install --no-deps torchattacks) is the peer. Two attacks, each at eps 8/255 on
the profile's stored SCE model of the dataset and its first test points when the store holds it
(APGD stops early on points it has fooled, so the weights matter), else on an untrained model
of the same architecture with its own predictions as labels:
- PGD-10: L-inf, random start, step 2/255, the CE objective;
- APGD-CE: 10 iterations, 1 restart (Croce & Hein 2020).

Ours runs as evaluate() runs it: on rethinkmmc.speed.for_attacks' copy of the model, at the
default speed (channels_last, fp32) and, for the record, at the opt-in channels_last+bf16 (and
with --compile, channels_last+compile). The peer gets the model as the user has it; a last line
gives the peer on a channels_last copy too, so that the share of the gain that is the layout
choice alone is visible. Calls alternate so drift in the machine's speed falls on all; medians
are printed with their ratio (ours / peer images per second: above 1 is faster; aim >= 1.5).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rethinkmmc.attacks import APGD, PGD
from rethinkmmc.data import DATASETS
from rethinkmmc.evaluate import points
from rethinkmmc.experiments import configs
from rethinkmmc.runs import Run, run_dir
from rethinkmmc.speed import attack_speed, for_attacks
from rethinkmmc.train import build_model, hardware


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true", help="also time a compiled trunk")
    a = p.parse_args()
    import torchattacks

    device = torch.device(a.device)
    cfg = configs(a.profile, "cifar" if a.dataset == "cifar10" else "standard")["SCE"]
    if (run_dir(cfg) / "metrics.json").exists():
        run = Run(run_dir(cfg))
        model, source = run.model.to(device).eval(), f"stored run {run.key}"
        x, y = (t.to(device) for t in points(run, n=a.batch))
    else:
        torch.manual_seed(0)
        model, source = build_model(cfg).to(device).eval(), "untrained model"
        g = torch.Generator().manual_seed(0)
        x = torch.rand(a.batch, *DATASETS[cfg.dataset].shape, generator=g).to(device)
        with torch.no_grad():
            y = model(x).argmax(1)
    ids = torch.arange(a.batch, device=device)
    eps, alpha = 8 / 255, 2 / 255
    default = str(attack_speed())
    speeds = list(dict.fromkeys([default, "channels_last+bf16"]
                                + (["channels_last+compile"] if a.compile else [])))
    fast = {s: for_attacks(model, s) for s in speeds}
    layout = for_attacks(model, "channels_last")

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    print(f"eps 8/255, batch {a.batch}, {source}, {cfg.dataset} {cfg.arch} (n={cfg.depth_n}), "
          f"{hardware(device)}, torch {torch.__version__}, torchattacks {torchattacks.__version__}")
    cases = {
        "PGD-10": (PGD(eps, steps=10, step_size=alpha, objective="ce"),
                   lambda m: torchattacks.PGD(m, eps=eps, alpha=alpha, steps=10,
                                              random_start=True)),
        "APGD-CE": (APGD(eps, steps=10, n_restarts=1, objective="ce"),
                    lambda m: torchattacks.APGD(m, norm="Linf", eps=eps, steps=10, n_restarts=1,
                                                loss="ce", seed=0)),
    }
    for name, (ours, make_peer) in cases.items():
        runs = {f"ours {s}": (lambda m=m: ours(m, x, y, ids=ids)) for s, m in fast.items()}
        runs["ours plain"] = lambda: ours(model, x, y, ids=ids)
        peer, peer_cl = make_peer(model), make_peer(layout)
        runs["torchattacks"] = lambda: peer(x, y)
        runs["torchattacks on a channels_last copy"] = lambda: peer_cl(x, y)
        for fn in runs.values():
            fn()  # warm-up (and compilation)
        secs = {k: [] for k in runs}
        names = list(runs)
        for r in range(a.repeats):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                secs[n].append(timed(runs[n]))
        ips = {k: a.batch / statistics.median(v) for k, v in secs.items()}
        print(f"\n{name}")
        for k, v in ips.items():
            print(f"  {k}: {v:.1f} images/s (median of {a.repeats})")
        for k in [f"ours {s}" for s in fast] + ["ours plain"]:
            print(f"  {k} / torchattacks: {ips[k] / ips['torchattacks']:.2f}x (aim >= 1.5)")
        print(f"  ours {default} / torchattacks on the same layout: "
              f"{ips[f'ours {default}'] / ips['torchattacks on a channels_last copy']:.2f}x")


if __name__ == "__main__":
    main()
