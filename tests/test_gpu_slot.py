"""rethinkmmc.gpu on the CPU with the tiny plan: a slot that ends early (one epoch per run, and
a deadline that cuts every run), the next slot resuming and evaluating, merging the returned
tarballs, and a bad argument."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = ["--plan", "tiny", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """The checkout's data/ when it holds CIFAR-10, else prepared from ../shared/datasets."""
    if (REPO / "data" / "cifar-10-batches-py" / "batches.meta").exists():
        return str(REPO / "data")
    prepare = REPO.parent / "shared" / "datasets" / "prepare.py"
    if not prepare.exists():
        pytest.skip("CIFAR-10 is in neither data/ nor ../shared/datasets")
    root = tmp_path_factory.mktemp("data")
    subprocess.run([sys.executable, str(prepare), str(root)], check=True, capture_output=True)
    return str(root)


def gpu(*args, timeout=240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "rethinkmmc.gpu", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def results(out: Path) -> tuple[dict, list[Path]]:
    files = sorted(out.iterdir())
    assert len(files) <= 8, files
    assert all(f.stat().st_size < 16 * 2 ** 20 for f in files)
    return json.loads((out / "timings.json").read_text()), sorted(out.glob("runs*.tar.gz"))


def test_bad_argument_exits_2_with_one_line(tmp_path):
    for args in (["--budget", "soon"], ["--budget", "-5", "--out", tmp_path],
                 ["--plan", "huge", "--out", tmp_path]):
        r = gpu(*args, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())


def test_tiny_slot_resumes_evaluates_and_merges(tmp_path, data):
    store, out1, out2 = tmp_path / "runs", tmp_path / "out1", tmp_path / "out2"
    # slot 1 ends after one epoch of each run
    ok(gpu(*TINY, "--budget", 120, "--data", data, "--runs", store, "--out", out1,
           "--epochs-per-call", 1, "--no-eval"))
    t1, tars1 = results(out1)
    assert tars1 and len(t1["runs"]) == 4
    assert all(not r["finished"] and r["epochs"] == 1 for r in t1["runs"].values())
    first = {}
    for ck in store.glob("*/*/checkpoint.pt"):
        with torch.serialization.safe_globals([collections.Counter]):
            first[ck.parent.name] = torch.load(ck, weights_only=True)["history"]
    assert len(first) == 4

    # the returned tarballs resume in a fresh store, in slot 2
    store2 = tmp_path / "store2"
    r = ok(gpu("--merge", *tars1, "--runs", store2, timeout=60))
    assert r.stdout.count(" open ") == 4
    ok(gpu(*TINY, "--budget", 120, "--data", data, "--runs", store2, "--out", out2,
           "--n-eval", 20))
    t2, tars2 = results(out2)
    assert all(r["finished"] and r["epochs"] == 2 for r in t2["runs"].values())
    for key, hist in first.items():
        run = store2 / "paper" / key
        assert (run / "metrics.json").exists() and not (run / "checkpoint.pt").exists()
        again = json.loads((run / "history.json").read_text())
        assert [h["epoch"] for h in again] == [1, 2]
        assert again[0]["loss"] == pytest.approx(hist[0]["loss"])  # epoch 1 kept, not redone
        assert list((run / "evaluations").glob("*.json"))
    summary = pd.read_csv(out2 / "summary.csv")
    assert set(summary["run"]) == {"SCE", "MMC-10", "AT-SCE", "AT-MMC-10"}
    assert {"claim1", "pgd10-full"} <= set(summary["suite"])
    assert {"environment", "probe", "compile", "deadlines"} <= set(t2)

    # merging: finished runs go in; an older, unfinished copy never replaces them
    store3 = tmp_path / "store3"
    ok(gpu("--merge", *tars2, "--runs", store3, timeout=60))
    r = ok(gpu("--merge", *tars1, "--runs", store3, timeout=60))
    assert r.stdout.count(" done ") == 4 and "kept the finished run" in r.stdout
    assert len(list(store3.glob("paper/*/model.pt"))) == 4


def test_deadline_cuts_training_and_still_packs(tmp_path, data):
    out = tmp_path / "out"
    t0 = time.monotonic()
    ok(gpu(*TINY, "--budget", 12, "--data", data, "--runs", tmp_path / "runs", "--out", out,
           "--no-eval", timeout=60))
    assert time.monotonic() - t0 < 12 + 15
    timings, _ = results(out)
    assert len(timings["runs"]) == 4
    # here (2 cores) every run is cut; a fast machine may finish the tiny runs in time
    assert all(r["cut_at_deadline"] != r["finished"] for r in timings["runs"].values())
