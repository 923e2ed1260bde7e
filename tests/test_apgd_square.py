"""APGD / APGD-T (Croce & Hein, ICML 2020) and Square (Andriushchenko et al., ECCV 2020).

The trained models come from conftest's session fixture ``digits_runs`` (smoke SCE and MMC on
8x8 digits), shared with the other attack tests so they are trained once per session.
"""
import pytest
import torch

from rethinkmmc.attacks.apgd import APGD, APGDT, apgd_checkpoints
from rethinkmmc.attacks.linf import PGD
from rethinkmmc.attacks.square import Square, square_p
from attack_util import acc as _acc
from attack_util import check_invariants
from attack_util import random_inputs as _random_inputs
from attack_util import random_model as _random_model


@pytest.fixture
def trained(digits_runs):
    """(model, x, y) of a trained digits run; the shared model is put back in eval mode."""
    models = []

    def get(loss, n):
        run = digits_runs[loss]
        x, y = run.test_set()
        models.append(run.model)
        return run.model, x[:n], y[:n]

    yield get
    for m in models:
        m.eval()


ATTACKS = {
    "apgd_ce": lambda eps, **k: APGD(eps, steps=6, **k),
    "apgd_dlr": lambda eps, **k: APGD(eps, steps=6, n_restarts=2, objective="dlr", **k),
    "apgd_targeted": lambda eps, **k: APGD(eps, steps=6, objective="dlr", targeted=True, **k),
    "apgd_t": lambda eps, **k: APGDT(eps, steps=4, n_target_classes=3, **k),
    "square": lambda eps, **k: Square(eps, n_queries=40, **k),
    "square_targeted": lambda eps, **k: Square(eps, n_queries=20, targeted=True, **k),
}


@pytest.mark.parametrize("make", list(ATTACKS.values()), ids=list(ATTACKS))
@pytest.mark.parametrize("source", ["trained_sce", "trained_mmc", "random_sce", "random_mmc"])
@pytest.mark.parametrize("train_mode", [False, True])
def test_invariants(make, source, train_mode, trained):
    kind, head = source.split("_")
    if kind == "trained":
        model, x, y = trained(head, 24)
    else:
        model, (x, y) = _random_model(head), _random_inputs()
    check_invariants(make(0.2, seed=3), model, x, y, train_mode)


@pytest.mark.parametrize("make", [ATTACKS["apgd_ce"], ATTACKS["apgd_t"], ATTACKS["square"]],
                         ids=["apgd", "apgd_t", "square"])
def test_seed_changes_output(make):
    model, (x, _) = _random_model("sce"), _random_inputs()
    with torch.no_grad():
        y = model(x).argmax(1)  # every point correctly classified: every point is attacked
    assert not torch.equal(make(0.2, seed=0)(model, x, y), make(0.2, seed=1)(model, x, y))


def test_global_rng_untouched():
    model, (x, y) = _random_model("mmc"), _random_inputs()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    APGD(0.1, steps=3)(model, x, y)
    Square(0.1, n_queries=5)(model, x, y)
    assert torch.equal(torch.get_rng_state(), before)


def test_eps_zero_and_misclassified_points_unchanged():
    model, (x, y) = _random_model("sce"), _random_inputs()
    for attack in (APGD(0.0, steps=3), APGDT(0.0, steps=3), Square(0.0, n_queries=5)):
        assert torch.equal(attack(model, x, y), x)
    with torch.no_grad():
        wrong = model(x).argmax(1) != y
    assert wrong.any()
    for attack in (APGD(0.2, steps=3), APGDT(0.2, steps=3), Square(0.2, n_queries=5)):
        assert torch.equal(attack(model, x, y)[wrong], x[wrong])


def test_checkpoints_and_square_schedule():
    # p_j: 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, Sec. 3.2)
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(1000)[:3] == [220, 410, 570]
    assert all(0 < w <= n for n in (1, 5, 20) for w in apgd_checkpoints(n))
    # p halves after 10, 50, 200, ... of 10,000 queries; rescaled to the budget.
    assert square_p(0.8, 10, 10000) == 0.8 and square_p(0.8, 11, 10000) == 0.4
    assert square_p(0.8, 9000, 10000) == pytest.approx(0.8 / 512)
    assert square_p(0.8, 2, 1000) == 0.4  # iteration 2 of 1,000 is 20 of 10,000


def test_settings():
    s = APGD(0.1, steps=7, n_restarts=2, objective="dlr").settings()
    assert s["attack"] == "apgd" and s["norm"] == "linf"
    assert (s["steps"], s["n_restarts"], s["rho"], s["objective"]) == (7, 2, 0.75, "dlr")
    t = APGDT(0.1).settings()
    assert t["attack"] == "apgd_t" and t["objective"] == "dlr" and t["n_target_classes"] == 9
    q = Square(0.1, n_queries=300).settings()
    assert q["attack"] == "square" and q["n_queries"] == 300 and q["p_init"] == 0.8
    assert "objective" not in q


@pytest.mark.parametrize("make,field", [
    (lambda: APGD(-0.1), "eps"), (lambda: APGD(0.1, steps=0), "steps"),
    (lambda: APGD(0.1, n_restarts=0), "n_restarts"), (lambda: APGD(0.1, rho=0), "rho"),
    (lambda: APGD(0.1, objective="nope"), "objective"),
    (lambda: APGDT(-1.0), "eps"), (lambda: APGDT(0.1, steps=0), "steps"),
    (lambda: APGDT(0.1, n_target_classes=0), "n_target_classes"),
    (lambda: APGDT(0.1, targeted=True), "targeted"),
    (lambda: Square(-0.1), "eps"), (lambda: Square(0.1, n_queries=0), "n_queries"),
    (lambda: Square(0.1, p_init=0), "p_init"), (lambda: Square(0.1, p_init=1.5), "p_init"),
])
def test_bad_arguments(make, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        make()


def test_restarts_only_help(trained):
    # The first restart draws the same random start either way; the second runs only on the
    # points still robust, so it can only lower the robust accuracy.
    model, x, y = trained("sce", 100)
    one = _acc(model, APGD(0.1, steps=10)(model, x, y), y)
    two = _acc(model, APGD(0.1, steps=10, n_restarts=2)(model, x, y), y)
    assert two <= one


def test_apgd_ce_strong_on_sce(trained):
    model, x, y = trained("sce", 200)
    assert _acc(model, x, y) >= 0.9
    apgd = _acc(model, APGD(0.3, steps=20)(model, x, y), y)
    pgd = _acc(model, PGD(0.3, steps=20)(model, x, y), y)
    assert apgd <= 0.10
    assert apgd <= pgd + 0.02


def test_apgd_dlr_on_mmc(trained):
    # MMC logits are -||z - mu||^2 < 0: DLR is invariant to shifting and scaling them, while CE
    # saturates (the paper's Sec. 5 point), so APGD-DLR should be at least as strong as PGD-CE.
    model, x, y = trained("mmc", 200)
    dlr = _acc(model, APGD(0.3, steps=20, objective="dlr")(model, x, y), y)
    pgd = _acc(model, PGD(0.3, steps=20)(model, x, y), y)
    assert dlr <= pgd + 0.02
    assert dlr <= 0.5 * _acc(model, x, y)


def test_apgd_t_on_mmc(trained):
    model, x, y = trained("mmc", 100)
    assert _acc(model, APGDT(0.3, steps=10, n_target_classes=3)(model, x, y), y) <= 0.3


@pytest.mark.parametrize("loss", ["sce", "mmc"])
def test_square_reduces_accuracy(trained, loss):
    model, x, y = trained(loss, 200)
    clean = _acc(model, x, y)
    adv = _acc(model, Square(0.3, n_queries=300)(model, x, y), y)
    assert adv <= clean - 0.5


def test_cross_check_torchattacks_apgd(trained):
    """Our APGD-CE against torchattacks' (an independent implementation of the same paper) on
    the whole digits test split: robust accuracies within 2 points."""
    torchattacks = pytest.importorskip("torchattacks")
    model, x, y = trained("sce", 450)
    assert len(y) == 450
    ours = _acc(model, APGD(0.1, steps=20, seed=0)(model, x, y), y)
    with torch.random.fork_rng():  # torchattacks reseeds the global generator
        theirs = _acc(model, torchattacks.APGD(model, eps=0.1, steps=20, n_restarts=1, loss="ce",
                                               seed=0)(x, y), y)
    assert abs(ours - theirs) <= 0.02, (ours, theirs)
    assert ours < 0.5  # eps 0.1 is in the informative range (clean ~0.98, fully broken at 0.15)
