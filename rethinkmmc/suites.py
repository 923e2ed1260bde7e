"""The attack suites of the report: which attacks a claim notebook runs, built from a
profile's settings, and one call that runs a suite over several runs into one DataFrame.

- :func:`paper_whitebox`: the paper's white-box attacks (Pang et al. 2020, Sec. 5.1, after
  cleverhans): FGSM, BIM, PGD (10 and 50 steps), MIM, untargeted and targeted with a random
  target, under a given objective. The non-adaptive objective is cross-entropy on the logits;
  the adaptive one (the original's -sum(logits * onehot)) is ``adaptive`` for models with
  centers and the C&W margin for softmax models.
- :func:`strongest`: APGD with CE and DLR losses (Croce & Hein, ICML 2020), the white-box half
  of AutoAttack, run beside the above so that the per-example worst case includes them.
- :func:`strong_suite`: claim 1's cascade, at least as strong as AutoAttack's standard
  version: the paper's attack, PGD on the original's adaptive objective, APGD-CE, APGD-T
  (targeted DLR over the top 9 classes), for center-based models APGD and APGD-T on the
  distance margin, Square with 5,000 queries, and last the union of the paper's attacks and
  SPSA; :func:`claim1_eval` runs it as a cascade.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd

from .attacks import APGD, APGDT, BIM, FGSM, MIM, PGD, SPSA, Attack, Square
from .attacks.union import AnyOf
from .evaluate import evaluate
from .losses import DISTANCE_LOGITS

__all__ = ["adaptive_objective", "paper_whitebox", "strongest", "paper_attack", "strong_suite",
           "claim1_eval", "attack_table", "spsa_lr", "SPSA_LR_PER_EPS", "paper_union"]

# SPSA's Adam lr per unit of eps: the original's lr 0.01 at eps 8/256 (Uesato et al. 2018's
# setting as Pang et al. ran it). A fixed lr 0.01 x 10 steps cannot leave a 0.1-neighbourhood,
# so at MNIST budgets it would measure the step, not the model; scaling keeps the original's
# reach (10 steps cover 3.2 eps) at every eps.
SPSA_LR_PER_EPS = 0.01 / (8 / 256)


def spsa_lr(eps: float) -> float:
    """SPSA's Adam learning rate at `eps`: the original's lr/eps ratio (0.01 at 8/256)."""
    return SPSA_LR_PER_EPS * eps


def adaptive_objective(run_or_model) -> str:
    """The adaptive objective for a model: ``adaptive`` (push z away from mu_y) where logits
    are minus squared distances to centers (MMC, MM-LDA, L-GM), else the C&W margin."""
    loss = getattr(getattr(run_or_model, "config", None), "loss", None)
    if loss is not None:
        return "adaptive" if loss in DISTANCE_LOGITS else "cw"
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


def transfer_table(runs: Mapping[str, object], attacks_for: Callable[[object], list[Attack]],
                   x, y, sources: Sequence[str] | None = None, batch_size: int = 500,
                   store: bool = True) -> pd.DataFrame:
    """Black-box transfer (Pang et al., ICLR 2020, Sec. 5.2; after Papernot et al. 2017), each
    source attacked with its own attacks: for every source (`sources`, default every run), the
    adversarials of (x, y) crafted on it by each attack of ``attacks_for(source)`` (on all
    points, as ``attacks.craft``) are classified by every run of `runs` (Runs or bare models).

    Each source may be attacked under its own objective (e.g. ``adaptive_objective``), so the diagonal is each model's
    white-box result under the attack it is evaluated with elsewhere.

    With `store` and Runs only (anything with ``path`` and ``key``), each source's per-example
    results are kept in ``<source run>/evaluations/transfer-<attack>-<hash>.json``, keyed by the
    attack's settings, the points, `batch_size` (the seeded random start is drawn per batch), the
    source's key and EVAL_VERSION; a later call reads them and crafts again only for targets the
    file lacks.

    One row per (source attack, source, target), in that order, with columns: source, target,
    method (the attack's name), objective (the source's), eps, eps_label, steps, n,
    robust_accuracy (the target's accuracy on the true labels, over all n points), ci_low and
    ci_high (95% Wilson), and the columns ``checks.check_attack_ordering`` reads: model (the
    target), attack ("<method>" on the diagonal, "<method> from <source>" elsewhere), kind
    ("white-box" on the diagonal, "transfer" elsewhere), norm; then points (the points'
    checksum) and flags (each point robust or not, ``evaluate.flag_string``), so that two
    targets can be compared point by point.
    """
    from .attacks import craft  # noqa: PLC0415
    from .evaluate import (EVAL_VERSION, as_stored, eps_label, flag_string,  # noqa: PLC0415
                           points_checksum, read_record, record_path, wilson)
    from .runs import atomic_write_json  # noqa: PLC0415
    from .torchutil import predict  # noqa: PLC0415

    if not runs:
        raise ValueError("runs: need at least one run")
    names = list(runs)
    sources = names if sources is None else list(sources)
    unknown = [s for s in sources if s not in runs]
    if unknown:
        raise ValueError(f"sources: not among the runs: {', '.join(unknown)} "
                         f"(allowed: {', '.join(names)})")
    models = {k: getattr(r, "model", r) for k, r in runs.items()}
    stored = store and all(hasattr(r, "path") and hasattr(r, "key") for r in runs.values())
    n = len(y)
    points = {"n": n, "checksum": points_checksum(x, y) if n else "", "batch_size": batch_size}

    def flags(model, xa):
        return (predict(model, xa, batch_size) == y).int().tolist() if n else []

    rows = []
    for src in sources:
        for attack in attacks_for(runs[src]):
            s = attack.settings()
            path = rec = None
            if stored:
                ident = {"transfer": attack.settings(), "points": points,
                         "source": runs[src].key, "version": EVAL_VERSION}
                path = record_path(runs[src].path, f"transfer-{attack.name}", ident)
                rec = read_record(path, ident) or {"ident": as_stored(ident), "targets": {}}
            keys = {t: runs[t].key if stored else t for t in names}
            have = rec["targets"] if rec else {}
            missing = [t for t in names if keys[t] not in have]
            if missing:
                xa = craft(attack, models[src], x, y, batch_size)
                have.update({keys[t]: flags(models[t], xa) for t in missing})
                if path is not None:
                    atomic_write_json(path, rec)
            for tgt in names:
                k = sum(have[keys[tgt]])
                lo, hi = wilson(k, n)
                own = src == tgt
                eps = s.get("eps", 0.0)
                rows.append({"source": src, "target": tgt, "method": attack.name,
                             "objective": s.get("objective", "-"), "eps": eps,
                             "eps_label": eps_label(eps), "steps": s.get("steps", 0), "n": n,
                             "robust_accuracy": k / n if n else float("nan"),
                             "ci_low": lo, "ci_high": hi, "model": tgt,
                             "attack": attack.name if own else f"{attack.name} from {src}",
                             "kind": "white-box" if own else "transfer", "norm": attack.norm,
                             # every target meets the same adversarials: per-point results
                             # for the paired tests (claims.common.versus)
                             "points": points["checksum"],
                             "flags": flag_string(have[keys[tgt]])})
    return pd.DataFrame(rows)


__all__ += ["transfer_table"]


def paper_attack(eps: float, seed: int = 0) -> PGD:
    """The paper's headline attack (Pang et al. 2020, Table 2): PGD-10 on the softmax
    cross-entropy of the logits, random start, step 2.5 eps / 10, last iterate."""
    return PGD(eps, steps=10, step_size=2.5 * eps / 10, objective="ce", seed=seed)


def paper_union(eps: float, run_or_model, spsa_steps: int = 10, spsa_samples: int = 128,
                seed: int = 0) -> AnyOf:
    """The paper's white-box attacks at `eps` under both objectives (CE and the adaptive one:
    FGSM, BIM-10, MIM-10, PGD-10, PGD-50, targeted PGD-10) and SPSA (Uesato et al. 2018, the
    paper's black-box attack; lr scaled with eps), as one per-example union."""
    attacks = [a for obj in ("ce", adaptive_objective(run_or_model))
               for a in paper_whitebox(eps, obj, seed=seed)]
    attacks.append(SPSA(eps, steps=spsa_steps, lr=spsa_lr(eps), delta=0.01,
                        samples=spsa_samples, seed=seed))
    return AnyOf(attacks, label="the paper's attacks + SPSA")


def strong_suite(eps: float, run_or_model, steps: int = 100, square_queries: int = 5000,
                 targets: int = 9, seed: int = 0, spsa_steps: int = 10,
                 spsa_samples: int = 128) -> list[Attack]:
    """Claim 1's attacks at `eps`, in cascade order (the paper's first, then by what breaks
    most per gradient, so that the costly targeted attacks meet few points):

    1. the paper's attack (:func:`paper_attack`);
    2. PGD-50 on the adaptive objective (the original's for center-based models, else the
       C&W margin), best iterate kept;
    3. for models with centers (MMC, MM-LDA, L-GM): APGD on ``mmc_margin``, the distance
       margin ||z - mu_y||^2 - min_{l != y} ||z - mu_l||^2, which does not saturate as the
       softmax of -||z - mu||^2 does (Croce & Hein's point on DLR);
    4. APGD-CE, `steps` iterations (AutoAttack's standard version: 100, one run);
    5. APGD-T: targeted DLR toward each of the `targets` (AutoAttack: 9) top other classes in
       turn;
    6. for models with centers: APGD-T on the targeted ``mmc_margin``;
    7. Square, `square_queries` queries (5,000 in AutoAttack), gradient-free: a gradient
       masked by the model cannot hide a point from it;
    8. :func:`paper_union`: the paper's white-box attacks under both objectives and SPSA, so
       that the worst case is also the per-example union with every attack the paper ran
       (transfer aside: 03 measures it).

    FAB-T, AutoAttack's fourth attack, is not here: a minimum-norm attack whose gains over
    APGD-T in the standard version are rare (Croce & Hein 2020, Table 2);
    benchmarks/strong_vs_autoattack.py sets the whole cascade against torchattacks'
    AutoAttack, FAB-T included, on the same points.
    """
    adaptive = adaptive_objective(run_or_model)
    centers = adaptive == "adaptive"
    out: list[Attack] = [paper_attack(eps, seed),
                         PGD(eps, steps=50, step_size=2.5 * eps / 50, objective=adaptive,
                             keep_best=True, seed=seed)]
    if centers:
        out.append(APGD(eps, steps=steps, objective="mmc_margin", seed=seed))
    out += [APGD(eps, steps=steps, objective="ce", seed=seed),
            APGDT(eps, steps=steps, objective="dlr", n_target_classes=targets, seed=seed)]
    if centers:
        out.append(APGDT(eps, steps=steps, objective="mmc_margin", n_target_classes=targets,
                         seed=seed))
    out.append(Square(eps, n_queries=square_queries, seed=seed))
    out.append(paper_union(eps, run_or_model, spsa_steps, spsa_samples, seed))
    return out


def claim1_eval(run, eps_list: Sequence[float], n: int | None = None, seed: int = 0,
                device=None, progress: bool | None = None, batch_size: int = 500,
                store: bool = True, **suite) -> pd.DataFrame:
    """Claim 1's evaluation of one run at each eps of `eps_list`, stored beside the run:
    :func:`strong_suite` as a cascade (rows in stage order, the robust accuracy after each;
    the ``worst-case`` row is the last stage's), one DataFrame. `store` False neither reads
    nor writes the store (a timing). `suite` passes on to :func:`strong_suite` (steps,
    square_queries, targets)."""
    frames = []
    for eps in eps_list:
        frames.append(evaluate(run, strong_suite(eps, run, seed=seed, **suite), n=n, seed=seed,
                               device=device, progress=progress, batch_size=batch_size,
                               cascade=True, store=store))
    return pd.concat(frames, ignore_index=True)
