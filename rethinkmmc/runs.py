"""The run store: runs/<profile>/<key>/{config.json, metrics.json, history.json, model.pt}.

A run is done when metrics.json exists: it is written last, atomically (write to a temporary
file in the same folder, then rename), so a half-written run is never taken as done. While a
run trains, checkpoint.pt holds its last finished epoch; a lock file keeps two processes from
training one key at once.
"""
from __future__ import annotations

import contextlib
import hashlib
import time
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .build import build_model, test_split
from .config import TrainConfig

__all__ = ["in_checkout", "Run", "load_run", "default_runs_dir", "run_dir", "atomic_write_text",
           "atomic_write_json", "atomic_torch_save", "run_lock", "RunNotFoundError",
           "DamagedRunError", "file_sha256", "set_aside"]


class RunNotFoundError(FileNotFoundError):
    pass


class DamagedRunError(ValueError):
    """A run folder whose files do not belong together: the message names the file."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path, kind: type):
    """JSON of the expected kind from `path`, or DamagedRunError naming the file."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedRunError(f"run: {path} cannot be read as JSON ({e})") from None
    if not isinstance(obj, kind):
        raise DamagedRunError(f"run: {path} holds a {type(obj).__name__}, not a "
                              f"{kind.__name__}")
    return obj


def in_checkout(relative: str | Path) -> Path:
    """`relative` inside the source checkout the package runs from (so that notebooks find the
    committed runs and reports from any working directory), else relative to the working
    directory (an installed package)."""
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and (repo / "rethinkmmc").is_dir():
        return repo / relative
    return Path(relative)


def default_runs_dir() -> Path:
    """$RETHINKMMC_RUNS, else the checkout's runs/ (:func:`in_checkout`)."""
    env = os.environ.get("RETHINKMMC_RUNS")
    return Path(env) if env else in_checkout("runs")


def run_dir(cfg: TrainConfig, runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir or default_runs_dir()) / cfg.profile / cfg.key()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The mode of a new file under this process's umask (0644 under the usual 022): mkstemp makes
# its file 0600, which would leave a store shared with colleagues unreadable to them.
FILE_MODE = 0o666 & ~_umask()


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
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
    """An exclusive lock on `path`/.lock; a second process blocks until the first is done.

    A run folder that holds nothing but its lock when the holder leaves (a training that
    failed before writing anything) is removed, so that failures leave no empty folders. A
    process that was waiting on the removed lock sees that its lock file is gone and starts
    over on a fresh one."""
    lock = path / ".lock"
    while True:
        path.mkdir(parents=True, exist_ok=True)
        f = open(lock, "a")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            same = os.stat(lock).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # the holder removed the folder while we waited: lock the new one
    try:
        yield
    finally:
        try:
            if [p.name for p in path.iterdir()] == [".lock"]:
                os.unlink(lock)
                path.rmdir()
        except OSError:
            pass  # another process wrote into it meanwhile: it is not empty, keep it
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def set_aside(path: Path) -> Path:
    """Move a damaged run's files (all but its lock and checkpoints) into
    `<run>/damaged-<time>/`, so that the run is no longer taken as done; nothing is deleted.
    Returns that folder."""
    aside = path / f"damaged-{time.strftime('%Y%m%dT%H%M%S')}"
    aside.mkdir()
    first = [path / "metrics.json"] if (path / "metrics.json").exists() else []
    rest = [p for p in sorted(path.iterdir()) if p.name not in (".lock", "metrics.json")
            and not p.name.startswith(("checkpoint", "damaged-"))]
    for p in first + rest:  # metrics.json first: the run stops counting as done at once
        os.replace(p, aside / p.name)
    return aside


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
        self.metrics: dict[str, Any] = _read_json(self.path / "metrics.json", dict)
        config = _read_json(self.path / "config.json", dict)
        try:
            self.config = TrainConfig.from_dict(config)
        except (TypeError, ValueError) as e:
            raise DamagedRunError(f"run: {self.path / 'config.json'} is not a TrainConfig: "
                                  f"{e}") from None
        hist = self.path / "history.json"
        self.history: list[dict[str, Any]] = _read_json(hist, list) if hist.exists() else []
        # The files must name this folder's run: a file copied in from another run (another
        # seed, another config) is damage, not data.
        key = self.config.key()
        if key != self.path.name:
            raise DamagedRunError(f"run: {self.path / 'config.json'} belongs to run {key}, "
                                  f"not {self.path.name}")
        if self.metrics.get("run") != self.path.name:
            raise DamagedRunError(f"run: {self.path / 'metrics.json'} belongs to run "
                                  f"{self.metrics.get('run')}, not {self.path.name}")
        want = self.metrics.get("model_sha256")
        if want is None:
            raise DamagedRunError(f"run: {self.path / 'metrics.json'} holds no model_sha256 "
                                  "(written by this store's own training)")
        if not (self.path / "model.pt").is_file():
            raise DamagedRunError(f"run: {self.path / 'model.pt'} is missing")
        if file_sha256(self.path / "model.pt") != want:
            raise DamagedRunError(f"run: {self.path / 'model.pt'} does not match the checksum "
                                  "in metrics.json (another run's model, or damaged)")
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
