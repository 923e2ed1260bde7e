"""suites.transfer_table: black-box transfer with each source's own attacks (Pang et al. 2020,
Sec. 5.2), in the shape the notebooks and checks.check_attack_ordering read."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from rethinkmmc.attacks import FGSM, PGD, craft
from rethinkmmc.torchutil import accuracy
from rethinkmmc.checks import check_attack_ordering
from rethinkmmc.evaluate import wilson
from rethinkmmc.suites import transfer_table


class Linear(nn.Module):
    """A fixed linear model on 8x8 images (seeded weights, the global RNG untouched)."""

    def __init__(self, seed):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.lin = nn.Linear(64, 10)

    def forward(self, x):
        return self.lin(x.flatten(1))


class Constant(nn.Module):
    """Always predicts class 0, whatever the input: no attack moves it."""

    def forward(self, x):
        out = torch.zeros(len(x), 10) + 0.0 * x.flatten(1).sum(1, keepdim=True)
        out[:, 0] = 1.0
        return out


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=g)
    a = Linear(0)
    with torch.no_grad():
        y = a(x).argmax(1)   # model "a" is right on every clean point
    return x, y


def test_rows_columns_and_order(data):
    x, y = data
    models = {"a": Linear(0), "b": Linear(1), "c": Linear(2)}
    attacks = lambda m: [PGD(0.1, steps=3, step_size=0.05), FGSM(0.2)]  # noqa: E731
    t = transfer_table(models, attacks, x, y)
    assert len(t) == 3 * 2 * 3                          # sources x attacks x targets
    assert list(t["source"][:6]) == ["a"] * 6
    assert list(t["target"][:3]) == ["a", "b", "c"]
    assert list(t["method"][:6]) == ["pgd"] * 3 + ["fgsm"] * 3
    assert set(t["n"]) == {40}
    diag = t[t["source"] == t["target"]]
    assert set(diag["kind"]) == {"white-box"} and list(diag["attack"].unique()) == ["pgd", "fgsm"]
    off = t[t["source"] != t["target"]]
    assert set(off["kind"]) == {"transfer"}
    assert "pgd from a" in set(off["attack"]) and (off["model"] == off["target"]).all()
    assert t.loc[0, "eps_label"] == "1/10" and t.loc[3, "eps"] == pytest.approx(0.2)
    assert set(t["steps"]) == {3, 1}     # FGSM: one step
    for _, r in t.iterrows():            # the interval is Wilson's of k/n
        k = round(r["robust_accuracy"] * r["n"])
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(k, r["n"]))


def test_same_attack_everywhere_matches_crafting_by_hand(data):
    x, y = data
    models = {"a": Linear(0), "b": Linear(1)}
    pgd = PGD(0.1, steps=5, step_size=0.03, seed=3)
    t = transfer_table(models, lambda m: [pgd], x, y, batch_size=16)
    mat = t.pivot(index="source", columns="target", values="robust_accuracy")
    for src, m in models.items():  # each source's adversarials, classified by every target
        xa = craft(pgd, m, x, y, batch_size=16)
        for tgt, mt in models.items():
            assert mat.loc[src, tgt] == pytest.approx(accuracy(mt, xa, y))
            # per-point flags for the paired tests: each target on the same adversarials
            row = t[(t["source"] == src) & (t["target"] == tgt)].iloc[0]
            with torch.no_grad():
                want = "".join("1" if ok else "0" for ok in (mt(xa).argmax(1) == y).tolist())
            assert row["flags"] == want
    assert t["points"].nunique() == 1   # every row on the same points


def test_each_source_gets_its_own_attacks(data):
    x, y = data
    a, b = Linear(0), Linear(1)
    seen = []

    def attacks_for(m):
        seen.append(m)
        return [PGD(0.1, steps=2, step_size=0.05, objective="ce" if m is a else "cw")]

    t = transfer_table({"a": a, "b": b}, attacks_for, x, y)
    assert seen == [a, b]
    assert list(t.drop_duplicates("source")["objective"]) == ["ce", "cw"]


def test_runs_are_read_through_their_model_and_sources_pick_rows(data):
    x, y = data

    class FakeRun:
        def __init__(self, model):
            self.model = model

    runs = {"a": FakeRun(Linear(0)), "k": FakeRun(Constant())}
    t = transfer_table(runs, lambda r: [PGD(0.3, steps=3, step_size=0.1)], x, y, sources=["a"])
    assert set(t["source"]) == {"a"} and list(t["target"]) == ["a", "k"]
    # the constant model answers 0 whatever it is shown: its accuracy is that of label 0
    assert t.loc[1, "robust_accuracy"] == pytest.approx(float((y == 0).float().mean()))
    with pytest.raises(ValueError, match="sources"):
        transfer_table(runs, lambda r: [], x, y, sources=["z"])
    with pytest.raises(ValueError, match="runs"):
        transfer_table({}, lambda r: [], x, y)


def test_mode_restored_and_rows_feed_the_ordering_check(data):
    x, y = data
    a, b = Linear(0).train(), Linear(1).train()
    t = transfer_table({"a": a, "b": b}, lambda m: [PGD(0.2, steps=5, step_size=0.08)], x, y)
    assert a.training and b.training
    msgs = check_attack_ordering(t, warn=False)
    assert isinstance(msgs, list)
    # a transfer row far below the white-box one is reported as gradient masking
    fake = t.copy()
    fake.loc[(fake["source"] == "a") & (fake["target"] == "b"), "robust_accuracy"] = -1.0
    fake.loc[(fake["source"] == "b") & (fake["target"] == "b"), "robust_accuracy"] = 1.0
    assert any("transfer beats white-box" in m and "pgd from a" in m
               for m in check_attack_ordering(fake, warn=False))


class StoredRun:
    """What transfer_table needs of a Run to store its results: path, key and model."""

    def __init__(self, path, key, model):
        self.path, self.key, self.model = path, key, model


class CountingPGD(PGD):
    calls = 0

    def perturb(self, *a, **kw):
        CountingPGD.calls += 1
        return super().perturb(*a, **kw)


def test_results_are_stored_beside_the_source_and_read_back(data, tmp_path):
    x, y = data
    runs = {"a": StoredRun(tmp_path / "a", "key-a", Linear(0)),
            "b": StoredRun(tmp_path / "b", "key-b", Linear(1))}
    attacks = lambda r: [CountingPGD(0.1, steps=3, step_size=0.05)]  # noqa: E731
    CountingPGD.calls = 0
    first = transfer_table(runs, attacks, x, y)
    assert CountingPGD.calls == 2                       # one crafting per source (one batch)
    assert len(list((tmp_path / "a" / "evaluations").glob("transfer-pgd-*.json"))) == 1
    again = transfer_table(runs, attacks, x, y)
    assert CountingPGD.calls == 2                       # read, not crafted again
    pd.testing.assert_frame_equal(first, again)
    # a new target: each source crafts once more, and the old targets' numbers stay
    runs["c"] = StoredRun(tmp_path / "c", "key-c", Linear(2))
    more = transfer_table(runs, attacks, x, y)
    assert CountingPGD.calls == 2 + 3
    key = ["source", "target"]
    pd.testing.assert_frame_equal(
        more.set_index(key).loc[first.set_index(key).index].reset_index(), first)
    # other points or another attack setting: a different store entry
    transfer_table(runs, attacks, x[:20], y[:20])
    assert CountingPGD.calls == 5 + 3
    # store=False, or any bare model among the runs: nothing read or written
    transfer_table(runs, attacks, x, y, store=False)
    assert CountingPGD.calls == 8 + 3
    transfer_table({**runs, "bare": Linear(3)}, attacks, x, y)
    assert CountingPGD.calls == 11 + 4
