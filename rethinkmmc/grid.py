"""`rethinkmmc grid`: a profile's training runs, then its notebooks, as independent jobs on a
Slurm cluster (or on this machine) through submitit.

The pattern is the one the large vision codebases (DETR, DeiT, DINO, ConvNeXt) use to reach
Slurm: submitit pickles a callable and runs it as a batch job; the callables here are
:class:`TrainJob` (``train.train`` of one config) and :class:`RenderJob` (``report.render`` of
one notebook, which computes and stores that notebook's evaluations). What this module adds:

- **The store is the truth.** A run is submitted only when its ``metrics.json`` is missing, and
  a job that ends without a result while its run is still incomplete was killed.
- **Nothing is submitted twice.** Each job is recorded in ``<runs_dir>/.grid/<profile>/jobs.json``
  (atomic writes) under a lock; a second ``grid`` call finds the job still pending or running
  and watches it instead of submitting it again.
- **Killed jobs are requeued and resume.** :class:`TrainJob` is a ``submitit.helpers.
  Checkpointable``: on Slurm's timeout or preemption signal submitit requeues it, and training
  resumes from its last finished epoch (``train``'s checkpoint, written atomically every epoch),
  so the requeued job ends at the same weights. A job that ends without a result and without its
  run stored (``scancel``, a node failure, the out-of-memory killer) is submitted again by the
  grid, up to ``retries`` times, and resumes the same way.
- **Cluster file systems.** ``runs.run_lock`` takes an ``flock``, which some network file
  systems do not honour across nodes. The grid never gives one key to two jobs (the record
  above), and every store write is a rename of a complete file, so a reader on another node
  sees a whole checkpoint or none; that suffices without the lock.
- **Evaluations after training.** The notebook jobs are submitted when every training job has
  succeeded (the grid waits; Slurm then needs no dependency support); 99_index, which reads the
  other notebooks' verdicts, last. Afterwards ``rethinkmmc report`` renders from the store
  without training or attacking anything. A notebook is rendered again only when its source,
  the runs it may read or the parameters change.

The Slurm state comes from ``squeue`` (one line per array task), not from ``sacct``: clusters
without the accounting daemon, such as the single-node one ``.ci/slurm-up`` starts, have no
``sacct``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .runs import atomic_write_json, default_runs_dir, run_dir

__all__ = ["BACKENDS", "GridError", "GridOptions", "TrainJob", "RenderJob", "run_grid",
           "grid_folder"]

BACKENDS = ("local", "slurm")
# Slurm states of a job that is not over (squeue's long names).
_ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_FED",
           "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}


class GridError(ValueError):
    """Bad grid arguments, or a backend that cannot run here (one line, names the field)."""


@dataclass
class GridOptions:
    """How jobs are submitted. ``cpus_per_job``: CPUs (and torch threads) each job gets;
    ``array_parallelism``: jobs running at once (Slurm's array limit; the local backend's
    number of concurrent processes); ``retries``: how often a job killed without a result is
    submitted again; ``poll_s``: seconds between state checks."""
    backend: str = "local"
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 2
    timeout_min: int = 60
    array_parallelism: int | None = None
    mem_gb: float | None = None
    retries: int = 2
    poll_s: float = 2.0

    def check(self) -> "GridOptions":
        if self.backend not in BACKENDS:
            raise GridError(f"backend: unknown {self.backend!r} (allowed: {', '.join(BACKENDS)})")
        for name, low in (("gpus_per_job", 0), ("cpus_per_job", 1), ("timeout_min", 1),
                          ("retries", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise GridError(f"{name}: must be an integer >= {low}, got {v!r}")
        if self.array_parallelism is not None and (not isinstance(self.array_parallelism, int)
                                                   or self.array_parallelism < 1):
            raise GridError(f"array_parallelism: must be an integer >= 1, "
                            f"got {self.array_parallelism!r}")
        if self.backend == "slurm" and shutil.which("sbatch") is None:
            raise GridError("backend: slurm needs sbatch on PATH and it is not there (load the "
                            "cluster's Slurm module, or use --backend local)")
        if self.backend == "local" and self.gpus_per_job > 1:
            raise GridError("gpus_per_job: the local backend runs jobs on this machine's "
                            "default device; use 0 or 1")
        return self

    def parallel(self) -> int:
        if self.array_parallelism:
            return self.array_parallelism
        if self.backend == "local":  # this machine's cores, shared by whole jobs
            return max(1, (os.cpu_count() or 1) // self.cpus_per_job)
        return 256


# -- what a job runs -----------------------------------------------------------------------------
try:  # submitit is the grid extra; the package imports without it
    from submitit.helpers import Checkpointable as _Requeueable
except ModuleNotFoundError:  # pragma: no cover
    _Requeueable = object


class TrainJob(_Requeueable):
    """One training run as a job (``train.train``). Requeued by submitit on a timeout or a
    preemption; the requeued job resumes from the run's last finished epoch."""

    def __call__(self, cfg, runs_dir, data_root, threads):
        from .train import train  # noqa: PLC0415

        epochs: list[int] = []  # those this job trains; the first one tells where it resumed

        def seen(epoch, record):
            if not epochs and epoch > 1:
                print(f"{cfg.key()}: resumed from its stored epoch {epoch - 1}", flush=True)
            epochs.append(epoch)

        run = train(cfg, runs_dir=runs_dir, data_root=data_root, progress=False, threads=threads,
                    on_epoch_end=seen)
        m = run.metrics
        return {"key": run.key, "test_accuracy": m.get("test_accuracy"),
                "resumed_from": epochs[0] - 1 if epochs else 0,
                "diverged": bool(m.get("diverged", False)), "seconds": m.get("seconds")}


class RenderJob(_Requeueable):
    """One notebook rendered into the report folder (``report.render``): it computes the
    notebook's evaluations and stores them beside the runs. A requeued render reads back every
    evaluation that was already stored."""

    def __call__(self, profile, notebook, out, figures, params, html):
        from .report import render  # noqa: PLC0415

        res = render(profile, only=[notebook], out=out, figures=figures, parameters=params,
                     html=html, progress=False, log=lambda m: print(m, flush=True))
        status = res.get(notebook, "FAILED: not rendered")
        if not status.startswith("ok"):
            raise RuntimeError(f"{notebook}: {status}")
        return {"notebook": notebook, "status": status}


# -- the backends' view of a job -----------------------------------------------------------------
def grid_folder(profile: str, runs_dir: str | Path | None = None) -> Path:
    """Where the grid keeps its job records and the jobs' logs, inside the run store (shared by
    every node that reads the store)."""
    return Path(runs_dir or default_runs_dir()) / ".grid" / profile


def _executor(folder: Path, opts: GridOptions, name: str):
    import submitit  # noqa: PLC0415

    ex = submitit.AutoExecutor(folder=str(folder / "logs" / "%j"), cluster=opts.backend)
    params: dict[str, Any] = dict(timeout_min=opts.timeout_min, cpus_per_task=opts.cpus_per_job,
                                  name=name)
    if opts.backend == "slurm":
        params.update(slurm_array_parallelism=opts.parallel())
        if opts.gpus_per_job:
            params["gpus_per_node"] = opts.gpus_per_job
        if opts.partition:
            params["slurm_partition"] = opts.partition
        if opts.mem_gb:
            params["mem_gb"] = opts.mem_gb
    elif opts.gpus_per_job:
        params["gpus_per_node"] = opts.gpus_per_job
    ex.update_parameters(**params)
    return ex


def _job(folder: Path, backend: str, job_id: str):
    import submitit  # noqa: PLC0415

    cls = submitit.SlurmJob if backend == "slurm" else submitit.LocalJob
    return cls(folder=str(folder / "logs" / job_id), job_id=job_id)


def _slurm_states() -> dict[str, str] | None:
    """job id -> state of every job squeue still knows, one line per array task; None when
    squeue does not answer (a busy controller: every job counts as alive until it does)."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    return dict(ln.split("|", 1) for ln in out.stdout.split() if "|" in ln)


def _pid_alive(pid: str) -> bool:
    """A local job's process is running (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _outcome(job) -> tuple[str, Any] | None:
    """("success", value) or ("error", traceback) once the job wrote its result, else None."""
    from submitit.core.utils import pickle_load  # noqa: PLC0415

    path = job.paths.result_pickle
    with contextlib.suppress(OSError):  # defeat a network file system's stale directory cache
        path.parent.chmod(path.parent.stat().st_mode)
    if not path.exists():
        return None
    try:
        return pickle_load(path)
    except Exception:  # noqa: BLE001  (being written right now: look again next time)
        return None


# -- the records ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_records(folder: Path) -> dict:
    try:
        return json.loads((folder / "jobs.json").read_text())
    except (OSError, ValueError):
        return {"jobs": {}, "rendered": {}}


def _write_records(folder: Path, rec: dict) -> None:
    atomic_write_json(folder / "jobs.json", rec)


@dataclass
class _Task:
    name: str                     # the run key, or "render:<notebook>"
    fn: Any
    args: tuple
    done: Callable[[], bool]      # the store already holds the result
    job_id: str | None = None
    attempts: int = 0
    status: str = "todo"          # todo, pending, running, done, failed
    detail: str = ""
    gone_seen: int = 0
    result: Any = None
    log: str = ""
    digest: str = ""              # a render's inputs (see _render_digest)
    job: Any = field(default=None, repr=False)

    def watch(self, job, attempts: int) -> None:
        """Follow `job` (just submitted, or found in the records) from now on."""
        self.job, self.job_id, self.attempts = job, str(job.job_id), attempts
        self.status, self.log, self.gone_seen = "pending", str(job.paths.stderr), 0


def _submit(tasks: list[_Task], folder: Path, opts: GridOptions, profile: str, log) -> int:
    """Submit `tasks` (under the records' lock), unless a recorded job of the same name is still
    active: then watch that one. Returns how many were submitted."""
    if not tasks:
        return 0
    with _locked(folder):
        rec = _read_records(folder)
        active = (_slurm_states() or {}) if opts.backend == "slurm" else {}
        fresh = []
        for t in tasks:
            if t.done():  # stored meanwhile (by another grid call's job): nothing to run
                t.status = "done"
                continue
            old = rec["jobs"].get(t.name)
            if old and old.get("backend") == opts.backend and (
                    active.get(old["id"]) in _ACTIVE if opts.backend == "slurm"
                    else _pid_alive(old["id"])) and old["id"] != t.job_id:
                t.watch(_job(folder, opts.backend, old["id"]), old.get("attempt", 1))
                log(f"grid: {t.name} is already job {t.job_id}; watching it")
            else:
                fresh.append(t)
        if fresh:
            ex = _executor(folder, opts, f"rethinkmmc-{profile}")
            if opts.backend == "slurm" and len(fresh) > 1:
                with ex.batch():  # one job array
                    jobs = [ex.submit(t.fn, *t.args) for t in fresh]
            else:
                jobs = [ex.submit(t.fn, *t.args) for t in fresh]
            for t, j in zip(fresh, jobs):
                t.watch(j, t.attempts + 1)
                rec["jobs"][t.name] = {"id": t.job_id, "backend": opts.backend,
                                       "attempt": t.attempts, "log": t.log,
                                       "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}
            _write_records(folder, rec)
    return len(fresh)


def _recorded_id(folder: Path, name: str) -> str | None:
    return _read_records(folder)["jobs"].get(name, {}).get("id")


def _watch(tasks: list[_Task], folder: Path, opts: GridOptions, profile: str, log,
           bar, counts: dict[str, int]) -> None:
    """Until every task is done or failed: read results, resubmit killed jobs, keep at most
    opts.parallel() local jobs running; submissions and resubmissions add to `counts`."""
    queue = [t for t in tasks if t.status == "todo"]
    limit = opts.parallel() if opts.backend == "local" else len(tasks)
    while True:
        live = [t for t in tasks if t.status in ("pending", "running")]
        room = limit - len(live)
        if queue and room > 0:
            batch, queue = queue[:room], queue[room:]
            counts["submitted"] += _submit(batch, folder, opts, profile, log)
        states = _slurm_states() if opts.backend == "slurm" else {}
        for t in [t for t in tasks if t.status in ("pending", "running")]:
            out = _outcome(t.job)
            if out is not None:
                kind, value = out
                t.status = "done" if kind == "success" else "failed"
                t.result = value if kind == "success" else None
                t.detail = "" if kind == "success" else str(value).strip().splitlines()[-1][:300]
                continue
            if opts.backend == "slurm":
                st = states.get(t.job_id) if states is not None else "RUNNING"
                alive = st in _ACTIVE
                t.status = "running" if st == "RUNNING" else ("pending" if alive else t.status)
            else:
                alive = _local_alive(t)
                t.status = "running" if alive else t.status
            if alive:
                t.gone_seen = 0
                continue
            t.gone_seen += 1
            if t.gone_seen < 2:  # a result may be about to appear: look once more
                continue
            if t.done():  # killed after its run was stored (e.g. while writing the result)
                t.status = "done"
                continue
            newer = _recorded_id(folder, t.name)
            if newer and newer != t.job_id:  # another grid call already resubmitted it
                t.watch(_job(folder, opts.backend, newer), t.attempts)
                continue
            if t.attempts > opts.retries:
                t.status = "failed"
                t.detail = (f"ended without a result {t.attempts} times (cancelled, killed or "
                            f"out of memory)")
                continue
            log(f"grid: job {t.job_id} ({t.name}) ended without a result; submitting it again "
                f"(it resumes from its last stored epoch)")
            # (0 when another grid call resubmitted it meanwhile: then this one watches that)
            counts["resubmitted"] += _submit([t], folder, opts, profile, log)
        if bar is not None:
            bar.n = sum(t.status in ("done", "failed") for t in tasks)
            bar.set_postfix_str(_summary(tasks), refresh=False)
            bar.refresh()
        if all(t.status in ("done", "failed") for t in tasks):
            return
        time.sleep(opts.poll_s)


def _local_alive(t: _Task) -> bool:
    proc = getattr(t.job, "_process", None)
    if proc is not None:
        return proc.poll() is None
    return _pid_alive(t.job_id)


def _summary(tasks: list[_Task]) -> str:
    c = {s: sum(t.status == s for t in tasks) for s in ("todo", "pending", "running", "done",
                                                        "failed")}
    return " ".join(f"{k} {v}" for k, v in c.items() if v)


# -- the grid ------------------------------------------------------------------------------------
def _render_digest(profile: str, nb: Path, configs: list, params: dict, runs_dir) -> str:
    """What a rendered notebook depends on: its source, the stored runs (their metrics files),
    the parameters and the profile."""
    h = hashlib.sha256(nb.read_bytes())
    # The same folder under another spelling (a symlink) is the same input.
    same = {k: (str(Path(v).resolve()) if k in ("runs_dir", "data_root") and v else v)
            for k, v in params.items()}
    h.update(json.dumps([profile, sorted(same.items())], default=str).encode())
    for cfg in sorted(configs, key=lambda c: c.key()):
        m = run_dir(cfg, runs_dir) / "metrics.json"
        h.update(cfg.key().encode() + (m.read_bytes() if m.exists() else b"-"))
    return h.hexdigest()


def run_grid(profile: str = "smoke", only: Sequence[str] | None = None,
             options: GridOptions | None = None, runs_dir: str | Path | None = None,
             data_root: str | Path | None = None, out: str | Path | None = None,
             figures: str | Path | None | bool = None, parameters: dict | None = None,
             configs: Sequence | None = None, render: bool = True, html: bool = True,
             progress: bool = True, log: Callable[[str], None] | None = None) -> dict:
    """Train every run of `profile`'s plan that the store lacks, then render the notebooks
    (`only`: those whose name contains one of these), each as its own job; wait for all of
    them and return a summary (what was submitted, resubmitted, done and failed, with log paths).

    `configs` replaces the plan by an explicit list of TrainConfigs (then nothing is rendered
    unless `only` is given). `parameters` are the notebooks' (``seeds``, ``overrides`` also
    shape the plan, as with ``report --prepare``). Raises GridError for bad arguments before
    anything is submitted."""
    from .notebook import ParameterError  # noqa: PLC0415
    from .profiles import THREADS  # noqa: PLC0415
    from .report import ReportError, absolute_inputs, check, plan_runs  # noqa: PLC0415

    opts = (options or GridOptions()).check()
    # Jobs that share a node's cores: OpenMP threads that spin while they wait starve each
    # other (as in report.render); passive waiting changes no result.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import submitit  # noqa: F401, PLC0415
    except ModuleNotFoundError:
        raise GridError("grid: submitit is not installed; pip install 'rethinkmmc[grid]'") \
            from None
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    params = dict(parameters or {})
    try:
        declared = check(profile, only, params) if (render and (only or configs is None)) else {}
        planned = plan_runs(profile, params, "grid")
    except (ReportError, ParameterError) as e:
        raise GridError(str(e)) from None
    runs_dir = Path(runs_dir or params.get("runs_dir") or default_runs_dir()).absolute()
    data_root = data_root or params.get("data_root")
    data_root = str(Path(data_root).absolute()) if data_root else None
    params = absolute_inputs({**params, "runs_dir": str(runs_dir),
                              **({"data_root": data_root} if data_root else {})})
    configs = planned if configs is None else list({c.key(): c for c in configs}.values())
    folder = grid_folder(profile, runs_dir)
    threads = THREADS.get(profile, opts.cpus_per_job)
    t0 = time.perf_counter()

    def stored(cfg):
        return lambda: (run_dir(cfg, runs_dir) / "metrics.json").exists()

    train_tasks = [_Task(c.key(), TrainJob(), (c, str(runs_dir), data_root, threads), stored(c))
                   for c in configs]
    train_tasks = [t for t in train_tasks if not t.done()]
    summary: dict[str, Any] = {"profile": profile, "backend": opts.backend,
                               "runs_in_plan": len(configs),
                               "already_stored": len(configs) - len(train_tasks)}
    counts = {"submitted": 0, "resubmitted": 0}
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415
        bar = tqdm(total=len(train_tasks), desc=f"grid {profile} training", file=sys.stderr)
    try:
        if train_tasks:
            _watch(train_tasks, folder, opts, profile, log, bar, counts)
        failed = [t for t in train_tasks if t.status == "failed"]
        render_tasks: list[_Task] = []
        if render and declared and not failed:
            out = Path(out).absolute() if out else None
            fig = figures if figures is False else (str(Path(figures).absolute())
                                                    if figures else None)
            rec = _read_records(folder)
            phases = [[p for p in declared if not p.stem.startswith("99")],
                      [p for p in declared if p.stem.startswith("99")]]
            for phase in phases:
                tasks = []
                for nb in phase:
                    digest = _render_digest(profile, nb, configs, params, runs_dir)
                    target = (out or nb.parents[1] / "reports" / profile) / nb.name
                    if rec["rendered"].get(nb.stem) == digest and target.exists():
                        continue
                    tasks.append(_Task(f"render:{nb.stem}", RenderJob(),
                                       (profile, nb.stem, str(out) if out else None, fig, params,
                                        html), lambda: False, digest=digest))
                if not tasks:
                    continue
                if bar is not None:
                    bar.reset(total=len(tasks))
                    bar.set_description(f"grid {profile} notebooks")
                _watch(tasks, folder, opts, profile, log, bar, counts)
                with _locked(folder):
                    rec = _read_records(folder)
                    for t in tasks:
                        if t.status == "done":
                            rec["rendered"][t.name.split(":", 1)[1]] = t.digest
                    _write_records(folder, rec)
                render_tasks += tasks
                if any(t.status == "failed" for t in tasks):
                    break  # the index reads every other notebook's verdicts
    finally:
        if bar is not None:
            bar.close()
    every = train_tasks + render_tasks
    summary.update(counts)
    summary.update({
        "trained": [t.name for t in train_tasks if t.status == "done"],
        "resumed": {t.name: t.result["resumed_from"] for t in train_tasks
                    if t.status == "done" and isinstance(t.result, dict)
                    and t.result.get("resumed_from")},
        "rendered": [t.name.split(":", 1)[1] for t in render_tasks if t.status == "done"],
        "failed": [{"job": t.name, "id": t.job_id, "why": t.detail, "log": t.log}
                   for t in every if t.status == "failed"],
        "seconds": round(time.perf_counter() - t0, 1), "folder": str(folder)})
    return summary

