"""Issue 12's bad inputs and faults, re-created: every CLI error is one line on stderr, exit 2,
naming the option or file, with no traceback; relative paths mean the caller's folder; a
killed or failed render keeps the previous notebook; failed trainings leave no empty run
folders; store files are readable by the group."""
import json
import os
import stat
import sys

import pytest
import torch

from rethinkmmc import cli
from rethinkmmc.runs import FILE_MODE, atomic_write_json, run_lock

TRAIN = ["train", "--profile", "smoke", "--dataset", "digits", "--loss", "sce", "--epochs", "1"]
EVAL = ["evaluate", "--run", "digits-x", "--attack", "pgd", "--eps", "0.1"]


def _bad_inputs(tmp):
    afile = tmp / "afile"
    afile.write_text("x")
    long = "a" * 300
    cases = [
        (TRAIN + ["--device", "foo"], "--device"),
        (TRAIN + ["--lr", "1e400"], "--lr"),
        (TRAIN + ["--lr", "nan"], "--lr"),
        (EVAL[:-1] + ["1e400"], "--eps"),
        (TRAIN + ["--runs-dir", str(afile)], "--runs-dir"),
        (TRAIN + ["--runs-dir", str(tmp / long)], "--runs-dir"),
        (TRAIN + ["--runs-dir", str(afile / "below")], "--runs-dir"),
        (["evaluate", "--run", "a" * 5000, "--attack", "pgd", "--eps", "0.1"], "--run"),
        (["report", "--only", "01", "--out", str(afile / "sub")], "--out"),
        (["report", "--only", "01", "--figures", str(afile)], "--figures"),
        (["report", "--prepare", "-p", "overrides", "notjson"], "overrides"),
        (["report", "--prepare", "-p", "overrides", '{"bogus": 1}'], "overrides"),
        (["report", "--prepare", "-p", "overrides", '{"loss": "sce"}'], "overrides"),
        (["report", "--prepare", "-p", "bogus", "1"], "bogus"),
        (["report", "--only", "04", "-p", "n", "true"], "n"),
        (["report", "--only", "04", "-p", "n", '"abc"'], "n"),
        (["report", "-p", "runs_dir", str(afile)], "runs_dir"),
        (TRAIN + ["--batch-size", "0"], "batch_size"),
        (TRAIN + ["--seed", "-1"], "--seed"),
        (TRAIN + ["--epochs", "0"], "epochs"),
        (TRAIN + ["--threads", "0"], "--threads"),
        (EVAL + ["--n", "0"], "--n"),
        (EVAL + ["--steps", "0"], "--steps"),
        (EVAL + ["--batch-size", "0"], "--batch-size"),
        (EVAL + ["--seed", "-2"], "--seed"),
        (EVAL + ["--restarts", "0"], "--restarts"),
        (["data", "check", "--data-root", str(afile)], "--data-root"),
    ]
    if not torch.cuda.is_available():
        cases.append((TRAIN + ["--device", "cuda"], "--device"))
    return cases


def test_every_bad_input_is_one_line_exit_2_naming_the_option(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RETHINKMMC_RUNS", str(tmp_path / "store"))
    cases = _bad_inputs(tmp_path)
    clean = 0
    for argv, name in cases:
        rc = cli.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, (argv[:6], rc, err[-3:])
        assert err[0].startswith("rethinkmmc: error:") and name in err[0], (argv[:6], err)
        clean += 1
    assert clean == len(cases) >= 27
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.pt"))


def test_report_without_papermill_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "papermill", None)  # import papermill -> ModuleNotFoundError
    assert cli.main(["report", "--only", "01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'rethinkmmc[report]'" in err[0]


def test_relative_paths_mean_the_callers_folder(tmp_path, monkeypatch):
    from rethinkmmc import report

    monkeypatch.chdir(tmp_path)
    args = cli._build_parser().parse_args(
        ["report", "--out", "o", "--figures", "f", "-p", "runs_dir", "r", "-p", "data_root",
         json.dumps(str(tmp_path))])
    cli._check_paths(args)
    assert args.out == str(tmp_path / "o") and args.figures == str(tmp_path / "f")
    assert dict(args.param)["runs_dir"] == json.dumps(str(tmp_path / "r"))
    # ... and the report's own entry point, for the environment the kernels inherit
    monkeypatch.setenv("RETHINKMMC_RUNS", "rel/runs")
    params = report.absolute_inputs({"runs_dir": "r2", "n": 3})
    assert params == {"runs_dir": str(tmp_path / "r2"), "n": 3}
    assert os.environ["RETHINKMMC_RUNS"] == str(tmp_path / "rel" / "runs")


@pytest.mark.parametrize("how", [RuntimeError("cell failed"), KeyboardInterrupt()])
def test_a_failed_or_killed_render_keeps_the_previous_notebook(tmp_path, monkeypatch, how):
    import contextlib

    import papermill

    from rethinkmmc import report

    out = tmp_path / "out"
    out.mkdir()
    good = out / "01_centers.ipynb"
    good.write_text("the previous good render")

    def execute(src, dst, **kw):
        with open(dst, "w") as f:
            f.write("half a notebook")
        raise how

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(report, "_ipc_kernel", contextlib.nullcontext)
    if isinstance(how, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            report.render("smoke", only=["01"], out=out, figures=False, html=False,
                          log=lambda m: None)
    else:
        res = report.render("smoke", only=["01"], out=out, figures=False, html=False,
                            log=lambda m: None)
        assert res["01_centers"].startswith("FAILED: cell failed")
        assert (out / "01_centers.failed.ipynb").read_text() == "half a notebook"
    assert good.read_text() == "the previous good render"


def test_a_failed_training_leaves_no_empty_run_folder(tmp_path):
    from rethinkmmc import train, train_config

    cfg = train_config("smoke", "mnist", "sce", epochs=1)  # no MNIST under this data root
    with pytest.raises(Exception, match="data"):
        train(cfg, runs_dir=tmp_path, data_root=tmp_path / "nodata", progress=False)
    assert not any(p.is_dir() for p in (tmp_path / "smoke").glob("*")), \
        list((tmp_path / "smoke").rglob("*"))
    # a folder with something in it stays
    with run_lock(tmp_path / "kept"):
        (tmp_path / "kept" / "note").write_text("x")
    assert (tmp_path / "kept" / "note").exists()


def test_store_files_are_readable_by_the_group(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    mode = stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode)
    assert mode == FILE_MODE
    old = os.umask(0o022)
    os.umask(old)
    if old == 0o022:
        assert mode == 0o644
