import pandas as pd
import pytest
import torch

from rethinkmmc import train_config
from rethinkmmc.cost import batch_times, time_ratios


def _tiny(loss, **kw):
    return train_config("smoke", "digits", loss, feat_dim=8, batch_size=20, **kw)


@pytest.fixture(scope="module")
def tiny():
    cfgs = {"SCE": _tiny("sce"), "MMC": _tiny("mmc"),
            "AT-MMC": _tiny("mmc", adv_train=True, adv_steps=2)}
    return cfgs, batch_times(cfgs, batches=2, repeats=3, threads=1)


def test_batch_times_rows_and_rotation(tiny):
    cfgs, t = tiny
    assert len(t) == 3 * 3
    assert {"run", "repeat", "position", "batches", "batch_size", "seconds", "seconds_per_batch",
            "images_per_second", "adv_train", "device", "threads"} <= set(t.columns)
    assert (t["batches"] == 2).all() and (t["batch_size"] == 20).all()
    assert (t["seconds"] > 0).all()
    assert t["seconds_per_batch"].tolist() == pytest.approx((t["seconds"] / 2).tolist())
    assert set(t["device"]) == {"cpu"} and set(t["threads"]) == {1}
    # every config once per repeat, the order rotated by one each repeat
    first = t[t["position"] == 0].sort_values("repeat")["run"].tolist()
    assert first == ["SCE", "MMC", "AT-MMC"]
    assert t.groupby("repeat")["run"].apply(sorted).map(tuple).nunique() == 1
    assert t.set_index("run")["adv_train"].groupby(level=0).first().to_dict() == {
        "SCE": False, "MMC": False, "AT-MMC": True}


def test_adversarial_training_costs_more(tiny):
    _, t = tiny
    r = time_ratios(t, base="SCE")
    assert list(r.index) == ["SCE", "MMC", "AT-MMC"]
    assert r.loc["SCE", "ratio median"] == 1.0 == r.loc["SCE", "ratio min"]
    assert (r["ratio min"] <= r["ratio median"]).all()
    assert (r["ratio median"] <= r["ratio max"]).all()
    assert (r["repeats"] == 3).all()
    # 2 PGD steps plus the training step: well above a plain step
    assert r.loc["AT-MMC", "ratio median"] > 1.5


def test_time_ratios_are_within_a_repeat():
    t = pd.DataFrame({"run": ["a", "b"] * 3, "repeat": [0, 0, 1, 1, 2, 2],
                      "seconds_per_batch": [1.0, 2.0, 2.0, 3.0, 4.0, 4.0]})
    r = time_ratios(t, "a")
    assert r.loc["b", "ratio median"] == pytest.approx(1.5)
    assert r.loc["b", "ratio min"] == pytest.approx(1.0)
    assert r.loc["b", "ratio max"] == pytest.approx(2.0)
    assert r.loc["b", "median s/batch"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="base"):
        time_ratios(t, "c")


def test_threads_restored_and_small_split_capped():
    before = torch.get_num_threads()
    big = _tiny("sce").replace(batch_size=1000)  # digits' training split holds one such batch
    t = batch_times({"big": big}, batches=5, repeats=1, warmup=0, threads=1)
    assert torch.get_num_threads() == before
    assert t["batches"].tolist() == [1]


@pytest.mark.parametrize("kw, match", [
    (dict(batches=0), "batches"), (dict(repeats=1.5), "repeats"), (dict(warmup=-1), "warmup"),
    (dict(threads=0), "threads"), (dict(configs={}), "configs"),
    (dict(configs={"x": "sce"}), "configs"),
    (dict(configs={"huge": _tiny("sce").replace(batch_size=5000)}), "no full batch"),
])
def test_batch_times_checks_its_arguments(kw, match):
    kw = {"configs": {"SCE": _tiny("sce")}, **kw}
    with pytest.raises(ValueError, match=match):
        batch_times(**kw)


def test_optimizer_table_measures_each_point_and_the_verdict_pairs_them():
    # the committed smoke runs (digits): the table's accuracy is measured again point by point
    # on the whole test split, and the verdict reads the paired interval, not two Wilson ones
    from pathlib import Path

    from rethinkmmc import load_run, verdicts as V
    from rethinkmmc.claims import cost as K
    from rethinkmmc.experiments import configs
    from rethinkmmc.runs import run_dir

    store = Path(__file__).resolve().parents[1] / "runs"
    runs = {k: load_run(run_dir(c, store)) for k, c in configs("smoke", "optimizers").items()}
    opt = K.optimizer_table(runs)
    assert list(opt["optimizer"]) == ["SGD momentum", "Adam", "RMSProp"]
    n = len(next(iter(runs.values())).test_set()[1])
    assert (opt["n_test"] == n).all() and (opt["flags"].str.len() == n).all()
    assert opt["test accuracy"].tolist() == [f.count("1") / n for f in opt["flags"]]
    # the stored figure agrees within one point (the committed-runs check's tolerance)
    assert ((opt["test accuracy"] - opt["stored test accuracy"]).abs() <= 1.5 / n).all()
    row = K.optimizer_verdict(opt, "digits")
    assert "paired against SGD" in row.measure and row.why.count("McNemar") == 2
    # SGD made right on every point Adam gets right, and on 30 more: holds for that pair
    forged = opt.copy()
    forged.loc[0, "flags"] = "1" * n
    forged.loc[1, "flags"] = "1" * (n - 30) + "0" * 30
    forged.loc[2, "flags"] = "1" * (n - 30) + "0" * 30
    assert K.optimizer_verdict(forged, "digits").verdict == V.HOLDS
    forged.loc[2, "flags"] = "1" * n                  # RMSProp as good on every point
    assert K.optimizer_verdict(forged, "digits").verdict != V.HOLDS
