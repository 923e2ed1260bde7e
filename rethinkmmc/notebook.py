"""What every claim notebook does besides its experiment: check its papermill parameters,
state where its numbers come from, show and export figures, store its verdicts.

A notebook's first cell (tagged ``parameters``) assigns the parameters; its second calls
``ctx = nb.start("02_whitebox", globals())``. papermill only warns about a parameter the
notebook does not declare; :func:`start` fails, naming it, and checks every value.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from . import data as D
from . import verdicts as V
from .claims.common import over_seeds
from .experiments import Settings, configs, settings
from .profiles import PROFILES, THREADS
from .runs import atomic_write_json, default_runs_dir, in_checkout
from .torchutil import hardware

__all__ = ["COMMON", "EXTRA", "IDENTITY", "ParameterError", "Context", "check_parameters",
           "record_runs", "start", "default_verdicts_dir", "load_verdicts", "show_table"]

# The parameters every notebook takes, with their defaults (the smoke profile).
COMMON: dict[str, Any] = dict(profile="smoke", data_root=None, runs_dir=None, seeds=[0],
                              overrides={}, figures_dir=None)
_LITERALS = (str, int, float, bool, list, dict, tuple, type(None))
_IPYTHON = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterError(ValueError):
    """A notebook parameter with an unknown name or a bad value."""


def _user_names(ns: dict) -> dict[str, Any]:
    """The names a parameters cell (or papermill's injected cell) can have assigned: plain
    values, not modules, functions, IPython's own names or private ones."""
    return {k: v for k, v in ns.items()
            if not k.startswith("_") and k not in _IPYTHON
            and not isinstance(v, types.ModuleType) and isinstance(v, _LITERALS)}


def _check(name: str, value: Any, default: Any, nb: str) -> Any:
    if name == "profile":
        if value not in PROFILES:
            raise ParameterError(f"{nb}: parameter profile={value!r} is not a profile "
                                 f"(allowed: {', '.join(PROFILES)})")
    elif name == "seeds":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in value)):
            raise ParameterError(f"{nb}: parameter seeds={value!r} must be a non-empty list of "
                                 "integers >= 0")
        value = [int(s) for s in value]
    elif name == "overrides":
        if not isinstance(value, dict):
            raise ParameterError(f"{nb}: parameter overrides={value!r} must be a dict of "
                                 "TrainConfig fields")
        named = sorted(set(value) & set(IDENTITY))
        if named:
            raise ParameterError(f"{nb}: parameter overrides may not set {', '.join(named)}: "
                                 "they decide which run a row's label names (MMC-10, AT-SCE, "
                                 "...); the notebook's groups set them (seeds: the seeds "
                                 "parameter)")
    elif name in ("data_root", "runs_dir", "figures_dir"):
        if value is not None and not isinstance(value, str):
            raise ParameterError(f"{nb}: parameter {name}={value!r} must be a path (str) or None")
        if name == "data_root" and value is not None and not Path(value).is_dir():
            raise ParameterError(f"{nb}: parameter data_root={value!r} is not a directory")
    elif name in _COUNTS:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ParameterError(f"{nb}: parameter {name}={value!r} must be an integer >= 1 "
                                 f"or None ({_COUNTS[name]})")
    elif name == "dataset":
        from .config import DATASET_NAMES  # noqa: PLC0415

        if value is not None and value not in DATASET_NAMES:
            raise ParameterError(f"{nb}: parameter dataset={value!r} is not a dataset "
                                 f"(allowed: {', '.join(DATASET_NAMES)}, or None)")
    elif default is not None:
        kind = (int, float) if isinstance(default, float) else type(default)
        if isinstance(value, bool) and not isinstance(default, bool):
            kind = ()
        if not isinstance(value, kind):
            raise ParameterError(f"{nb}: parameter {name}={value!r} must be of type "
                                 f"{type(default).__name__} like its default {default!r}")
    return value


# Each notebook's own parameters beside COMMON, with their defaults: one declaration, read by
# `start` inside the notebook and by `rethinkmmc report` before any kernel starts.
EXTRA: dict[str, dict[str, Any]] = {
    "01_centers": {}, "02_whitebox": {"n": None, "cifar_at": True, "cascade_stored": False}, "03_blackbox": {"n": None},
    "04_corruptions": {"n": None}, "05_uncertainty": {"n": None},
    "06_cost": {"batches": None, "repeats": None}, "07_density": {}, "08_features": {"n": None},
    "09_remark3": {}, "10_cmm_sweep": {}, "11_hmmc": {"dataset": None}, "99_index": {},
}
_COUNTS = {"n": "test points; None: the profile's", "batches": "batches timed per repeat",
           "repeats": "timing repeats"}
# TrainConfig fields an override may not change: a run's label (MMC-10, AT-SCE, SCE 2-D,
# Adam, HMMC 10/1) says them, so changing them would put the label on another run.
IDENTITY = ("dataset", "loss", "centers", "c_mm", "hmmc_c2", "adv_train", "feat_dim",
            "optimizer", "seed", "profile")


def check_parameters(name: str, given: dict[str, Any],
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter of notebook `name` (COMMON and its own, `extra` or else EXTRA[name],
    defaults filled in), each given value checked: name, type, range, and overrides against
    TrainConfig. Raises ParameterError naming the first bad one. Nothing is trained or
    executed."""
    allowed = {**COMMON, **(EXTRA.get(name, {}) if extra is None else extra)}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ParameterError(f"{name}: unknown parameter(s) {', '.join(unknown)} "
                             f"(allowed: {', '.join(sorted(allowed))})")
    params = {k: _check(k, given.get(k, v), v, name) for k, v in allowed.items()}
    try:  # a bad override is a bad parameter: say so before any training
        configs(params["profile"], "standard", **params["overrides"])
    except (TypeError, ValueError) as e:
        raise ParameterError(f"{name}: parameter overrides: {e}") from None
    return params


@dataclass
class Context:
    """A notebook's checked parameters and what it needs from them."""

    name: str
    params: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    figures: list[str] = field(default_factory=list)
    used_runs: set[str] = field(default_factory=set)   # keys of the runs `runs` handed out

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["params"][key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def settings(self) -> Settings:
        """The profile's evaluation settings (experiments.SETTINGS), with `n` and other
        notebook parameters of the same name on top."""
        s = settings(self.profile)
        names = {f.name for f in dataclasses.fields(s)}
        return s.replace(**{k: v for k, v in self.params.items() if k in names and v is not None})

    @property
    def seed(self) -> int:
        return self.seeds[0]

    @property
    def threads(self) -> int | None:
        """The CPU threads the profile fixes for training (profiles.THREADS), else None."""
        return THREADS.get(self.profile)

    @property
    def progress(self) -> bool:
        # Smoke runs are what nbval re-executes: keep progress bars out of their outputs.
        return self.profile != "smoke"

    def over_seeds(self, measure) -> pd.DataFrame:
        """``measure(seed)`` for every seed of the parameters, stacked with a ``seed``
        column (claims.common.over_seeds)."""
        return over_seeds(self.seeds, measure)

    def seed_verdicts(self, rows_for, once=()) -> pd.DataFrame:
        """The verdict table from ``rows_for(seed)`` (one seed's Verdict rows) over every
        seed: a row holds (fails) only when it holds (fails) on every seed
        (verdicts.across_seeds). ``once``: rows measured once, whatever the seeds (a timing
        does not depend on a training seed; repeating it per seed would pass one reading off
        as several), placed first."""
        return V.verdict_table(list(once) + V.across_seeds({s: rows_for(s) for s in self.seeds}))

    def configs(self, group: str, seed: int | None = None):
        return configs(self.profile, group, seed=self.seed if seed is None else seed,
                       **self.overrides)

    def runs(self, group: str, seed: int | None = None) -> dict:
        """Display name -> Run of an experiments group, trained where runs/ lacks it."""
        from .train import train  # noqa: PLC0415

        out = {name: train(cfg, runs_dir=self.runs_dir, data_root=self.data_root,
                           progress=self.progress, threads=self.threads)
               for name, cfg in self.configs(group, seed).items()}
        self.used_runs.update(r.key for r in out.values())  # named in the verdict record
        return out

    def provenance(self, datasets: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
        """Profile, data (and how it differs from the official files), seeds, hardware,
        package and torch versions, start time."""
        import torch  # noqa: PLC0415

        rows = [("notebook", self.name), ("profile", self.profile),
                ("seeds", ", ".join(map(str, self.seeds))),
                ("overrides", json.dumps(self.overrides) if self.overrides else "none")]
        for d in datasets:
            rows.append((f"data: {d}", D.DATASETS[d].notes))
        rows += [("data root", str(D.data_root(self.data_root))),
                 ("runs", str(self.runs_dir or default_runs_dir())),
                 ("hardware", hardware()), ("threads", str(torch.get_num_threads())),
                 ("rethinkmmc", __version__), ("torch", torch.__version__),
                 ("python", platform.python_version()), ("started", self.started_at)]
        return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")

    def show(self, fig, name: str):
        """Return `fig` for inline display; with figures_dir set, also save it there as PNG and
        SVG named `<notebook>-<name>`."""
        if self.figures_dir:
            out = Path(self.figures_dir)
            out.mkdir(parents=True, exist_ok=True)
            stem = f"{self.name}-{name}"
            for ext in ("png", "svg"):
                fig.savefig(out / f"{stem}.{ext}", dpi=100, bbox_inches="tight",
                            metadata={"Date": None} if ext == "svg" else None)
            self.figures.append(stem)
        return fig

    def verdict_dir(self) -> Path:
        return default_verdicts_dir(self.profile)

    def save_verdicts(self, table: pd.DataFrame, volatile: bool = False) -> pd.DataFrame:
        """Store the verdict table (with provenance) for the index notebook; return it.

        `volatile`: the verdicts rest on timings, which vary between executions; the index
        shows them apart, outside what nbval compares."""
        rec = {"notebook": self.name, "profile": self.profile, "seeds": self.seeds,
               "volatile": bool(volatile),
               "overrides": self.overrides, "hardware": hardware(), "version": __version__,
               "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
               "seconds": round(self.elapsed(), 1), "runs": sorted(self.used_runs),
               "rows": _records(table)}
        atomic_write_json(self.verdict_dir() / f"{self.name}.json", rec)
        return table

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def finish(self) -> str:
        return f"{self.name}: {self.elapsed():.1f} s on {hardware()} (profile {self.profile})"


def _records(table: pd.DataFrame) -> list[dict]:
    """The verdict rows as dicts, each with its margin (None where not known) from
    ``table.attrs`` (see rethinkmmc.verdicts)."""
    rows = table.to_dict(orient="records")
    margins = table.attrs.get("margin") or [None] * len(rows)
    for row, m in zip(rows, margins):
        row["margin"] = None if m is None or m != m else float(m)
    return rows


def start(name: str, ns: dict, **extra: Any) -> Context:
    """Check the parameters assigned in namespace `ns` (the notebook's globals()) against
    COMMON plus this notebook's `extra` parameters (name=default) and return the Context.

    Raises ParameterError naming any unknown parameter or bad value.
    """
    if name in EXTRA and extra and set(extra) != set(EXTRA[name]):
        raise ParameterError(f"{name}: its own parameters {sorted(extra)} differ from "
                             f"notebook.EXTRA's {sorted(EXTRA[name])}")
    # a notebook outside the report (tests, users' own) declares its own parameters here
    ctx = Context(name=name, params=check_parameters(name, _user_names(ns),
                                                     None if name in EXTRA else extra))
    if ctx.threads:  # the kernel's inference too, not only training
        import torch  # noqa: PLC0415

        torch.set_num_threads(ctx.threads)
    import matplotlib  # noqa: PLC0415

    # tqdm.auto warns (with a file path, which differs between checkouts) when ipywidgets is
    # missing; the text bar it falls back to is fine.
    warnings.filterwarnings("ignore", message="IProgress not found")

    matplotlib.rcParams["svg.hashsalt"] = "rethinkmmc"  # stable SVG ids across renders
    _inline_figures()
    pd.set_option("display.max_colwidth", 120)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    return ctx


def _inline_figures() -> None:
    """Show returned Figures inline: the figures are built without pyplot, so the inline
    backend's PNG formatter must be switched on explicitly inside a kernel."""
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and hasattr(ip, "run_line_magic"):
        ip.run_line_magic("matplotlib", "inline")


def default_verdicts_dir(profile: str) -> Path:
    """Where the notebooks of `profile` store their verdict records for the index: the
    report's own folder. $RETHINKMMC_VERDICTS (which `rethinkmmc report` sets to
    ``<out>/verdicts`` for its kernels), else the checkout's reports/<profile>/verdicts
    (runs.in_checkout). Not runs/: the run store holds models and attack results, not
    conclusions drawn from them."""
    env = os.environ.get("RETHINKMMC_VERDICTS")
    return Path(env) if env else in_checkout(Path("reports") / profile / "verdicts")


def load_verdicts(profile: str, verdicts_dir: str | Path | None = None) -> list[dict]:
    """The verdict records stored by the notebooks of `profile` (in `verdicts_dir`, default
    :func:`default_verdicts_dir`), by notebook name."""
    folder = Path(verdicts_dir) if verdicts_dir else default_verdicts_dir(profile)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def record_runs(record: dict, runs_dir: str | Path | None = None) -> tuple[str, str]:
    """Whether the runs a stored verdict record was computed from (its ``runs``, the keys
    :meth:`Context.runs` handed out) are still in the store, as (state, the state in words):
    "current"; "stale" when a run was retrained under another key or removed since (the
    verdicts then describe models the store no longer has: re-render that notebook); "not
    recorded" for records written before they named their runs."""
    keys = record.get("runs")
    if keys is None:
        return "not recorded", "not recorded (rendered before verdict records named their runs)"
    root = Path(runs_dir or default_runs_dir()) / record["profile"]
    gone = [k for k in keys if not (root / k / "metrics.json").is_file()]
    if not gone:
        return "current", "current"
    return "stale", (f"stale: {len(gone)} of {len(keys)} runs gone from the store "
                     f"({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}): re-render it")


def show_table(df: pd.DataFrame, digits: int = 3):
    """A DataFrame rounded for display: stored outputs must repeat on re-execution."""
    return df.round(digits)
