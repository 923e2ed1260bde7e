"""Attacks in [0, 1] pixel space: ``attack(model, x, y) -> x_adv`` (see base.py)."""
from .base import Attack, draw_targets
from .corruptions import GaussianNoise, Rotation, rotate
from .linf import BIM, FGSM, MIM, PGD, pgd_linf
from .transfer import craft, transfer, transfer_matrix, transfer_results
from .objectives import OBJECTIVES, objective
from .registry import ATTACKS, make_attack, register

__all__ = ["Attack", "draw_targets", "GaussianNoise", "Rotation", "rotate", "craft", "transfer",
           "transfer_matrix", "transfer_results", "FGSM", "BIM", "PGD", "MIM", "pgd_linf", "OBJECTIVES",
           "objective", "ATTACKS", "make_attack", "register"]
