"""Attacks in [0, 1] pixel space: ``attack(model, x, y) -> x_adv`` (see base.py)."""
from .base import Attack, draw_targets
from .linf import BIM, FGSM, MIM, PGD, pgd_linf
from .objectives import OBJECTIVES, objective
from .registry import ATTACKS, make_attack, register

__all__ = ["Attack", "draw_targets", "FGSM", "BIM", "PGD", "MIM", "pgd_linf", "OBJECTIVES",
           "objective", "ATTACKS", "make_attack", "register"]
