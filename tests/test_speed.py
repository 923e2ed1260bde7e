"""rethinkmmc.speed: the fast path's tricks give the plain path's results (to float rounding, or
to bf16's precision where asked), leave the caller's model alone, and refuse unknown names.

The training fast path (channels_last, torch.compile, bf16 autocast of the trunk) is what the
CUDA runs use; here it runs on the CPU, on the paper's architecture, adversarial training
included, so that it does not first meet real code on a GPU."""
import dataclasses

import pytest
import torch

from rethinkmmc import speed as S
from rethinkmmc.attacks import PGD
from rethinkmmc.build import build_model
from rethinkmmc.losses import make_loss
from rethinkmmc.profiles import train_config
from rethinkmmc.train import fast_path, make_optimizer, train_epoch


def test_parse_names_the_field_and_what_is_allowed():
    assert S.parse_speed("channels_last+bf16") == S.Speed(channels_last=True, bf16=True)
    assert str(S.parse_speed("compile,channels_last")) == "channels_last+compile"
    assert S.parse_speed("plain") == S.Speed()
    for bad in ("fast", "channels_last+fp8", "", "+"):
        with pytest.raises(ValueError, match=r"speed: expected 'plain', 'auto' or tricks"):
            S.parse_speed(bad)


def test_defaults_by_device_and_the_environment(monkeypatch):
    monkeypatch.delenv(S.ENV, raising=False)
    assert S.training_speed(torch.device("cpu")) == S.Speed(channels_last=True)
    assert S.training_speed(torch.device("cuda")) == S.Speed(True, True, True)
    assert S.training_speed(torch.device("cuda"), fast=False) == S.Speed()
    assert S.attack_speed() == S.Speed(channels_last=True)
    monkeypatch.setenv(S.ENV, "plain")
    assert S.training_speed(torch.device("cpu")) == S.Speed()
    assert S.attack_speed() == S.Speed()
    assert S.attack_speed("bf16") == S.Speed(bf16=True)  # an argument beats the environment
    monkeypatch.setenv(S.ENV, "turbo")
    with pytest.raises(ValueError, match=r"got 'turbo' \(from RETHINKMMC_SPEED\)"):
        S.attack_speed()


def _cifar_model(loss="mmc", **over):
    cfg = dataclasses.replace(train_config("quick", "cifar10", loss), **over)
    torch.manual_seed(0)
    return cfg, build_model(cfg).eval()


def test_attack_copy_matches_the_plain_model_and_leaves_it_alone():
    _, model = _cifar_model()
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    x = torch.rand(8, 3, 32, 32)
    y = torch.arange(8) % 10
    fast = S.for_attacks(model, "channels_last")
    assert fast is not model and conv.weight.is_contiguous()  # the caller's layout is kept
    fconv = next(m for m in fast.modules() if isinstance(m, torch.nn.Conv2d))
    assert fconv.weight.is_contiguous(memory_format=torch.channels_last)
    assert S.for_attacks(model, "plain") is model
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-3)
    attack = PGD(8 / 255, steps=3)
    a, b = attack(model, x, y, ids=torch.arange(8)), attack(fast, x, y, ids=torch.arange(8))
    # Same random start and the same steps: equal up to sign flips of near-zero gradients.
    assert (a - b).abs().max() <= 8 / 255 * 2 + 1e-6 and (a == b).float().mean() > 0.95
    assert not fast.training and not model.training
    half = S.for_attacks(model, "bf16")
    with torch.no_grad():
        assert half(x).dtype == torch.float32  # the head stays fp32 under a bf16 trunk
        assert (half(x).argmax(1) == model(x).argmax(1)).float().mean() >= 0.75


def _steps(cfg, speed, x, y, adv=False):
    torch.manual_seed(0)
    model = build_model(cfg, mean=x.mean(0))
    opt = make_optimizer(cfg, model)
    loss_fn = make_loss(cfg.loss, model.head, cfg.center_lambda, cfg.lgm_alpha, cfg.lgm_lambda)
    model, features_fn = fast_path(cfg, model, torch.device("cpu"), speed)
    gen = torch.Generator().manual_seed(0)
    loss, correct, seen = train_epoch(cfg, model, features_fn, loss_fn, opt, x, y, gen)
    return model, loss / seen


@pytest.mark.slow
def test_training_fast_path_on_the_paper_architecture():
    """One SGD step of the paper's ResNet v2 (n=5) on a CIFAR-shaped batch of 16, standard and
    adversarial. Compiled + channels_last in fp32 gives eager's step up to float rounding
    (measured: 0.16% of the update's norm; one step only, because a batch of 16 through 31 BN
    layers amplifies rounding about 5x per step). With the bf16 trunk the step points the same
    way (measured cosine 0.993) and the loss agrees to bf16's precision."""
    cfg = dataclasses.replace(train_config("paper", "cifar10", "mmc"), batch_size=16,
                              augment="none")
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    torch.manual_seed(0)  # as _steps: the same initial weights
    init = build_model(cfg, mean=x.mean(0)).state_dict()

    def update(model):
        return torch.cat([(p - init[k]).flatten() for k, p in model.state_dict().items()
                          if p.is_floating_point() and "running" not in k])

    plain, l0 = _steps(cfg, "plain", x, y)
    assert plain.speed == "plain"
    fast, l1 = _steps(cfg, "channels_last+compile", x, y)
    assert fast.speed == "channels_last+compile"
    u, v = update(plain), update(fast)
    assert u.norm() > 0.1 and l1 == pytest.approx(l0, rel=1e-5)
    assert (u - v).norm() / u.norm() < 1e-2
    half, l2 = _steps(cfg, "channels_last+compile+bf16", x, y)
    assert half.amp_dtype == torch.bfloat16 and l2 == pytest.approx(l0, rel=1e-2)
    assert torch.nn.functional.cosine_similarity(update(half), u, dim=0) > 0.95
    # Adversarial training through the compiled bf16 trunk (an eval-mode graph for the inner
    # PGD, the original's targeted softmax objective for MMC).
    at = dataclasses.replace(cfg, adv_train=True, adv_steps=2)
    _, la = _steps(at, "plain", x, y)
    _, lb = _steps(at, "channels_last+compile+bf16", x, y)
    assert la != l0 and lb == pytest.approx(la, rel=5e-2)


def test_compiled_attack_copy_forwards_the_model_and_matches_it():
    cfg = train_config("smoke", "digits", "mmc")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    model.model_id = "digits-mmc"
    fast = S.for_attacks(model, "compile")
    assert fast.model_id == "digits-mmc" and torch.equal(fast.centers, model.centers)
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 10
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fast.features(x), model.features(x), rtol=1e-4, atol=1e-4)
    attack = PGD(0.1, steps=5, objective="adaptive")  # goes through features and centers
    ids = torch.arange(16)
    a, b = attack(model, x, y, ids=ids), attack(fast, x, y, ids=ids)
    assert (a == b).float().mean() > 0.95
    fast.train()
    assert fast.training and not model.training  # the copy's mode is its own


def test_compiled_trunk_under_an_older_cpus_vector_width(monkeypatch):
    """ATEN_CPU_CAPABILITY=avx2 (how this CPU computes as an older one) must not break the
    compiled path: torch 2.13's inductor, left to choose, wrote half-stored 16-lane loops over
    AVX2 vectors and the digits trunk returned NaN (speed._compile pins the width)."""
    import torch._inductor.config as inductor

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setattr(inductor.cpp, "simdlen", None)
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build_model(train_config("smoke", "digits", "mmc")).eval()
    fast = S.for_attacks(model, "compile")
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fast.features(x), model.features(x), rtol=1e-4, atol=1e-4)
    assert inductor.cpp.simdlen == 256


def test_a_bf16_trained_run_reports_its_fp32_accuracy(tmp_path):
    """A run trained with the bf16 trunk stores the test accuracy its float32 model gives when
    loaded (tests/test_committed_runs.py recomputes it so), not the bf16 trunk's."""
    from rethinkmmc.runs import load_run
    from rethinkmmc.train import train
    from rethinkmmc.torchutil import accuracy

    cfg = train_config("smoke", "digits", "mmc", epochs=2, milestones=())
    run = train(cfg, runs_dir=tmp_path, speed="channels_last+bf16", progress=False)
    assert run.metrics["speed"] == "channels_last+bf16"
    loaded = load_run(run.path)
    x, y = loaded.test_set()
    assert loaded.metrics["test_accuracy"] == accuracy(loaded.model, x, y)


def test_a_bf16_attack_is_judged_by_the_fp32_model(digits_runs, monkeypatch):
    """Speed may change how adversarials are found, never whether they count: with a bf16
    trunk the clean points and every verdict on an adversarial come from the fp32 model."""
    from rethinkmmc import evaluate as E

    run = digits_runs["mmc"]
    seen = []
    real = E.predict

    def spy(model, x, batch_size=500):
        seen.append(getattr(model, "amp_dtype", None))
        return real(model, x, batch_size)

    monkeypatch.setattr(E, "predict", spy)
    attack = PGD(0.1, steps=5, objective="ce")
    plain = E.evaluate(run, [attack], n=200, store=False, progress=False, speed="plain")
    half = E.evaluate(run, [attack], n=200, store=False, progress=False,
                      speed="channels_last+bf16")
    assert seen and set(seen) == {None}  # every prediction by an fp32 model
    assert half["clean_accuracy"].item() == plain["clean_accuracy"].item()
    assert abs(half["robust_accuracy"].item() - plain["robust_accuracy"].item()) <= 0.05


def test_bf16_attack_records_are_kept_apart_from_fp32_ones(digits_runs, tmp_path):
    run = digits_runs["sce"]
    attack = PGD(0.1, steps=3, objective="ce")
    from rethinkmmc.evaluate import evaluate
    evaluate(run, [attack], n=60, progress=False, store_dir=tmp_path / "fp32", speed="plain")
    evaluate(run, [attack], n=60, progress=False, store_dir=tmp_path / "fp32",
             speed="channels_last")  # the layout alone reads the same record
    evaluate(run, [attack], n=60, progress=False, store_dir=tmp_path / "fp32",
             speed="channels_last+bf16")
    names = sorted(p.name for p in (tmp_path / "fp32").glob("*.json"))
    assert len(names) == 2, names
