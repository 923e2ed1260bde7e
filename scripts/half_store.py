"""Store finished runs' weights in float16 (rethinkmmc.compact.store_half), for committing
several seeds of a profile's runs without outgrowing the repository.

    python scripts/half_store.py runs/quick/<key> [...]   # or a store folder: every run in it

Runs already in float16 are skipped; a run with stored evaluations is refused (they were
computed on its float32 weights). Prints each run's test accuracy before and after.
"""
import json
import sys
from pathlib import Path

from rethinkmmc.compact import store_half


def main(paths):
    runs = []
    for p in map(Path, paths):
        runs += [m.parent for m in sorted(p.glob("*/metrics.json"))] if not (
            p / "metrics.json").exists() else [p]
    for d in runs:
        if json.loads((d / "metrics.json").read_text()).get("stored_dtype") == "float16":
            print(f"{d.name}: already float16")
            continue
        m = store_half(d)
        print(f"{d.name}: test accuracy {m['test_accuracy_float32']:.4f} (float32) -> "
              f"{m['test_accuracy']:.4f} (float16 weights), {(d / 'model.pt').stat().st_size} B")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/half_store.py RUN_OR_STORE [...]")
    main(sys.argv[1:])
