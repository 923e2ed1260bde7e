"""Signs of gradient masking in a model or in a table of attack results.

A defence that only hides its gradients looks robust to gradient attacks and is not (Athalye,
Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018). Carlini et
al., "On Evaluating Adversarial Robustness" (arXiv:1902.06705, 2019) list what to look for, and
AutoAttack (Croce & Hein, ICML 2020) runs a few of these checks before every evaluation. This is
a concern for this report in particular: MMC logits are -||z - mu||^2, large and far apart, so
the softmax of the stock cross-entropy attack saturates and its input gradient is often exactly
zero in float32, which is why Pang et al. (ICLR 2020, Sec. 5) also run adaptive attacks.

Each check returns a list of warning strings, each naming what was seen (empty when nothing
was), and issues each as a ``GradientMaskingWarning`` (a ``UserWarning``) unless ``warn=False``.

- ``check_zero_gradients``: examples whose input gradient of an attack objective vanishes (or is
  not finite): a gradient attack cannot move them.
- ``check_probabilities``: a model that outputs probabilities, not logits: attacks would take a
  softmax of a softmax, whose gradient is nearly flat.
- ``check_attack_ordering``: a results table where a black-box or transfer attack beats the best
  white-box attack at the same eps, where more steps or a larger eps gives higher robust accuracy,
  or where an unbounded (L-inf eps >= 1) white-box attack leaves robust points.
- ``run_checks``: all of them.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import pandas as pd
import torch
import torch.nn as nn

from .attacks.objectives import objective as make_objective
from .torchutil import eval_mode

__all__ = ["GradientMaskingWarning", "check_zero_gradients", "check_probabilities",
           "check_attack_ordering", "run_checks", "KINDS"]

KINDS = ("white-box", "black-box", "transfer", "corruption")


class GradientMaskingWarning(UserWarning):
    """A sign that robust accuracy may be overestimated because gradients are masked."""


def _emit(messages: list[str], warn: bool) -> list[str]:
    if warn:
        for m in messages:
            warnings.warn(m, GradientMaskingWarning, stacklevel=3)
    return messages


def _pct(k: int, n: int) -> str:
    return f"{k} of {n} examples ({100 * k / n:.1f}%)"


def check_zero_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         objective: str = "ce", atol: float = 1e-12, batch_size: int = 500,
                         warn: bool = True) -> list[str]:
    """Warn if, for any example, the input gradient of the attack `objective` (see
    ``rethinkmmc.attacks.objectives``) is exactly zero or below `atol` everywhere, or not finite.

    AutoAttack's ``check_zero_gradients`` (Croce & Hein 2020); Athalye et al. (2018) on shattered
    gradients (a step, rounding or a detach inside the model). A saturated softmax gives the same
    sign: with MMC models the 'ce' objective's gradient is often exactly zero, the 'adaptive' one
    is not.
    """
    f = make_objective(objective)
    n = len(y)
    if n == 0:
        return []
    zero = exact = nonfinite = 0
    with eval_mode(model), torch.enable_grad():
        for i in range(0, n, batch_size):
            xb = x[i:i + batch_size].detach().clone().requires_grad_(True)
            out = f(model, xb, y[i:i + batch_size], None)
            if out.requires_grad:
                (g,) = torch.autograd.grad(out.sum(), xb, allow_unused=True)
            else:
                g = None  # the graph never reaches x: a detach or a non-differentiable op
            if g is None:
                g = torch.zeros_like(xb)
            g = g.flatten(1)
            bad = ~torch.isfinite(g).all(1) | ~torch.isfinite(out.detach())
            mag = g.abs().nan_to_num(0.0, 0.0, 0.0).amax(1)
            nonfinite += int(bad.sum())
            zero += int(((mag < atol) & ~bad).sum())
            exact += int(((mag == 0) & ~bad).sum())
    msgs = []
    if zero:
        msgs.append(
            f"zero gradients: the input gradient of the {objective!r} objective is zero "
            f"(every |component| < {atol:g}; exactly 0 for {exact}) for {_pct(zero, n)}: a "
            f"gradient attack cannot move them, so its robust accuracy overstates robustness "
            f"(a saturated softmax, a step/rounding op or a detach in the model; Athalye et al. "
            f"2018). Attack an objective that does not saturate (cw, dlr; for center-based "
            f"models adaptive or mmc_margin) or use a gradient-free attack.")
    if nonfinite:
        msgs.append(
            f"non-finite gradients: the input gradient of the {objective!r} objective (or the "
            f"objective itself) is NaN or infinite for {_pct(nonfinite, n)}: gradient attacks "
            f"on them are meaningless (Carlini et al. 2019).")
    return _emit(msgs, warn)


def check_probabilities(model: nn.Module, x: torch.Tensor, atol: float = 1e-4,
                        batch_size: int = 500, warn: bool = True) -> list[str]:
    """Warn if the model's outputs look like probabilities (every entry in [0, 1], every row
    summing to 1 within `atol`) rather than logits.

    Attacks here take the outputs as logits; a softmax on top of probabilities is nearly flat and
    hides the gradient (AutoAttack's ``check_range_output``; Carlini & Wagner, S&P 2017, on
    attacking the logits, not the softmax).
    """
    if len(x) == 0:
        return []
    with eval_mode(model), torch.no_grad():
        out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    out = out.double()
    if out.dim() != 2 or out.shape[1] < 2 or not torch.isfinite(out).all():
        return []
    in_range = bool(((out >= -atol) & (out <= 1 + atol)).all())
    dev = (out.sum(1) - 1).abs().max().item()
    msgs = []
    if in_range and dev <= atol:
        msgs.append(
            f"probability outputs: all {out.shape[0]} output rows lie in [0, 1] and sum to 1 "
            f"(largest deviation {dev:.1e}): the model seems to return softmax probabilities, "
            f"not logits, so attacks take a softmax of a softmax whose gradient is nearly flat. "
            f"Attack the pre-softmax logits (Carlini & Wagner 2017; AutoAttack).")
    return _emit(msgs, warn)


# Columns that, where present, tell rows apart beyond attack/eps/steps: results of different
# models, norms, objectives or targeted-ness are never compared with each other.
_CONTEXT = ("model", "norm")
_SAME_ATTACK = ("model", "norm", "objective", "targeted")


def _fmt_acc(v: float, percent: bool) -> str:
    return f"{v:.1f}%" if percent else f"{100 * v:.1f}%"


def _where(row_key: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in row_key.items())


def check_attack_ordering(results: pd.DataFrame, tolerance: float = 1.0,
                          percent: bool | None = None, warn: bool = True) -> list[str]:
    """Warn where a results table contradicts the order attacks must keep on an honest model.

    `results` has one row per attack run with columns ``attack``, ``kind`` (one of "white-box",
    "black-box", "transfer", "corruption"), ``eps``, ``steps`` and ``robust_accuracy``; optional
    ``model``, ``norm``, ``objective`` and ``targeted`` keep unlike rows apart. `tolerance` is in
    percentage points; robust accuracy may be a fraction (as ``evaluate`` writes it) or a
    percentage (``percent=None`` guesses: a percentage if any value exceeds 1).

    Signs of gradient masking (Athalye et al. 2018; Carlini et al. 2019, Sec. 5; AutoAttack's
    check that Square, a black-box attack, does not beat the white-box ones):

    - a black-box or transfer attack gets lower robust accuracy than the best white-box attack
      at the same eps (same model and norm) by more than `tolerance`;
    - for the same attack and eps, robust accuracy rises with more steps;
    - for the same attack and steps, robust accuracy rises with a larger eps;
    - an L-inf white-box attack with eps >= 1 (the whole [0, 1] cube: unbounded) leaves more than
      `tolerance` robust accuracy.
    """
    need = ["attack", "kind", "eps", "steps", "robust_accuracy"]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise ValueError(f"results: missing column(s) {', '.join(missing)} "
                         f"(have: {', '.join(map(str, results.columns))})")
    unknown = sorted(set(results["kind"].dropna()) - set(KINDS))
    if unknown:
        raise ValueError(f"results: unknown kind(s) {', '.join(map(str, unknown))} "
                         f"(allowed: {', '.join(KINDS)})")
    df = results.copy()
    df["eps"] = pd.to_numeric(df["eps"], errors="coerce").astype(float)
    df["steps"] = pd.to_numeric(df["steps"], errors="coerce").astype(float)
    df["robust_accuracy"] = pd.to_numeric(df["robust_accuracy"], errors="coerce").astype(float)
    df = df[df["robust_accuracy"].notna()]
    if df.empty:
        return _emit([], warn)
    if percent is None:
        percent = bool(df["robust_accuracy"].max() > 1)
    tol = tolerance if percent else tolerance / 100
    # eps written two ways (8/255 computed twice) must still meet: compare on a rounded copy
    df["_eps"] = df["eps"].round(9)
    ctx = [c for c in _CONTEXT if c in df.columns]
    same = [c for c in _SAME_ATTACK if c in df.columns]
    for c in set(ctx) | set(same):
        df[c] = df[c].astype(str)  # NaN/None in an optional column groups as one value
    msgs: list[str] = []

    # 1. black-box / transfer vs the best white-box at the same eps
    for key, g in df[df["_eps"].notna()].groupby(ctx + ["_eps"], sort=True):
        wb = g[g["kind"] == "white-box"]
        if wb.empty:
            continue
        best = wb.loc[wb["robust_accuracy"].idxmin()]
        where = _where(dict(zip(ctx, key[:-1])))
        for _, r in g[g["kind"].isin(["black-box", "transfer"])].iterrows():
            if r["robust_accuracy"] < best["robust_accuracy"] - tol:
                msgs.append(
                    f"{r['kind']} beats white-box: {r['attack']} ({r['kind']}) at eps "
                    f"{r['eps']:g}{' (' + where + ')' if where else ''} gets robust accuracy "
                    f"{_fmt_acc(r['robust_accuracy'], percent)}, below the best white-box attack "
                    f"{best['attack']} at {_fmt_acc(best['robust_accuracy'], percent)} (tolerance "
                    f"{tolerance:g} points): the white-box gradients are likely masked (Athalye et "
                    f"al. 2018; Carlini et al. 2019).")

    # 2. and 3. robust accuracy must not rise with more steps, nor with a larger eps
    def _monotone(by: str, over: str, what: str):
        sub = df[df[by].notna() & df[over].notna()]
        for key, g in sub.groupby(["attack"] + same + [by], sort=True):
            # several rows at one level (other step sizes, restarts): the best one stands for it
            levels = g.groupby(over)["robust_accuracy"].min().sort_index()
            if len(levels) < 2:
                continue
            best_lv, best_acc = levels.index[0], levels.iloc[0]
            for lv, acc in list(levels.items())[1:]:
                if acc > best_acc + tol:
                    where = _where(dict(zip(same, key[1:-1])))
                    fixed = (f"eps {g['eps'].iloc[0]:g}" if by == "_eps"
                             else f"{g['steps'].iloc[0]:g} steps")
                    msgs.append(
                        f"robust accuracy rises with {what}: {key[0]} at {fixed}"
                        f"{' (' + where + ')' if where else ''} gets "
                        f"{_fmt_acc(acc, percent)} at {over.strip('_')} {lv:g} but "
                        f"{_fmt_acc(best_acc, percent)} at {over.strip('_')} {best_lv:g} "
                        f"(tolerance {tolerance:g} points): a stronger attack should never do "
                        f"worse; a sign of masked or noisy gradients (Carlini et al. 2019).")
                if acc < best_acc:
                    best_lv, best_acc = lv, acc

    _monotone("_eps", "steps", "more steps")
    _monotone("steps", "_eps", "a larger eps")

    # 4. unbounded L-inf white-box attacks must reach (near) zero robust accuracy
    linf = df["norm"].eq("linf") if "norm" in df.columns else pd.Series(True, index=df.index)
    unb = df[(df["kind"] == "white-box") & linf & (df["eps"] >= 1 - 1e-9)]
    for _, r in unb.iterrows():
        if r["robust_accuracy"] > tol:
            msgs.append(
                f"unbounded attack fails: {r['attack']} at L-inf eps {r['eps']:g} (any image "
                f"in [0, 1] reachable) leaves robust accuracy "
                f"{_fmt_acc(r['robust_accuracy'], percent)} where it should be 0: the attack "
                f"is not reaching the model's decision (Carlini et al. 2019, Sec. 5).")
    return _emit(msgs, warn)


def run_checks(model: nn.Module | None = None, x: torch.Tensor | None = None,
               y: torch.Tensor | None = None, results: pd.DataFrame | None = None,
               objectives: str | Sequence[str] = ("ce",), tolerance: float = 1.0,
               warn: bool = True) -> list[str]:
    """All checks that the arguments allow: the probability-output check (model and x), the
    zero-gradient check per objective (model, x and y), the attack-ordering check (results).
    Returns every warning string, in that order (Athalye et al. 2018; Carlini et al. 2019)."""
    msgs: list[str] = []
    if model is not None and x is not None:
        msgs += check_probabilities(model, x, warn=warn)
        if y is not None:
            objs: Iterable[str] = [objectives] if isinstance(objectives, str) else objectives
            for obj in objs:
                msgs += check_zero_gradients(model, x, y, objective=obj, warn=warn)
    if results is not None:
        msgs += check_attack_ordering(results, tolerance=tolerance, warn=warn)
    return msgs
