"""Square Attack in L-inf: a score-based black-box attack (no gradients).

Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020 (Sec. 3, Algorithms 1 and 2). Random search over the
vertices of the L-inf ball:

- start from vertical stripes: each column of each channel shifted by +eps or -eps;
- at iteration i, pick one square window of side s = round(sqrt(p_i * h * w)) at a uniformly
  random position, and for each channel add +2 eps or -2 eps to the whole window (after the
  projection onto the ball this sets the window to x +- eps: another vertex);
- keep the candidate if it lowers the margin loss logit_y - max_{l != y} logit_l;
- p_i starts at ``p_init`` (0.8) and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000,
  6000, 8000 of a 10,000-query budget, rescaled to ``n_queries`` as in the paper.

Only points still correctly classified are queried. The margin is a difference of logits, so the
attack is the same for the positive logits of a softmax model and the negative ones of an MMC
model (-||z - mu||^2). Targeted (``targeted=True``): the margin max_{l != t} logit_l - logit_t
is lowered until the target wins (the paper used cross-entropy there; the margin keeps the attack
free of any assumption on the logits).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Attack

__all__ = ["Square", "square_p"]

# Iterations, out of 10,000, after which p halves (Andriushchenko et al. 2020, Sec. 4 / App.).
# Redraws of a query's signs when a candidate equals the current point (at most _REDRAWS),
# and the draw numbers each query owns: window row, column, signs, the redraws.
_REDRAWS = 32
_DRAWS_PER_QUERY = 3 + _REDRAWS
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_p(p_init: float, it: int, n_queries: int) -> float:
    """The fraction p of pixels changed at iteration ``it`` of a budget of ``n_queries``."""
    it = int(it / n_queries * 10000)  # the schedule is written for 10,000 queries
    return p_init / 2 ** sum(it > h for h in _HALVINGS)


def _margin(logits, y, t):
    """What the attack lowers: negative once it succeeds."""
    if t is None:
        other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), -float("inf")).amax(1)
        return logits.gather(1, y[:, None]).squeeze(1) - other
    other = logits.masked_fill(F.one_hot(t, logits.shape[1]).bool(), -float("inf")).amax(1)
    return other - logits.gather(1, t[:, None]).squeeze(1)


class Square(Attack):
    """Square Attack, L-inf (Andriushchenko et al., ECCV 2020).

    Args: ``eps``; ``n_queries`` (the budget per example, the initialisation included; 1000 by
    default, 10,000 in the paper); ``p_init`` (0.8, the initial fraction of pixels in a square),
    plus the base's ``targeted``/``target_mode`` and ``seed`` (every random draw comes from the
    call's seeded generator).
    """

    name = "square"
    norm = "linf"
    uses_objective = False

    def __init__(self, eps: float, n_queries: int = 1000, p_init: float = 0.8, **kw):
        super().__init__(eps=eps, **kw)
        if isinstance(n_queries, bool) or not isinstance(n_queries, int) or n_queries < 1:
            raise ValueError(f"n_queries: must be an integer >= 1, got {n_queries!r}")
        if not (isinstance(p_init, (int, float)) and 0 < p_init <= 1):
            raise ValueError(f"p_init: must be in (0, 1], got {p_init!r}")
        self.n_queries = n_queries
        self.p_init = float(p_init)

    def settings(self):
        s = super().settings()
        s.update(n_queries=self.n_queries, p_init=self.p_init)
        return s

    def _signs(self, shape, gen, like):
        """+-1 of `shape` per example of `gen` (shape without the batch dimension)."""
        r = gen.randint(0, 2, *shape).to(like.device)
        return (2 * r - 1).to(like.dtype)

    def perturb(self, model, x, y, target, gen):
        if x.dim() != 4:
            raise ValueError(f"x: Square needs images (B, C, H, W), got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        eps = self.eps
        with torch.no_grad():
            if eps == 0:
                return x.clone()
            # Vertical stripes: one sign per (example, channel, column), the same down the rows.
            x_best = (x + eps * self._signs((c, 1, w), gen, x)).clamp(0, 1)
            margin = _margin(model(x_best), y, target)
            clean = _margin(model(x), y, target)
            # Already fooled at x: x itself is the answer (and costs no more queries).
            x_best = torch.where((clean <= 0).view(-1, 1, 1, 1), x, x_best)
            margin = torch.where(clean <= 0, clean, margin)
            rows = torch.arange(h, device=x.device)
            cols = torch.arange(w, device=x.device)
            for i in range(1, self.n_queries):
                idx = (margin > 0).nonzero().squeeze(1)  # still robust
                if idx.numel() == 0:
                    break
                p = square_p(self.p_init, i, self.n_queries)
                # Side of the square, at most one pixel short of the image (as the paper's code).
                s = min(max(int(round(math.sqrt(p * h * w))), 1), max(min(h, w) - 1, 1))
                xi, xb = x[idx], x_best[idx]
                # One window position per example (the paper draws per image). Each query
                # starts at a draw number of its own: the redraws below vary with the batch.
                g = gen.seek(1 + i * _DRAWS_PER_QUERY)[idx]
                r0 = g.randint(0, h - s + 1).to(x.device)
                c0 = g.randint(0, w - s + 1).to(x.device)
                win = (((rows[None] >= r0[:, None]) & (rows[None] < r0[:, None] + s))[:, :, None]
                       & ((cols[None] >= c0[:, None]) & (cols[None] < c0[:, None] + s))[:, None, :])
                win = win[:, None]  # (n, 1, h, w), the same window in every channel
                signs = self._signs((c, 1, 1), g, x)
                cand = torch.where(win, (xi + eps * signs).clamp(0, 1), xb)
                # A candidate equal to the current point wastes a query: redraw its signs (the
                # paper's implementation does the same). x + eps and x - eps differ after
                # clamping unless eps is below float resolution, hence the cap on redraws.
                same = (cand == xb).flatten(1).all(1)
                for _ in range(_REDRAWS):
                    if not bool(same.any()):
                        break
                    signs = torch.where(same.view(-1, 1, 1, 1),
                                        self._signs((c, 1, 1), g, x), signs)
                    cand = torch.where(win, (xi + eps * signs).clamp(0, 1), xb)
                    same = (cand == xb).flatten(1).all(1)
                m_new = _margin(model(cand), y[idx], target[idx] if target is not None else None)
                better = m_new < margin[idx]
                x_best[idx[better]] = cand[better]
                margin[idx[better]] = m_new[better]
        return x_best
