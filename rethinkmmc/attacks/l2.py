"""Minimum-distance attacks: Carlini & Wagner L2 and the elastic-net attack (EAD).

- CW: Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017
  (the L2 attack: tanh change of variables, Adam, a binary search over the constant c).
- EAD: Chen, Sharma, Zhang, Yi & Hsieh, "EAD: Elastic-Net Attacks to Deep Neural Networks via
  Adversarial Examples", AAAI 2018 (ISTA with FISTA momentum on c * f + ||.||_2^2 + beta ||.||_1).

Both minimise a distance plus c times the C&W margin loss
    untargeted: f(x') = max(z_y(x') - max_{l != y} z_l(x'), -kappa)
    targeted:   f(x') = max(max_{l != t} z_l(x') - z_t(x'), -kappa)
and return, per example, the closest successful point found over all binary-search steps (x
itself, unchanged, where none was found). Neither is bounded by an eps: ``eps`` is 0 and the
distance is what they report (``l2_stats``).

MMC models' logits are -||z - mu_l||^2, all negative. The "other" maximum is therefore taken with
the true (target) class masked by -inf; masking by multiplying the logits by a one-hot complement
(as torchattacks' C&W does) puts a 0 in the true class's slot, which is the largest "logit" when
all logits are negative, so f becomes constant and the attack never moves.

Pang et al. (2020) evaluate C&W with 9 binary steps, 1000 iterations, learning rate 5e-3,
initial constant 1e-2 (kappa 0 in their README, 1.0 in their script's flag), the defaults here.
For EAD the defaults are the EAD paper's search (9 binary steps from c 1e-3) with the MMC
evaluation's beta 1e-2, kappa 0.1, lr 1e-2, 1000 iterations and EN rule; their script
(advtest_others.py) ran a single binary step at c = 1.0: ``EAD(binary_steps=1,
initial_const=1.0)`` reproduces that.

Early abort, as in Carlini's code: every steps // 10 iterations the batch's total loss must have
fallen by 0.01 %, else the binary step ends; so with ``abort_early`` an example's result depends
slightly on its batch (``abort_early=False`` makes examples independent).
"""
from __future__ import annotations


import torch

from ..checkargs import int_at_least as _int_at_least
from ..checkargs import positive as _positive
from .base import Attack
from .objectives import _other_max, _pick

__all__ = ["CW", "EAD", "l2_stats"]

# Carlini's upper bound for "no successful constant yet": while upper >= this, c grows tenfold.
_NO_UPPER = 1e10


# -- argument checks (each error names its field) ---------------------------------------------
def _no_eps(kw: dict, name: str) -> None:
    # A minimum-distance attack has no budget; accepting eps silently would suggest one.
    eps = kw.pop("eps", 0.0)
    if eps != 0:
        raise ValueError(f"eps: {name} is a minimum-distance attack with no eps bound "
                         f"(got {eps!r}); threshold its distances instead")


def l2_stats(x: torch.Tensor, x_adv: torch.Tensor, success: torch.Tensor) -> dict[str, float]:
    """Median and mean L2 distance ||x_adv - x||_2 over the successful examples, and the success
    rate over all. Distances are nan when nothing succeeded."""
    if x.shape != x_adv.shape:
        raise ValueError(f"x_adv: shape {tuple(x_adv.shape)} differs from x's {tuple(x.shape)}")
    success = torch.as_tensor(success).bool().reshape(-1)
    if success.numel() != x.shape[0]:
        raise ValueError(f"success: needs one flag per example ({x.shape[0]}), "
                         f"got {success.numel()}")
    d = (x_adv.detach().double() - x.detach().double()).flatten(1).norm(dim=1)
    ok = d[success.to(d.device)]
    nan = float("nan")
    return {"median_l2": ok.quantile(0.5).item() if ok.numel() else nan,
            "mean_l2": ok.mean().item() if ok.numel() else nan,
            "success_rate": success.double().mean().item() if success.numel() else nan}


class _MinDistance(Attack):
    """What CW and EAD share: the margin loss, the success test and the search over c."""

    uses_objective = False

    def __init__(self, binary_steps: int, steps: int, lr: float, initial_const: float,
                 confidence: float, abort_early: bool, **kw):
        _no_eps(kw, type(self).__name__)
        super().__init__(eps=0.0, **kw)
        self.binary_steps = _int_at_least("binary_steps", binary_steps, 1)
        self.steps = _int_at_least("steps", steps, 1)
        self.lr = _positive("lr", lr)
        self.initial_const = _positive("initial_const", initial_const)
        self.confidence = _positive("confidence", confidence, allow_zero=True)
        self.abort_early = bool(abort_early)

    def settings(self):
        s = super().settings()
        s.update(binary_steps=self.binary_steps, steps=self.steps, lr=self.lr,
                 initial_const=self.initial_const, confidence=self.confidence,
                 abort_early=self.abort_early)
        return s

    @staticmethod
    def _margin(logits: torch.Tensor, lab: torch.Tensor, targeted: bool) -> torch.Tensor:
        """m with f = max(m, -kappa): z_y - max_{l!=y} z_l, or max_{l!=t} z_l - z_t if targeted.

        The max over the other classes masks lab with -inf, so it is right for any logits,
        all-negative ones included."""
        other = _other_max(logits, lab)
        real = _pick(logits, lab)
        return other - real if targeted else real - other

    def _loss_f(self, logits, lab, targeted):
        # max(m, -kappa) + kappa: the same gradient, and 0 once the margin is reached (Carlini's
        # form), so the early-abort test compares non-negative losses.
        m = self._margin(logits, lab, targeted)
        return (m + self.confidence).clamp_min(0), m

    def _success(self, logits, m, lab, targeted):
        """Fooled with margin kappa; the argmax check also rules out exact ties."""
        pred = logits.argmax(1)
        hit = (pred == lab) if targeted else (pred != lab)
        return hit & (m < -self.confidence)

    @staticmethod
    def _update_const(const, lower, upper, succeeded):
        """Carlini's per-example binary search: bisect once bracketed, else grow c tenfold."""
        upper = torch.where(succeeded, torch.minimum(upper, const), upper)
        lower = torch.where(succeeded, lower, torch.maximum(lower, const))
        bracketed = upper < _NO_UPPER / 10
        const = torch.where(bracketed, (lower + upper) / 2,
                            torch.where(succeeded, const, const * 10))
        return const, lower, upper

    def perturb(self, model, x, y, target, gen):
        targeted = target is not None
        lab = target if targeted else y
        b = x.shape[0]
        opts = dict(dtype=torch.float64, device=x.device)  # c spans 1e-3..1e10: keep it exact
        const = torch.full((b,), self.initial_const, **opts)
        lower = torch.zeros(b, **opts)
        upper = torch.full((b,), _NO_UPPER, **opts)
        best_dist = torch.full((b,), float("inf"), dtype=x.dtype, device=x.device)
        best_adv = x.clone()
        # Carlini's code: with 10 or more binary steps the last one runs at the upper bound.
        repeat = self.binary_steps >= 10
        for bstep in range(self.binary_steps):
            if repeat and bstep == self.binary_steps - 1:
                const = upper.clone()
            succeeded = self._search(model, x, lab, targeted, const.to(x.dtype), best_dist,
                                     best_adv)
            const, lower, upper = self._update_const(const, lower, upper, succeeded)
        return best_adv

    @staticmethod
    def _keep_best(x_new, dist, ok, best_dist, best_adv):
        """In place: where ok and closer than before, remember x_new."""
        better = ok & (dist < best_dist)
        best_dist[better] = dist[better]
        best_adv[better] = x_new[better]

    def _abort(self, it, loss, prev):
        """Carlini's early abort: every steps // 10 iterations, stop once the loss has not fallen
        by 0.01 % since the last check. The loss is the batch's total, as in Carlini's,
        cleverhans' and foolbox's code (so with abort_early the result of an example depends a
        little on its batch). Stopping examples one by one instead was measured weaker (a 3.7 %
        larger median L2 than foolbox's at 3 x 30 iterations). Returns (stop, prev)."""
        if not self.abort_early or it % max(1, self.steps // 10):
            return False, prev
        total = float(loss.sum())
        return total > prev * 0.9999, total

    def _search(self, model, x, lab, targeted, const, best_dist, best_adv):
        raise NotImplementedError


class CW(_MinDistance):
    """Carlini & Wagner's L2 attack (IEEE S&P 2017).

    minimise ||x' - x||_2^2 + c * f(x') over w, with x' = (tanh(w) + 1) / 2 so that x' stays in
    [0, 1] without clipping; Adam (reset at each binary step) for ``steps`` iterations, and a
    per-example binary search over c (``binary_steps`` rounds from ``initial_const``).
    Defaults: the original MMC evaluation (Pang et al. 2020): 9 binary steps, 1000 iterations,
    lr 5e-3, c0 1e-2, kappa 0 (cleverhans' default is kappa 1).

    Returns per example the smallest-L2 successful point over all binary steps, else x.
    """

    name = "cw"
    norm = "l2"

    def __init__(self, binary_steps: int = 9, steps: int = 1000, lr: float = 5e-3,
                 initial_const: float = 1e-2, confidence: float = 0.0, abort_early: bool = True,
                 **kw):
        super().__init__(binary_steps, steps, lr, initial_const, confidence, abort_early, **kw)

    def _search(self, model, x, lab, targeted, const, best_dist, best_adv):
        # Carlini's 0.999999 keeps atanh finite at pixels exactly 0 or 1.
        w0 = torch.atanh((2 * x - 1) * 0.999999)
        mod = torch.zeros_like(x, requires_grad=True)
        opt = torch.optim.Adam([mod], lr=self.lr)    # a fresh start and Adam state per c
        succeeded = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        prev = float("inf")
        for it in range(self.steps):
            x_new = (torch.tanh(w0 + mod) + 1) / 2
            logits = model(x_new)
            dist = (x_new - x).pow(2).flatten(1).sum(1)
            f, m = self._loss_f(logits, lab, targeted)
            loss = dist + const * f
            with torch.no_grad():
                ok = self._success(logits, m, lab, targeted)
                succeeded |= ok
                self._keep_best(x_new, dist, ok, best_dist, best_adv)
                stop, prev = self._abort(it, loss, prev)
            if stop:
                break
            # Gradient with respect to the modifier only: model parameters get no .grad.
            (mod.grad,) = torch.autograd.grad(loss.sum(), mod)
            opt.step()
        return succeeded


class EAD(_MinDistance):
    """The elastic-net attack EAD (Chen et al., AAAI 2018).

    minimise c * f(x') + ||x' - x||_2^2 + beta * ||x' - x||_1 over x' in [0, 1] by FISTA:
    a gradient step on the smooth part at the slack point (learning rate decaying as
    lr * sqrt(1 - k / steps)), the element-wise shrinkage-thresholding of the L1 term with
    projection onto [0, 1], then momentum k / (k + 3). The per-example binary search over c is
    C&W's. ``decision_rule`` picks the best point by elastic-net distance ("EN": L2^2 + beta L1)
    or by L1 ("L1"). Defaults: beta 1e-2 (the MMC evaluation), kappa 0.1, 9 binary steps,
    1000 iterations, lr 1e-2, c0 1e-3.
    """

    name = "ead"
    norm = "l1"
    DECISION_RULES = ("EN", "L1")

    def __init__(self, beta: float = 1e-2, binary_steps: int = 9, steps: int = 1000,
                 lr: float = 1e-2, initial_const: float = 1e-3, confidence: float = 0.1,
                 decision_rule: str = "EN", abort_early: bool = True, **kw):
        super().__init__(binary_steps, steps, lr, initial_const, confidence, abort_early, **kw)
        self.beta = _positive("beta", beta, allow_zero=True)
        if decision_rule not in self.DECISION_RULES:
            raise ValueError(f"decision_rule: unknown {decision_rule!r} "
                             f"(allowed: {', '.join(self.DECISION_RULES)})")
        self.decision_rule = decision_rule

    def settings(self):
        s = super().settings()
        s.update(beta=self.beta, decision_rule=self.decision_rule)
        return s

    def _shrink(self, z, x):
        """The proximal step of beta * ||. - x||_1 restricted to [0, 1] (EAD's S_beta)."""
        d = z - x
        return torch.where(d > self.beta, (z - self.beta).clamp(max=1),
                           torch.where(d < -self.beta, (z + self.beta).clamp(min=0), x))

    def _search(self, model, x, lab, targeted, const, best_dist, best_adv):
        x_k = x.clone()                 # the iterate, always in [0, 1]
        slack = x.clone()               # FISTA's extrapolated point, where gradients are taken
        succeeded = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        prev = float("inf")
        for it in range(self.steps):
            slack.requires_grad_(True)
            f, _ = self._loss_f(model(slack), lab, targeted)
            smooth = const * f + (slack - x).pow(2).flatten(1).sum(1)
            (grad,) = torch.autograd.grad(smooth.sum(), slack)
            with torch.no_grad():
                lr = self.lr * (1 - it / self.steps) ** 0.5      # EAD's square-root decay
                x_next = self._shrink(slack - lr * grad, x)
                # FISTA momentum k / (k + 3), k = 0, 1, ... (the paper's Algorithm 1)
                slack = x_next + it / (it + 3) * (x_next - x_k)
                x_k = x_next
                # Success and distances at the new iterate, as the original records them.
                logits = model(x_k)
                f, m = self._loss_f(logits, lab, targeted)
                diff = (x_k - x).flatten(1)
                l2sq, l1 = diff.pow(2).sum(1), diff.abs().sum(1)
                en = l2sq + self.beta * l1
                ok = self._success(logits, m, lab, targeted)
                succeeded |= ok
                self._keep_best(x_k, en if self.decision_rule == "EN" else l1, ok, best_dist,
                                best_adv)
                stop, prev = self._abort(it, const * f + en, prev)
            if stop:
                break
        return succeeded
