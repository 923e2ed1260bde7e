"""General-purpose corruptions (Pang et al. 2020, Sec. 5.3), black-box transfer (Sec. 5.2) and
the gradient-masking checks (Athalye et al. 2018; Carlini et al. 2019; AutoAttack)."""
import copy
import warnings

import pandas as pd
import pytest
import torch
import torch.nn as nn

from rethinkmmc.attacks.corruptions import GaussianNoise, Rotation, rotate
from rethinkmmc.attacks.streams import Streams
from rethinkmmc.attacks.linf import PGD
from rethinkmmc.suites import transfer_table
from rethinkmmc.checks import (GradientMaskingWarning, check_attack_ordering, check_probabilities,
                               check_zero_gradients, run_checks)


@pytest.fixture(scope="module")
def models(digits_runs):
    out = {loss: run.model for loss, run in digits_runs.items()}
    x, y = digits_runs["mmc"].test_set()
    return out, x[:80], y[:80]


class Tiny(nn.Module):
    """A linear model on 8x8 images; `step` puts a hard, gradient-free step inside it."""

    def __init__(self, step=None, softmax=False):
        super().__init__()
        with torch.random.fork_rng():  # the same weights every time, the global RNG untouched
            torch.manual_seed(0)
            self.lin = nn.Linear(64, 10)
        self.step, self.softmax = step, softmax

    def forward(self, x):
        h = x.flatten(1)
        if self.step == "round":
            h = torch.round(h * 4) / 4      # shattered gradients: zero almost everywhere
        elif self.step == "detach":
            h = h.detach()
        out = self.lin(h)
        return out.softmax(1) if self.softmax else out


def _images(n=6, size=8, seed=0):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# -- corruptions --------------------------------------------------------------------------------
@pytest.mark.parametrize("attack", [GaussianNoise(), GaussianNoise(std=0.5), Rotation(),
                                    Rotation(degrees=45.0, padding_mode="zeros")])
def test_corruption_guarantees(attack):
    model = Tiny().train()
    x, y = _images(), torch.arange(6)
    x0 = x.clone()
    a = attack(model, x, y)
    assert torch.equal(x, x0)                      # x untouched
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert model.training                          # mode restored
    assert torch.equal(a, attack(model, x, y))     # same seed, same output
    assert not torch.equal(a, x)
    if getattr(attack, "degrees", None) is None:   # another seed, other draws
        other = copy.copy(attack)
        other.seed = 1
        assert not torch.equal(a, other(model, x, y))
    assert attack.settings()["attack"] == attack.name and attack.settings()["norm"] == "none"


def test_settings():
    assert GaussianNoise().settings()["std"] == 0.05
    s = Rotation().settings()
    assert s["max_degrees"] == 30 and s["padding_mode"] == "border" and "degrees" not in s
    assert Rotation(degrees=10).settings()["degrees"] == 10
    with pytest.raises(ValueError):
        GaussianNoise(std=-1)
    with pytest.raises(ValueError):
        Rotation(padding_mode="wrap")


def test_noise_std_on_mid_gray():
    x = torch.full((20, 1, 16, 16), 0.5)
    d = GaussianNoise()(Tiny(), x, torch.zeros(20, dtype=torch.long)) - x
    assert d.std().item() == pytest.approx(0.05, rel=0.05)
    assert abs(d.mean().item()) < 0.005


def test_rotation_zero_is_identity_and_90_is_rot90():
    x = _images(4, 9)
    y = torch.zeros(4, dtype=torch.long)
    assert (Rotation(degrees=0)(Tiny(), x, y) - x).abs().max() < 1e-5
    r = Rotation(degrees=90)(Tiny(), x, y)
    ref = torch.rot90(x, 1, dims=(-2, -1))
    assert (r - ref)[..., 1:-1, 1:-1].abs().max() < 1e-4
    # non-square: 180 degrees is a flip of both axes
    xr = torch.rand(2, 3, 6, 10)
    assert (rotate(xr, 180.0) - xr.flip(-2, -1))[..., 1:-1, 1:-1].abs().max() < 1e-4


def test_rotation_angles_in_range():
    a = Rotation(max_degrees=30).angles(Streams(0, torch.arange(2000)))
    assert a.abs().max() <= 30 and a.min() < -28 and a.max() > 28


# -- transfer -----------------------------------------------------------------------------------
def test_transfer_table(models):
    nets, x, y = models
    attack = PGD(eps=0.2, steps=10)
    t = transfer_table(nets, lambda m: [attack], x, y, store=False)
    m = t.pivot(index="source", columns="target", values="robust_accuracy")
    assert sorted(m.index) == sorted(m.columns) == ["mmc", "sce"]
    assert ((m.values >= 0) & (m.values <= 1)).all()
    for name, net in nets.items():  # the diagonal is the white-box accuracy
        with torch.no_grad():
            wb = (net(attack(net, x, y)).argmax(1) == y).float().mean().item()
        assert m.loc[name, name] == pytest.approx(wb)
    # PGD at eps 0.2 on 8x8 digits breaks the undefended SCE model white-box
    assert m.loc["sce", "sce"] < 0.3
    assert all(not n.training for n in nets.values())
    # PGD on the CE objective barely moves the MMC model (its softmax saturates: zero gradients),
    # so SCE's adversarials transfer better than MMC's own white-box ones: the ordering check
    # names it, the paper's reason for adaptive attacks.
    assert len(t) == 4 and set(t["kind"]) == {"white-box", "transfer"}
    assert m.loc["sce", "mmc"] < m.loc["mmc", "mmc"] - 0.1
    with pytest.warns(GradientMaskingWarning, match="transfer beats white-box"):
        msgs = check_attack_ordering(t)
    assert any("pgd from sce" in s and "model mmc" in s for s in msgs)


# -- checks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("step", ["round", "detach"])
def test_zero_gradients_warn(step):
    x, y = _images(), torch.arange(6)
    with pytest.warns(GradientMaskingWarning, match="zero gradients"):
        msgs = check_zero_gradients(Tiny(step=step), x, y)
    assert len(msgs) == 1 and "6 of 6" in msgs[0]


def test_normal_model_passes(models):
    nets, x, y = models
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientMaskingWarning)
        assert check_zero_gradients(Tiny(), _images(), torch.arange(6)) == []
        assert check_zero_gradients(nets["sce"], x, y) == []
        assert check_zero_gradients(nets["mmc"], x, y, objective="adaptive") == []
        assert check_probabilities(nets["sce"], x) == []


def test_mmc_ce_gradients_vanish(models):
    # MMC logits -||z - mu||^2 are far apart: the softmax of the stock CE attack saturates and
    # its input gradient is exactly zero in float32 for many points (why the paper adds
    # adaptive attacks); the check names it.
    nets, x, y = models
    with pytest.warns(GradientMaskingWarning, match="'ce' objective is zero"):
        check_zero_gradients(nets["mmc"], x, y)


def test_probabilities_warn():
    with pytest.warns(GradientMaskingWarning, match="probabilit"):
        msgs = check_probabilities(Tiny(softmax=True), _images())
    assert len(msgs) == 1
    assert check_probabilities(Tiny(), _images(), warn=False) == []


def _table(rows):
    return pd.DataFrame(rows, columns=["attack", "kind", "eps", "steps", "robust_accuracy"])


SANE = [("pgd", "white-box", 0.1, 10, 0.40), ("pgd", "white-box", 0.1, 50, 0.38),
        ("pgd", "white-box", 0.2, 10, 0.20), ("pgd", "white-box", 0.2, 50, 0.15),
        ("cw", "white-box", 0.1, 50, 0.39), ("pgd-from-sce", "transfer", 0.1, 10, 0.70),
        ("square", "black-box", 0.1, 1000, 0.395), ("noise", "corruption", 0.0, 0, 0.95)]


def test_ordering_sane_passes():
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientMaskingWarning)
        assert check_attack_ordering(_table(SANE)) == []
        # percentages are recognised, the tolerance staying in points
        pct = _table(SANE).assign(robust_accuracy=lambda d: 100 * d["robust_accuracy"])
        assert check_attack_ordering(pct) == []


def test_ordering_transfer_beats_white_box():
    rows = SANE + [("pgd-from-sce", "transfer", 0.2, 10, 0.10)]
    with pytest.warns(GradientMaskingWarning, match="transfer beats white-box"):
        msgs = check_attack_ordering(_table(rows))
    assert len(msgs) == 1 and "pgd-from-sce" in msgs[0] and "15.0%" in msgs[0]


def test_ordering_rises_with_steps_and_eps():
    rows = SANE + [("pgd", "white-box", 0.1, 100, 0.45)]
    with pytest.warns(GradientMaskingWarning, match="more steps"):
        msgs = check_attack_ordering(_table(rows))
    assert len(msgs) == 1 and "100" in msgs[0]
    rows = SANE + [("pgd", "white-box", 0.3, 10, 0.35)]
    with pytest.warns(GradientMaskingWarning, match="larger eps"):
        assert len(check_attack_ordering(_table(rows))) == 1
    rows = SANE + [("pgd", "white-box", 1.0, 10, 0.05)]
    with pytest.warns(GradientMaskingWarning, match="unbounded"):
        check_attack_ordering(_table(rows), warn=True)
    with pytest.raises(ValueError, match="kind"):
        check_attack_ordering(_table([("pgd", "grey-box", 0.1, 10, 0.4)]))


def test_run_checks_gathers():
    rows = SANE + [("pgd-from-sce", "transfer", 0.2, 10, 0.10)]
    msgs = run_checks(Tiny(step="round"), _images(), torch.arange(6), results=_table(rows),
                      warn=False)
    assert [m.split(":")[0] for m in msgs] == ["zero gradients", "transfer beats white-box"]
