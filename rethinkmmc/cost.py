"""Training cost as measured ratios: time per training batch of several configs, in one process.

Claim 3 of Pang et al. (ICLR 2020): MMC costs little more computation than SCE. The 2020
reproduction compared whole training runs (its Table 1, one RTX 2080 Ti): MMC/SCE 1.21 (MNIST),
1.02 (CIFAR-10), 1.06 (CIFAR-100), adversarial training about 7x standard. Whole runs trained at
different times share neither the machine's load nor its clock; here every config trains the
same few batches through the package's own epoch loop (:func:`rethinkmmc.train.train_epoch`,
with its augmentation, adversarial examples and, on CUDA, its fast path), the configs taking
turns within each repeat (the order rotating between repeats, so drift in the machine's speed
falls on all of them), and the ratios are taken within a repeat.

    times = batch_times(configs("smoke", "robustness"), batches=10, repeats=5)
    time_ratios(times, base="SCE")
"""
from __future__ import annotations

import statistics
import time
from typing import Mapping

import pandas as pd
import torch

from . import data as D
from .config import TrainConfig
from .losses import make_loss
from .torchutil import default_device
from .train import build_model, fast_path, make_optimizer, train_epoch

__all__ = ["batch_times", "time_ratios"]


def _timer(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, device: torch.device,
           data_root=None, speed=None):
    """A function timing one pass of `cfg`'s training step over (x, y) (one generator seed per
    call), after building the model, optimiser and loss of `cfg`."""
    model = build_model(cfg, mean=x.mean(0).cpu(), data_root=data_root).to(device)
    model, features_fn = fast_path(cfg, model, device, speed)
    opt = make_optimizer(cfg, model)
    loss_fn = make_loss(cfg.loss, model.head, cfg.center_lambda, cfg.lgm_alpha, cfg.lgm_lambda)

    def once(seed: int) -> float:
        gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + seed)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        train_epoch(cfg, model, features_fn, loss_fn, opt, x, y, gen)  # reads the loss: syncs
        return time.perf_counter() - t

    return once


def batch_times(configs: Mapping[str, TrainConfig], batches: int = 10, repeats: int = 5,
                data_root=None, device: str | torch.device | None = None,
                warmup: int = 1, threads: int | None = None,
                speeds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Seconds per training batch of each named config, measured in this process.

    Each config trains `batches` batches of its own batch size (the first examples of its
    training split, shuffled per pass) from a fresh model, `warmup` untimed passes first; then
    `repeats` rounds in which every config makes one timed pass, in an order rotated by one each
    round. A training split too small for `batches` batches gives as many full batches as it
    holds (the `batches` column says how many). `threads` sets torch's CPU thread count for the
    measurement only (one thread is the least disturbed by other work on a shared machine);
    None leaves it as it is. `speeds` names rethinkmmc.speed's tricks per config (default: the
    device's, as training uses).

    Returns one row per (run, repeat): run, repeat, position (in that round's order), batches,
    batch_size, seconds (the pass), seconds_per_batch, images_per_second, adv_train, device,
    threads (CPU).
    """
    if not configs:
        raise ValueError("configs: need at least one config to time")
    for name, value in (("batches", batches), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup: must be an integer >= 0, got {warmup!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads: must be an integer >= 1 or None, got {threads!r}")
    bad = [k for k, c in configs.items() if not isinstance(c, TrainConfig)]
    if bad:
        raise ValueError(f"configs: {', '.join(map(str, bad))} is not a TrainConfig")
    device = default_device(device)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _measure(configs, batches, repeats, data_root, device, warmup, speeds or {})
    finally:
        torch.set_num_threads(before)


def _measure(configs, batches, repeats, data_root, device, warmup, speeds) -> pd.DataFrame:
    names = list(configs)
    timers, sizes = {}, {}
    for name in names:
        cfg = configs[name]
        x, y = D.load(cfg.dataset, "train", data_root)
        nb = min(batches, len(y) // cfg.batch_size)
        if nb < 1:
            raise ValueError(f"configs: {name}: the {cfg.dataset} training split ({len(y)}) holds "
                             f"no full batch of {cfg.batch_size}")
        n = nb * cfg.batch_size
        timers[name] = _timer(cfg, x[:n].to(device), y[:n].to(device), device, data_root,
                              speeds.get(name))
        sizes[name] = (nb, cfg.batch_size)
    for w in range(warmup):  # allocator, caches, compilation on CUDA
        for name in names:
            timers[name](-1 - w)

    rows = []
    for r in range(repeats):
        k = r % len(names)
        order = names[k:] + names[:k]
        for pos, name in enumerate(order):
            secs = timers[name](r)
            nb, bs = sizes[name]
            rows.append({"run": name, "repeat": r, "position": pos, "batches": nb,
                         "batch_size": bs, "seconds": secs, "seconds_per_batch": secs / nb,
                         "images_per_second": nb * bs / secs if secs > 0 else float("inf"),
                         "adv_train": configs[name].adv_train, "device": device.type,
                         "threads": torch.get_num_threads() if device.type == "cpu" else None})
    return pd.DataFrame(rows)


def time_ratios(times: pd.DataFrame, base: str) -> pd.DataFrame:
    """Per run of :func:`batch_times`' table: median seconds per batch and the ratio to `base`
    (seconds per batch of the run over `base`'s in the same repeat): median, min and max over
    the repeats. Indexed by run, in the table's order."""
    if base not in set(times["run"]):
        raise ValueError(f"base: {base!r} is not a run of the table (runs: "
                         f"{', '.join(dict.fromkeys(times['run']))})")
    per = times.pivot_table(index="repeat", columns="run", values="seconds_per_batch")
    rows = {}
    for run in dict.fromkeys(times["run"]):
        r = (per[run] / per[base]).dropna().tolist()
        s = per[run].dropna().tolist()
        rows[run] = {"median s/batch": statistics.median(s),
                     "ratio median": statistics.median(r), "ratio min": min(r),
                     "ratio max": max(r), "repeats": len(r)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "run"
    return out
