"""Black-box transfer: adversarials crafted on one model, classified by another.

Pang et al., "Rethinking Softmax Cross-Entropy Loss for Adversarial Robustness" (ICLR 2020),
Sec. 5.2 evaluate black-box transfer attacks: examples crafted with white-box attacks on one of
the SCE, MMC and adversarially trained models, then fed to another (after Papernot et al.,
"Practical Black-Box Attacks against Machine Learning", AsiaCCS 2017). ``transfer`` does one
(source, target) pair; ``transfer_matrix`` crafts once per source and classifies with every
target, so its diagonal is the white-box accuracy.

A transfer attack that beats the target's own white-box attack is a sign of gradient masking in
the target (Athalye, Carlini & Wagner, ICML 2018): ``transfer_results`` turns a matrix into the
rows ``rethinkmmc.checks.check_attack_ordering`` reads.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd
import torch
import torch.nn as nn

from .base import Attack

__all__ = ["transfer", "transfer_matrix", "transfer_results", "craft"]


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Accuracy in eval mode; the model's mode is restored, as the attacks' base call does."""
    if len(y) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ok = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                     for i in range(0, len(y), batch_size))
    finally:
        model.train(was_training)
    return ok / len(y)


def craft(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
          batch_size: int = 500) -> torch.Tensor:
    """attack(model, ., .) on every point of (x, y), batch by batch (all points, not only the
    clean-correct ones: a point the source misclassifies is still a point sent to the target)."""
    return torch.cat([attack(model, x[i:i + batch_size], y[i:i + batch_size])
                      for i in range(0, len(y), batch_size)]) if len(y) else x.clone()


def transfer(attack: Attack, source_model: nn.Module, target_model: nn.Module, x: torch.Tensor,
             y: torch.Tensor, batch_size: int = 500) -> dict:
    """Craft adversarials of (x, y) on `source_model` with `attack`; classify them with
    `target_model` (Pang et al. 2020, Sec. 5.2).

    Returns ``source_accuracy`` (the source on its own adversarials: the white-box result),
    ``target_accuracy`` (the target on them: the transfer result), ``source_clean_accuracy``,
    ``target_clean_accuracy`` and ``n``. Accuracies are fractions of all n points, true labels.
    """
    x_adv = craft(attack, source_model, x, y, batch_size)
    return {"source_accuracy": _accuracy(source_model, x_adv, y, batch_size),
            "target_accuracy": _accuracy(target_model, x_adv, y, batch_size),
            "source_clean_accuracy": _accuracy(source_model, x, y, batch_size),
            "target_clean_accuracy": _accuracy(target_model, x, y, batch_size),
            "n": len(y)}


def transfer_matrix(attack: Attack, models: Mapping[str, nn.Module], x: torch.Tensor,
                    y: torch.Tensor, batch_size: int = 500) -> pd.DataFrame:
    """Target accuracy on each source's adversarials: rows are sources, columns targets (in the
    order of `models`), so the diagonal is each model's white-box accuracy under `attack` and
    the off-diagonal entries are black-box transfer (Pang et al. 2020, Sec. 5.2). Each source's
    adversarials are crafted once and shared by all targets.
    """
    if not models:
        raise ValueError("models: need at least one model")
    names = list(models)
    table = {}
    for src in names:
        x_adv = craft(attack, models[src], x, y, batch_size)
        table[src] = [_accuracy(models[tgt], x_adv, y, batch_size) for tgt in names]
    df = pd.DataFrame.from_dict(table, orient="index", columns=names)
    df.index.name, df.columns.name = "source", "target"
    return df


def transfer_results(matrix: pd.DataFrame, attack: Attack) -> pd.DataFrame:
    """A ``transfer_matrix`` as one row per (source, target) with the columns that
    ``rethinkmmc.checks.check_attack_ordering`` reads: model (the target), attack ("<name>" on
    the diagonal, "<name> from <source>" elsewhere), kind ("white-box" or "transfer"), norm,
    eps, steps, source and robust_accuracy."""
    s = attack.settings()
    rows = []
    for src in matrix.index:
        for tgt in matrix.columns:
            own = src == tgt
            rows.append({"model": tgt, "attack": attack.name if own else f"{attack.name} from {src}",
                         "kind": "white-box" if own else "transfer", "norm": attack.norm,
                         "eps": s.get("eps", 0.0), "steps": s.get("steps", 0), "source": src,
                         "robust_accuracy": float(matrix.loc[src, tgt])})
    return pd.DataFrame(rows)
