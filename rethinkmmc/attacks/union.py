"""Several attacks as one: the per-example union of their successes.

A point counts as robust only if every attack leaves it correctly classified (the per-example
worst case of Carlini et al., "On Evaluating Adversarial Robustness", 2019, Sec. 5); each attack
runs only on the points the earlier ones left robust, as in AutoAttack's cascade (Croce & Hein,
ICML 2020). Claim 1's cascade ends with one such stage holding the paper's attacks and SPSA, so
that its worst case is also the union with them.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .base import Attack

__all__ = ["AnyOf"]


class AnyOf(Attack):
    """``attacks`` in turn, each on the points still correctly classified; returns for each
    point the first adversarial that misclassifies it, else x. Each attack keys its random
    streams by the points' own indices, so the union does not depend on the batch either."""

    name = "any_of"
    uses_objective = False

    def __init__(self, attacks: Sequence[Attack], label: str = ""):
        attacks = list(attacks)
        if not attacks or not all(isinstance(a, Attack) for a in attacks):
            raise ValueError("attacks: a non-empty list of attacks")
        norms = {a.norm for a in attacks}
        if len(norms) > 1:
            raise ValueError(f"attacks: one norm for a union, got {sorted(norms)}")
        self.norm = norms.pop()
        super().__init__(eps=max(a.eps for a in attacks), seed=0)
        self.attacks, self.label = attacks, label

    def settings(self):
        return {"attack": self.name, "norm": self.norm, "eps": self.eps,
                "attacks": [a.settings() for a in self.attacks]}

    def perturb(self, model, x, y, target, gen):
        x_adv = x.clone()
        with torch.no_grad():
            robust = model(x).argmax(1) == y
        for attack in self.attacks:
            idx = robust.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa = attack(model, x[idx], y[idx], ids=gen.ids[idx])
            with torch.no_grad():
                fooled = model(xa).argmax(1) != y[idx]
            x_adv[idx[fooled]] = xa[fooled]
            robust[idx[fooled]] = False
        return x_adv

    def __repr__(self) -> str:
        return f"AnyOf({self.label or len(self.attacks)})"
