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


@pytest.fixture(scope="session")
def cold_smoke(tmp_path_factory):
    """The whole smoke report rendered from an empty run store (every run trained and every
    attack run on this CPU), with its figures exported: (folder, notebook -> result). Shared by
    the cold-path test and the site's browser test."""
    from rethinkmmc.report import render

    d = tmp_path_factory.mktemp("cold_smoke")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETHINKMMC_RUNS", str(d / "runs"))  # the notebooks' kernels inherit it
        results = render("smoke", out=d / "reports", figures=d / "figures", html=False,
                         progress=False, log=lambda s: None)
    return d, results
