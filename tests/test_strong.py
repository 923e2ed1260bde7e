"""Claim 1's strong suite: the cascade, PGD's best iterate, and a known answer for gradient
masking (the binarization test of Zimmermann, Brendel, Tramer & Carlini, "Increasing
Confidence in Adversarial Robustness Evaluations", NeurIPS 2022).

The binarization test puts a new readout on a trained model's features such that, for the
point x under test, an adversarial example provably exists inside the eps-ball (a point of
the ball the readout labels otherwise), then asks whether the attack finds one. Here the
readout is built, not trained: with d = f(x_b) - f(x) for a vertex x_b of the ball,
u(x') = <f(x') - f(x), d> / ||d||^2 is 0 at x and 1 at x_b, and the head is an MMC head on
u with centers at u = 0 (the true class) and u = 1, scaled so that its softmax saturates in
float32 as MMC's does (logits -s (u - c)^2, s = 1000). A strong evaluation must find x_b's
side; cross-entropy PGD, whose gradient is then exactly zero, must not.
"""
import pytest
import torch
import torch.nn as nn

from rethinkmmc.attacks import PGD
from rethinkmmc.evaluate import evaluate
from rethinkmmc.runs import in_checkout, load_run
from rethinkmmc.suites import paper_attack, strong_suite
from tests.attack_util import random_inputs, random_model

SMOKE_MMC = "digits-mmc10-z64-s0-92d2306bd5"
EPS = 8 / 255
SCALE = 1000.0


class BinarizedReadout(nn.Module):
    """Features of a trained model, read out as 4 MMC-style classes along one direction.

    Class 0 (x's label) has its center at u = 0, class 1 at u = 1 (x_b); classes 2 and 3 sit
    far away on a second axis, so that DLR (which needs 4 classes) is defined and never wins.
    """

    def __init__(self, trunk, x, x_b):
        super().__init__()
        self.trunk = trunk
        with torch.no_grad():
            self.f0 = trunk(x[None])[0]
            d = trunk(x_b[None])[0] - self.f0
        self.d = d / d.pow(2).sum()
        r = SCALE ** 0.5
        self.register_buffer("centers", torch.tensor([[0.0, 0], [r, 0], [0, 100 * r],
                                                      [0, -100 * r]]))
        self.num_classes = 4

    def features(self, x):
        u = (self.trunk(x) - self.f0) @ self.d
        return torch.stack([u * SCALE ** 0.5, torch.zeros_like(u)], 1)

    def forward(self, x):
        return -(self.features(x)[:, None] - self.centers[None]).pow(2).sum(-1)


def _cases(n=40):
    run = load_run(in_checkout("runs/smoke") / SMOKE_MMC)
    model = run.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = run.test_set()
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        sign = torch.randint(0, 2, x[i].shape, generator=g).float() * 2 - 1
        x_b = (x[i] + EPS * sign).clamp(0, 1)
        m = BinarizedReadout(model.features, x[i], x_b)
        with torch.no_grad():
            assert m(x[i][None]).argmax(1).item() == 0        # x is class 0 ...
            assert m(x_b[None]).argmax(1).item() == 1         # ... and x_b, inside the ball, not
        yield m, x[i][None], torch.zeros(1, dtype=torch.long)


def _found(attacks, cascade):
    found = []
    for m, x, y in _cases():
        df = evaluate(m, attacks(m), data=(x, y), store=False, progress=False, cascade=cascade)
        found.append(df["robust_accuracy"].iloc[-1] == 0)
    return sum(found) / len(found)


def test_binarization_strong_suite_finds_the_adversarial():
    assert _found(lambda m: strong_suite(EPS, m, steps=50, square_queries=500), True) >= 0.95


def test_binarization_ce_pgd_fails_on_saturated_mmc_head():
    # The paper's attack on the MMC logits: softmax(-s (u - c)^2) is exactly one-hot in
    # float32, so the CE gradient is zero. From x itself (BIM) it finds nothing; with its random
    # start it finds little more than the random start alone finds. Means over 5 random starts
    # (measured: 0.23 vs 0.18 of 40; a working gradient would find all 40).
    seeds = range(5)
    ce_pgd = sum(_found(lambda m: [paper_attack(EPS, seed=s)], False) for s in seeds) / 5
    noise = sum(_found(lambda m: [PGD(EPS, steps=1, step_size=1e-12, seed=s)], False)
                for s in seeds) / 5
    bim = _found(lambda m: [PGD(EPS, steps=10, step_size=2.5 * EPS / 10, random_start=False)],
                 False)
    assert bim == 0 and ce_pgd <= noise + 0.1 and ce_pgd < 0.5, (bim, ce_pgd, noise)


def test_cascade_attacks_only_survivors_and_ends_at_the_worst_case():
    model, (x, y) = random_model("mmc"), random_inputs(60)
    attacks = strong_suite(0.1, model, steps=10, square_queries=50)
    casc = evaluate(model, attacks, data=(x, y), store=False, progress=False, cascade=True)
    plain = evaluate(model, attacks, data=(x, y), store=False, progress=False)
    stages = casc[casc["attack"] != "worst-case"]
    assert list(stages["stage"]) == list(range(1, len(attacks) + 1))
    acc = stages["robust_accuracy"].tolist()
    assert all(a >= b for a, b in zip(acc, acc[1:]))            # robust accuracy never rises
    assert acc[0] == plain["robust_accuracy"].iloc[0]          # the first stage is shared
    # Each stage of the cascade sees only survivors, so the cascade's end is at most the
    # per-example union of the same attacks run on all points, and the first stage's flags
    # bound it from above.
    worst_plain = plain[plain["attack"] == "worst-case"]["robust_accuracy"].iloc[0]
    assert acc[-1] <= acc[0] and abs(acc[-1] - worst_plain) <= 0.1


def test_strong_suite_has_margin_attacks_only_for_center_models():
    mmc = [a.settings().get("objective") for a in strong_suite(0.1, random_model("mmc"))]
    sce = [a.settings().get("objective") for a in strong_suite(0.1, random_model("sce"))]
    assert mmc.count("mmc_margin") == 2 and "mmc_margin" not in sce
    assert "cw" in sce and "adaptive" in mmc


def test_pgd_keep_best_returns_the_successful_iterate():
    # Steps as large as eps overshoot back and forth: the last iterate may be correct again,
    # the best one may not (measured on the smoke SCE model's first 200 test points, eps 0.1:
    # 30 robust after the last iterate, 26 after the best one).
    run = load_run(in_checkout("runs/smoke") / "digits-sce-z64-s0-274868c70c")
    model, (x, y) = run.model.eval(), run.test_set()
    x, y = x[:200], y[:200]
    last = PGD(0.1, steps=9, step_size=0.1, seed=1)
    best = PGD(0.1, steps=9, step_size=0.1, keep_best=True, seed=1)
    with torch.no_grad():
        ok_last = model(last(model, x, y)).argmax(1) == y
        ok_best = model(best(model, x, y)).argmax(1) == y
    assert bool((ok_best <= ok_last).all())         # never worse than the last iterate
    assert ok_best.sum() < ok_last.sum()            # and here strictly better
    assert "keep_best" in best.settings() and "keep_best" not in last.settings()


@pytest.mark.parametrize("key", ["digits-sce-z64-s0-274868c70c", SMOKE_MMC])
def test_strong_cascade_at_least_as_strong_as_autoattack(key):
    """Ours at AutoAttack's size against torchattacks' AutoAttack (standard version: APGD-CE,
    APGD-T, FAB-T, Square) on the same smoke model and points: at most 1 point above it."""
    torchattacks = pytest.importorskip("torchattacks")
    from rethinkmmc.evaluate import points
    from rethinkmmc.experiments import AUTOATTACK_SIZE
    from rethinkmmc.torchutil import eval_mode, predict

    run = load_run(in_checkout("runs/smoke") / key)
    model, (x, y) = run.model, points(run, 100)
    eps = 0.1
    ours = evaluate(model, strong_suite(eps, model, **AUTOATTACK_SIZE), data=(x, y),
                    cascade=True, store=False, progress=False)
    ours = ours["robust_accuracy"].iloc[-1]
    with torch.random.fork_rng(), eval_mode(model):  # torchattacks reseeds the global generator
        aa = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard",
                                     n_classes=10, seed=0)
        theirs = (predict(model, aa(x, y), 100) == y).double().mean().item()
    assert 0 < theirs < 1  # a case where strength shows: neither all nor nothing survives
    assert ours <= theirs + 0.01, f"ours {ours:.3f} vs AutoAttack {theirs:.3f}"


def test_union_is_the_per_point_and_of_its_attacks(digits_runs):
    """AnyOf runs each attack only on the points the earlier ones left robust; with per-example
    streams a point meets the same draws there as in the attack's own run, so the union's flags
    are exactly the AND of the members' flags, and its adversarials stay in the ball."""
    from rethinkmmc.attacks import CW, SPSA
    from rethinkmmc.attacks.union import AnyOf

    run = digits_runs["mmc"]
    x, y = run.test_set()
    x, y = x[:200], y[:200]
    members = [PGD(0.1, steps=5, objective="ce", seed=2), PGD(0.1, steps=5, objective="adaptive"),
               SPSA(0.1, steps=2, samples=8, lr=0.03)]
    ok = lambda xa: run.model(xa).argmax(1) == y  # noqa: E731
    with torch.no_grad():
        each = [ok(a(run.model, x, y)) for a in members]
        xu = AnyOf(members)(run.model, x, y)
        union = ok(xu)
    assert torch.equal(union, each[0] & each[1] & each[2])
    # Not a vacuous AND: the members break different points. (Whether the union ends strictly
    # below its best member depends on the CPU's kernels: equal under AVX2 dispatch.)
    assert any(not torch.equal(each[0], e) for e in each[1:])
    assert union.float().mean() <= min(e.float().mean() for e in each)
    assert (xu - x).abs().max() <= 0.1 + 1e-6 and xu.min() >= 0 and xu.max() <= 1
    with pytest.raises(ValueError, match="attacks: one norm"):
        AnyOf([PGD(0.1), CW()])
    with pytest.raises(ValueError, match="attacks: a non-empty list"):
        AnyOf([])
