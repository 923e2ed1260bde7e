"""`rethinkmmc grid`: the profile's runs and notebooks as submitit jobs, on this machine and on a
live single-node Slurm cluster (.ci/run starts one with .ci/slurm-up; where none answers, the
Slurm tests skip and say why)."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("submitit")

from rethinkmmc.cli import main  # noqa: E402
from rethinkmmc.experiments import plan  # noqa: E402
from rethinkmmc.grid import GridError, GridOptions, grid_folder, run_grid  # noqa: E402
from rethinkmmc.profiles import THREADS, train_config  # noqa: E402
from rethinkmmc.runs import load_run, run_dir  # noqa: E402
from rethinkmmc.train import train  # noqa: E402

SAME = ("test_accuracy", "train_accuracy", "final_loss", "epochs")


def _same_run(a, b):
    for k in SAME:
        assert a.metrics[k] == b.metrics[k], k
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(x, y)


@pytest.fixture(scope="module")
def slurm():
    """A Slurm cluster that answers (sinfo shows a usable node), else skip with the reason."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        pytest.skip("Slurm is not installed here (.ci/run installs slurm-wlm and munge and "
                    "starts a single-node cluster with .ci/slurm-up)")
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if out.returncode or not any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split()):
        pytest.skip(f"no Slurm node answers (sinfo: {(out.stdout + out.stderr).strip()[:120]!r});"
                    f" start one with .ci/slurm-up")
    return True


# -- the local backend and the errors --------------------------------------------------------------
def test_local_grid_trains_what_the_store_lacks_and_matches_a_direct_run(tmp_path):
    cfgs = [train_config("smoke", "digits", loss, epochs=3, milestones=()) for loss in ("sce", "mmc")]
    train(cfgs[0], runs_dir=tmp_path / "store", threads=2)  # one already stored
    s = run_grid("smoke", configs=cfgs, options=GridOptions(poll_s=0.2),
                 runs_dir=tmp_path / "store", progress=False)
    assert (s["submitted"], s["already_stored"], s["failed"]) == (1, 1, [])
    assert s["trained"] == [cfgs[1].key()]
    direct = train(cfgs[1], runs_dir=tmp_path / "direct", threads=THREADS["smoke"])
    _same_run(load_run(run_dir(cfgs[1], tmp_path / "store")), direct)
    again = run_grid("smoke", configs=cfgs, options=GridOptions(poll_s=0.2),
                     runs_dir=tmp_path / "store", progress=False)
    assert (again["submitted"], again["already_stored"]) == (0, 2)


def test_a_failing_job_is_named_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("RETHINKMMC_DATA", str(tmp_path / "no-data"))
    cfg = train_config("smoke", "mnist", "sce", epochs=1)  # MNIST is not under the data root
    s = run_grid("smoke", configs=[cfg], options=GridOptions(poll_s=0.2, retries=0),
                 runs_dir=tmp_path / "store", progress=False)
    (f,) = s["failed"]
    assert f["job"] == cfg.key() and Path(f["log"]).is_file()
    assert "mnist" in f["why"].lower() or "data" in f["why"].lower()


def test_grid_argument_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(GridError, match="cpus_per_job: must be an integer >= 1"):
        GridOptions(cpus_per_job=0).check()
    with pytest.raises(GridError, match="backend: unknown 'ray'"):
        GridOptions(backend="ray").check()
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    rc = main(["grid", "--backend", "slurm", "--runs-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("rethinkmmc: error: backend: slurm needs sbatch on PATH")
    rc = main(["grid", "--only", "nosuchnotebook", "--runs-dir", str(tmp_path / "r")])
    assert rc == 2 and "only: no notebook matches nosuchnotebook" in capsys.readouterr().err


# -- a live Slurm cluster --------------------------------------------------------------------------
def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "rethinkmmc", "grid", *args],
                          capture_output=True, text=True, **kw)


def test_slurm_grid_runs_the_smoke_plan_like_a_local_run(slurm, tmp_path):
    """Every run of the smoke plan through Slurm (a job array), the same metrics and weights as
    training them here; then notebook 01 as a job; a second call submits nothing. The plan runs
    at 4 epochs (the smoke profile's 15 take 216 s through Slurm here, 117 s in one process;
    RETHINKMMC_GRID_FULL=1 runs them)."""
    store = tmp_path / "store"
    full = os.environ.get("RETHINKMMC_GRID_FULL") == "1"
    overrides = {} if full else {"epochs": 4}
    args = ("--profile", "smoke", "--backend", "slurm", "--runs-dir", str(store), "--only", "01",
            "--out", str(tmp_path / "report"), "--no-figures", "--no-html", "--no-progress",
            # two jobs at once on the 2 CPUs; each keeps the smoke profile's fixed 2 threads,
            # so the results stay those of a run here (measured: 68 s instead of 112 s)
            "--cpus-per-job", "1",
            *(() if full else ("-p", "overrides", json.dumps(overrides))))
    t0 = time.perf_counter()
    out = _cli(*args, timeout=1500)
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads(out.stdout.strip().splitlines()[-1])
    cfgs = plan("smoke", **overrides)
    assert s["submitted"] == len(cfgs) + 1 and s["failed"] == [] and s["rendered"] == ["01_centers"]
    assert sorted(s["trained"]) == sorted(c.key() for c in cfgs)
    assert (tmp_path / "report" / "01_centers.ipynb").is_file()
    t1 = time.perf_counter()
    for cfg in cfgs:
        direct = train(cfg, runs_dir=tmp_path / "direct", threads=THREADS["smoke"], progress=False)
        _same_run(load_run(run_dir(cfg, store)), direct)
    print(f"\nsmoke plan: {len(cfgs)} runs + 1 notebook through Slurm in {wall:.0f} s; "
          f"the runs trained here one after another in {time.perf_counter() - t1:.0f} s")
    again = _cli(*args, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    s2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert (s2["submitted"], s2["already_stored"], s2["rendered"]) == (0, len(cfgs), [])


def _epoch(d: Path) -> int:
    try:
        return torch.load(d / "checkpoint.pt", weights_only=True)["epoch"]
    except Exception:  # noqa: BLE001  (not written yet)
        return 0


def test_slurm_scancel_mid_training_requeues_and_resumes_bit_identical(slurm, tmp_path):
    """scancel a training job mid-run: the grid submits it again, it resumes from its last
    stored epoch and ends where an uninterrupted run ends. A second grid call made while the job
    runs watches it and submits nothing. (submitit's jobs ignore scancel's SIGTERM, the warning
    Slurm also gives before a preemption; the SIGKILL follows after KillWait, 1 s in
    .ci/slurm-up, so the job trains on for some epochs: 100 leave room for that.)"""
    cfg = train_config("smoke", "digits", "sce", epochs=100)
    store = tmp_path / "store"
    code = ("import json,sys; from rethinkmmc.grid import run_grid, GridOptions; "
            "from rethinkmmc.profiles import train_config; "
            f"c=train_config('smoke','digits','sce',epochs=100); "
            f"s=run_grid('smoke',configs=[c],options=GridOptions(backend='slurm',poll_s=0.2),"
            f"runs_dir={str(store)!r},progress=False); print(json.dumps(s))")
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    d = run_dir(cfg, store)
    deadline = time.time() + 300
    while not (d / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    while _epoch(d) < 5 and time.time() < deadline:
        time.sleep(0.02)
    job = json.loads((grid_folder("smoke", store) / "jobs.json").read_text())["jobs"][cfg.key()]
    subprocess.run(["scancel", job["id"]], check=True)
    assert not (d / "metrics.json").exists(), "the run finished before it could be cancelled"
    cancelled_at = _epoch(d)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 0, err2[-2000:]
    s1, s2 = (json.loads(o.strip().splitlines()[-1]) for o in (out1, out2))
    assert s1["submitted"] == 1 and s2["submitted"] == 0  # nothing submitted twice
    assert s1["resubmitted"] + s2["resubmitted"] == 1 and not s1["failed"] and not s2["failed"]
    assert 5 <= cancelled_at < 100
    (resumed_from,) = {**s1["resumed"], **s2["resumed"]}.values()
    assert cancelled_at <= resumed_from < 100  # it trains on until Slurm's KillWait ends
    whole = train(cfg, runs_dir=tmp_path / "direct", threads=THREADS["smoke"], progress=False)
    _same_run(load_run(d), whole)
    print(f"\ncancelled job {job['id']} after epoch {cancelled_at} of 100; the resubmitted job "
          f"resumed from epoch {resumed_from} and ended at test accuracy "
          f"{whole.metrics['test_accuracy']}, bit-identical to an uninterrupted run")
    assert os.path.exists(job["log"])
