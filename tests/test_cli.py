import json
import subprocess
import sys

import pytest


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rethinkmmc", *args], capture_output=True,
                          text=True, env=env)


def test_train_prints_json_last(runs):
    r = cli("train", "--profile", "smoke", "--dataset", "digits", "--loss", "mmc", "--epochs",
            "3", "--milestones", "--seed", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"run", "test_accuracy", "epochs", "seconds", "diverged"} <= set(last)
    assert last["epochs"] == 3 and last["diverged"] is False and last["seed"] == 1
    assert last["run"].startswith(str(runs))


def test_train_several_losses_prints_a_table(runs):
    r = cli("train", "--loss", "sce", "mmc", "--epochs", "2", "--milestones", "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert any(line.startswith("| sce |") for line in lines)
    assert any(line.startswith("| mmc |") for line in lines)
    assert [json.loads(x)["loss"] for x in lines[-2:]] == ["sce", "mmc"]


@pytest.mark.parametrize("args,needle", [
    (["train", "--loss", "foo"], "--loss"),
    (["train", "--epochs", "0"], "epochs"),
    (["train", "--adv-eps", "8"], "adv_eps"),
    (["train", "--lr", "abc"], "--lr"),
    (["train", "--c-mm", "-1"], "c_mm"),
    (["train", "--profile", "huge"], "--profile"),
    (["frobnicate"], "frobnicate"),
    (["train", "--seed", "-1"], "seed"),
    (["evaluate", "--run", "x", "--attack", "pgd", "--batch-size", "0"], "--batch-size"),
    (["train", "--dataset", "mnist", "--data-root", "/nonexistent/dir"], "/nonexistent/dir"),
])
def test_bad_arguments_exit_2_with_one_line(runs, args, needle):
    r = cli(*args)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.stderr
    assert needle in err[0]


def test_missing_data_says_how_to_fill_it(runs):
    r = cli("train", "--dataset", "cifar10", "--data-root", "/nonexistent/dir")
    assert r.returncode == 2 and "prepare.py" in r.stderr


def test_data_check(tmp_path):
    r = cli("data", "check", "--data-root", str(tmp_path))
    assert r.returncode == 0
    out = r.stdout
    assert "digits" in out and "present" in out.split("digits")[1].splitlines()[0]
    assert "missing" in out.split("mnist")[1].splitlines()[0]


def test_every_trainconfig_field_has_a_flag_that_reaches_the_config():
    import dataclasses

    from rethinkmmc import TrainConfig
    from rethinkmmc.cli import _OWN_FLAGS, _build_parser, _train_configs

    p = _build_parser()
    flags = {a.dest for a in p._subparsers._group_actions[0].choices["train"]._actions}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - set(_OWN_FLAGS) <= flags
    args = p.parse_args(["train", "--width", "8", "--momentum", "0.5", "--lr-gamma", "0.2",
                         "--wd-conv-only", "no", "--center-lambda", "0.03", "--lgm-alpha",
                         "0.2", "--lgm-lambda", "1/4", "--adv-targeted", "yes", "--milestones",
                         "--seed", "1", "2", "--no-fast"])
    cfgs = _train_configs(args)
    assert [c.seed for c in cfgs] == [1, 2]
    c = cfgs[0]
    assert (c.width, c.momentum, c.lr_gamma, c.wd_conv_only, c.center_lambda, c.lgm_alpha,
            c.lgm_lambda, c.adv_targeted, c.milestones, c.fast) == (
        8, 0.5, 0.2, False, 0.03, 0.2, 0.25, True, (), False)
    # a flag not given keeps the profile's value
    assert _train_configs(p.parse_args(["train"]))[0].momentum == 0.9
