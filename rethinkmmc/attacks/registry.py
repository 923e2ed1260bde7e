"""Attacks by name, for the CLI and the notebooks' attack tables."""
from __future__ import annotations

import inspect

from .base import Attack
from .apgd import APGD, APGDT
from .corruptions import GaussianNoise, Rotation
from .l2 import CW, EAD
from .linf import BIM, FGSM, MIM, PGD
from .spsa import SPSA
from .square import Square

ATTACKS: dict[str, type[Attack]] = {c.name: c for c in (FGSM, BIM, PGD, MIM, APGD, APGDT, Square,
                                                         CW, EAD, SPSA, GaussianNoise, Rotation)}


def make_attack(name: str, **kwargs) -> Attack:
    """The attack `name` with `kwargs`; an argument the attack does not take is an error that
    names it (objective for a gradient-free attack, steps for FGSM, ...)."""
    if name not in ATTACKS:
        raise ValueError(f"attack: unknown {name!r} (allowed: {', '.join(sorted(ATTACKS))})")
    cls = ATTACKS[name]
    allowed = set()
    for klass in cls.__mro__:  # a class's own arguments, and its parent's while it passes **kw on
        if klass is object or "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        allowed |= {k for k, p in params.items() if k != "self" and p.kind != p.VAR_KEYWORD}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    if not cls.uses_objective:
        allowed.discard("objective")
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise ValueError(f"{bad[0]}: not an argument of attack {name!r} "
                         f"(it takes: {', '.join(sorted(allowed))})")
    return cls(**kwargs)
