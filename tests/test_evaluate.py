import json
import subprocess
import sys

import pytest

from rethinkmmc.attacks import FGSM, PGD
from rethinkmmc.evaluate import eps_label, evaluate, wilson, worst_case


def test_eps_label_names_the_denominator():
    assert eps_label(8 / 255) == "8/255" and eps_label(8 / 256) == "8/256"
    assert eps_label(16 / 256) == "1/16" or eps_label(16 / 256) == "16/256"
    assert eps_label(0.3) == "3/10" and eps_label(0) == "0"


def test_wilson_interval():
    lo, hi = wilson(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.19, abs=0.01)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    for n in (7, 500, 1000):  # exact at the ends, no rounding dust (4e-19 at n = 500)
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0


def test_evaluate_table_store_and_worst_case(digits_runs):
    run = digits_runs["mmc"]
    attacks = [FGSM(0.1), PGD(0.1, steps=5, objective="ce"), PGD(0.1, steps=5, objective="adaptive"),
               PGD(0.1, steps=5, objective="adaptive", targeted=True)]
    df = evaluate(run, attacks, n=120, progress=False)
    assert list(df["attack"]) == ["fgsm", "pgd", "pgd", "pgd", "worst-case"]
    assert (df["n"] == 120).all() and (df["eps_label"] == "10/100").sum() == 0
    assert set(df["eps_label"]) == {"1/10"}
    assert (df["ci_low"] <= df["robust_accuracy"]).all() and (df["robust_accuracy"] <= df["ci_high"]).all()
    assert (df["robust_accuracy"] <= df["clean_accuracy"]).all()
    worst = df[df["attack"] == "worst-case"]["robust_accuracy"].item()
    assert worst <= df[df["attack"] != "worst-case"]["robust_accuracy"].min()
    assert 0 <= df.iloc[3]["target_success"] <= 1
    stored = sorted((run.path / "evaluations").glob("*.json"))
    assert len(stored) == 4
    # a second call reads the store: no attack runs
    class Boom(PGD):
        def perturb(self, *a, **k):
            raise AssertionError("re-attacked a stored result")
    boom = Boom(0.1, steps=5, objective="ce")
    boom.name = "pgd"
    again = evaluate(run, [boom], n=120, progress=False)
    assert again["robust_accuracy"].item() == df.iloc[1]["robust_accuracy"]


def test_killed_evaluation_resumes(digits_runs, tmp_path):
    run = digits_runs["sce"]
    calls = []

    class Flaky(PGD):
        def perturb(self, model, x, y, target, gen):
            calls.append(len(y))
            if len(calls) == 2:
                raise KeyboardInterrupt
            return super().perturb(model, x, y, target, gen)

    attack = Flaky(0.1, steps=3)
    attack.name = "pgd"
    with pytest.raises(KeyboardInterrupt):
        evaluate(run, attack, n=300, batch_size=100, store_dir=tmp_path, progress=False)
    partial = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert partial["done"] == 100 and not partial["complete"]
    df = evaluate(run, attack, n=300, batch_size=100, store_dir=tmp_path, progress=False)
    assert len(calls) == 4  # 1 batch, the interrupted one, then the 2 left
    fresh = evaluate(run, PGD(0.1, steps=3), n=300, batch_size=100, store=False, progress=False)
    assert df["robust_accuracy"].item() == fresh["robust_accuracy"].item()


def test_worst_case_cascade(digits_runs):
    run = digits_runs["mmc"]
    df = worst_case(run, [PGD(0.1, steps=5, objective="ce"), PGD(0.1, steps=5, objective="adaptive")],
                    n=100, progress=False)
    assert list(df["stage"]) == ["pgd", "pgd"]
    assert df["robust_accuracy"].is_monotonic_decreasing


def test_cli_evaluate(digits_runs):
    run = digits_runs["mmc"]
    r = subprocess.run([sys.executable, "-m", "rethinkmmc", "evaluate", "--run", str(run.path),
                        "--attack", "pgd", "--eps", "8/255", "--steps", "5", "--objective",
                        "adaptive", "--n", "50", "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["eps_label"] == "8/255" and out["n"] == 50
    assert 0 <= out["robust_accuracy"] <= out["clean_accuracy"] <= 1
    for args, needle in [(["--eps", "-1"], "eps"), (["--attack", "nope"], "attack"),
                         (["--objective", "zzz"], "objective"), (["--n", "0"], "n")]:
        base = ["evaluate", "--run", str(run.path), "--attack", "pgd", "--eps", "0.1"]
        r = subprocess.run([sys.executable, "-m", "rethinkmmc", *base, *args],
                           capture_output=True, text=True)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert needle in r.stderr


def test_stored_results_do_not_depend_on_the_batch_size(digits_runs, tmp_path):
    """Issue 12: PGD on the same 450 points gave 0.6267, 0.6133 and 0.6156 at batch sizes 25,
    100 and 450 while one torch.Generator served each batch. With per-example streams every
    attack that draws (random starts, random targets, Square's windows and signs, SPSA's
    directions, noise, rotations) stores the same per-point results at any batch size."""
    import torch

    from rethinkmmc.attacks import APGD, APGDT, MIM, SPSA, GaussianNoise, Rotation, Square

    run = digits_runs["mmc"]
    attacks = [PGD(0.1, steps=10, objective="ce", seed=3),
               PGD(0.1, steps=5, objective="ce", targeted=True, seed=1),
               MIM(0.1, steps=5, objective="adaptive"),
               APGD(0.1, steps=10, objective="mmc_margin"),
               APGDT(0.1, steps=5, n_target_classes=3),
               Square(0.1, n_queries=60, seed=2),
               SPSA(0.1, steps=3, samples=8, lr=0.03),
               GaussianNoise(0.3), Rotation(max_degrees=30)]
    stored = {}
    for b in (25, 100, 450):
        d = tmp_path / f"b{b}"
        df = evaluate(run, attacks, batch_size=b, store_dir=d, progress=False)
        stored[b] = {f.name: json.loads(f.read_text())["robust"] for f in sorted(d.glob("*.json"))}
        stored[b]["table"] = df["robust_accuracy"].round(6).tolist()
    assert len(stored[25]) == len(attacks) + 1
    assert stored[25] == stored[100] == stored[450]
    # ... and the streams do differ between points and seeds (the attacks are random at all)
    x, y = run.test_set()
    a = PGD(0.1, steps=1, step_size=1e-12)(run.model, x[:2], y[:2])
    b = PGD(0.1, steps=1, step_size=1e-12, seed=1)(run.model, x[:2], y[:2])
    assert not torch.equal(a[0] - x[0], a[1] - x[1]) and not torch.equal(a, b)


def test_a_targeted_call_draws_the_same_target_and_start_inside_and_outside(digits_runs):
    """evaluate draws a targeted attack's targets beforehand (`Attack.targets`) and passes them
    in; a plain call draws them itself. Targets have a draw number of their own, so both give
    the same adversarials (the union stage calls its attacks the plain way)."""
    import torch

    run = digits_runs["mmc"]
    x, y = run.test_set()
    x, y, ids = x[:60], y[:60], torch.arange(100, 160)
    pgd = PGD(0.1, steps=3, objective="ce", targeted=True, seed=4)
    target = pgd.targets(run.model, x, y, ids)
    assert (target != y).all()
    assert torch.equal(pgd(run.model, x, y, ids=ids), pgd(run.model, x, y, target, ids))


def test_missing_records_names_what_a_cascade_would_compute(digits_runs, tmp_path):
    """missing_records attacks nothing and names exactly the stages evaluate would compute:
    all before, none after, the later ones after a cut-off cascade, and a damaged record."""
    import shutil
    from rethinkmmc.evaluate import missing_records
    from rethinkmmc.runs import load_run
    src = digits_runs["sce"].path
    run = load_run(shutil.copytree(src, tmp_path / src.name))
    shutil.rmtree(run.path / "evaluations", ignore_errors=True)
    stages = [PGD(0.1, steps=3), FGSM(0.1), PGD(0.1, steps=3, objective="cw")]
    assert missing_records(run, stages, n=60, cascade=True) == ["pgd", "fgsm", "pgd"]
    evaluate(run, stages[:2], n=60, cascade=True, progress=False)
    # the third stage's record is keyed on the first two: it alone is missing
    assert missing_records(run, stages, n=60, cascade=True) == ["pgd"]
    # the same attacks outside a cascade are other records (the first one is shared)
    assert missing_records(run, stages, n=60) == ["fgsm", "pgd"]
    # other points are other records
    assert missing_records(run, stages[:1], n=50, cascade=True) == ["pgd"]
    evaluate(run, stages, n=60, cascade=True, progress=False)
    assert missing_records(run, stages, n=60, cascade=True) == []
    # a damaged record counts as missing (evaluate would recompute it)
    fgsm = next((run.path / "evaluations").glob("fgsm-*.json"))
    rec = json.loads(fgsm.read_text())
    rec["robust"][0] = 1 - rec["robust"][0]
    fgsm.write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match="damaged"):
        assert missing_records(run, stages, n=60, cascade=True) == ["fgsm"]


def test_a_record_read_whole_from_the_store_shows_no_progress_bar(digits_runs, tmp_path):
    """A rendered report would otherwise show one empty bar per stored stage."""
    import torch
    from rethinkmmc.evaluate import attack_flags
    run = digits_runs["sce"]
    x, y = run.test_set()
    x, y = x[:40], y[:40]
    bars = []

    def bar(it):
        bars.append(len(it))
        return it
    path, ok = tmp_path / "pgd.json", torch.ones(40, dtype=torch.bool)
    first = attack_flags(run.model, PGD(0.1, steps=2), x, y, ok, 20, path, {"k": 1}, bar)
    again = attack_flags(run.model, PGD(0.1, steps=2), x, y, ok, 20, path, {"k": 1}, bar)
    assert bars == [2] and again["robust"] == first["robust"]


def test_clean_flags_are_stored_read_back_and_checked(digits_runs, tmp_path, monkeypatch):
    """evaluate.clean_flags: one pass over the whole test split, stored beside the run; a
    second call reads the record (classifies nothing, so it reads the same on any CPU); a
    damaged record is recomputed with a warning naming the file; store=False writes nothing."""
    import shutil

    import rethinkmmc.evaluate as E
    from rethinkmmc.runs import load_run
    from rethinkmmc.torchutil import predict

    src = digits_runs["mmc"].path
    run = load_run(shutil.copytree(src, tmp_path / src.name))
    shutil.rmtree(run.path / "evaluations", ignore_errors=True)
    x, y = run.test_set()
    flags = E.clean_flags(run)
    assert len(flags) == len(y) and set(flags) <= {"0", "1"}
    assert flags == E.flag_string((predict(run.model, x) == y).tolist())
    assert flags.count("1") / len(y) == pytest.approx(run.metrics["test_accuracy"],
                                                      abs=1.5 / len(y))
    (path,) = (run.path / "evaluations").glob("clean-*.json")
    # read back: the model is not asked again
    monkeypatch.setattr(E, "predict", lambda *a, **k: pytest.fail("re-classified a stored record"))
    assert E.clean_flags(run) == flags
    # damaged: one flag flipped without its checksum -> recomputed, and the warning names it
    rec = json.loads(path.read_text())
    rec["flags"] = ("1" if flags[0] == "0" else "0") + flags[1:]
    path.write_text(json.dumps(rec))
    monkeypatch.setattr(E, "predict", predict)
    with pytest.warns(UserWarning, match=f"{path.name} is damaged"):
        assert E.clean_flags(run) == flags
    assert json.loads(path.read_text())["flags"] == flags
    path.unlink()
    assert E.clean_flags(run, store=False) == flags and not path.exists()
