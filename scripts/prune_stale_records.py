"""Remove stored evaluation records of an older EVAL_VERSION (their attacks changed, so they
are never read again) from run stores, and print what went.

    python scripts/prune_stale_records.py runs/smoke [--dry-run]

Only for stores whose rendered notebooks are re-rendered from the current version: the quick
store keeps its version-1 records, which back the committed reports/quick until it is re-run.
"""
import json
import sys
from pathlib import Path

from rethinkmmc.evaluate import EVAL_VERSION


def stale(folder: Path):
    for f in sorted(folder.glob("*/evaluations/*.json")):
        try:
            version = json.loads(f.read_text()).get("ident", {}).get("version")
        except (OSError, ValueError):
            continue
        if version is not None and str(version) != EVAL_VERSION:
            yield f


def main(argv):
    dry = "--dry-run" in argv
    for folder in [Path(a) for a in argv if a != "--dry-run"]:
        gone = list(stale(folder))
        size = sum(f.stat().st_size for f in gone)
        for f in gone:
            if not dry:
                f.unlink()
        print(f"{folder}: {len(gone)} records of another version ({size / 1e6:.1f} MB)"
              + (" would go" if dry else " removed"))


if __name__ == "__main__":
    main(sys.argv[1:])
