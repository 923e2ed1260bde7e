"""Robust accuracy tables, the per-example worst case, and their store beside the run.

``evaluate(run_or_model, attacks, data)`` returns a pandas DataFrame, one row per attack (plus
one worst-case row per norm and eps when several attacks share them), with clean and robust
accuracy and a 95% Wilson interval. Per-example robust flags are kept, as AutoAttack does
(Croce & Hein, ICML 2020): the worst case is an example robust to every attack of its group.
``worst_case(...)`` is AutoAttack's cheaper scheme, each further attack run only on the points
still robust.

Results of a Run are stored in ``<run>/evaluations/<key>.json``, keyed by the attack's settings,
the points (n, subset seed), the model's key and EVAL_VERSION, and written after every batch:
a notebook re-rendered later (or on a CPU, from runs trained on a GPU) reads them instead of
attacking again, and a killed evaluation resumes at its next batch.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
import torch.nn as nn

from .attacks.base import Attack
from .stats import wilson
from .data import stratified_subset
from .runs import Run, atomic_write_json
from .speed import Speed, attack_speed, attacker_and_judge
from .torchutil import default_device, eval_mode, predict

__all__ = ["evaluate", "points", "worst_case", "eps_label", "wilson", "wilson_rate",
           "select_points", "EVAL_VERSION", "attack_flags", "points_checksum", "flag_string",
           "missing_records", "clean_flags"]

# Bump when a change to an attack or to this module changes stored results. 2: per-example
# random streams (attacks/streams.py), so that results no longer depend on the batch size.
# 3: random targets from a draw number of their own (streams.TARGET_DRAW), so that a target
# drawn by evaluate and one drawn inside the call agree, and the random start is apart from it.
EVAL_VERSION = "3"


def eps_label(eps: float) -> str:
    """'8/255', '8/256' or a decimal: every table names the epsilon's denominator."""
    if eps == 0:
        return "0"
    for den in (255, 256):
        k = eps * den
        if abs(k - round(k)) < 1e-6:
            return f"{round(k)}/{den}"
    f = Fraction(eps).limit_denominator(1000)
    return f"{f.numerator}/{f.denominator}" if abs(float(f) - eps) < 1e-9 else f"{eps:.4g}"


def wilson_rate(rate: float, n: int) -> tuple[float, float]:
    """:func:`wilson` of a proportion stored as a rate over `n` (a run's test accuracy, a
    share of points): the count is ``round(rate * n)``."""
    return wilson(round(rate * n), n)


def select_points(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int = 0,
                  how: str = "stratified") -> tuple[torch.Tensor, torch.Tensor]:
    """n test points: a seeded class-stratified subset, or the first n (the original's choice)."""
    if n is None or n >= len(y):
        return x, y
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    if how == "first":
        return x[:n], y[:n]
    if how != "stratified":
        raise ValueError(f"how: unknown {how!r} (allowed: stratified, first)")
    idx = stratified_subset(y, n, seed)
    return x[idx], y[idx]


def _store_path(run: Run | None, store_dir: Path | None, key: str) -> Path | None:
    if store_dir is not None:
        return Path(store_dir) / f"{key}.json"
    if run is not None:
        return run.path / "evaluations" / f"{key}.json"
    return None


def record_name(prefix: str, ident: dict) -> str:
    """The file stem of a stored record: `prefix` and a hash of its identity. The store's one
    naming rule, for attack evaluations (``pgd-<hash>``) and transfer records
    (``transfer-pgd-<hash>``, suites.transfer_table) alike."""
    blob = json.dumps(ident, sort_keys=True, default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def record_path(run_path: str | Path, prefix: str, ident: dict) -> Path:
    """Where a run's stored record with this identity lives: ``<run>/evaluations/``."""
    return Path(run_path) / "evaluations" / f"{record_name(prefix, ident)}.json"


def as_stored(ident: dict) -> dict:
    """An identity as it reads back from its JSON file (tuples as lists, others as str)."""
    return json.loads(json.dumps(ident, default=str))


def read_record(path: Path, ident: dict) -> dict | None:
    """The record stored at `path` if it exists and has this identity, else None (another
    evaluation's file, or an older version: not ours to use). Attack records are further
    checked by their own reader (lengths, completeness, checksum)."""
    want = as_stored(ident)
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) and rec.get("ident") == want else None


def _key(attack: Attack, model_id: str, points: dict,
         after: Sequence[str] = (), trunk: str | None = None) -> tuple[str, dict]:
    """A record's name and identity. In a cascade, `after` names the records of the earlier
    stages, whose survivors alone this stage attacks (a first stage has none, so it shares
    the record of the same attack run on its own). `trunk` 'bf16': the attack ran on a bf16
    trunk, which finds other adversarials than fp32 does, so its records are its own (fp32
    records, whatever their memory layout, keep the identity they always had)."""
    ident = {"attack": attack.settings(), "points": points, "model": model_id,
             "version": EVAL_VERSION}
    if trunk:
        ident["trunk"] = trunk
    if after:
        ident["after"] = list(after)
    return record_name(attack.name, ident), ident


def _stage_keys(attacks: Sequence[Attack], model_id: str, x: torch.Tensor, y: torch.Tensor,
                seed: int, how: str, cascade: bool, trunk: str | None):
    """(attack, record name, identity) for each attack run on the points (x, y): the one
    place that says what a record's identity holds, shared by :func:`evaluate` and
    :func:`missing_records` so the two can never disagree on what is stored."""
    points = {"n": len(y), "seed": seed, "how": how, "checksum": points_checksum(x, y)}
    earlier: list[str] = []
    for attack in attacks:
        key, ident = _key(attack, model_id, points, tuple(earlier) if cascade else (), trunk)
        yield attack, key, ident
        earlier.append(key)


def attack_flags(model: nn.Module, attack: Attack, x: torch.Tensor, y: torch.Tensor,
                 clean_ok: torch.Tensor, batch_size: int = 500, path: Path | None = None,
                 ident: dict | None = None, progress=None, judge: nn.Module | None = None) -> dict:
    """Run `attack` on the clean-correct points of (x, y), batch by batch, resuming from and
    saving to `path` after every batch; `judge` (default `model`) classifies the adversarials.
    Returns a record with per-example flags (1 = still correct on the true label), target hits
    for targeted attacks, L2/L1 sizes, seconds."""
    rec = None
    n = len(y)
    if path is not None and path.exists():
        rec = _stored_record(path, json.loads(json.dumps(ident, default=str)), n)
    if rec is None:
        rec = {"ident": ident, "n": n, "done": 0, "robust": [], "target_hit": [], "dist": [],
               "seconds": 0.0, "complete": False}
    todo = range(rec["done"], n, batch_size)
    # no bar for a record read whole from the store: a rendered report would show one empty
    # "0it" bar per stored stage
    for start in (progress(todo) if progress and len(todo) else todo):
        t0 = time.perf_counter()
        xb, yb, ok = x[start:start + batch_size], y[start:start + batch_size], clean_ok[start:start + batch_size]
        robust = torch.zeros(len(yb), dtype=torch.bool, device=yb.device)
        hit = torch.zeros_like(robust)
        dist = torch.full((len(yb),), float("nan"), device=yb.device)
        idx = ok.nonzero().squeeze(1)
        if len(idx):
            xa_in, ya = xb[idx], yb[idx]
            ids = start + idx  # each point's place in the evaluation keys its random stream
            target = attack.targets(model, xa_in, ya, ids) if attack.targeted else None
            xa = attack(model, xa_in, ya, target, ids)
            pred = predict(model if judge is None else judge, xa, batch_size)
            robust[idx] = pred == ya
            if target is not None:
                hit[idx] = pred == target
            d = xa - xa_in
            p = {"l2": 2, "l1": 1}.get(attack.norm, float("inf"))
            dist[idx] = d.flatten(1).norm(p=p, dim=1)
        rec["robust"] += robust.int().tolist()
        rec["target_hit"] += hit.int().tolist()
        rec["dist"] += [None if math.isnan(v) else round(v, 6) for v in dist.tolist()]
        rec["done"] = min(start + batch_size, n)
        rec["seconds"] += time.perf_counter() - t0
        if path is not None:
            atomic_write_json(path, seal(rec))
    rec["complete"] = True
    if path is not None:
        atomic_write_json(path, seal(rec))
    return rec


def seal(rec: dict) -> dict:
    """`rec` with the checksum of its per-example results (robust, target_hit, dist, done,
    complete), which :func:`_stored_record` verifies before a stored result is used."""
    rec["sha256"] = _record_sha(rec)
    return rec


def _record_sha(rec: dict) -> str:
    blob = json.dumps([rec.get(k) for k in ("robust", "target_hit", "dist", "done", "complete")])
    return hashlib.sha256(blob.encode()).hexdigest()


def _stored_record(path: Path, ident: dict, n: int) -> dict | None:
    """The stored record at `path` if it is this evaluation's and intact; None (recompute)
    otherwise, with a warning naming the file when it is damaged: a wrong length, a record
    marked complete that is not, or results that do not match their checksum."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        warnings.warn(f"evaluation: {path} cannot be read ({e}); recomputing", stacklevel=3)
        return None
    if not isinstance(rec, dict) or rec.get("ident") != ident:
        return None  # another evaluation's file (or an older version): not ours to use
    done = rec.get("done")
    lists = [rec.get(k) for k in ("robust", "target_hit", "dist")]
    problem = None
    if not isinstance(done, int) or not 0 <= done <= n or rec.get("n") != n:
        problem = f"done {done!r} / n {rec.get('n')!r} do not fit {n} points"
    elif any(not isinstance(v, list) or len(v) != done for v in lists):
        problem = f"its lists do not hold {done} entries"
    elif rec.get("complete") and done != n:
        problem = f"it is marked complete with {done} of {n} points"
    elif rec.get("sha256") != _record_sha(rec):
        problem = "its results do not match their checksum"
    if problem:
        warnings.warn(f"evaluation: {path} is damaged ({problem}); recomputing", stacklevel=3)
        return None
    return rec


def _row(attack: Attack, rec: dict, clean_ok: torch.Tensor, model_id: str) -> dict:
    s = attack.settings()
    n = len(clean_ok)
    k = sum(rec["robust"])
    lo, hi = wilson(k, n)
    row = {"model": model_id, "attack": attack.name, "norm": attack.norm,
           "eps": s.get("eps", 0.0), "eps_label": eps_label(s.get("eps", 0.0)),
           "objective": s.get("objective", "-"), "targeted": attack.targeted,
           "steps": s.get("steps", s.get("n_queries", 0)), "n": n,
           "clean_accuracy": clean_ok.sum().item() / n, "robust_accuracy": k / n,
           "ci_low": lo, "ci_high": hi, "seconds": rec["seconds"], "settings": json.dumps(s),
           # which points, and each one's result: two models on the same points are compared
           # point by point (stats.paired_difference)
           "points": ((rec.get("ident") or {}).get("points") or {}).get("checksum"),
           "flags": flag_string(rec["robust"])}
    if attack.targeted:
        row["target_success"] = sum(rec["target_hit"]) / n
    success = [d for d, r, c in zip(rec["dist"], rec["robust"], clean_ok.tolist()) if c and not r
               and d is not None]
    if attack.norm in ("l2", "l1"):
        row["median_dist"] = float(pd.Series(success).median()) if success else float("nan")
        row["mean_dist"] = float(pd.Series(success).mean()) if success else float("nan")
    return row


def _model_and_data(run_or_model, data, n, seed, how):
    if isinstance(run_or_model, Run):
        run, model, model_id = run_or_model, run_or_model.model, run_or_model.key
        x, y = data if data is not None else run.test_set()
    else:
        run, model = None, run_or_model
        model_id = getattr(model, "model_id", type(model).__name__)
        if data is None:
            raise ValueError("data: a bare model needs (x, y)")
        x, y = data
    x, y = select_points(x, y, n, seed, how)
    return run, model, model_id, x, y


def points(run: Run, n: int | None = None, seed: int = 0, how: str = "stratified",
           data: tuple[torch.Tensor, torch.Tensor] | None = None):
    """The (x, y) test points :func:`evaluate` attacks for `run` at these `n`, `seed` and
    `how` (from `data`, else the run's test split): for setting a peer's attack beside ours on
    exactly the same points."""
    return _model_and_data(run, data, n, seed, how)[3:]


def missing_records(run: Run, attacks: Attack | Sequence[Attack], n: int | None = None,
                    seed: int = 0, how: str = "stratified", cascade: bool = False,
                    speed: Speed | str | None = None) -> list[str]:
    """The names of the attacks whose records :func:`evaluate` (same arguments) would have to
    compute for `run`: those not in its store, or stored but incomplete or damaged. Empty when
    the whole evaluation can be read back. Nothing is attacked, so a report can show what is
    stored and say what is not (notebook 02's ``cascade_stored``)."""
    attacks = [attacks] if isinstance(attacks, Attack) else list(attacks)
    _, _, model_id, x, y = _model_and_data(run, None, n, seed, how)
    trunk = "bf16" if attack_speed(speed).bf16 else None
    out = []
    for attack, key, ident in _stage_keys(attacks, model_id, x, y, seed, how, cascade, trunk):
        path = _store_path(run, None, key)
        rec = _stored_record(path, as_stored(ident), len(y)) if path.exists() else None
        if not (rec and rec.get("complete")):
            out.append(attack.name)
    return out


def evaluate(run_or_model: Run | nn.Module, attacks: Attack | Sequence[Attack],
             data: tuple[torch.Tensor, torch.Tensor] | None = None, n: int | None = None,
             seed: int = 0, how: str = "stratified", batch_size: int = 500,
             device: str | torch.device | None = None, store: bool = True,
             store_dir: str | Path | None = None, progress: bool | None = None,
             worst: bool = True, cascade: bool = False,
             speed: Speed | str | None = None) -> pd.DataFrame:
    """One row per attack: clean and robust accuracy (true label), 95% interval, eps (and its
    denominator), norm, objective, targeted (with target success), steps, n, seconds; median
    and mean distance of successful L2/L1 adversarials. With `worst`, one more row per (norm,
    eps) shared by several attacks: the per-example worst case over them.

    Every attack runs on the same points: the clean-correct ones (the others count as not
    robust). With `cascade`, as AutoAttack (Croce & Hein, ICML 2020), each attack runs only on
    the points every earlier one left robust, and its row's robust accuracy is that after it
    (the last row is the worst case); a ``stage`` column numbers them. Results of a Run (or
    with `store_dir`) are read from the store when present. `speed`: how the attacked copy of
    the model runs (rethinkmmc.speed; only a bf16 trunk enters the records' identity).
    """
    from tqdm.auto import tqdm

    attacks = [attacks] if isinstance(attacks, Attack) else list(attacks)
    run, model, model_id, x, y = _model_and_data(run_or_model, data, n, seed, how)
    device = default_device(device)
    model, judge = attacker_and_judge(model.to(device), speed)
    x, y = x.to(device), y.to(device)
    clean_ok = predict(judge, x, batch_size) == y
    rows, flags = [], []
    active = clean_ok
    trunk = "bf16" if getattr(model, "amp_dtype", None) else None
    with eval_mode(model):
        for stage, (attack, key, ident) in enumerate(
                _stage_keys(attacks, model_id, x, y, seed, how, cascade, trunk), 1):
            path = _store_path(run, Path(store_dir) if store_dir else None, key) if store else None
            bar = (lambda it: tqdm(it, desc=f"{model_id} {attack.name}", leave=False,
                                   disable=None if progress is None else not progress))
            rec = attack_flags(model, attack, x, y, active, batch_size, path, ident, bar, judge)
            rows.append(_row(attack, rec, clean_ok, model_id))
            flags.append(torch.tensor(rec["robust"], dtype=torch.bool))
            if cascade:
                active = flags[-1].to(clean_ok.device) & active
                rows[-1]["stage"] = stage
    df = pd.DataFrame(rows)
    if worst and len(attacks) > 1:
        df = pd.concat([df, _worst_rows(df, flags, clean_ok, model_id)], ignore_index=True)
    return df


def flag_string(robust) -> str:
    """Per-point results as a string of 0s and 1s (compact in a DataFrame and in JSON)."""
    return "".join("1" if r else "0" for r in robust)


def _worst_rows(df, flags, clean_ok, model_id):
    out = []
    bounded = df[df["norm"].isin(["linf", "l2", "l1"]) & ~df["attack"].isin(["cw", "ead"])]
    for (norm, eps), group in bounded.groupby(["norm", "eps"], sort=True):
        if len(group) < 2:
            continue
        robust = torch.stack([flags[i] for i in group.index]).all(0)
        k, n = int(robust.sum()), len(robust)
        lo, hi = wilson(k, n)
        out.append({"model": model_id, "attack": "worst-case", "norm": norm, "eps": eps,
                    "eps_label": eps_label(eps),
                    "objective": "+".join(sorted(set(group["objective"]))), "targeted": False,
                    "steps": int(group["steps"].max()), "n": n,
                    "clean_accuracy": clean_ok.sum().item() / n, "robust_accuracy": k / n,
                    "ci_low": lo, "ci_high": hi, "seconds": float(group["seconds"].sum()),
                    "settings": json.dumps([json.loads(s) for s in group["settings"]]),
                    "points": group["points"].iloc[0], "flags": flag_string(robust.tolist())})
    return pd.DataFrame(out)


def worst_case(run_or_model: Run | nn.Module, attacks: Sequence[Attack],
               data: tuple[torch.Tensor, torch.Tensor] | None = None, n: int | None = None,
               seed: int = 0, how: str = "stratified", batch_size: int = 500,
               device: str | torch.device | None = None, progress: bool | None = None,
               speed: Speed | str | None = None) -> pd.DataFrame:
    """AutoAttack's scheme: each attack in turn, only on the points still robust; returns one
    row per stage with the robust accuracy after it (the last row is the worst case)."""
    run, model, model_id, x, y = _model_and_data(run_or_model, data, n, seed, how)
    device = default_device(device)
    model, judge = attacker_and_judge(model.to(device), speed)
    x, y = x.to(device), y.to(device)
    robust = predict(judge, x, batch_size) == y
    clean = robust.float().mean().item()
    rows = []
    with eval_mode(model):
        for attack in attacks:
            t0 = time.perf_counter()
            idx = robust.nonzero().squeeze(1)
            for i in range(0, len(idx), batch_size):
                b = idx[i:i + batch_size]
                xa = attack(model, x[b], y[b], ids=b)
                robust[b] = predict(judge, xa, batch_size) == y[b]
            k = int(robust.sum())
            lo, hi = wilson(k, len(y))
            rows.append({"model": model_id, "stage": attack.name, "attack": repr(attack),
                         "norm": attack.norm, "eps": attack.eps, "eps_label": eps_label(attack.eps),
                         "n": len(y), "clean_accuracy": clean, "robust_accuracy": k / len(y),
                         "ci_low": lo, "ci_high": hi, "seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def _flags_sha(flags: str) -> str:
    """The checksum a clean record keeps of its flags string (clean_flags verifies it)."""
    return hashlib.sha256(flags.encode()).hexdigest()


def points_checksum(x: torch.Tensor, y: torch.Tensor) -> str:
    """A short fingerprint of the points, so a changed test set never reads old results."""
    h = hashlib.sha256()
    h.update(y.cpu().numpy().tobytes())
    h.update(f"{x.double().sum().item():.6f}/{(x.double() ** 2).sum().item():.6f}".encode())
    return h.hexdigest()[:12]


def clean_flags(run: Run, data_root=None, store: bool = True) -> str:
    """Which points of `run`'s whole test split it classifies correctly, as a string of 0s and
    1s in the split's order: one pass of the model, stored beside the run as
    ``evaluations/clean-<hash>.json`` (its identity: the run's key, the points' checksum and
    EVAL_VERSION; the flags with their checksum). A re-render reads the record back instead of
    classifying 10,000 points again, and reads the same flags on any CPU, as the attack records
    are read (a point near the boundary may flip under other kernels)."""
    x, y = run.test_set(data_root)
    ident = {"attack": "clean", "points": {"n": len(y), "how": "test split",
                                           "checksum": points_checksum(x, y)},
             "model": run.key, "version": EVAL_VERSION}
    path = record_path(run.path, "clean", ident)
    rec = read_record(path, ident) if store else None
    if rec is not None:
        flags = rec.get("flags")
        if (isinstance(flags, str) and len(flags) == len(y) and set(flags) <= {"0", "1"}
                and rec.get("sha256") == _flags_sha(flags)):
            return flags
        warnings.warn(f"evaluation: {path} is damaged (its flags do not fit {len(y)} points or "
                      "their checksum); recomputing", stacklevel=2)
    t0 = time.perf_counter()
    flags = flag_string((predict(run.model, x) == y).tolist())
    if store:
        atomic_write_json(path, {"ident": ident, "n": len(y), "flags": flags,
                                 "seconds": time.perf_counter() - t0,
                                 "sha256": _flags_sha(flags)})
    return flags
