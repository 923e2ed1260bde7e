"""Fault injection into the run store: every damaged file is named, never used silently, and a
damaged run is set aside and retrained (issue 12's cases)."""
import json
import shutil

import pytest

from rethinkmmc import load_run, train, train_config
from rethinkmmc.attacks import PGD
from rethinkmmc.evaluate import evaluate
from rethinkmmc.runs import DamagedRunError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    cfgs = [train_config("smoke", "digits", "mmc", epochs=2, milestones=(), seed=s)
            for s in (0, 1)]
    return d, [train(c, runs_dir=d, progress=False) for c in cfgs]


def copy(store, tmp_path):
    d, runs = store
    shutil.copytree(d, tmp_path / "s")
    return tmp_path / "s", [tmp_path / "s" / r.path.relative_to(d) for r in runs]


@pytest.mark.parametrize("fault, words", [
    ("model_of_other_seed", ["model.pt", "checksum"]),
    ("metrics_of_other_key", ["metrics.json", "belongs to run"]),
    ("config_of_other_seed", ["config.json", "belongs to run"]),
    ("metrics_not_json", ["metrics.json", "cannot be read as JSON"]),
    ("config_not_a_dict", ["config.json", "holds a list"]),
    ("model_missing", ["model.pt", "missing"]),
])
def test_damaged_run_is_named_then_set_aside_and_retrained(store, tmp_path, fault, words):
    root, (a, b) = copy(store, tmp_path)
    if fault == "model_of_other_seed":
        shutil.copy(b / "model.pt", a / "model.pt")
    elif fault == "metrics_of_other_key":
        shutil.copy(b / "metrics.json", a / "metrics.json")
    elif fault == "config_of_other_seed":
        shutil.copy(b / "config.json", a / "config.json")
    elif fault == "metrics_not_json":
        (a / "metrics.json").write_text("{not json")
    elif fault == "config_not_a_dict":
        (a / "config.json").write_text("[1, 2]")
    else:
        (a / "model.pt").unlink()
    with pytest.raises(DamagedRunError) as e:
        load_run(a)
    assert all(w in str(e.value) for w in words) and str(a) in str(e.value)
    cfg = store[1][0].config
    with pytest.warns(UserWarning, match="moved to .*damaged-.*retraining"):
        again = train(cfg, runs_dir=root, progress=False)
    assert again.metrics["test_accuracy"] == store[1][0].metrics["test_accuracy"]
    assert len(list(a.glob("damaged-*/*"))) >= 3  # the damaged files kept, not deleted
    assert load_run(a).metrics["model_sha256"] == store[1][0].metrics["model_sha256"]


def _pgd():
    return PGD(0.1, steps=3, step_size=0.05, objective="adaptive")


@pytest.mark.parametrize("fault", ["all_robust", "short_but_complete", "not_json", "no_sha"])
def test_damaged_evaluation_is_recomputed_not_used(store, tmp_path, fault):
    root, (a, _) = copy(store, tmp_path)
    run = load_run(a)
    truth = evaluate(run, _pgd(), n=60, progress=False)["robust_accuracy"].iloc[0]
    [f] = list((a / "evaluations").glob("pgd-*.json"))
    rec = json.loads(f.read_text())
    if fault == "all_robust":  # a tampered result
        rec["robust"] = [1] * len(rec["robust"])
    elif fault == "short_but_complete":
        for k in ("robust", "target_hit", "dist"):
            rec[k] = rec[k][:30]
    elif fault == "no_sha":
        rec.pop("sha256")
    f.write_text("{broken" if fault == "not_json" else json.dumps(rec))
    with pytest.warns(UserWarning, match=f"evaluation: {f}"):
        got = evaluate(load_run(a), _pgd(), n=60, progress=False)["robust_accuracy"].iloc[0]
    assert got == truth and truth < 1.0
    assert evaluate(load_run(a), _pgd(), n=60, progress=False)["robust_accuracy"].iloc[0] == truth
