"""`rethinkmmc report`: execute the claim notebooks with papermill into reports/<profile>/
(ipynb and HTML), exporting every figure as PNG and SVG into figures/<profile>/.

A failing notebook does not stop the others: it is named at the end and the call fails.
Parameters are checked against each notebook's parameters cell before anything runs.
"""
from __future__ import annotations

import ast
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .profiles import PROFILES
from .runs import FILE_MODE

__all__ = ["ReportError", "notebooks_dir", "notebook_paths", "notebook_parameters", "render",
           "to_html", "plan_runs"]


class ReportError(ValueError):
    """Bad report arguments: an unknown notebook, profile or parameter."""


def notebooks_dir() -> Path:
    """The checkout's notebooks/ folder (the package is used from a checkout)."""
    d = Path(__file__).resolve().parents[1] / "notebooks"
    if not d.is_dir():
        raise ReportError(f"notebooks: no notebooks/ folder at {d} (install from a checkout)")
    return d


def notebook_paths(only: Sequence[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The notebooks in run order (by their number; 99 index last), or those whose name
    contains one of `only` (e.g. '02' or 'whitebox')."""
    paths = sorted((folder or notebooks_dir()).glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return paths
    picked = [p for p in paths if any(o in p.stem for o in only)]
    missing = [o for o in only if not any(o in p.stem for p in paths)]
    if missing:
        raise ReportError(f"only: no notebook matches {', '.join(missing)} (allowed: "
                          + ", ".join(p.stem for p in paths) + ")")
    return picked


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its parameters cell, with their defaults."""
    import papermill  # noqa: PLC0415

    return {k: v["default"] for k, v in papermill.inspect_notebook(str(path)).items()}


def _literal(text: str | None):
    try:
        return ast.literal_eval(text) if text is not None else None
    except (ValueError, SyntaxError):
        return text


def to_html(ipynb: Path) -> Path:
    """An HTML rendering of an executed notebook beside it (no input prompts)."""
    import nbconvert  # noqa: PLC0415
    import nbformat  # noqa: PLC0415

    exporter = nbconvert.HTMLExporter()
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(ipynb, as_version=4))
    out = ipynb.with_suffix(".html")
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(out)
    return out


@contextlib.contextmanager
def _ipc_kernel():
    """A kernel manager on IPC transport (Unix sockets in a private temporary folder): a TCP
    kernel without encryption prints ipykernel's warning into the report's progress output,
    and any local user could connect to it."""
    from jupyter_client.manager import KernelManager  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="rethinkmmc-kernel-") as d:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(d) / "k"))
        try:
            yield km
        finally:  # papermill leaves a kernel it was handed running
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def check(profile: str, only: Sequence[str] | None = None,
          parameters: dict[str, Any] | None = None) -> dict[Path, dict[str, Any]]:
    """Check a report's arguments before anything trains or any kernel starts: the profile,
    the notebooks, and each parameter's name (against every picked notebook's parameters cell)
    and value (rethinkmmc.notebook.check_parameters: type, range, overrides). Returns each
    notebook's declared parameters; raises ReportError naming the first bad one."""
    from .notebook import EXTRA, ParameterError, check_parameters  # noqa: PLC0415

    if profile not in PROFILES:
        raise ReportError(f"profile: unknown {profile!r} (allowed: {', '.join(PROFILES)})")
    params = dict(parameters or {})
    declared_by = {}
    for p in notebook_paths(only):
        declared = declared_by[p] = notebook_parameters(p)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ReportError(f"parameter: {', '.join(unknown)} is not a parameter of {p.stem} "
                              f"(allowed: {', '.join(sorted(declared))})")
        if p.stem in EXTRA:
            try:
                check_parameters(p.stem, {**params, "profile": profile})
            except ParameterError as e:
                raise ReportError(f"parameter: {e}") from None
    return declared_by


def plan_runs(profile: str, parameters: dict[str, Any] | None = None, name: str = "report"
              ) -> list:
    """Every TrainConfig the report at `profile` needs under the notebook parameters that shape
    the plan (``seeds``: each seed's runs; ``overrides``; 02's ``cifar_at``), each key once.
    Seeds and overrides are checked as the notebooks check them (notebook.ParameterError,
    naming `name`)."""
    from .experiments import GROUPS, plan, seeded_plan  # noqa: PLC0415
    from .notebook import check_parameters  # noqa: PLC0415

    parameters = parameters or {}
    given = {k: v for k, v in parameters.items() if k in ("seeds", "overrides")}
    common = check_parameters(name, {**given, "profile": profile}, {})
    # notebook 02's cifar_at=False leaves the adversarially trained CIFAR-10 runs out
    groups = [g for g in GROUPS if g != "cifar_at" or parameters.get("cifar_at", True)]
    cfgs = [c for s in common["seeds"]
            for c in plan(profile, groups, seed=s, **common["overrides"])]
    if "seeds" not in given:  # the profile's own seeds for some notebooks (experiments.SEEDS)
        cfgs += seeded_plan(profile, **common["overrides"])
    return list({c.key(): c for c in cfgs}.values())


def absolute_inputs(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with runs_dir and data_root made absolute against the caller's folder, and
    $RETHINKMMC_RUNS / $RETHINKMMC_DATA likewise (the kernels inherit the environment and run
    in notebooks/, where a relative path would name another folder)."""
    out = dict(params)
    for name in ("runs_dir", "data_root"):
        if isinstance(out.get(name), str) and out[name]:
            out[name] = str(Path(out[name]).expanduser().absolute())
    for var in ("RETHINKMMC_RUNS", "RETHINKMMC_DATA"):
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().absolute())
    return out


def render(profile: str = "smoke", only: Sequence[str] | None = None,
           out: str | Path | None = None, figures: str | Path | None = None,
           parameters: dict[str, Any] | None = None, html: bool = True,
           log: Callable[[str], None] = print, progress: bool = True) -> dict[str, str]:
    """Execute the notebooks at `profile` into `out` (default reports/<profile>); returns
    notebook name -> "ok (N s)" or the error line. Raises ReportError for bad arguments,
    before anything runs. ``figures=False`` exports no figures; the profile is injected only
    where it differs from a notebook's default (so notebooks/ re-executed at its smoke
    defaults gets no injected cell)."""
    import papermill  # noqa: F401, PLC0415  (missing: say so before anything runs)

    # OpenMP threads that spin while they wait starve each other on a busy machine (the smoke
    # profile pins 2 threads): passive waiting gives the same results, 2-4x faster there.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    params = dict(parameters or {})
    declared_by = check(profile, only, params)
    root = notebooks_dir().parent
    # The kernels run in notebooks/: every path they are given is made absolute against the
    # caller's folder first, so that a relative one means what the caller meant.
    out = Path(out).absolute() if out else root / "reports" / profile
    if figures is not False:
        figures = Path(figures).absolute() if figures else root / "figures" / profile
    params = absolute_inputs(params)
    paths = list(declared_by)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, str] = {}
    total = time.perf_counter()
    # The notebooks' kernels inherit this: the verdict records go beside the rendered report.
    before = os.environ.get("RETHINKMMC_VERDICTS")
    os.environ["RETHINKMMC_VERDICTS"] = str((out / "verdicts").resolve())
    try:
        _render_each(paths, declared_by, profile, params, out, figures, html, progress, log,
                     results)
    finally:
        if before is None:
            os.environ.pop("RETHINKMMC_VERDICTS", None)
        else:
            os.environ["RETHINKMMC_VERDICTS"] = before
    log(f"{len(paths)} notebooks in {time.perf_counter() - total:.0f} s -> {out}")
    return results


def _render_each(paths, declared_by, profile, params, out, figures, html, progress, log,
                 results) -> None:
    import papermill  # noqa: PLC0415

    from .experiments import notebook_seeds  # noqa: PLC0415

    for i, p in enumerate(paths, start=1):
        log(f"[{i}/{len(paths)}] {p.stem} ({profile})")
        target = out / p.name
        # Executed into a hidden partial file and moved over the target only when complete:
        # a killed or failed render leaves the previous good notebook in place (a failed one
        # is kept beside it as NAME.failed.ipynb, for its traceback).
        partial = out / f".{p.stem}.partial.ipynb"
        failed = out / f"{p.stem}.failed.ipynb"
        t0 = time.perf_counter()
        inject = dict(params)
        seeds = notebook_seeds(profile, p.stem)
        if seeds is not None and "seeds" not in params:  # the profile's (experiments.SEEDS)
            inject["seeds"] = seeds
        if _literal(declared_by[p].get("profile")) != profile:
            inject["profile"] = profile
        if figures is not False:
            inject["figures_dir"] = str(figures)
        try:
            with _ipc_kernel() as km:
                papermill.execute_notebook(
                    str(p), str(partial), parameters=inject, km=km,
                    progress_bar=progress, cwd=str(p.parent), kernel_name="python3")
            os.chmod(partial, FILE_MODE)
            os.replace(partial, target)
            failed.unlink(missing_ok=True)
            if html:
                to_html(target)
            results[p.stem] = f"ok ({time.perf_counter() - t0:.0f} s)"
        except Exception as e:  # noqa: BLE001  (go on past a failing notebook, name it later)
            line = str(e).strip().splitlines()
            msg = next((ln for ln in reversed(line) if ln.strip()), type(e).__name__)
            results[p.stem] = f"FAILED: {msg[:300]} (see {failed.name})"
            if partial.exists():
                os.replace(partial, failed)
        log(f"    {results[p.stem]}")
