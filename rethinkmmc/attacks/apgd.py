"""Auto-PGD in L-inf, untargeted (APGD) and targeted over the top classes (APGD-T).

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (Sec. 3, Algorithm 1): PGD whose step size needs no tuning.
It starts at 2 eps, takes momentum steps (alpha = 0.75) and, at checkpoints w_j = ceil(p_j N)
with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), halves the step of
each example for which

1. the objective increased in fewer than rho * (w_j - w_{j-1}) of the steps since the last
   checkpoint, or
2. neither the step size nor the best objective changed since the last checkpoint,

and restarts that example from the best point found so far. Step sizes, checkpoint decisions and
restarts from the best point are all per example (batched), so one hard example does not slow
down the others.

As AutoAttack, points the model already gets wrong are returned unchanged, each restart runs only
on points still robust, and an example keeps the first point that fooled the model (else its
highest-objective point).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .base import Attack

__all__ = ["APGD", "APGDT", "apgd_checkpoints"]


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name}: must be an integer >= {lo}, got {value!r}")
    return value


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations w_j = ceil(p_j * steps), j >= 1, at which APGD may halve its step.

    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (Croce & Hein 2020):
    the intervals shrink from 22% of the budget by 3% per checkpoint, down to 6%.
    """
    p_prev, p, out = 0.0, 0.22, []
    while p <= 1.0:
        w = math.ceil(p * steps - 1e-9)  # -1e-9: 0.22 * 100 is 22.000000000000004 in floats
        if w > (out[-1] if out else 0):
            out.append(w)
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return out


def _project(x_adv, x, eps):
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0, 1)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *[1] * (like.dim() - 1))


class APGD(Attack):
    """Auto-PGD in L-inf (Croce & Hein, ICML 2020) on any objective (typically ``ce`` or ``dlr``).

    Args: ``eps``; ``steps`` (N_iter, 100 in AutoAttack); ``n_restarts`` (each from a fresh
    random start, run only on points still robust); ``rho`` (0.75, condition 1's fraction);
    plus the base's ``objective``, ``targeted``/``target_mode`` and ``seed``. A targeted call
    counts as successful when the prediction is the target.
    """

    name = "apgd"
    norm = "linf"
    alpha = 0.75  # momentum weight of the new gradient step (Croce & Hein: 0.75)

    def __init__(self, eps: float, steps: int = 100, n_restarts: int = 1, rho: float = 0.75,
                 **kw):
        super().__init__(eps=eps, **kw)
        self.steps = _check_int("steps", steps, 1)
        self.n_restarts = _check_int("n_restarts", n_restarts, 1)
        if not (isinstance(rho, (int, float)) and 0 < rho <= 1):
            raise ValueError(f"rho: must be in (0, 1], got {rho!r}")
        self.rho = float(rho)

    def settings(self):
        s = super().settings()
        s.update(steps=self.steps, n_restarts=self.n_restarts, rho=self.rho)
        return s

    # -- one run of Algorithm 1 -----------------------------------------------------------------
    def _success(self, model, x, y, target):
        with torch.no_grad():
            pred = model(x).argmax(1)
        return pred == target if target is not None else pred != y

    def _value_grad(self, model, x, y, target):
        x = x.detach().requires_grad_(True)
        f = self.objective(model, x, y, target)
        (g,) = torch.autograd.grad(f.sum(), x)  # the sum's gradient is each example's own
        return f.detach(), g.detach()

    def _run(self, model, x, y, target, gen):
        """One APGD run from a random start on every example of x.

        Returns (x_out, success, f_out): per example the first iterate that succeeded, else the
        highest-objective one; whether it succeeded; its objective.
        """
        eps = self.eps
        noise = gen.rand(*x.shape[1:], dtype=x.dtype).to(x.device)
        x_cur = _project(x + (2 * noise - 1) * eps, x, eps)
        f_cur, g_cur = self._value_grad(model, x_cur, y, target)
        x_best, f_best = x_cur.clone(), f_cur.clone()  # x_max, f_max of the paper
        g_best = g_cur.clone()  # kept so that a restart from x_max costs no extra gradient
        done = self._success(model, x_cur, y, target)
        x_out = x_cur.clone()                          # the first successful iterate, if any
        eta = torch.full((x.shape[0],), 2.0 * eps, device=x.device, dtype=x.dtype)

        checkpoints = set(apgd_checkpoints(self.steps))
        last_w = 0
        n_increase = torch.zeros(x.shape[0], device=x.device)
        f_best_at_w = f_best.clone()
        reduced_at_w = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        x_prev = x_cur  # x^(k-1); the first step has no momentum (x^(1) is a plain PGD step)

        for k in range(self.steps):
            with torch.no_grad():
                z = _project(x_cur + _bcast(eta, x) * g_cur.sign(), x, eps)
                if k == 0:
                    x_new = z
                else:
                    a = self.alpha
                    x_new = _project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_prev), x, eps)
            f_new, g_new = self._value_grad(model, x_new, y, target)
            with torch.no_grad():
                ok = self._success(model, x_new, y, target)
                first = ok & ~done
                x_out[first] = x_new[first]
                done |= ok
                n_increase += (f_new > f_cur).float()
                better = f_new > f_best
                x_best[better] = x_new[better]
                f_best[better] = f_new[better]
                g_best[better] = g_new[better]
                x_prev, x_cur, f_cur, g_cur = x_cur, x_new, f_new, g_new

                it = k + 1
                if it in checkpoints:
                    cond1 = n_increase < self.rho * (it - last_w)
                    # "step unchanged and best unchanged": not halved at the previous checkpoint
                    # (the first checkpoint counts as unchanged, eta being still its start) and
                    # no improvement of f_max over the interval.
                    cond2 = ~reduced_at_w & (f_best <= f_best_at_w)
                    halve = cond1 | cond2
                    eta = torch.where(halve, eta / 2, eta)
                    # Restart from the best point (x^(k+1) <- x_max); x_prev stays x^(k), so
                    # the next momentum term is x_max - x^(k), as in Algorithm 1.
                    hb = _bcast(halve, x)
                    x_cur = torch.where(hb, x_best, x_cur)
                    f_cur = torch.where(halve, f_best, f_cur)
                    g_cur = torch.where(hb, g_best, g_cur)
                    reduced_at_w, f_best_at_w = halve, f_best.clone()
                    n_increase.zero_()
                    last_w = it
            if bool(done.all()):
                break  # every example fooled: later iterates cannot change the output
        x_out = torch.where(_bcast(done, x), x_out, x_best)
        with torch.no_grad():
            f_out = self.objective(model, x_out, y, target)
        return x_out, done, f_out

    # -- restarts on the points still robust ----------------------------------------------------
    def _attack(self, model, x, y, target, gen, x_adv, robust):
        """Run the restarts on the examples with ``robust`` True, writing into x_adv in place;
        returns the updated robust mask."""
        best_f = torch.full((x.shape[0],), -float("inf"), device=x.device, dtype=x.dtype)
        for _ in range(self.n_restarts):
            idx = robust.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            t = target[idx] if target is not None else None
            x_out, ok, f_out = self._run(model, x[idx], y[idx], t, gen[idx])
            # A still-robust example keeps its highest-objective point over the restarts.
            take = ok | (f_out > best_f[idx])
            x_adv[idx[take]] = x_out[take]
            best_f[idx[take]] = f_out[take]
            robust[idx[ok]] = False
        return robust

    def perturb(self, model, x, y, target, gen):
        x_adv = x.clone()
        robust = ~self._success(model, x, y, target)  # already fooled: returned unchanged
        if self.eps > 0:
            self._attack(model, x, y, target, gen, x_adv, robust)
        return x_adv


class APGDT(APGD):
    """Targeted APGD as in AutoAttack (Croce & Hein, ICML 2020): for each of the
    ``n_target_classes`` (9) classes with the highest clean logits other than the true one, in
    turn, APGD with the targeted DLR objective toward it, run only on points still correctly
    classified. Success is misclassification (into any class): this attack measures robust
    accuracy; the targets are only a means.

    It picks its own targets, so ``targeted`` is not an argument. ``objective`` defaults to
    ``dlr`` (targeted DLR); any objective's targeted form works.
    """

    name = "apgd_t"

    def __init__(self, eps: float, steps: int = 100, n_restarts: int = 1, rho: float = 0.75,
                 n_target_classes: int = 9, objective: str = "dlr", **kw):
        if kw.get("targeted"):
            raise ValueError("targeted: APGDT picks its own targets (the top classes); "
                             "use APGD(targeted=True) for one drawn target")
        kw.pop("targeted", None)
        kw.pop("target_mode", None)
        super().__init__(eps, steps=steps, n_restarts=n_restarts, rho=rho, objective=objective,
                         **kw)
        self.n_target_classes = _check_int("n_target_classes", n_target_classes, 1)

    def settings(self):
        s = super().settings()
        s.pop("targeted", None)
        s["n_target_classes"] = self.n_target_classes
        return s

    def perturb(self, model, x, y, target, gen):
        x_adv = x.clone()
        with torch.no_grad():
            logits = model(x)
        robust = logits.argmax(1) == y
        if self.eps == 0:
            return x_adv
        # Classes other than y by decreasing clean logit: y pushed to the end.
        others = logits.masked_fill(nn.functional.one_hot(y, logits.shape[1]).bool(),
                                    -float("inf")).argsort(1, descending=True)
        n_targets = min(self.n_target_classes, logits.shape[1] - 1)

        for j in range(n_targets):
            if not robust.any():
                break
            robust = self._attack(model, x, y, others[:, j], gen, x_adv, robust)
        return x_adv

    def _success(self, model, x, y, target):
        # Robust accuracy is what counts: any misclassification ends the search for a point.
        with torch.no_grad():
            return model(x).argmax(1) != y
