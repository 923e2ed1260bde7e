"""The run store: runs/<profile>/<key>/{config.json, metrics.json, history.json, model.pt}.

A run is done when metrics.json exists: it is written last, atomically (write to a temporary
file in the same folder, then rename), so a half-written run is never taken as done. While a
run trains, checkpoint.pt holds its last finished epoch; a lock file keeps two processes from
training one key at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .build import build_model, test_split
from .config import TrainConfig

__all__ = ["Run", "load_run", "default_runs_dir", "run_dir", "atomic_write_text",
           "atomic_write_json", "atomic_torch_save", "run_lock", "RunNotFoundError"]


class RunNotFoundError(FileNotFoundError):
    pass


def default_runs_dir() -> Path:
    """$RETHINKMMC_RUNS, else the source checkout's runs/ (where notebooks find the committed
    runs from any working directory), else ./runs."""
    env = os.environ.get("RETHINKMMC_RUNS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and (repo / "rethinkmmc").is_dir():
        return repo / "runs"
    return Path("runs")


def run_dir(cfg: TrainConfig, runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir or default_runs_dir()) / cfg.profile / cfg.key()


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    _atomic(path, lambda f: torch.save(obj, f))


@contextlib.contextmanager
def run_lock(path: Path):
    """An exclusive lock on `path`/.lock; a second process blocks until the first is done."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Run:
    """A finished training run read from the store.

    ``.config`` (TrainConfig), ``.metrics`` and ``.history`` (dicts and a list of per-epoch
    dicts), ``.model`` (an nn.Module from [0, 1] pixels to logits, in eval mode, on the CPU,
    built on first use) and ``.test_set()`` (the x, y tensors the run is evaluated on).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "metrics.json").exists():
            raise RunNotFoundError(f"run: {self.path} is not a finished run (no metrics.json)")
        self.config = TrainConfig.from_dict(json.loads((self.path / "config.json").read_text()))
        self.metrics: dict[str, Any] = json.loads((self.path / "metrics.json").read_text())
        hist = self.path / "history.json"
        self.history: list[dict[str, Any]] = json.loads(hist.read_text()) if hist.exists() else []
        self._model = None

    @property
    def key(self) -> str:
        return self.path.name

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            ckpt = torch.load(self.path / "model.pt", map_location="cpu", weights_only=True)
            model = build_model(self.config, centers=ckpt["model"].get("head.centers"))
            model.load_state_dict(ckpt["model"])
            self._model = model.eval()
        return self._model

    def test_set(self, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return test_split(self.config, root)

    def __repr__(self) -> str:
        acc = self.metrics.get("test_accuracy")
        return f"Run({self.path}, test_accuracy={acc})"


def load_run(path_or_key: str | Path, runs_dir: str | Path | None = None) -> Run:
    """A Run from its folder, or from its key (searched under every profile of the store)."""
    p = Path(path_or_key)
    if (p / "metrics.json").exists() or p.is_dir():
        return Run(p)
    root = Path(runs_dir or default_runs_dir())
    hits = sorted(root.glob(f"*/{path_or_key}"))
    if not hits:
        raise RunNotFoundError(f"run: no run {str(path_or_key)!r} under {root}")
    if len(hits) > 1:
        raise RunNotFoundError(f"run: key {str(path_or_key)!r} is ambiguous: "
                               + ", ".join(str(h) for h in hits))
    return Run(hits[0])
