"""The cold path: the whole smoke report rendered from an empty run store (every run trained and
every attack run on this machine's CPU), its headline figures compared with the committed ones
within the tolerances of rethinkmmc.fingerprint (notebooks/README.md says why these and not
bitwise equality). nbval covers the committed notebooks against the committed store."""
import json
from pathlib import Path

import pytest

from rethinkmmc import fingerprint as F

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "smoke_summary.json"


def test_reference_matches_the_committed_store():
    """The reference is the committed store's own summary (re-write both together)."""
    ref = json.loads(REFERENCE.read_text())
    store = F.summary(ROOT / "runs")
    assert store["runs"] == ref["runs"]
    assert store["evaluations"] == ref["evaluations"]


@pytest.mark.slow
def test_cold_smoke_report_within_tolerances_of_the_committed(cold_smoke):
    d, results = cold_smoke
    assert [k for k, v in results.items() if not v.startswith("ok")] == []
    problems = F.compare(json.loads(REFERENCE.read_text()),
                         F.summary(d / "runs", verdicts_dir=d / "reports" / "verdicts"))
    assert problems == [], "\n".join(problems)
