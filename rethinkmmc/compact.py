"""Half-precision storage of a finished run's weights, so that three seeds of every MNIST run
fit the repository (the whole tracked tree travels to the GPU machine: 64 MiB with the data).

Only the layers' learned weights and biases are rounded to float16. The fixed class centers
(exact Max-Mahalanobis geometry, Pang et al. 2020) and the batch-norm statistics stay float32.
The model is still evaluated in float32: `Run.model` loads the rounded weights into a float32
network. The test accuracy is measured again on the rounded weights and becomes the run's
``test_accuracy``; the trained float32 figure is kept beside it as ``test_accuracy_float32``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .runs import DamagedRunError, Run, atomic_torch_save, atomic_write_text, file_sha256
from .train import accuracy

__all__ = ["HALF_KEYS", "halve_state", "store_half"]

# state-dict entries that are rounded: learned weights and biases. Not the centers (a buffer
# whose geometry tests check exactly) nor batch-norm running statistics.
HALF_KEYS = (".weight", ".bias")


def halve_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with every float32 learned weight and bias as float16; everything else as is."""
    return {k: (v.half() if v.dtype == torch.float32 and k.endswith(HALF_KEYS) else v)
            for k, v in state.items()}


def store_half(path: str | Path, data_root: str | Path | None = None) -> dict:
    """Rewrite the finished run at `path` with float16 weights (see the module docstring) and
    return its new metrics. Refuses a run that has stored evaluations (they were computed on
    the float32 weights; evaluation records name the run, not its weights) and a run already
    stored in half precision. metrics.json is written last, so an interrupted call leaves a
    run whose checksum no longer matches: `load_run` refuses it rather than mixing the two."""
    run = Run(Path(path))  # checks the run is finished and its model matches its checksum
    d = run.path
    if run.metrics.get("stored_dtype") == "float16":
        raise ValueError(f"store_half: {d} is already stored in float16")
    evals = sorted((d / "evaluations").glob("*.json")) if (d / "evaluations").is_dir() else []
    if evals:
        raise ValueError(f"store_half: {d} has {len(evals)} stored evaluation(s) computed on "
                         "its float32 weights; remove evaluations/ first or keep it float32")
    ckpt = torch.load(d / "model.pt", map_location="cpu", weights_only=True)
    ckpt["model"] = halve_state(ckpt["model"])
    x, y = run.test_set(data_root)
    model = run.model
    model.load_state_dict(ckpt["model"])  # copied into the float32 network, as Run loads it
    acc = accuracy(model.eval(), x, y)
    metrics = dict(run.metrics)
    metrics.update(test_accuracy_float32=metrics["test_accuracy"], test_accuracy=acc,
                   stored_dtype="float16")
    atomic_torch_save(ckpt, d / "model.pt")
    metrics["model_sha256"] = file_sha256(d / "model.pt")
    # the layout of the store's own writes (indent 1, sorted keys)
    atomic_write_text(d / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    try:
        Run(d)
    except DamagedRunError as e:  # pragma: no cover - a write that did not land
        raise DamagedRunError(f"store_half: {d} did not verify after rewriting: {e}") from None
    return metrics
