"""Argument checks shared by configs and attacks; each error names its field."""
from __future__ import annotations

import math
from typing import Any

__all__ = ["int_at_least", "positive"]


def int_at_least(field: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{field}: must be an integer >= {low}, got {value!r}")
    return int(value)


def positive(field: str, value: Any, allow_zero: bool = False) -> float:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        raise ValueError(f"{field}: must be a finite number {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}")
    return float(value)
