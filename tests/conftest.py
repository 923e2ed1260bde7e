import pytest


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A private run store, also for subprocesses (through $RETHINKMMC_RUNS)."""
    d = tmp_path / "runs"
    monkeypatch.setenv("RETHINKMMC_RUNS", str(d))
    return d


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """Trained smoke-profile digits models (SCE and MMC), shared by the attack tests."""
    from rethinkmmc import train, train_config

    d = tmp_path_factory.mktemp("digits_runs")
    return {loss: train(train_config("smoke", "digits", loss), runs_dir=d, progress=False)
            for loss in ("sce", "mmc")}
