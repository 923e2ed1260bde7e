"""Seal a run store written before it verified itself: model_sha256 into each run's
metrics.json, and a checksum into each stored evaluation record.

Run stores written by rethinkmmc before the checksums lack them: `load_run` refuses such a
run, and an unsealed evaluation is recomputed. Use this only on a store you trust (your own, or this repository's committed
runs/): it blesses whatever model.pt sits in each folder. Folders whose config.json or
metrics.json name another run are reported and left alone.

    python scripts/seal_store.py runs/quick [runs/smoke ...]
"""
import json
import sys
from pathlib import Path

from rethinkmmc.config import TrainConfig
from rethinkmmc.evaluate import seal
from rethinkmmc.runs import atomic_write_json, atomic_write_text, file_sha256


def main(folders):
    for folder in folders:
        for run in sorted(Path(folder).glob("*/metrics.json")):
            d = run.parent
            metrics = json.loads(run.read_text())
            key = TrainConfig.from_dict(json.loads((d / "config.json").read_text())).key()
            if key != d.name or metrics.get("run") != d.name:
                print(f"{d}: names {key} / {metrics.get('run')}: left alone", file=sys.stderr)
                continue
            if "model_sha256" not in metrics:
                metrics["model_sha256"] = file_sha256(d / "model.pt")
                # the same layout as the store's own writes (indent 1, sorted keys)
                atomic_write_text(run, json.dumps(metrics, indent=1, sort_keys=True) + "\n")
                print(f"{d.name}: model_sha256 added")
            for e in sorted((d / "evaluations").glob("*.json")):
                rec = json.loads(e.read_text())
                if "robust" in rec and "sha256" not in rec:
                    atomic_write_json(e, seal(rec))
                    print(f"{d.name}/{e.name}: sealed")


if __name__ == "__main__":
    main(sys.argv[1:])
