"""The notebook machinery: parameter checks, verdict rules, the report runner's argument
checks, and a real papermill run that fails on a wrong parameter."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rethinkmmc import experiments as E
from rethinkmmc import notebook as nb
from rethinkmmc import verdicts as V
from rethinkmmc.report import ReportError, notebook_paths, render

ROOT = Path(__file__).resolve().parents[1]


def ns(**kw):
    base = dict(nb.COMMON)
    base.update(kw)
    return base


def test_start_accepts_defaults_and_extra_parameters(tmp_path):
    ctx = nb.start("x", ns(n=200, runs_dir=str(tmp_path)), n=None)
    assert ctx.profile == "smoke" and ctx.n == 200 and ctx.seed == 0
    assert ctx.settings.dataset == "digits" and ctx.settings.n == 200
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.settings.n = 3


@pytest.mark.parametrize("given, words", [
    (dict(profil="quick"), ["unknown parameter", "profil", "allowed", "profile"]),
    (dict(profile="fast"), ["profile='fast'", "smoke", "quick", "paper"]),
    (dict(seeds=[0, -1]), ["seeds", "integers >= 0"]),
    (dict(seeds="0"), ["seeds"]),
    (dict(overrides={"epochz": 3}), ["overrides", "epochz"]),
    (dict(overrides={"optimizer": "lbfgs"}), ["overrides", "optimizer"]),
    (dict(data_root="/no/such/dir"), ["data_root", "not a directory"]),
    (dict(n="many"), ["n='many'", "int"]),
    (dict(cifar_at="no"), ["cifar_at='no'", "bool"]),
    (dict(cascade_stored=1), ["cascade_stored=1", "bool"]),
])
def test_start_names_bad_parameters(given, words):
    with pytest.raises(nb.ParameterError) as e:
        nb.start("02_whitebox", ns(**given), n=100, cifar_at=True, cascade_stored=False)
    for w in words:
        assert w in str(e.value)


def test_start_ignores_modules_functions_and_private_names():
    import math

    ctx = nb.start("x", ns(math=math, f=lambda: 1, _hidden=3, In=[], Out={}))
    assert "f" not in ctx.params and "math" not in ctx.params


def test_save_and_load_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("RETHINKMMC_VERDICTS", str(tmp_path / "v"))
    ctx = nb.start("07_x", ns(runs_dir=str(tmp_path / "runs")))
    t = V.verdict_table([V.Verdict("c", "m", "r", "o", V.HOLDS, "w")])
    ctx.save_verdicts(t)
    assert not (tmp_path / "runs").exists()  # verdicts are the report's, not the store's
    recs = nb.load_verdicts("smoke", str(tmp_path / "v"))
    assert recs == nb.load_verdicts("smoke")
    assert [r["notebook"] for r in recs] == ["07_x"]
    assert recs[0]["rows"][0]["verdict"] == "holds" and recs[0]["profile"] == "smoke"


def test_verdict_records_name_their_runs_and_go_stale_without_them(tmp_path, monkeypatch):
    """A record names the runs ctx.runs handed out; 99 calls it stale once one of them is no
    longer in the store (retrained under another key, or removed)."""
    monkeypatch.setenv("RETHINKMMC_VERDICTS", str(tmp_path / "v"))
    ctx = nb.start("07_x", ns())
    got = ctx.runs("standard")          # the committed smoke runs: read, not trained
    ctx.save_verdicts(V.verdict_table([V.Verdict("c", "m", "r", "o", V.HOLDS, "w")]))
    rec = nb.load_verdicts("smoke")[0]
    assert rec["runs"] == sorted(r.key for r in got.values()) and len(rec["runs"]) == 2
    assert nb.record_runs(rec) == ("current", "current")
    state, words = nb.record_runs(rec, tmp_path / "elsewhere")
    assert state == "stale" and words.startswith("stale: 2 of 2 runs gone from the store")
    state, words = nb.record_runs({k: v for k, v in rec.items() if k != "runs"})
    assert state == "not recorded" and words.startswith("not recorded")


@pytest.mark.parametrize("args, expected", [
    ((0.5, 0.4, (0.45, 0.55)), V.HOLDS),
    ((0.3, 0.4, (0.25, 0.35)), V.FAILS),
    ((0.41, 0.4, (0.36, 0.46)), V.OPEN),
    ((float("nan"), 0.4, None), V.OPEN),
])
def test_at_least(args, expected):
    assert V.at_least(*args)[0] == expected


def test_at_most_is_the_mirror():
    assert V.at_most(0.01, 0.05, (0.0, 0.03))[0] == V.HOLDS
    assert V.at_most(0.2, 0.05, (0.15, 0.25))[0] == V.FAILS
    assert V.at_most(0.05, 0.05, (0.03, 0.08))[0] == V.OPEN


def test_greater_and_improves():
    assert V.greater(0.9, 0.5, (0.85, 0.93), (0.45, 0.55))[0] == V.HOLDS
    assert V.greater(0.5, 0.9, (0.45, 0.55), (0.85, 0.93))[0] == V.FAILS
    assert V.greater(0.6, 0.55, (0.5, 0.7), (0.45, 0.65))[0] == V.OPEN
    # both at zero: even the best reading cannot gain 5 points -> the claim does not hold
    assert V.improves(0.0, 0.0, (0.0, 0.008), (0.0, 0.008), min_gain=0.05)[0] == V.FAILS
    assert V.improves(0.42, 0.03, (0.38, 0.47), (0.02, 0.05), min_gain=0.05)[0] == V.HOLDS
    assert V.improves(0.08, 0.03, (0.05, 0.12), (0.01, 0.06), min_gain=0.05)[0] == V.OPEN


def test_not_less_tolerance():
    assert V.not_less(0.985, 0.99, names=("MMC", "SCE"), tolerance=0.01)[0] == V.HOLDS
    assert V.not_less(0.90, 0.99, (0.88, 0.92), (0.98, 0.995), tolerance=0.01)[0] == V.FAILS
    assert V.not_less(0.97, 0.99, (0.95, 0.985), (0.98, 0.995), tolerance=0.01)[0] == V.OPEN
    # the point estimate within the tolerance is not enough where the intervals allow a larger
    # loss (0.975 against 0.995 - 0.01); it holds when even those ends are within it
    assert V.not_less(0.985, 0.99, (0.975, 0.993), (0.984, 0.995), tolerance=0.01)[0] == V.OPEN
    d = V.not_less(0.99, 0.99, (0.988, 0.992), (0.988, 0.992), tolerance=0.01)
    assert d.verdict == V.HOLDS and d.margin == pytest.approx(0.006)


@pytest.mark.parametrize("decision, verdict, margin", [
    # at_least: interval 0.45-0.55 clears 0.4 by 0.05; 0.25-0.35 misses it by 0.05
    (V.at_least(0.5, 0.4, (0.45, 0.55)), V.HOLDS, 0.05),
    (V.at_least(0.3, 0.4, (0.25, 0.35)), V.FAILS, 0.05),
    (V.at_least(0.41, 0.4, (0.36, 0.46)), V.OPEN, 0.04),
    (V.at_most(0.01, 0.05, (0.0, 0.03)), V.HOLDS, 0.02),
    # greater: 0.85 - 0.55 apart; 0.55 below 0.85; overlap 0.65 - 0.5 vs 0.7 - 0.45
    (V.greater(0.9, 0.5, (0.85, 0.93), (0.45, 0.55)), V.HOLDS, 0.30),
    (V.greater(0.5, 0.9, (0.45, 0.55), (0.85, 0.93)), V.FAILS, 0.30),
    (V.greater(0.6, 0.55, (0.5, 0.7), (0.45, 0.65)), V.OPEN, 0.15),
    # improves: apart by 0.33, gain 0.39 - 0.05 = 0.34 -> 0.33; best reading 0.008 < 0.05
    (V.improves(0.42, 0.03, (0.38, 0.47), (0.02, 0.05)), V.HOLDS, 0.33),
    (V.improves(0.0, 0.0, (0.0, 0.008), (0.0, 0.008)), V.FAILS, 0.042),
    # open: 0.01 more apart would hold (0.06 - 0.05), 0.06 less would fail (0.11 - 0.05)
    (V.improves(0.08, 0.03, (0.05, 0.12), (0.01, 0.06)), V.OPEN, 0.01),
    (V.not_less(0.985, 0.99, tolerance=0.01), V.HOLDS, 0.005),
    (V.not_less(0.90, 0.99, (0.88, 0.92), (0.98, 0.995), tolerance=0.01), V.FAILS, 0.05),
])
def test_rules_give_their_margin(decision, verdict, margin):
    """The margin: how far the data are from changing the verdict (the cold-path check compares
    verdicts only where it is wide)."""
    assert decision.verdict == verdict
    assert decision.margin == pytest.approx(margin, abs=1e-12)
    v, why = decision[:2]
    assert v == verdict and why


def test_combinations_and_their_margin():
    h1, h2 = V.at_least(0.5, 0.4), V.at_least(0.45, 0.4)
    f1, f2 = V.at_least(0.3, 0.4), V.at_least(0.1, 0.4)
    o = V.at_least(0.41, 0.4, (0.36, 0.46))
    assert V.all_of([h1, h2]) == (V.HOLDS, h1.why + "; " + h2.why, pytest.approx(0.05))
    # every failing rule must flip before all_of can change: the largest failing margin
    assert V.all_of([h1, f1, f2])[::2] == (V.FAILS, pytest.approx(0.3))
    assert V.all_of([h1, o])[::2] == (V.OPEN, pytest.approx(0.04))
    assert V.unanimous([f1, f2])[::2] == (V.FAILS, pytest.approx(0.1))
    # split 1 hold vs 2 fails: unanimous failing needs the hold to flip (0.1); holding needs
    # both failures to flip (0.3)
    assert V.unanimous([h1, f1, f2])[::2] == (V.OPEN, pytest.approx(0.1))
    with pytest.raises(ValueError, match="decisions"):
        V.all_of([])


def test_verdict_margins_are_stored_not_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("RETHINKMMC_VERDICTS", str(tmp_path))
    rows = [V.Verdict("c", "m", "r", "o", *V.at_least(0.5, 0.4)),
            V.Verdict("c2", "m", "r", "o", V.OPEN, "w")]
    t = V.verdict_table(rows)
    assert "margin" not in t.columns and t.attrs["margin"][0] == pytest.approx(0.1)
    ctx = nb.start("07_x", ns(runs_dir=str(tmp_path)))
    ctx.save_verdicts(t)
    stored = nb.load_verdicts("smoke", str(tmp_path))[0]["rows"]
    assert stored[0]["margin"] == pytest.approx(0.1) and stored[1]["margin"] is None


def test_verdict_rejects_hand_typed_outcomes():
    with pytest.raises(ValueError, match="verdict: 'mostly holds'"):
        V.Verdict("c", "m", "r", "o", "mostly holds", "w")
    with pytest.raises(ValueError, match="rows"):
        V.verdict_table([])


def test_experiments_groups_and_plan():
    with pytest.raises(ValueError, match="group: unknown 'nope'"):
        E.configs("smoke", "nope")
    with pytest.raises(ValueError, match="profile: unknown"):
        E.configs("huge", "standard")
    cmm = E.configs("quick", "cmm")
    assert [c.c_mm for c in cmm.values()] == [1.0, 10.0, 50.0, 100.0]
    keys = [c.key() for c in E.plan("quick")]
    assert len(keys) == len(set(keys))
    rob = E.configs("smoke", "robustness", seed=3)
    assert all(c.seed == 3 for c in rob.values()) and rob["AT-MMC-10"].adv_train


def test_quick_gives_three_seeds_to_the_mnist_only_notebooks_unless_seeds_are_given(
        tmp_path, monkeypatch):
    """experiments.SEEDS: quick's C_MM sweep, optimizer, feature, transfer and corruption
    notebooks run over seeds 0-2 by default, uncertainty, density and Remark 3 over seeds 0-1;
    the plan trains those seeds of their groups only (CIFAR-10's seed 1 pair, never its seed 2;
    the MNIST robustness group's seeds 1 and 2); a caller's seeds win in both."""
    from rethinkmmc.report import plan_runs

    assert E.notebook_seeds("quick", "10_cmm_sweep") == [0, 1, 2]
    assert E.notebook_seeds("quick", "02_whitebox") is None
    assert E.notebook_seeds("smoke", "10_cmm_sweep") is None
    assert all(E.notebook_seeds("quick", nb) == [0, 1]
               for nb in ("05_uncertainty", "07_density", "09_remark3"))
    assert all(E.notebook_seeds("quick", nb) == [0, 1, 2]
               for nb in ("03_blackbox", "04_corruptions"))
    extra = {c.key() for c in plan_runs("quick")} - {c.key() for c in E.plan("quick")}
    want = {c.key() for s in (1, 2) for g in ("cmm", "optimizers", "standard", "features2d")
            for c in E.configs("quick", g, seed=s).values()}
    cifar1 = {c.key() for c in E.configs("quick", "cifar", seed=1).values()}
    rob = {s: {c.key() for g in ("robustness", "surrogate")
               for c in E.configs("quick", g, seed=s).values()} for s in (1, 2)}
    # MMC-10 is in both cmm and standard; SCE and MMC-10 in both standard and robustness
    assert extra == want | cifar1 | rob[1] | rob[2] and len(want) == 18 and len(cifar1) == 2
    for s in (1, 2):
        assert len(rob[s] - want) == 6 and rob[s] & want == {
            c.key() for c in E.configs("quick", "standard", seed=s).values()}
    assert E.notebook_seeds("quick", "08_features") == [0, 1, 2]
    assert all(c.dataset == "mnist" for c in plan_runs("quick") if c.seed == 2)
    assert {c.key() for c in plan_runs("quick", {"seeds": [0]})} == \
        {c.key() for c in E.plan("quick")}
    assert {c.key() for c in plan_runs("smoke")} == {c.key() for c in E.plan("smoke")}
    # 02's cifar_at=False: the plan leaves out the adversarially trained CIFAR-10 runs only
    without = plan_runs("quick", {"cifar_at": False})
    left = {c.key() for c in plan_runs("quick")} - {c.key() for c in without}
    assert left == {c.key() for c in E.configs("quick", "cifar_at").values()} and len(left) == 2

    import papermill

    seen = {}

    def fake(src, out, parameters, **kw):  # records what render would inject, runs nothing
        seen[Path(src).stem] = parameters
        Path(out).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    render("quick", only=["06", "10", "02"], out=tmp_path, figures=False, html=False,
           log=lambda m: None, progress=False)
    assert seen["06_cost"]["seeds"] == [0, 1, 2] and seen["10_cmm_sweep"]["seeds"] == [0, 1, 2]
    assert "seeds" not in seen["02_whitebox"]
    render("quick", only=["10"], out=tmp_path, figures=False, html=False,
           parameters={"seeds": [4]}, log=lambda m: None, progress=False)
    assert seen["10_cmm_sweep"]["seeds"] == [4]


def test_report_argument_errors():
    with pytest.raises(ReportError, match="profile: unknown 'huge'"):
        render("huge")
    with pytest.raises(ReportError, match="only: no notebook matches zzz"):
        notebook_paths(["zzz"])
    with pytest.raises(ReportError, match="parameter: bogus is not a parameter of 01_centers"):
        render("smoke", only=["01"], parameters={"bogus": 1})


def test_cli_report_bad_parameter_exits_2_one_line():
    r = subprocess.run([sys.executable, "-m", "rethinkmmc", "report", "--only", "01",
                        "-p", "seedz", "[1]"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "seedz" in lines[0] and "Traceback" not in r.stderr


def test_papermill_run_with_a_wrong_parameter_fails_naming_it(tmp_path):
    """Bypass the runner's own check: the notebook itself refuses the parameter."""
    import papermill

    src = ROOT / "notebooks" / "01_centers.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(str(src), str(tmp_path / "out.ipynb"),
                                   parameters={"sedes": [1]}, progress_bar=False,
                                   kernel_name="python3", cwd=str(src.parent))
    assert "ParameterError" in str(e.value) and "sedes" in str(e.value)
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(str(src), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "tiny"}, progress_bar=False,
                                   kernel_name="python3", cwd=str(src.parent))
    assert "profile='tiny'" in str(e.value)


def test_committed_notebooks_match_their_sources():
    """notebooks/NN.ipynb must be built from notebooks/src/NN.py (code and markdown)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from build_notebooks import build
    finally:
        sys.path.pop(0)
    for src in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        built = build(src)
        committed = json.loads((ROOT / "notebooks" / f"{src.stem}.ipynb").read_text())
        want = [(c.cell_type, c.source) for c in built.cells]
        have = [(c["cell_type"], "".join(c["source"])) for c in committed["cells"]
                if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
        assert have == want, f"{src.stem}: rebuild with scripts/build_notebooks.py and re-run"


@pytest.mark.parametrize("args, words", [
    (["--only", "04", "-p", "n", "true"], ["n=True", "integer >= 1"]),
    (["--only", "04", "-p", "n", '"abc"'], ["n='abc'", "integer >= 1"]),
    (["--only", "04", "-p", "n", "0"], ["n=0", "integer >= 1"]),
    (["--prepare", "-p", "bogus", "1"], ["bogus", "not a parameter"]),
    (["--prepare", "-p", "overrides", "notjson"], ["overrides='notjson'", "dict"]),
    (["--prepare", "-p", "overrides", '{"bogus": 1}'], ["overrides", "bogus"]),
    (["--prepare", "-p", "overrides", '{"loss": "sce"}'], ["overrides may not set loss"]),
    (["--prepare", "-p", "overrides", '{"c_mm": 100}'], ["overrides may not set c_mm"]),
    (["--prepare", "-p", "seeds", "[-1]"], ["seeds", "integers >= 0"]),
    (["--only", "11", "-p", "dataset", '"imagenet"'], ["dataset='imagenet'", "allowed"]),
    (["--only", "06", "-p", "repeats", "2.5"], ["repeats=2.5", "integer >= 1"]),
])
def test_report_refuses_bad_values_before_anything_runs(runs, args, words):
    """One line, exit 2, and nothing trained (the store stays empty) nor rendered."""
    out = runs.parent / "out"
    r = subprocess.run([sys.executable, "-m", "rethinkmmc", "report", "--out", str(out),
                        "--no-progress", *args], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0]
    assert not runs.exists() and not out.exists()


def test_prepare_takes_a_single_seed_as_a_list():
    params = nb.check_parameters("01_centers", {"seeds": 5})
    assert params["seeds"] == [5] and params["overrides"] == {}
    with pytest.raises(nb.ParameterError, match="its own parameters"):
        nb.start("02_whitebox", ns(), m=3)
