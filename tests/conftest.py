import pytest


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A private run store, also for subprocesses (through $RETHINKMMC_RUNS)."""
    d = tmp_path / "runs"
    monkeypatch.setenv("RETHINKMMC_RUNS", str(d))
    return d
