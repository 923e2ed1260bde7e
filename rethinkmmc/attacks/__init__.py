"""Attacks in [0, 1] pixel space: ``attack(model, x, y) -> x_adv`` (see base.py)."""
from .apgd import APGD, APGDT, apgd_checkpoints
from .base import Attack, draw_targets
from .corruptions import GaussianNoise, Rotation, rotate
from .l2 import CW, EAD, l2_stats
from .linf import BIM, FGSM, MIM, PGD, pgd_linf
from .spsa import SPSA
from .transfer import craft
from .objectives import OBJECTIVES, objective
from .square import Square, square_p
from .registry import ATTACKS, make_attack

__all__ = ["Attack", "draw_targets", "CW", "EAD", "l2_stats", "SPSA", "APGD", "APGDT", "apgd_checkpoints", "Square", "square_p", "GaussianNoise", "Rotation", "rotate", "craft",
           "FGSM", "BIM", "PGD", "MIM", "pgd_linf", "OBJECTIVES",
           "objective", "ATTACKS", "make_attack"]
