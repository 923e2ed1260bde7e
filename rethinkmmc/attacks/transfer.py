"""Black-box transfer: adversarials crafted on one model, classified by another.

Pang et al., "Rethinking Softmax Cross-Entropy Loss for Adversarial Robustness" (ICLR 2020),
Sec. 5.2 evaluate black-box transfer attacks: examples crafted with white-box attacks on one of
the SCE, MMC and adversarially trained models, then fed to another (after Papernot et al.,
"Practical Black-Box Attacks against Machine Learning", AsiaCCS 2017). ``craft`` makes the
examples; ``rethinkmmc.suites.transfer_table`` crafts once per source, classifies with every
target (its diagonal is the white-box accuracy) and stores the per-example results.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import Attack

__all__ = ["craft"]


def craft(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
          batch_size: int = 500) -> torch.Tensor:
    """attack(model, ., .) on every point of (x, y), batch by batch (all points, not only the
    clean-correct ones: a point the source misclassifies is still a point sent to the target)."""
    return torch.cat([attack(model, x[i:i + batch_size], y[i:i + batch_size],
                             ids=torch.arange(i, min(i + batch_size, len(y))))
                      for i in range(0, len(y), batch_size)]) if len(y) else x.clone()
