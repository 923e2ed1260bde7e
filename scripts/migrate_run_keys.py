"""Move a run store to the current run keys (rethinkmmc.config.TrainConfig.key) without
retraining: each run folder is renamed to its config's key, metrics.json is told its new name,
and every stored evaluation is re-keyed (its identity names the model by run key, and its file
name hashes that identity). The per-example results, their checksum and model.pt are not
touched. Folders whose model does not match its checksum are left alone.

    python scripts/migrate_run_keys.py runs/smoke [runs/quick ...]
"""
import json
import os
import sys
from pathlib import Path

from rethinkmmc.config import TrainConfig
from rethinkmmc.evaluate import record_name
from rethinkmmc.runs import atomic_write_json, atomic_write_text, file_sha256


def stem(ident: dict) -> str:
    """The file stem the store gives a record with this identity: an evaluation or a transfer
    record (evaluate.record_name)."""
    if "transfer" in ident:
        return record_name(f"transfer-{ident['transfer']['attack']}", ident)
    return record_name(ident["attack"]["attack"], ident)


def migrate(folder: Path) -> int:
    """Re-key every sound run of the store `folder` (runs/<profile>); returns how many moved."""
    new_keys = {}
    for metrics_path in sorted(folder.glob("*/metrics.json")):
        d = metrics_path.parent
        metrics = json.loads(metrics_path.read_text())
        new = TrainConfig.from_dict(json.loads((d / "config.json").read_text())).key()
        if new == d.name:
            continue
        if metrics.get("run") != d.name or file_sha256(d / "model.pt") != metrics.get(
                "model_sha256"):
            print(f"{d}: not a sound run, left alone", file=sys.stderr)
            continue
        new_keys[d.name] = new
    for old, new in new_keys.items():
        d = folder / old
        for e in sorted((d / "evaluations").glob("*.json")):
            rec = json.loads(e.read_text())
            ident = rec.get("ident", {})
            if "model" in ident:
                ident["model"] = new_keys.get(ident["model"], ident["model"])
            if "source" in ident:  # a transfer record names its targets' runs too
                ident["source"] = new_keys.get(ident["source"], ident["source"])
                rec["targets"] = {new_keys.get(k, k): v for k, v in rec["targets"].items()}
            target = e.with_name(stem(ident) + ".json")
            atomic_write_json(target, rec)
            if target != e:
                e.unlink()
        metrics_path = d / "metrics.json"
        metrics = json.loads(metrics_path.read_text())
        metrics["run"] = new
        atomic_write_text(metrics_path, json.dumps(metrics, indent=1, sort_keys=True) + "\n")
        os.replace(d, folder / new)
        print(f"{old} -> {new}")
    return len(new_keys)


if __name__ == "__main__":
    for f in sys.argv[1:]:
        print(f"{f}: {migrate(Path(f))} runs moved")
