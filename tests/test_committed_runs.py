"""The committed runs' reported numbers, recomputed from their stored models (as RobustBench
keeps its numbers as data and re-checks them). Skipped where the dataset is not laid out."""
import json
from pathlib import Path

import pytest

from rethinkmmc import load_run
from rethinkmmc.data import DataNotFoundError
from rethinkmmc.train import accuracy

RUNS = Path(__file__).resolve().parents[1] / "runs"
DONE = sorted(p.parent for p in RUNS.glob("*/*/metrics.json") if p.parts[-3] != "smoke")

# Accuracy floors the issue sets for the quick profile (MNIST, offline 17,435-image prefix).
FLOORS = {("quick", "mnist", "sce", 10.0): 0.985, ("quick", "mnist", "mmc", 10.0): 0.985}


@pytest.mark.parametrize("path", DONE, ids=[f"{p.parts[-2]}/{p.name}" for p in DONE])
def test_committed_run_reproduces_its_accuracy(path):
    run = load_run(path)
    try:
        x, y = run.test_set()
    except DataNotFoundError as e:
        pytest.skip(str(e))
    stored = run.metrics["test_accuracy"]
    ours = accuracy(run.model, x, y)
    assert abs(ours - stored) <= 1.5 / len(y), (ours, stored)
    c = run.config
    floor = FLOORS.get((c.profile, c.dataset, c.loss, c.c_mm if c.loss == "mmc" else 10.0))
    if floor is not None and not c.adv_train:
        assert stored >= floor
    json.loads((path / "config.json").read_text())  # the config travels with the run
