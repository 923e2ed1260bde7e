"""The attack suites of the report: which attacks a claim notebook runs, built from a
profile's settings, and one call that runs a suite over several runs into one DataFrame.

- :func:`paper_whitebox`: the paper's white-box attacks (Pang et al. 2020, Sec. 5.1, after
  cleverhans): FGSM, BIM, PGD (10 and 50 steps), MIM, untargeted and targeted with a random
  target, under a given objective. The non-adaptive objective is cross-entropy on the logits;
  the adaptive one (the original's -sum(logits * onehot)) is ``adaptive`` for models with
  centers and the C&W margin for softmax models.
- :func:`strongest`: APGD with CE and DLR losses (Croce & Hein, ICML 2020), the white-box half
  of AutoAttack, run beside the above so that the per-example worst case includes them.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd

from .attacks import APGD, BIM, FGSM, MIM, PGD, Attack
from .evaluate import evaluate

__all__ = ["adaptive_objective", "paper_whitebox", "strongest", "attack_table"]


def adaptive_objective(run_or_model) -> str:
    """The adaptive objective for a model: ``adaptive`` (push z away from mu_y) where logits
    are minus squared distances to centers (MMC, MM-LDA, L-GM), else the C&W margin."""
    loss = getattr(getattr(run_or_model, "config", None), "loss", None)
    if loss is not None:
        return "adaptive" if loss in ("mmc", "mmlda", "lgm") else "cw"
    model = getattr(run_or_model, "model", run_or_model)
    return "adaptive" if getattr(model, "centers", None) is not None else "cw"


def paper_whitebox(eps: float, objective: str, steps: Sequence[int] = (10, 50),
                   targeted: bool = True, seed: int = 0) -> list[Attack]:
    """FGSM, BIM-10, MIM-10, PGD at each of `steps` (random start), and targeted PGD-10 with a
    random target (the original's targeted setting), all at `eps` under `objective`. Step
    size 2.5 * eps / steps (Madry et al. 2018; the original's 2/256 at 8/256 and 10 steps)."""
    out: list[Attack] = [FGSM(eps, objective=objective, seed=seed),
                         BIM(eps, steps=10, step_size=2.5 * eps / 10, objective=objective,
                             seed=seed),
                         MIM(eps, steps=10, step_size=2.5 * eps / 10, objective=objective,
                             seed=seed)]
    out += [PGD(eps, steps=s, step_size=2.5 * eps / s, objective=objective, seed=seed)
            for s in steps]
    if targeted:
        out.append(PGD(eps, steps=10, step_size=2.5 * eps / 10, objective=objective,
                       targeted=True, seed=seed))
    return out


def strongest(eps: float, steps: int = 50, seed: int = 0) -> list[Attack]:
    """APGD-CE and APGD-DLR (Croce & Hein 2020) at `eps`."""
    return [APGD(eps, steps=steps, objective="ce", seed=seed),
            APGD(eps, steps=steps, objective="dlr", seed=seed)]


def attack_table(runs: Mapping[str, object], attacks_for: Callable[[object], list[Attack]],
                 n: int | None = None, seed: int = 0, progress: bool | None = None,
                 worst: bool = True, data=None) -> pd.DataFrame:
    """`evaluate` every run with its own attack list (``attacks_for(run)``), on the same
    seeded points, into one DataFrame with a ``run`` column (the display name) first.
    Stored results are read, not recomputed."""
    frames = []
    for name, run in runs.items():
        df = evaluate(run, attacks_for(run), data=data, n=n, seed=seed, progress=progress,
                      worst=worst)
        df.insert(0, "run", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
