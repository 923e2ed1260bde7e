"""Half-precision storage of finished runs (rethinkmmc.compact)."""
import json
import shutil

import pytest
import torch

from rethinkmmc import load_run
from rethinkmmc.compact import store_half
from rethinkmmc.runs import DamagedRunError
from rethinkmmc.train import accuracy


@pytest.fixture
def run_copy(digits_runs, tmp_path):
    """A private copy of the shared smoke MMC run (the shared one stays float32)."""
    src = digits_runs["mmc"].path
    dst = tmp_path / src.parent.name / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("evaluations"))
    return dst


def test_store_half_halves_weights_keeps_centers_and_remeasures(run_copy):
    before = load_run(run_copy)
    centers = before.model.head.centers.clone()
    size = (run_copy / "model.pt").stat().st_size
    metrics = store_half(run_copy)
    after = load_run(run_copy)  # verifies the new checksum
    state = torch.load(run_copy / "model.pt", weights_only=True)["model"]
    halved = [k for k, v in state.items() if v.dtype == torch.float16]
    assert halved and all(k.endswith((".weight", ".bias")) for k in halved)
    assert state["head.centers"].dtype == torch.float32
    assert torch.equal(after.model.head.centers, centers)  # exact geometry survives
    assert next(after.model.parameters()).dtype == torch.float32  # evaluated in float32
    assert (run_copy / "model.pt").stat().st_size < 0.6 * size
    x, y = after.test_set()
    assert metrics["test_accuracy"] == accuracy(after.model, x, y)
    assert metrics["test_accuracy_float32"] == before.metrics["test_accuracy"]
    assert abs(metrics["test_accuracy"] - metrics["test_accuracy_float32"]) <= 2 / len(y)
    assert json.loads((run_copy / "metrics.json").read_text())["stored_dtype"] == "float16"


def test_store_half_refuses_runs_with_evaluations_and_a_second_call(run_copy):
    ev = run_copy / "evaluations"
    ev.mkdir()
    (ev / "pgd-0.json").write_text("{}")
    with pytest.raises(ValueError, match="1 stored evaluation"):
        store_half(run_copy)
    assert "stored_dtype" not in load_run(run_copy).metrics  # left as it was
    shutil.rmtree(ev)
    store_half(run_copy)
    with pytest.raises(ValueError, match="already stored in float16"):
        store_half(run_copy)


def test_store_half_refuses_a_damaged_run(run_copy):
    (run_copy / "model.pt").write_bytes(b"not a model")
    with pytest.raises(DamagedRunError, match="checksum"):
        store_half(run_copy)
