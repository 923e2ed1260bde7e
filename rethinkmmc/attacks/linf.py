"""L-inf gradient attacks: FGSM, BIM, PGD, MIM, on an injected objective.

- FGSM: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
- BIM: Kurakin, Goodfellow & Bengio, "Adversarial Examples in the Physical World", 2017
  (iterated FGSM from x, no random start).
- PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018
  (random start in the ball; restarts keep, per example, the first successful or else the
  highest-objective point). The paper's attacks return the last iterate, as cleverhans did;
  ``keep_best=True`` returns per example the first iterate that succeeded, else the
  highest-objective one (as APGD does), for the strong suite.
- MIM: Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018 (L1-normalised
  gradient accumulated with decay mu).

The original evaluation (Pang et al. 2020) runs these at eps 8/256 and 16/256, step 2/256,
10 or 50 iterations, with random start; a targeted attack minimises the loss toward a random
target. Steps go through ``torch.autograd.grad`` with respect to the input only, so model
parameters never accumulate gradients.
"""
from __future__ import annotations

from typing import Callable

import torch

from .base import Attack, check_eps
from .streams import Streams

__all__ = ["pgd_linf", "pgd_linf_best", "FGSM", "BIM", "PGD", "MIM"]


def _project(x_adv, x, eps):
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)


def _start(x, eps, random_start, generator):
    """PGD's start: uniform in the L-inf ball (inside [0, 1]), or x itself."""
    if random_start and eps > 0:
        if isinstance(generator, Streams):  # an attack's call: one stream per example
            noise = generator.rand(*x.shape[1:], dtype=x.dtype)
        else:  # adversarial training's inner PGD: the epoch's generator
            noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + (2 * noise - 1) * eps).clamp(0, 1)
    return x.clone()


def _step(x_adv, grad, x, eps, step_size, g_acc, momentum):
    """One signed-gradient step and projection; with momentum, MIM's accumulated,
    L1-normalised gradient. Returns (x_adv, g_acc)."""
    if g_acc is not None:
        l1 = grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        g_acc = momentum * g_acc + grad / l1
        grad = g_acc
    return _project(x_adv + step_size * grad.sign(), x, eps), g_acc


def pgd_linf(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float,
             step_size: float, steps: int, random_start: bool = True,
             generator: torch.Generator | None = None, momentum: float | None = None) -> torch.Tensor:
    """Maximise the scalar ``objective(x_adv)`` over the L-inf ball of radius eps around x,
    intersected with [0, 1], by signed-gradient ascent with projection.

    momentum=None: PGD/BIM steps; momentum=mu: MIM's accumulated, L1-normalised gradient.
    Returns a new, detached tensor; x is not modified.
    """
    x = x.detach()
    x_adv = _start(x, eps, random_start, generator)
    g_acc = torch.zeros_like(x) if momentum is not None else None
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(x_adv), x_adv)
        with torch.no_grad():
            x_adv, g_acc = _step(x_adv, grad, x, eps, step_size, g_acc, momentum)
    return x_adv.detach()


def pgd_linf_best(objective: Callable[[torch.Tensor], torch.Tensor],
                  success: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float,
                  step_size: float, steps: int, random_start: bool = True,
                  generator: torch.Generator | None = None,
                  momentum: float | None = None) -> torch.Tensor:
    """:func:`pgd_linf` that returns, per example, the first iterate (the start included) at
    which ``success(x_adv)`` (B,) holds, else the iterate of highest per-example
    ``objective(x_adv)`` (B,): an attack that crossed the boundary and stepped back still
    counts, as in APGD (Croce & Hein 2020)."""
    x = x.detach()
    x_adv = _start(x, eps, random_start, generator)
    g_acc = torch.zeros_like(x) if momentum is not None else None
    best = x_adv.clone()
    best_f = torch.full((x.shape[0],), -float("inf"), device=x.device, dtype=x.dtype)
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    shape = (-1, *[1] * (x.dim() - 1))
    for k in range(steps + 1):
        x_adv.requires_grad_(True)
        f = objective(x_adv)
        with torch.no_grad():
            ok = success(x_adv) & ~done
            take = ok | (~done & (f.detach() > best_f))
            best = torch.where(take.view(shape), x_adv.detach(), best)
            best_f = torch.where(take, f.detach(), best_f)
            done |= ok
        if k == steps or bool(done.all()):
            break
        (grad,) = torch.autograd.grad(f.sum(), x_adv)
        with torch.no_grad():
            x_adv, g_acc = _step(x_adv, grad, x, eps, step_size, g_acc, momentum)
    return best.detach()


class PGD(Attack):
    """Projected gradient descent in L-inf (Madry et al. 2018), with restarts.

    With ``restarts`` > 1, each example keeps the first restart that fooled the model (for a
    targeted attack: reached the target), else the one with the highest objective.
    """

    name = "pgd"

    def __init__(self, eps: float, steps: int = 10, step_size: float | None = None,
                 random_start: bool = True, restarts: int = 1, keep_best: bool = False, **kw):
        super().__init__(eps=eps, **kw)
        self.keep_best = bool(keep_best)
        if steps < 1:
            raise ValueError(f"steps: must be >= 1, got {steps}")
        if restarts < 1:
            raise ValueError(f"restarts: must be >= 1, got {restarts}")
        self.steps = int(steps)
        self.step_size = check_eps("step_size", 2.5 * eps / steps if step_size is None else step_size)
        self.random_start = bool(random_start)
        self.restarts = int(restarts)

    momentum: float | None = None

    def settings(self):
        s = super().settings()
        s.update(steps=self.steps, step_size=self.step_size, random_start=self.random_start,
                 restarts=self.restarts)
        if self.momentum is not None:
            s["momentum"] = self.momentum
        if self.keep_best:  # only when set: the paper attacks' stored keys stay as they were
            s["keep_best"] = True
        return s

    def _succeeded(self, model, x_adv, y, target):
        pred = model(x_adv).argmax(1)
        return (pred == target) if target is not None else (pred != y)

    def perturb(self, model, x, y, target, gen):
        best, best_obj, done = None, None, None
        for _ in range(self.restarts):
            if self.keep_best:
                x_adv = pgd_linf_best(lambda xa: self.objective(model, xa, y, target),
                                      lambda xa: self._succeeded(model, xa, y, target), x,
                                      self.eps, self.step_size, self.steps, self.random_start,
                                      gen, self.momentum)
            else:
                x_adv = pgd_linf(lambda xa: self.loss(model, xa, y, target), x, self.eps,
                                 self.step_size, self.steps, self.random_start, gen,
                                 self.momentum)
            if self.restarts == 1:
                return x_adv
            with torch.no_grad():
                obj = self.objective(model, x_adv, y, target)
                ok = self._succeeded(model, x_adv, y, target)
            if best is None:
                best, best_obj, done = x_adv, obj, ok
                continue
            take = (~done) & (ok | (obj > best_obj))
            best = torch.where(take.view(-1, *[1] * (x.dim() - 1)), x_adv, best)
            best_obj = torch.where(take, obj, best_obj)
            done = done | ok
        return best


class BIM(PGD):
    """Basic iterative method (Kurakin et al. 2017): PGD without a random start."""

    name = "bim"

    def __init__(self, eps: float, steps: int = 10, step_size: float | None = None,
                 objective: str = "ce", targeted: bool = False, target_mode: str = "random",
                 seed: int = 0):
        super().__init__(eps, steps=steps, step_size=step_size, random_start=False,
                         objective=objective, targeted=targeted, target_mode=target_mode, seed=seed)


class FGSM(PGD):
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size eps from x."""

    name = "fgsm"

    def __init__(self, eps: float, objective: str = "ce", targeted: bool = False,
                 target_mode: str = "random", seed: int = 0):
        super().__init__(eps, steps=1, step_size=eps, random_start=False, objective=objective,
                         targeted=targeted, target_mode=target_mode, seed=seed)


class MIM(PGD):
    """Momentum iterative method (Dong et al. 2018), decay ``momentum`` (1.0 in the paper)."""

    name = "mim"

    def __init__(self, eps: float, steps: int = 10, step_size: float | None = None,
                 momentum: float = 1.0, random_start: bool = False, objective: str = "ce",
                 targeted: bool = False, target_mode: str = "random", seed: int = 0):
        super().__init__(eps, steps=steps, step_size=step_size, random_start=random_start,
                         objective=objective, targeted=targeted, target_mode=target_mode, seed=seed)
        self.momentum = float(momentum)
