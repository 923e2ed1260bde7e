"""Command line: ``rethinkmmc train | evaluate | report | data check``.

Bad input ends with exit status 2 and one line on stderr, never a traceback. Progress goes to
stderr; the results go to stdout, each run as one JSON line, last.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from fractions import Fraction
from pathlib import Path

__all__ = ["main"]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage otherwise)
        raise UsageError(message)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "integer >= 1"  # argparse names the type in its error line

def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_nonnegative_int.__name__ = "integer >= 0"


def parse_number(text: str) -> float:
    """A finite float or a fraction such as 8/255 (the original writes epsilons over 256)."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        value = None
    if value is None or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number or fraction: {text[:40]!r}")
    return value


def parse_device(text: str) -> str:
    """A torch device this build can use: cpu, cuda, cuda:N, mps."""
    import torch  # noqa: PLC0415

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown device {text[:40]!r} (allowed: cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: this torch build sees no CUDA device "
                                             f"(torch {torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: only {torch.cuda.device_count()} "
                                             "CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"unsupported device {text!r} (allowed: cpu, cuda, "
                                         "cuda:N, mps)")
    return text


def _name_too_long(names) -> bool:
    """Whether a file or folder name is over the file systems' usual 255-byte limit."""
    return any(len(os.fsencode(n)) > 255 for n in names)


def _folder(option: str, text: str | None, create: bool = True) -> str | None:
    """A folder option, made absolute against the caller's folder; refused with the option's
    name when it cannot be a folder here (a file on its path, a name over the file system's
    limit, no permission to create or write it)."""
    if text is None:
        return None
    path = Path(text).expanduser().absolute()
    if _name_too_long(path.parts):
        raise UsageError(f"{option}: a name in the path is longer than 255 bytes")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{option}: {probe} is a file, not a folder")
    if create and not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: no permission to write in {probe}")
    return str(path)


def _build_parser() -> argparse.ArgumentParser:
    from .config import DATASET_NAMES
    from .losses import LOSSES
    from .profiles import profile_names

    p = _Parser(prog="rethinkmmc", description="Reproduce Pang et al. (ICLR 2020), the MMC loss.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train (or fetch the stored) runs; one JSON line per run")
    t.add_argument("--profile", default="smoke", choices=profile_names())
    t.add_argument("--dataset", default="digits", choices=DATASET_NAMES)
    t.add_argument("--loss", nargs="+", default=["mmc"], choices=LOSSES,
                   help="one or more losses; several print a table before the JSON lines")
    _add_override_flags(t)
    t.add_argument("--seed", type=_nonnegative_int, nargs="+", default=[0])
    t.add_argument("--no-fast", action="store_true", help="switch off the CUDA fast path")
    t.add_argument("--device", type=parse_device,
                   help="cpu, cuda, cuda:1 (default: cuda if available)")
    t.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for training (default: the profile's fixed count, smoke 2, "
                        "else torch's)")
    t.add_argument("--data-root", help="datasets in torchvision's layout ($RETHINKMMC_DATA, ./data)")
    t.add_argument("--runs-dir", help="the run store ($RETHINKMMC_RUNS, the checkout's runs/)")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("evaluate", help="attack a stored run; one JSON line with the accuracies")
    e.add_argument("--run", required=True, help="a run's folder or key")
    e.add_argument("--attack", required=True, help="fgsm, bim, pgd, mim, ... (see attacks)")
    e.add_argument("--eps", type=parse_number, default=0.0, help="e.g. 8/255 (say the denominator)")
    e.add_argument("--steps", type=_positive_int)
    e.add_argument("--step-size", type=parse_number)
    e.add_argument("--restarts", type=_positive_int)
    e.add_argument("--objective", default=None, help="ce, adaptive, mmc_margin, cw, dlr")
    e.add_argument("--targeted", action="store_true")
    e.add_argument("--target-mode", choices=("random", "least_likely"), default="random")
    e.add_argument("--n", type=_positive_int, help="points (seeded, class-stratified subset of the test set)")
    e.add_argument("--seed", type=_nonnegative_int, default=0)
    e.add_argument("--batch-size", type=_positive_int, default=500)
    e.add_argument("--device", type=parse_device)
    e.add_argument("--data-root")
    e.add_argument("--runs-dir")
    e.add_argument("--no-progress", action="store_true")

    r = sub.add_parser("report", help="execute the claim notebooks into reports/<profile>/")
    r.add_argument("--profile", default="smoke", choices=profile_names())
    r.add_argument("--only", nargs="+", help="notebooks whose name contains one of these")
    r.add_argument("--out", help="output folder (default: reports/<profile>)")
    r.add_argument("--figures", help="figure folder (default: figures/<profile>)")
    r.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="a notebook parameter; VALUE is read as JSON, else as a string")
    r.add_argument("--no-html", action="store_true")
    r.add_argument("--no-figures", action="store_true", help="export no figures")
    r.add_argument("--prepare", action="store_true",
                   help="train every run of the profile first (resumable), then render")
    r.add_argument("--no-progress", action="store_true")

    g = sub.add_parser("grid", help="train a profile's runs, then render its notebooks, as "
                                    "jobs (Slurm or this machine) through submitit")
    g.add_argument("--profile", default="smoke", choices=profile_names())
    g.add_argument("--only", nargs="+", help="notebooks whose name contains one of these")
    g.add_argument("--backend", default="local", choices=("local", "slurm"))
    g.add_argument("--slurm-partition", help="the partition jobs go to (default: the cluster's)")
    g.add_argument("--gpus-per-job", type=_nonnegative_int, default=0)
    g.add_argument("--cpus-per-job", type=_positive_int, default=None,
                   help="CPUs (and torch threads) per job (default: the profile's fixed "
                        "count, smoke 2, else 2)")
    g.add_argument("--timeout-min", type=_positive_int, default=60,
                   help="wall time per job; a job that reaches it is requeued and resumes")
    g.add_argument("--array-parallelism", type=_positive_int, default=None,
                   help="jobs at once (default: Slurm 256; local: cores / cpus per job)")
    g.add_argument("--mem-gb", type=parse_number, default=None)
    g.add_argument("--retries", type=_nonnegative_int, default=2,
                   help="resubmissions of a job killed without a result (scancel, node failure)")
    g.add_argument("--train-only", action="store_true", help="submit no notebook jobs")
    g.add_argument("--out", help="report folder (default: reports/<profile>)")
    g.add_argument("--figures", help="figure folder (default: figures/<profile>)")
    g.add_argument("--no-figures", action="store_true")
    g.add_argument("--no-html", action="store_true")
    g.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a notebook parameter, as for report")
    g.add_argument("--data-root")
    g.add_argument("--runs-dir")
    g.add_argument("--no-progress", action="store_true")

    w = sub.add_parser("site", help="a static website from a rendered report (offline, "
                                    "executes nothing)")
    w.add_argument("--profile", default="smoke", choices=profile_names())
    w.add_argument("--reports", help="rendered notebooks (default: reports/<profile>)")
    w.add_argument("--figures", help="their SVG exports (default: figures/<profile>)")
    w.add_argument("--verdicts", help="verdict records (default: <reports>/verdicts)")
    w.add_argument("--out", help="the site (default: site/<profile>)")

    d = sub.add_parser("data", help="datasets under the data root")
    d.add_argument("action", choices=("check",))
    d.add_argument("--data-root")
    return p


# TrainConfig fields with flags of their own shape; every other field gets --<field-name>.
_OWN_FLAGS = ("dataset", "loss", "seed", "profile", "fast")


def _override_fields():
    import dataclasses  # noqa: PLC0415

    from .config import TrainConfig  # noqa: PLC0415

    return [f for f in dataclasses.fields(TrainConfig) if f.name not in _OWN_FLAGS]


def _add_override_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, derived from the dataclass, so that the CLI can set every
    setting a config has (a new field gets its flag without touching this file)."""
    from .centers import CENTER_KINDS  # noqa: PLC0415
    from .config import ADV_TARGETS, ARCH_NAMES, AUGMENTS, OPTIMIZERS  # noqa: PLC0415

    choices = {"arch": ARCH_NAMES, "centers": CENTER_KINDS, "optimizer": OPTIMIZERS,
               "augment": AUGMENTS, "adv_target": ADV_TARGETS}
    for f in _override_fields():
        flag, kind = "--" + f.name.replace("_", "-"), str(f.type)
        default = "default: the profile's"
        if f.name in choices:
            parser.add_argument(flag, choices=choices[f.name], help=default)
        elif kind.startswith("bool") and f.default is False:
            parser.add_argument(flag, action="store_true", default=None, help=default)
        elif kind.startswith("bool"):
            parser.add_argument(flag, choices=("yes", "no"), help=default)
        elif kind.startswith("tuple"):
            parser.add_argument(flag, type=int, nargs="*", help=default)
        elif kind.startswith("int"):
            parser.add_argument(flag, type=int, help=default)
        elif kind.startswith("float"):
            parser.add_argument(flag, type=parse_number, help=default)
        else:  # pragma: no cover  (a field of a new type needs a flag shape here)
            raise TypeError(f"cli: no flag shape for TrainConfig.{f.name} ({kind})")


def _train_configs(args) -> list:
    """The TrainConfigs a `train` command asks for: profile defaults, then the flags given."""
    from .profiles import train_config  # noqa: PLC0415

    overrides = {}
    for f in _override_fields():
        v = getattr(args, f.name)
        overrides[f.name] = {"yes": True, "no": False}.get(v, v) if isinstance(v, str) else v
    if args.no_fast:
        overrides["fast"] = False
    return [train_config(args.profile, args.dataset, loss, seed=seed, **overrides)
            for loss in args.loss for seed in args.seed]


def _train(args) -> int:
    from .profiles import THREADS
    from .train import train

    configs = _train_configs(args)
    results = []
    for cfg in configs:
        run = train(cfg, runs_dir=args.runs_dir, data_root=args.data_root, device=args.device,
                    progress=False if args.no_progress else None,
                    threads=args.threads or THREADS.get(cfg.profile))
        m = run.metrics
        results.append({"run": str(run.path), "key": run.key, "loss": cfg.loss, "seed": cfg.seed,
                        "test_accuracy": m["test_accuracy"], "epochs": m["epochs"],
                        "seconds": round(m["seconds"], 2), "diverged": m["diverged"],
                        "diverged_epoch": m["diverged_epoch"], "hardware": m["hardware"]})
    if len(results) > 1:
        print(_table(configs[0], results))
    for r in results:
        print(json.dumps(r))
    return 0


def _table(cfg, results) -> str:
    lines = [f"profile {cfg.profile}, dataset {cfg.dataset} ({results[0]['hardware']})", "",
             "| loss | seed | test accuracy | epochs | seconds | diverged |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        acc = r["test_accuracy"]
        acc = f"{acc:.4f}" if isinstance(acc, float) else str(acc)
        lines.append(f"| {r['loss']} | {r['seed']} | {acc} | {r['epochs']} | {r['seconds']} | "
                     f"{r['diverged']} |")
    return "\n".join(lines) + "\n"


def _evaluate(args) -> int:
    from .attacks import make_attack
    from .evaluate import evaluate
    from .runs import load_run

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n: must be >= 1, got {args.n}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {args.batch_size}")
    kw = {"eps": args.eps, "targeted": args.targeted, "target_mode": args.target_mode,
          "seed": args.seed}
    for name in ("steps", "step_size", "restarts", "objective"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    attack = make_attack(args.attack, **kw)
    run = load_run(args.run, runs_dir=args.runs_dir)
    data = run.test_set(args.data_root)
    df = evaluate(run, attack, data=data, n=args.n, seed=args.seed, batch_size=args.batch_size,
                  device=args.device, progress=False if args.no_progress else None)
    row = df.iloc[0].to_dict()
    row.pop("settings", None)
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    row = {k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}
    print(json.dumps({"run": str(run.path), **row}))
    return 0


def _data(args) -> int:
    from .data import check, data_root

    root = data_root(args.data_root)
    print(f"data root: {root}")
    for name, state in check(args.data_root).items():
        print(f"{name:14s} {state}")
    return 0


def _param_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _notebook_args(args) -> tuple[dict, str | None | bool]:
    """(the -p notebook parameters, the figures folder or False) of report and grid."""
    params = {name: _param_value(value) for name, value in args.param}
    if "profile" in params or "figures_dir" in params:
        raise UsageError("-p profile / figures_dir: use --profile / --figures")
    return params, (False if args.no_figures else args.figures)


def _report(args) -> int:
    try:
        import papermill  # noqa: F401, PLC0415
    except ModuleNotFoundError:
        raise UsageError("report: papermill is not installed; install the report extra: "
                         "pip install 'rethinkmmc[report]'") from None
    from .report import check, plan_runs, render

    params, figures = _notebook_args(args)
    check(args.profile, args.only, params)  # every name and value, before anything runs
    if args.prepare:
        from .profiles import THREADS
        from .train import train

        for cfg in plan_runs(args.profile, params, "report --prepare"):
            run = train(cfg, runs_dir=params.get("runs_dir"), data_root=params.get("data_root"),
                        progress=not args.no_progress, threads=THREADS.get(args.profile))
            print(f"prepared {run.key}: test accuracy {run.metrics.get('test_accuracy')}",
                  file=sys.stderr)
    results = render(args.profile, only=args.only, out=args.out, figures=figures,
                     parameters=params, html=not args.no_html,
                     log=lambda m: print(m, file=sys.stderr), progress=not args.no_progress)
    failed = [k for k, v in results.items() if not v.startswith("ok")]
    print(json.dumps({"profile": args.profile, "results": results, "failed": failed}))
    if failed:
        print(f"rethinkmmc: error: {len(failed)} notebook(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


def _grid(args) -> int:
    from .grid import GridOptions, run_grid
    from .profiles import THREADS

    params, figures = _notebook_args(args)
    opts = GridOptions(backend=args.backend, partition=args.slurm_partition,
                       gpus_per_job=args.gpus_per_job,
                       cpus_per_job=args.cpus_per_job or THREADS.get(args.profile, 2),
                       timeout_min=args.timeout_min, array_parallelism=args.array_parallelism,
                       mem_gb=args.mem_gb, retries=args.retries)
    summary = run_grid(args.profile, only=args.only, options=opts, runs_dir=args.runs_dir,
                       data_root=args.data_root, out=args.out, figures=figures,
                       parameters=params, render=not args.train_only, html=not args.no_html,
                       progress=not args.no_progress)
    print(json.dumps(summary))
    for f in summary["failed"]:
        print(f"rethinkmmc: error: job {f['id']} ({f['job']}) failed: {f['why']} "
              f"(log: {f['log']})", file=sys.stderr)
    return 1 if summary["failed"] else 0


def _site(args) -> int:
    from .site import build_site

    summary = build_site(args.profile, reports=args.reports, figures=args.figures,
                         out=args.out, verdicts=args.verdicts)
    print(json.dumps(summary))
    if summary["broken_links"]:
        print(f"rethinkmmc: error: {len(summary['broken_links'])} broken link(s), first: "
              f"{summary['broken_links'][0]}", file=sys.stderr)
        return 1
    return 0


# Folder options: (flag, attribute, whether the command may create or write into it).
_FOLDERS = (("--runs-dir", "runs_dir", True), ("--data-root", "data_root", False),
            ("--out", "out", True), ("--figures", "figures", True),
            ("--reports", "reports", False), ("--verdicts", "verdicts", False))


def _check_paths(args) -> None:
    """Every folder option absolute against the caller's folder and checked (`_folder`);
    --run's names within the file system's limit; a report's runs_dir / data_root parameters
    likewise (the notebooks run in notebooks/, where a relative path would mean another
    folder)."""
    for flag, attr, create in _FOLDERS:
        if getattr(args, attr, None) is not None:
            setattr(args, attr, _folder(flag, getattr(args, attr), create))
    if getattr(args, "run", None) is not None:
        if _name_too_long(args.run.split("/")):
            raise UsageError("--run: a run key or folder name is at most 255 bytes")
    for i, (name, value) in enumerate(getattr(args, "param", None) or []):
        text = _param_value(value)
        if name in ("runs_dir", "data_root") and isinstance(text, str) and text:
            args.param[i] = [name, json.dumps(_folder(f"-p {name}", text,
                                                      create=name == "runs_dir"))]


def main(argv: list[str] | None = None) -> int:
    try:
        args = _build_parser().parse_args(argv)
        _check_paths(args)
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "report":
            return _report(args)
        if args.command == "grid":
            return _grid(args)
        if args.command == "site":
            return _site(args)
        return _data(args)
    except UsageError as e:
        print(f"rethinkmmc: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"rethinkmmc: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the system refuses (a file in the way, permissions, length)
        where = f"{str(e.filename)[:120]}: " if e.filename else ""
        print(f"rethinkmmc: error: {where}{e.strerror or type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rethinkmmc: interrupted (a training run resumes from its last epoch)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
