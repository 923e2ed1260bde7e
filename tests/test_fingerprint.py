"""The cold-path regression check: a store's headline figures, compared within tolerances."""
import json

import pytest

from rethinkmmc import fingerprint as F


def store(tmp_path, acc=0.98, robust=(1,) * 225 + (0,) * 225, verdict="holds", margin=0.3,
          rows=1):
    run = tmp_path / "smoke" / "digits-sce-s0-abc"
    (run / "evaluations").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": acc, "n_test": 450}))
    (run / "evaluations" / "pgd-1.json").write_text(json.dumps(
        {"robust": list(robust), "complete": True}))
    (run / "evaluations" / "pgd-2.json").write_text(json.dumps(
        {"robust": [1], "complete": False}))  # a half-done evaluation is not a figure
    (tmp_path / "verdicts").mkdir()
    (tmp_path / "verdicts" / "02_x.json").write_text(json.dumps(
        {"notebook": "02_x", "volatile": False, "rows": [
            {"claim": f"c{i}", "measure": "m", "verdict": verdict, "margin": margin}
            for i in range(rows)]}))
    return F.summary(tmp_path, verdicts_dir=tmp_path / "verdicts")


def test_summary_reads_runs_complete_evaluations_and_verdicts(tmp_path):
    s = store(tmp_path)
    assert s["runs"] == {"digits-sce-s0-abc": {"test_accuracy": 0.98, "n_test": 450}}
    assert s["evaluations"] == {"digits-sce-s0-abc/pgd-1": {"robust_accuracy": 0.5, "n": 450}}
    assert s["verdicts"]["02_x"]["rows"] == [{"row": "1. c0", "verdict": "holds",
                                              "margin": 0.3}]
    with pytest.raises(FileNotFoundError, match="runs_dir: no quick store"):
        F.summary(tmp_path, "quick")


def test_compare_within_and_outside_tolerances(tmp_path):
    ref = store(tmp_path / "a")
    # 0.98 on 450 points: 3 standard errors (8.9 points) + 4 points
    assert F.compare(ref, store(tmp_path / "b", acc=0.98 + 12 / 450)) == []
    out = F.compare(ref, store(tmp_path / "c", acc=0.98 - 13 / 450))
    assert len(out) == 1 and "13 test points, more than 12.9" in out[0]
    # 0.5 on 450 points: 3 standard errors (0.0707) + 8 points (0.0178) = 0.0885 = 39.8 points
    assert F.compare(ref, store(tmp_path / "d", robust=(1,) * 264 + (0,) * 186)) == []
    out = F.compare(ref, store(tmp_path / "e", robust=(1,) * 265 + (0,) * 185))
    assert len(out) == 1 and "robust accuracy 0.589 vs reference 0.500" in out[0]
    assert "more than 0.088 apart on 450 points" in out[0]
    # a run trained below `stable` clean accuracy: its robust figures move as a whole
    weak = store(tmp_path / "f", acc=0.9)
    assert F.compare(weak, store(tmp_path / "g", acc=0.9, robust=(1,) * 450)) == []


def test_compare_verdicts_where_the_margin_is_wide(tmp_path):
    wide = store(tmp_path / "a", margin=0.3)
    narrow = store(tmp_path / "b", margin=0.01)
    flipped = store(tmp_path / "c", verdict="does not hold")
    out = F.compare(wide, flipped)
    assert len(out) == 1 and "'1. c0' is 'does not hold', reference 'holds'" in out[0]
    assert F.compare(narrow, flipped) == []  # a narrow verdict may move
    out = F.compare(store(tmp_path / "d", rows=2), wide)
    assert any("rows differ" in p for p in out)


def test_compare_names_missing_figures(tmp_path):
    ref = store(tmp_path / "a")
    empty = {"runs": {}, "evaluations": {}, "verdicts": {}}
    out = F.compare(ref, empty)
    assert sorted(p.split(":")[0] for p in out) == [
        "evaluation digits-sce-s0-abc/pgd-1", "run digits-sce-s0-abc", "verdicts 02_x"]


def test_cli_check_and_write(tmp_path, capsys):
    store(tmp_path / "a")
    ref = tmp_path / "ref.json"
    assert F.main([str(tmp_path / "a"), "--write", str(ref)]) == 0
    assert F.main([str(tmp_path / "a"), "--check", str(ref)]) == 0
    store(tmp_path / "b", acc=0.5)
    assert F.main([str(tmp_path / "b"), "--check", str(ref)]) == 1
    assert "test points" in capsys.readouterr().out
    assert F.main([str(tmp_path / "none"), "--check", str(ref)]) == 2
