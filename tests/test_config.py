import pytest

from rethinkmmc import TrainConfig, train_config
from rethinkmmc.profiles import PROFILES


@pytest.mark.parametrize("field,value", [
    ("dataset", "svhn"), ("arch", "vgg"), ("loss", "hinge"), ("optimizer", "lbfgs"),
    ("epochs", 0), ("batch_size", -1), ("lr", 0.0), ("lr", float("nan")), ("c_mm", -1.0),
    ("adv_eps", 8.0), ("adv_ratio", 0.0), ("milestones", (5, 3)), ("augment", "mixup"),
    ("centers", "learned"), ("test_subset", 0),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_config_roundtrip_and_key():
    cfg = train_config("paper", "cifar10", "mmc")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.key() == TrainConfig.from_dict(cfg.to_dict()).key()
    assert cfg.key() != cfg.replace(c_mm=100.0).key()
    with pytest.raises(ValueError, match="bogus"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_paper_profile_is_the_original_recipe():
    c = train_config("paper", "cifar10", "mmc")
    assert (c.arch, c.depth_n, c.feat_dim, c.batch_size, c.optimizer, c.lr, c.momentum) == \
        ("resnet_v2", 5, 256, 50, "sgd", 0.01, 0.9)
    assert (c.epochs, c.milestones) == (200, (100, 150))
    assert c.weight_decay == 2e-4 and c.wd_conv_only and c.augment == "shift_flip"
    assert (c.adv_eps, c.adv_step, c.adv_steps) == (8 / 256, 2 / 256, 10)
    m = train_config("paper", "mnist", "sce")
    assert (m.epochs, m.milestones) == (50, (30, 40))


def test_quick_profile_takes_the_original_optimizer_on_a_shorter_schedule():
    """Issue 14: SGD momentum 0.9, lr 0.01, L2 2e-4 on conv kernels, x0.1 decays at the
    original's fractions of training (MNIST 30/50 and 40/50, CIFAR-10 100/200 and 150/200)."""
    paper = train_config("paper", "mnist", "mmc")
    for d, epochs, milestones, batch in (("mnist", 6, (4, 5), 50), ("cifar10", 10, (5, 8), 128)):
        c = train_config("quick", d, "mmc")
        assert (c.optimizer, c.lr, c.momentum, c.weight_decay, c.wd_conv_only) == \
            (paper.optimizer, paper.lr, paper.momentum, paper.weight_decay, paper.wd_conv_only)
        assert (c.epochs, c.milestones, c.batch_size) == (epochs, milestones, batch)


def test_profile_errors():
    with pytest.raises(ValueError, match="profile"):
        train_config("huge", "digits", "mmc")
    with pytest.raises(ValueError, match="overrides"):
        train_config("smoke", "digits", "mmc", nonsense=1)
    assert set(PROFILES) == {"smoke", "quick", "paper"}
