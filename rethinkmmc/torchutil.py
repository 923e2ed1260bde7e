"""Small torch primitives the rest of the package shares: eval mode as a context, batched
prediction and accuracy, the default device, and one description of the hardware.

A leaf module: it imports nothing else from the package.
"""
from __future__ import annotations

import contextlib
import os
import platform
from typing import Iterator

import torch
import torch.nn as nn

__all__ = ["eval_mode", "predict", "accuracy", "default_device", "hardware"]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode inside the block, its own mode restored after (also on error):
    attacks and evaluation must not update BN statistics, nor leave a training model in eval."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Top-1 labels of `model` on `x`, in eval mode, batch by batch."""
    if not len(x):
        return torch.zeros(0, dtype=torch.long, device=x.device)
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of `model` on (x, y), in eval mode, restoring the mode after."""
    return (predict(model, x, batch_size) == y).sum().item() / max(len(y), 1)


def default_device(device: str | torch.device | None = None) -> torch.device:
    """`device` as a torch.device; None means CUDA when there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def hardware(device: str | torch.device | None = None) -> str:
    """One description of the machine, the same in run metrics and verdict records: the GPU's
    name, or the CPU's architecture, core count and torch's thread count."""
    device = default_device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"{platform.machine()} CPU ({os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads)")
