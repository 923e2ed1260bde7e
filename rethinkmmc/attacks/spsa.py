"""SPSA: a gradient-free L-inf attack.

Uesato, O'Donoghue, van den Oord & Kohli, "Adversarial Risk and the Dangers of Evaluating
Against Weak Attacks", ICML 2018. Each step estimates the gradient of the objective by
simultaneous perturbation (Spall 1992): ``samples`` Rademacher directions v of size ``delta``,
in antithetic pairs (v, -v), g ~ mean_i f(x + delta v_i) v_i / delta; then an Adam step and a
projection onto the L-inf ball of radius eps and [0, 1]. The model is only ever queried, never
differentiated, so gradient masking (the worry about MMC's sharp logits) cannot hide it.

Pang et al. (2020) run it at eps 8/256 with 10 steps, lr 0.01, delta 0.01 and 128 samples, the
defaults here. Unlike cleverhans' version (one image at a time), every example and every one of
its samples go through the model together, in chunks of ``batch_size`` inputs.
"""
from __future__ import annotations

import torch

from .base import Attack
from .l2 import _int_at_least, _positive

__all__ = ["SPSA"]


class SPSA(Attack):
    """SPSA with Adam (Uesato et al. 2018), maximising the injected objective without gradients.

    ``eps``: the L-inf radius; ``steps`` Adam steps of learning rate ``lr``; ``samples`` (even)
    function evaluations per example and step at distance ``delta``; ``random_start``: begin at a
    uniform point of the ball (as cleverhans' SPSA); ``early_stop``: freeze an example as soon as
    it is misclassified (reaches its target when targeted). The objective defaults to the C&W
    logit margin, which is right for MMC's all-negative logits; any objective name is accepted.
    ``batch_size`` bounds the inputs per forward pass (memory only; not part of ``settings``).
    """

    name = "spsa"
    norm = "linf"
    uses_objective = True

    def __init__(self, eps: float, steps: int = 10, lr: float = 0.01, delta: float = 0.01,
                 samples: int = 128, random_start: bool = True, early_stop: bool = True,
                 objective: str = "cw", batch_size: int = 4096, **kw):
        super().__init__(eps=eps, objective=objective, **kw)
        self.steps = _int_at_least("steps", steps, 1)
        self.lr = _positive("lr", lr)
        self.delta = _positive("delta", delta)
        self.samples = _int_at_least("samples", samples, 2)
        if self.samples % 2:
            raise ValueError(f"samples: must be even (antithetic pairs), got {samples}")
        self.random_start = bool(random_start)
        self.early_stop = bool(early_stop)
        self.batch_size = _int_at_least("batch_size", batch_size, 1)

    # Adam's constants as in cleverhans' TensorAdam, which the original SPSA uses.
    BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-9

    def settings(self):
        s = super().settings()
        s.update(steps=self.steps, lr=self.lr, delta=self.delta, samples=self.samples,
                 random_start=self.random_start, early_stop=self.early_stop)
        return s

    def _fooled(self, model, x_adv, y, target):
        pred = model(x_adv).argmax(1)
        return (pred == target) if target is not None else (pred != y)

    def _estimate(self, model, x_adv, y, target, gen):
        """The SPSA gradient estimate of the objective at each row of x_adv."""
        a, shape = x_adv.shape[0], x_adv.shape[1:]
        half = self.samples // 2
        v = gen.randint(0, 2, half, *shape).to(x_adv.device)
        v = (2 * v - 1).to(x_adv.dtype)
        v = torch.cat([v, -v], 1)                                   # antithetic pairs
        # Probe points are not clipped to [0, 1]: clipping would break the pairs' symmetry
        # (cleverhans does not clip them either); they are at most delta outside.
        pts = (x_adv.unsqueeze(1) + self.delta * v).reshape(a * self.samples, *shape)
        y_rep = y.repeat_interleave(self.samples)
        t_rep = None if target is None else target.repeat_interleave(self.samples)
        vals = torch.cat([self.objective(model, pts[i:i + self.batch_size],
                                         y_rep[i:i + self.batch_size],
                                         None if t_rep is None else t_rep[i:i + self.batch_size])
                          for i in range(0, pts.shape[0], self.batch_size)])
        vals = vals.view(a, self.samples, *[1] * len(shape)).to(x_adv.dtype)
        return (vals * v).mean(1) / self.delta

    @torch.no_grad()
    def perturb(self, model, x, y, target, gen):
        eps = self.eps
        if self.random_start and eps > 0:
            noise = gen.rand(*x.shape[1:], dtype=x.dtype).to(x.device)
            x_adv = (x + (2 * noise - 1) * eps).clamp(0, 1)
        else:
            x_adv = x.clone()
        m = torch.zeros_like(x)
        s = torch.zeros_like(x)
        done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for step in range(1, self.steps + 1):
            if self.early_stop:
                done |= self._fooled(model, x_adv, y, target)
            idx = (~done).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa = x_adv[idx]
            t = None if target is None else target[idx]
            g = self._estimate(model, xa, y[idx], t, gen.seek(step)[idx])
            # Adam ascent; frozen examples keep their moments (they never move again).
            m[idx] = self.BETA1 * m[idx] + (1 - self.BETA1) * g
            s[idx] = self.BETA2 * s[idx] + (1 - self.BETA2) * g * g
            m_hat = m[idx] / (1 - self.BETA1 ** step)
            s_hat = s[idx] / (1 - self.BETA2 ** step)
            xa = xa + self.lr * m_hat / (s_hat.sqrt() + self.ADAM_EPS)
            x_adv[idx] = torch.min(torch.max(xa, x[idx] - eps), x[idx] + eps).clamp(0, 1)
        return x_adv
