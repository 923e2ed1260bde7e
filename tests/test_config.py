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


def test_profile_errors():
    with pytest.raises(ValueError, match="profile"):
        train_config("huge", "digits", "mmc")
    with pytest.raises(ValueError, match="overrides"):
        train_config("smoke", "digits", "mmc", nonsense=1)
    assert set(PROFILES) == {"smoke", "quick", "paper"}
