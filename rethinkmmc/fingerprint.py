"""A profile's headline figures in one small JSON, and their comparison within stated
tolerances: the regression check of the *computing* path, which nbval cannot be.

nbval re-executes the committed notebooks against the committed smoke runs and their stored
evaluations, so what it compares is the same on any CPU. Training and attacking from scratch
is not bitwise reproducible across CPUs (oneDNN, MKL and ATen dispatch float kernels by
instruction set, and SGD amplifies their last bits), so the cold path is checked here instead:
``summary`` reads a store (every run's clean accuracy, every stored evaluation's robust
accuracy, every stored verdict with its margin) and ``compare`` lists where another store
differs from a reference by more than the tolerances below.

    python -m rethinkmmc.fingerprint RUNS_DIR [--profile smoke] [--write FILE | --check FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Tolerances", "summary", "compare", "main"]


@dataclass(frozen=True)
class Tolerances:
    """How far a cold re-computation may move from the reference.

    An accuracy p on n points may move by ``z`` binomial standard errors sqrt(p (1 - p) / n)
    (at the reference's p) plus a few points for the discreteness of small counts:
    ``clean_points`` for a run's clean test accuracy, ``robust_points`` for an attack's robust
    accuracy (attacks amplify the small differences between two trainings of one config, most
    where few points survive). Robust accuracies are compared for the runs the reference
    trained to at least ``stable`` clean accuracy only: a model left on the slope of its loss
    (MM-LDA at 0.94, the 2-D-feature runs, the C_MM extremes) is moved by float noise as a
    whole. A verdict must be equal where the reference's margin (the shift of its measured
    quantity that would change it, rethinkmmc.verdicts) is at least ``wide``. Whether a run
    diverged is not compared: C_MM = 100 at smoke's lr sits on the edge (both ways end at
    chance accuracy, which is compared).

    Measured on this 2-core CPU against the default dispatch (notebooks/README.md, the note of
    issue 9): with ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA=AVX2, clean accuracies moved
    by at most 2.2 standard errors (11 points, MM-LDA; 18 points on the 2-D MMC run at 0.61),
    robust accuracies of the stable runs by at most 3.5 standard errors on a count of 3 vs 9
    points, 2.7 elsewhere; MM-LDA's rotation accuracy moved 11 points (5.6 standard errors).
    """

    z: float = 3.0
    clean_points: int = 4
    robust_points: int = 8
    stable: float = 0.95
    wide: float = 0.1

    def allowance(self, p: float, n: int, points: int) -> float:
        return self.z * math.sqrt(max(p * (1 - p), 0.0) / n) + points / n


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def summary(runs_dir: str | Path, profile: str = "smoke",
            verdicts_dir: str | Path | None = None) -> dict[str, Any]:
    """The headline figures of the store `runs_dir`/`profile` and of the verdict records in
    `verdicts_dir` (default: notebook.default_verdicts_dir), keyed so that two stores of the
    same code line up: runs by key, evaluations by run key and evaluation key, verdicts by
    notebook and row (position + claim)."""
    root = Path(runs_dir) / profile
    if not root.is_dir():
        raise FileNotFoundError(f"runs_dir: no {profile} store at {root}")
    runs: dict[str, Any] = {}
    evals: dict[str, Any] = {}
    for run in sorted(p for p in root.iterdir() if (p / "metrics.json").is_file()):
        m = _read(run / "metrics.json")
        runs[run.name] = {"test_accuracy": m.get("test_accuracy"), "n_test": m.get("n_test")}
        for e in sorted((run / "evaluations").glob("*.json")):
            rec = _read(e)
            if not rec.get("complete"):
                continue
            n = len(rec.get("robust", []))
            evals[f"{run.name}/{e.stem}"] = {"robust_accuracy": sum(rec["robust"]) / n if n else
                                             None, "n": n}
    verdicts: dict[str, Any] = {}
    if verdicts_dir is None:
        from .notebook import default_verdicts_dir  # noqa: PLC0415

        verdicts_dir = default_verdicts_dir(profile)
    for v in sorted(Path(verdicts_dir).glob("*.json")):
        rec = _read(v)
        verdicts[rec["notebook"]] = {
            "volatile": bool(rec.get("volatile", False)),
            # rows by position and claim: a measure's text may hold counts that move
            "rows": [{"row": f"{i}. {r['claim']}", "verdict": r["verdict"],
                      "margin": r.get("margin")} for i, r in enumerate(rec["rows"], 1)]}
    return {"profile": profile, "runs": runs, "evaluations": evals, "verdicts": verdicts}


def compare(reference: dict, other: dict, tol: Tolerances = Tolerances()) -> list[str]:
    """What in `other` lies outside the tolerances around `reference`, one line each (empty
    when everything agrees). Missing runs, evaluations, notebooks or verdict rows count."""
    problems: list[str] = []
    for key, ref in reference["runs"].items():
        got = other["runs"].get(key)
        if got is None:
            problems.append(f"run {key}: missing")
            continue
        n, p = ref["n_test"] or 0, ref["test_accuracy"] or 0.0
        diff = abs((got["test_accuracy"] or 0.0) - p)
        allowed = tol.allowance(p, n, tol.clean_points) if n else 0.0
        if n and diff > allowed:
            problems.append(f"run {key}: test accuracy {got['test_accuracy']:.4f} vs reference "
                            f"{p:.4f} ({round(diff * n)} test points, more than "
                            f"{allowed * n:.1f})")
    stable = {k for k, r in reference["runs"].items() if (r["test_accuracy"] or 0) >= tol.stable}
    for key, ref in reference["evaluations"].items():
        got = other["evaluations"].get(key)
        if got is None:
            problems.append(f"evaluation {key}: missing")
        elif got["n"] != ref["n"]:
            problems.append(f"evaluation {key}: n {got['n']} vs reference {ref['n']}")
        elif key.split("/")[0] in stable:
            p, n = ref["robust_accuracy"], ref["n"]
            allowed = tol.allowance(p, n, tol.robust_points)
            if abs(got["robust_accuracy"] - p) > allowed:
                problems.append(f"evaluation {key}: robust accuracy {got['robust_accuracy']:.3f}"
                                f" vs reference {p:.3f} (more than {allowed:.3f} apart on {n} "
                                "points)")
    for nb, ref in reference["verdicts"].items():
        got = other["verdicts"].get(nb)
        if got is None:
            problems.append(f"verdicts {nb}: missing")
            continue
        ref_rows = [r["row"] for r in ref["rows"]]
        got_rows = {r["row"]: r for r in got["rows"]}
        if ref_rows != [r["row"] for r in got["rows"]]:
            problems.append(f"verdicts {nb}: rows differ from the reference's "
                            f"{len(ref_rows)} rows")
        if ref["volatile"]:
            continue  # timings: their verdicts may move between executions
        for r in ref["rows"]:
            g = got_rows.get(r["row"])
            wide = r["margin"] is not None and r["margin"] >= tol.wide
            if g is not None and wide and g["verdict"] != r["verdict"]:
                problems.append(f"verdicts {nb}: {r['row']!r} is {g['verdict']!r}, reference "
                                f"{r['verdict']!r} (margin {r['margin']:.3g} >= {tol.wide})")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rethinkmmc.fingerprint",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("runs_dir")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--verdicts", metavar="DIR", default=None,
                    help="the verdict records (default: reports/<profile>/verdicts)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="FILE", help="store the summary as the reference")
    g.add_argument("--check", metavar="FILE", help="compare with a stored reference")
    a = ap.parse_args(argv)
    try:
        s = summary(a.runs_dir, a.profile, a.verdicts)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.write:
        from .runs import atomic_write_json  # noqa: PLC0415

        atomic_write_json(Path(a.write), s)
        return 0
    if a.check:
        problems = compare(_read(Path(a.check)), s)
        print("\n".join(problems) if problems else "within tolerances")
        return 1 if problems else 0
    print(json.dumps(s, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
