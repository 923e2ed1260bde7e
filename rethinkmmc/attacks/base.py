"""The base of every attack: ``attack(model, x, y) -> x_adv``.

As torchattacks does (one small class per attack, a base ``__call__`` that puts the model in
eval mode and restores it), but with the objective injected instead of hard-coded. The base
call also guarantees what every attack promises: x is never modified, x_adv is detached and
inside [0, 1], the model's train/eval mode is restored (even on error), and the same seed gives
the same output. Random draws come from per-example streams (streams.py) keyed by ``seed`` and
each point's index, so a point's result does not depend on the batch it shares.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from ..torchutil import eval_mode
from .objectives import OBJECTIVES, model_centers, needs_centers
from .streams import TARGET_DRAW, Streams
from .objectives import objective as make_objective

__all__ = ["Attack", "TARGET_MODES", "draw_targets", "check_eps"]

TARGET_MODES = ("random", "least_likely")


def check_eps(name: str, value: float, upper: float | None = None) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name}: pixels are in [0, 1], got {value} (write e.g. 8/255)")
    return float(value)


def draw_targets(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mode: str,
                 streams: Streams) -> torch.Tensor:
    """Targets != y: uniformly random (the original's choice) or the least likely class."""
    if mode == "random":
        num_classes = _num_classes(model, x)
        shift = streams.seek(TARGET_DRAW).randint(1, num_classes).to(y.device)
        streams.seek(0)  # perturb's draws start at 0 whether or not the call drew targets
        return (y + shift) % num_classes
    with torch.no_grad():
        logits = model(x)
    return logits.masked_fill(nn.functional.one_hot(y, logits.shape[1]).bool(),
                              float("inf")).argmin(1)


def _num_classes(model, x):
    n = getattr(model, "num_classes", None)
    if n is None:
        with torch.no_grad():
            n = model(x[:1]).shape[1]
    return int(n)


class Attack:
    """Base class. Subclasses set ``name`` and ``norm`` and implement ``perturb``.

    Args common to all: ``objective`` (see objectives.py; ignored by attacks that have their
    own), ``targeted`` with ``target_mode`` ('random': a seeded random label other than the
    true one, as the original; 'least_likely'), and ``seed``.
    """

    name = "attack"
    norm = "linf"           # linf | l2 | l1 | none
    uses_objective = True

    def __init__(self, eps: float = 0.0, objective: str = "ce", targeted: bool = False,
                 target_mode: str = "random", seed: int = 0):
        self.eps = check_eps("eps", eps, upper=None if self.norm in ("l2", "l1") else 1.0)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective: unknown {objective!r} (allowed: {', '.join(OBJECTIVES)})")
        if target_mode not in TARGET_MODES:
            raise ValueError(f"target_mode: unknown {target_mode!r} "
                             f"(allowed: {', '.join(TARGET_MODES)})")
        self.objective_name = objective
        self.objective = make_objective(objective)
        self.targeted = bool(targeted)
        self.target_mode = target_mode
        self.seed = int(seed)

    # -- what subclasses implement ------------------------------------------------------------
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                target: torch.Tensor | None, gen: Streams) -> torch.Tensor:
        """x_adv for (x, y); `gen` holds one random stream per example of x."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Everything that decides the output (the evaluation store keys results by it)."""
        s = {"attack": self.name, "norm": self.norm, "eps": self.eps, "seed": self.seed,
             "targeted": self.targeted}
        if self.targeted:
            s["target_mode"] = self.target_mode
        if self.uses_objective:
            s["objective"] = self.objective_name
        return s

    # -- the guarantees -------------------------------------------------------------------------
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: torch.Tensor | None = None,
                 ids: torch.Tensor | None = None) -> torch.Tensor:
        """x_adv for (x, y). `ids` are the points' indices in the evaluation (default 0..n-1):
        they key each point's random stream, so that a point gets the same draws whichever
        batch it is in."""
        if self.uses_objective and needs_centers(self.objective_name):
            model_centers(model, self.objective_name)  # a clear error before any work
        with eval_mode(model):
            gen = self.streams(x, ids)
            x0 = x.detach().clone()
            if self.targeted and target is None:
                target = draw_targets(model, x0, y, self.target_mode, gen)
            with torch.enable_grad():
                x_adv = self.perturb(model, x0, y, target if self.targeted else None, gen)
            return x_adv.detach().clamp_(0, 1)

    def streams(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> Streams:
        """The per-example random streams of a call on the points `ids` (default 0..n-1)."""
        if ids is None:
            ids = torch.arange(len(x))
        elif len(ids) != len(x):
            raise ValueError(f"ids: one index per example, got {len(ids)} for {len(x)}")
        return Streams(self.seed, ids, device=x.device)

    def targets(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                ids: torch.Tensor | None = None) -> torch.Tensor:
        """The targets a targeted call draws for (x, y): the same streams, the same draws."""
        return draw_targets(model, x, y, self.target_mode, self.streams(x, ids))

    def loss(self, model, x, y, target):
        """The objective, summed over the batch (its gradient is each example's own)."""
        return self.objective(model, x, y, target).sum()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.settings().items() if k != "attack")
        return f"{type(self).__name__}({args})"
