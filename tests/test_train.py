import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from rethinkmmc import load_run, train, train_config
from rethinkmmc.train import accuracy


def _smoke(loss="mmc", **kw):
    return train_config("smoke", "digits", loss, **kw)


@pytest.mark.parametrize("loss", ["sce", "mmc"])
def test_smoke_accuracy_floor(runs, loss):
    run = train(_smoke(loss), runs_dir=runs)
    assert run.metrics["test_accuracy"] >= 0.95
    assert run.metrics["diverged"] is False and run.metrics["epochs"] == 15
    # the stored model reproduces the stored accuracy on the stored test set
    x, y = run.test_set()
    assert len(y) == run.metrics["n_test"] == 450
    assert accuracy(run.model, x, y) == pytest.approx(run.metrics["test_accuracy"])
    assert run.model.training is False
    assert [h["epoch"] for h in run.history] == list(range(1, 16))
    assert {"loss", "train_accuracy", "test_accuracy", "seconds", "lr"} <= set(run.history[0])


@pytest.mark.parametrize("loss", ["mmlda", "center", "lgm"])
def test_other_losses_learn(runs, loss):
    # MM-LDA's softmax over -||z - mu||^2 (C_MM = 10) saturates and learns slowest: 0.94 here
    run = train(_smoke(loss), runs_dir=runs)
    assert run.metrics["test_accuracy"] >= 0.90


def test_cached_run_is_not_retrained(runs):
    cfg = _smoke(epochs=3, milestones=())
    first = train(cfg, runs_dir=runs)
    calls = []
    second = train(cfg, runs_dir=runs, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == [] and second.metrics == first.metrics
    assert load_run(cfg.key(), runs_dir=runs).metrics == first.metrics
    assert load_run(first.path).config == cfg
    # another seed is another run
    assert train(cfg.replace(seed=1), runs_dir=runs).path != first.path


class _Kill(Exception):
    pass


def _interrupt(cfg, runs_dir, after_epoch):
    """Train `cfg` and stop it after `after_epoch` epochs, leaving its checkpoint behind."""
    def die(epoch, record):
        if epoch == after_epoch:
            raise _Kill

    with pytest.raises(_Kill):
        train(cfg, runs_dir=runs_dir, on_epoch_end=die)


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    cfg = _smoke(epochs=8, milestones=(5,))
    whole = train(cfg, runs_dir=tmp_path / "a")
    _interrupt(cfg, tmp_path / "b", after_epoch=4)
    d = tmp_path / "b" / cfg.profile / cfg.key()
    assert (d / "checkpoint.pt").exists() and not (d / "metrics.json").exists()
    with pytest.raises(FileNotFoundError):
        load_run(d)  # a half-written run is never taken as done
    seen = []
    resumed = train(cfg, runs_dir=tmp_path / "b", on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [5, 6, 7, 8]
    assert not (d / "checkpoint.pt").exists()
    for k in ("test_accuracy", "train_accuracy", "final_loss", "epochs"):
        assert resumed.metrics[k] == whole.metrics[k], k
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_killed_process_resumes(runs):
    """SIGKILL a CLI training mid-run; the rerun resumes and matches an uninterrupted run."""
    args = [sys.executable, "-m", "rethinkmmc", "train", "--profile", "smoke", "--dataset",
            "digits", "--loss", "sce", "--epochs", "30", "--no-progress"]
    cfg = _smoke("sce", epochs=30)
    d = runs / "smoke" / cfg.key()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (d / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (d / "metrics.json").exists(), "finished before it could be killed"
    done = torch.load(d / "checkpoint.pt", weights_only=False)["epoch"]
    assert 1 <= done < 30
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    resumed = json.loads(out.stdout.strip().splitlines()[-1])
    whole = train(cfg, runs_dir=runs.parent / "fresh")
    assert resumed["test_accuracy"] == whole.metrics["test_accuracy"]
    assert load_run(d).metrics["final_loss"] == whole.metrics["final_loss"]


def test_divergent_run_is_recorded_not_crashed(runs):
    cfg = _smoke("sce", lr=1e8, epochs=5, milestones=())
    run = train(cfg, runs_dir=runs)
    assert run.metrics["diverged"] is True
    assert 1 <= run.metrics["diverged_epoch"] <= 5
    assert run.metrics["epochs"] == run.metrics["diverged_epoch"]
    # stored, readable JSON (no bare NaN), and cached like any finished run
    json.loads((run.path / "metrics.json").read_text())
    json.loads((run.path / "history.json").read_text())
    assert train(cfg, runs_dir=runs).metrics == run.metrics


def test_two_trainers_of_one_key_train_it_once(runs):
    cfg = _smoke(epochs=4, milestones=())
    epochs, results = [], []

    def go():
        results.append(train(cfg, runs_dir=runs, on_epoch_end=lambda e, r: epochs.append(e)))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(epochs) == [1, 2, 3, 4]
    assert results[0].metrics == results[1].metrics


def test_adversarial_training_runs_and_records(runs):
    cfg = _smoke("mmc", adv_train=True, epochs=4, milestones=(), adv_steps=3)
    assert cfg.targeted_adv is True and _smoke("sce", adv_train=True).targeted_adv is False
    run = train(cfg, runs_dir=runs)
    assert run.config.adv_train and run.path.name.startswith("at-")
    assert run.metrics["test_accuracy"] >= 0.8


def test_provenance_in_metrics(runs):
    m = train(_smoke(epochs=2, milestones=()), runs_dir=runs).metrics
    for k in ("profile", "dataset", "seed", "hardware", "torch", "seconds", "data_notes",
              "finished_at", "train_version"):
        assert m[k] not in (None, ""), k


def test_hierarchical_centers_follow_the_dataset_superclasses():
    import torch

    from rethinkmmc import data as D
    from rethinkmmc.centers import hierarchical_centers
    from rethinkmmc.profiles import train_config
    from rethinkmmc.train import build_model

    cfg = train_config("smoke", "digits", "mmc", centers="hierarchical")
    want = hierarchical_centers(D.superclass_of_class("digits"), cfg.feat_dim, cfg.c_mm,
                                cfg.hmmc_c2)
    assert torch.equal(build_model(cfg).centers, want.to(torch.float32))
    with pytest.raises(ValueError, match="hierarchical.*superclasses"):
        build_model(train_config("smoke", "mnist", "mmc", centers="hierarchical"))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path
        return (Path.touch, (Path(self.marker),))


def test_planted_checkpoint_is_not_run_nor_resumed(tmp_path):
    cfg = _smoke(epochs=3, milestones=())
    clean = train(cfg, runs_dir=tmp_path / "a")
    d = tmp_path / "b" / cfg.profile / cfg.key()
    d.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"model": {}, "config": cfg.to_dict(), "x": _Payload(marker)}, d / "checkpoint.pt")
    with pytest.warns(UserWarning, match="not resumed: it cannot be loaded as plain data"):
        run = train(cfg, runs_dir=tmp_path / "b")
    assert not marker.exists()
    assert [p.name.startswith("checkpoint.rejected-") for p in d.glob("checkpoint*")] == [True]
    assert run.metrics["test_accuracy"] == clean.metrics["test_accuracy"]


def test_checkpoint_of_another_config_is_set_aside(tmp_path):
    """A checkpoint written for seed 1, planted in seed 0's folder: not resumed under seed 0's
    key; seed 0 trains from epoch 0 to what an untouched run gives."""
    a, b = _smoke(epochs=4, milestones=()), _smoke(epochs=4, milestones=(), seed=1)
    _interrupt(b, tmp_path / "b", after_epoch=2)
    da = tmp_path / "a" / a.profile / a.key()
    da.mkdir(parents=True)
    (tmp_path / "b" / b.profile / b.key() / "checkpoint.pt").rename(da / "checkpoint.pt")
    seen = []
    with pytest.warns(UserWarning, match=r"another config \(seed differ\)"):
        run = train(a, runs_dir=tmp_path / "a", on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [1, 2, 3, 4]
    assert run.metrics["test_accuracy"] == train(a, runs_dir=tmp_path / "c").metrics["test_accuracy"]


def test_adversarial_training_targets_as_the_original():
    import torch

    from rethinkmmc.train import _random_targets
    cfg = _smoke("mmc", adv_train=True)
    assert cfg.adv_target == "softmax" and cfg.targeted_adv
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(2000, dtype=torch.long)
    t_all = _random_targets(y, 10, g, include_true=True)
    t_other = _random_targets(y, 10, g)
    # over all classes, the true one included (cleverhans' random target), or only the others
    assert set(t_all.tolist()) == set(range(10)) and 0 not in set(t_other.tolist())
    # the field decides the key only where it decides the training
    sce = _smoke("sce", adv_train=True)
    assert sce.key() == sce.replace(adv_target="pull").key()
    assert _smoke("mmc").key() == _smoke("mmc").replace(adv_target="pull").key()
    assert cfg.key() != cfg.replace(adv_target="pull").key()
    with pytest.raises(ValueError, match="adv_target: unknown 'cw'"):
        cfg.replace(adv_target="cw")
