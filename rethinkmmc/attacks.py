"""Adversarial attacks in [0, 1] pixel space.

For now the L-inf PGD that adversarial training needs (Madry et al., "Towards Deep Learning
Models Resistant to Adversarial Attacks", ICLR 2018), with the objective passed in, so the inner
attack can maximise whatever loss the model trains with (the original's advtrain.py).
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["pgd_linf"]


def pgd_linf(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float,
             step_size: float, steps: int, random_start: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Maximise ``objective(x_adv)`` (a scalar, e.g. a summed loss) over the L-inf ball of radius
    eps around x, intersected with [0, 1], by signed-gradient ascent with projection.

    Returns a new, detached tensor; x is not modified. For a targeted attack pass the negated
    loss toward the target.
    """
    x = x.detach()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_adv = (x + (2 * noise - 1) * eps).clamp(0, 1)
    else:
        x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(x_adv), x_adv)
        with torch.no_grad():
            x_adv = x_adv + step_size * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()
