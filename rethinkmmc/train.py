"""train(cfg) -> Run: standard and adversarial training, cached in the run store, resumable.

The recipe follows the original code of Pang et al. (ICLR 2020): per-pixel training-mean
subtraction inside the model, shift/flip augmentation, SGD with step decays, L2 on conv kernels,
and for adversarial training its advtrain.py: PGD on the training loss, adversarial examples
only, a random target for MMC and untargeted for SCE.

Determinism: the model is initialised from `seed`, and each epoch draws its data order,
augmentation and attack starts from a generator seeded by (seed, epoch), so a run resumed from
its epoch checkpoint computes exactly what an uninterrupted run would.
"""
from __future__ import annotations

import collections
import math
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as D
from .attacks import pgd_linf
from .config import TRAIN_VERSION, TrainConfig
from .losses import make_loss
from .build import build_model, make_centers, subset, test_split
from .models import Classifier, conv_kernels
from .speed import Speed, apply, training_speed
from .runs import (DamagedRunError, Run, atomic_torch_save, atomic_write_json, file_sha256,
                   run_dir, run_lock, set_aside)
from .torchutil import accuracy, default_device, eval_mode, hardware

# build_model, make_centers, test_split (rethinkmmc.build), accuracy and hardware
# (rethinkmmc.torchutil) stay importable from here: users' scripts name them as train's.
__all__ = ["train", "build_model", "make_centers", "test_split", "accuracy", "hardware",
           "test_loss", "make_optimizer", "TrainConfig"]


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.wd_conv_only:
        decay_ids = {id(p) for p in conv_kernels(model)}
        groups = [{"params": [p for p in params if id(p) in decay_ids], "weight_decay": cfg.weight_decay},
                  {"params": [p for p in params if id(p) not in decay_ids], "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": cfg.weight_decay}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)


def _random_targets(y: torch.Tensor, num_classes: int, gen: torch.Generator,
                    include_true: bool = False) -> torch.Tensor:
    """A uniformly random label: over all classes (`include_true`, cleverhans' random target in
    the original's adversarial training) or over the classes other than the true one."""
    if include_true:
        return torch.randint(0, num_classes, y.shape, generator=gen,
                             device=gen.device).to(y.device)
    shift = torch.randint(1, num_classes, y.shape, generator=gen, device=gen.device).to(y.device)
    return (y + shift) % num_classes


def _adversarial(cfg, model, features_fn, loss_fn, x, y, num_classes, gen):
    """PGD on the training objective, in eval mode (BN running statistics fixed while
    attacking). Untargeted: ascend the training loss. Targeted (MMC by default, as the
    original's code): cfg.adv_target 'softmax' descends the softmax cross-entropy of the
    logits toward a target drawn over all classes (Pang et al. 2020's code, after cleverhans'
    targeted PGD); 'pull' ascends -||z - mu_t||^2 toward a target among the other classes."""
    if cfg.targeted_adv and cfg.adv_target == "softmax":
        t = _random_targets(y, num_classes, gen, include_true=True)
        objective = lambda xa: -F.cross_entropy(  # noqa: E731
            model.head(features_fn(xa).float()), t, reduction="sum")
    elif cfg.targeted_adv:
        t = _random_targets(y, num_classes, gen)
        objective = lambda xa: -loss_fn(features_fn(xa), t)  # noqa: E731  pull toward the target
    else:
        objective = lambda xa: loss_fn(features_fn(xa), y)  # noqa: E731
    with eval_mode(model):
        return pgd_linf(objective, x, cfg.adv_eps, cfg.adv_step, cfg.adv_steps, generator=gen)


@torch.no_grad()
def test_loss(run, data_root=None, batch_size: int = 500) -> float:
    """The mean training loss of `run` (its own loss, heads and weights as configured) over its
    test split, in eval mode: shown beside clean accuracy, so that a change to a loss function
    shows in the re-executed notebooks even though they read stored models."""
    cfg, model = run.config, run.model
    x, y = run.test_set(data_root)
    loss_fn = make_loss(cfg.loss, model.head, center_lambda=cfg.center_lambda,
                        lgm_alpha=cfg.lgm_alpha, lgm_lambda=cfg.lgm_lambda)
    total = 0.0
    with eval_mode(model):
        for i in range(0, len(y), batch_size):
            yb = y[i:i + batch_size]
            total += loss_fn(model.features(x[i:i + batch_size]), yb).item() * len(yb)
    return total / max(len(y), 1)


def _epoch_generator(cfg: TrainConfig, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch)


def fast_path(cfg: TrainConfig, model: Classifier, device: torch.device,
              speed: "Speed | str | None" = None):
    """(model, features_fn) for training on `device`, with rethinkmmc.speed's tricks: by
    default (cfg.fast) on CUDA channels_last, cuDNN autotuning, a compiled trunk and bf16
    autocast of the trunk only (the MMC head, losses and attacks stay fp32: distances of
    1e2..1e4 lose their argmin in bf16; see models.Classifier); on a CPU channels_last only.
    `speed` (or RETHINKMMC_SPEED) asks for others; cfg.fast=False gives the model as it is.
    """
    chosen = training_speed(device, cfg.fast, speed)
    if device.type == "cuda" and chosen != Speed():
        torch.backends.cudnn.benchmark = True
    model, features = apply(model, chosen)
    model.speed = str(chosen)
    return model, features


def _fp32_accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Test accuracy by the float32 model, whatever trunk precision trains it: the number a run
    reports is the one its stored model gives back when loaded (the judge of
    speed.attacker_and_judge); a bf16 trunk only makes the epochs faster."""
    amp = getattr(model, "amp_dtype", None)
    model.amp_dtype = None
    try:
        return accuracy(model, x, y)
    finally:
        model.amp_dtype = amp


def _is_channels_last(model: nn.Module) -> bool:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv is not None and conv.weight.is_contiguous(memory_format=torch.channels_last) \
        and not conv.weight.is_contiguous()


def train_epoch(cfg: TrainConfig, model: Classifier, features_fn, loss_fn, opt,
                x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[float, int, int]:
    """One pass over (x, y) in batches drawn from `gen`: augmentation on the batch, adversarial
    examples if cfg.adv_train, one optimiser step per batch. Returns (summed loss, correct, seen).

    Loss and accuracy are accumulated on the device and read once at the end, so a GPU never
    waits on the host inside the epoch.
    """
    shift = 0.1 if cfg.augment in ("shift", "shift_flip") else 0.0
    flip = cfg.augment == "shift_flip"
    channels_last = _is_channels_last(model)
    num_classes = D.DATASETS[cfg.dataset].num_classes
    model.train()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    seen = 0
    for xb, yb in D.batches(x, y, cfg.batch_size, generator=gen, shuffle=True):
        if shift or flip:
            xb = D.augment(xb, gen, shift=shift, flip=flip)
        if cfg.adv_train:
            k = max(1, round(cfg.adv_ratio * len(yb)))
            x_adv = _adversarial(cfg, model, features_fn, loss_fn, xb[:k], yb[:k], num_classes, gen)
            xb = torch.cat([x_adv, xb[k:]]) if k < len(yb) else x_adv
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        z = features_fn(xb)
        loss = loss_fn(z, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += loss.detach() * len(yb)
            correct += (model.head(z.detach()).argmax(1) == yb).sum()
        seen += len(yb)
    return loss_sum.item(), int(correct.item()), seen


def train(cfg: TrainConfig, runs_dir: str | Path | None = None, data_root: str | Path | None = None,
          device: str | torch.device | None = None, progress: bool | None = None,
          on_epoch_end: Callable[[int, dict], None] | None = None,
          threads: int | None = None, speed: "Speed | str | None" = None) -> Run:
    """Train `cfg` (or return its stored run) and return the Run.

    The run is stored under runs_dir/<profile>/<key>/. An interrupted run resumes from its last
    finished epoch. A non-finite loss ends the run recorded as diverged (metrics["diverged"],
    metrics["diverged_epoch"]). `on_epoch_end(epoch, record)` is called after each epoch's
    checkpoint is written (an exception there leaves a resumable run behind). `threads`: torch's
    CPU thread count while training (a runtime choice like the device; None keeps the current
    one; profiles.THREADS holds the counts a profile fixes so that its runs repeat exactly),
    restored afterwards. `speed`: rethinkmmc.speed's tricks (None: RETHINKMMC_SPEED, else the
    device's default), recorded in metrics["speed"].
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads: must be an integer >= 1 or None, got {threads!r}")
    out = run_dir(cfg, runs_dir)
    if (out / "metrics.json").exists():
        try:
            return Run(out)
        except DamagedRunError:
            pass  # set aside and retrained below, under the lock
    before = torch.get_num_threads()
    with run_lock(out):
        if (out / "metrics.json").exists():  # another process finished it while we waited
            try:
                return Run(out)
            except DamagedRunError as e:  # a damaged run is not done
                aside = set_aside(out)
                warnings.warn(f"{e}; its files moved to {aside}, retraining", stacklevel=2)
        try:
            _train_locked(cfg, out, data_root, device, progress, on_epoch_end, threads, speed)
        finally:
            torch.set_num_threads(before)  # the thread count given is for training only
    return Run(out)


def _checkpoint(path: Path, cfg: TrainConfig, device: torch.device) -> dict | None:
    """The epoch checkpoint at `path` if it is this config's and loads as plain data; else None,
    with the file moved aside (never deleted) and a warning: a checkpoint from another config
    must not be resumed under this run's key, and a file that names code is not run
    (weights_only; the scheduler's Counter of milestones is the one class allowed)."""
    if not path.exists():
        return None
    want = cfg.to_dict()
    try:
        with torch.serialization.safe_globals([collections.Counter]):
            ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file: set it aside, train afresh)
        ckpt, problem = None, f"it cannot be loaded as plain data ({type(e).__name__})"
    else:
        stored = ckpt.get("config") if isinstance(ckpt, dict) else None
        if not isinstance(stored, dict):
            problem = "it holds no config"
        elif stored != want:
            differ = sorted(k for k in set(stored) | set(want) if stored.get(k) != want.get(k))
            problem = f"it was written for another config ({', '.join(differ)} differ)"
        else:
            problem = None
    if problem is None:
        return ckpt
    aside = path.with_name(f"checkpoint.rejected-{time.strftime('%Y%m%dT%H%M%S')}.pt")
    os.replace(path, aside)
    warnings.warn(f"checkpoint: {path} not resumed: {problem}; moved to {aside.name}, "
                  "training from epoch 0", stacklevel=3)
    return None


def _train_locked(cfg, out, data_root, device, progress, on_epoch_end, threads, speed):
    from tqdm.auto import tqdm

    device = default_device(device)
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)
    spec = D.DATASETS[cfg.dataset]
    x_train, y_train = subset(*D.load(cfg.dataset, "train", data_root), cfg.train_subset, cfg.seed)
    x_test, y_test = test_split(cfg, data_root)
    x_train, y_train = x_train.to(device), y_train.to(device)
    x_test, y_test = x_test.to(device), y_test.to(device)

    model = build_model(cfg, mean=x_train.mean(0).cpu(), data_root=data_root).to(device)
    opt = make_optimizer(cfg, model)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.lr_gamma)
    loss_fn = make_loss(cfg.loss, model.head, cfg.center_lambda, cfg.lgm_alpha, cfg.lgm_lambda)

    model, features_fn = fast_path(cfg, model, device, speed)

    history: list[dict] = []
    start_epoch = 0
    ckpt_path = out / "checkpoint.pt"
    ckpt = _checkpoint(ckpt_path, cfg, device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
    atomic_write_json(out / "config.json", cfg.to_dict())

    diverged_epoch = None
    bar = tqdm(range(start_epoch, cfg.epochs), initial=start_epoch, total=cfg.epochs,
               disable=(None if progress is None else not progress), desc=cfg.key(), leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        gen = _epoch_generator(cfg, epoch, device)
        loss_sum, correct, seen = train_epoch(cfg, model, features_fn, loss_fn, opt,
                                              x_train, y_train, gen)
        sched.step()
        mean_loss = loss_sum / seen
        record = {"epoch": epoch + 1, "loss": mean_loss, "train_accuracy": correct / seen,
                  "test_accuracy": _fp32_accuracy(model, x_test, y_test),
                  "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        history.append(record)
        bar.set_postfix(loss=f"{mean_loss:.3g}", test=f"{record['test_accuracy']:.3f}")
        if not math.isfinite(mean_loss):
            diverged_epoch = epoch + 1
            break
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "history": history,
                           "epoch": epoch + 1, "config": cfg.to_dict()}, ckpt_path)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
    bar.close()

    last = history[-1] if history else {}
    metrics = {
        "run": cfg.key(), "profile": cfg.profile, "dataset": cfg.dataset, "loss": cfg.loss,
        "test_accuracy": last.get("test_accuracy"),
        "train_accuracy": last.get("train_accuracy"),
        "final_loss": last.get("loss"),
        "epochs": len(history),
        "seconds": sum(h["seconds"] for h in history),
        "diverged": diverged_epoch is not None,
        "diverged_epoch": diverged_epoch,
        "n_train": len(y_train), "n_test": len(y_test),
        "data_notes": spec.notes,
        "seed": cfg.seed, "device": device.type, "hardware": hardware(device),
        "speed": model.speed,
        "torch": torch.__version__, "train_version": TRAIN_VERSION,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # model.pt first, metrics.json last: metrics.json marks the run done and names the model
    # file's checksum, which Run checks on every load.
    atomic_torch_save({"model": model.state_dict(), "config": cfg.to_dict()}, out / "model.pt")
    metrics["model_sha256"] = file_sha256(out / "model.pt")
    atomic_write_json(out / "history.json", [_json_safe(h) for h in history])
    atomic_write_json(out / "metrics.json", _json_safe(metrics))
    if ckpt_path.exists():
        os.unlink(ckpt_path)


def _json_safe(d: dict) -> dict:
    """NaN/inf are not JSON: store them as strings ('nan'), so a diverged run stays readable."""
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        return v
    return {k: fix(v) for k, v in d.items()}
