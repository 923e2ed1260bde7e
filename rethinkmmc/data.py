"""Datasets, subsets, augmentation and batching.

The datasets are read straight from torchvision's on-disk layout (idx files for MNIST and
Fashion-MNIST, pickled batches for CIFAR) so that torchvision is needed only to *download* them:
it has no CPU build on some machines, and the offline copies laid out by
``../shared/datasets/prepare.py`` use the same layout.  Everything returned is a plain tensor:
images float32 in [0, 1] shaped (N, C, H, W), labels int64.  Normalisation (mean subtraction, as
in the original code) belongs to the model, not to the data, so attacks work in [0, 1] pixels.

Root of the data: ``data_root()`` -- the argument, else env ``RETHINKMMC_DATA``, else ``./data``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATASETS", "DatasetSpec", "DataNotFoundError", "SPLITS", "data_root", "load", "coarse_labels",
    "superclass_of_class",
    "check", "clear_cache", "stratified_subset", "augment", "batches",
]

SPLITS = ("train", "test")
PREPARE = "../shared/datasets/prepare.py"  # relative to the repository root


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not under the data root and could not be downloaded.

    The message is one line (the CLI prints only the first line of an error) naming the dataset,
    the folder and files expected, and how to fill it.
    """


# --------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the package needs to know about a dataset without loading it.

    ``notes`` records how the copy used here differs from the official files, so that a result
    table can say so.  ``superclasses[k]`` is the superclass of class k where the registry fixes
    it (CIFAR-10: vehicles / animals, for hierarchical centers); CIFAR-100's are read from the
    data (see :func:`coarse_labels`), so None there.
    """

    name: str
    num_classes: int
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    notes: str = ""
    superclasses: tuple[int, ...] | None = None


_DIGITS10 = tuple(str(i) for i in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
            "Bag", "Ankle boot")
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
            "truck")
_VEHICLES = {"airplane", "automobile", "ship", "truck"}
_CIFAR100 = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup",
    "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house",
    "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
    "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
    "worm",
)

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits", 10, (1, 8, 8), _DIGITS10,
        notes="scikit-learn's load_digits: 1,797 8x8 images (0..16, scaled to [0,1]); not part of "
              "the paper; a fixed stratified 75/25 train/test split (seed 0) made here, for fast "
              "tests and CPU smoke runs",
        # Superclasses for the smoke profile's hierarchical centers (digits have none of their
        # own): digits drawn with a closed loop (0, 6, 8, 9) = 0, the others = 1.
        superclasses=tuple(0 if c in (0, 6, 8, 9) else 1 for c in range(10))),
    "mnist": DatasetSpec(
        "mnist", 10, (1, 28, 28), _DIGITS10,
        notes="offline copy: official test set (10,000); training set is the first 17,435 of the "
              "60,000 official images (byte-identical prefix); a download through torchvision "
              "gives the full 60,000"),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", 10, (1, 28, 28), _FASHION,
        notes="offline copy: full 60,000 / 10,000 from Debian's dataset-fashion-mnist package "
              "(re-gzipped); no known differences"),
    "cifar10": DatasetSpec(
        "cifar10", 10, (3, 32, 32), _CIFAR10,
        notes="offline copy: full 50,000 / 10,000, but pixels went through JPEG at quality 75 once "
              "(expect clean accuracy 1-3 points below the paper's); batches reshuffled (train "
              "seed 0, test seed 1)",
        # The paper's hierarchical centers for CIFAR-10: vehicles = 0, animals = 1.
        superclasses=tuple(0 if c in _VEHICLES else 1 for c in _CIFAR10)),
    "cifar100": DatasetSpec(
        "cifar100", 100, (3, 32, 32), _CIFAR100,
        notes="no offline copy: needs torchvision and internet to download; the reader is tested "
              "on synthetic files in the same layout; 20 coarse labels read from the data"),
}


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown {name!r}; allowed: {', '.join(DATASETS)}")
    return DATASETS[name]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: unknown {split!r}; allowed: {', '.join(SPLITS)}")


def data_root(root: str | Path | None = None) -> Path:
    """The data folder: ``root`` if given, else env RETHINKMMC_DATA, else ./data, else the
    source checkout's data/ (so notebooks executed inside notebooks/ find it), absolute."""
    if root is None:
        root = os.environ.get("RETHINKMMC_DATA")
    if root is None:
        repo = Path(__file__).resolve().parents[1] / "data"
        root = "data" if Path("data").is_dir() or not repo.is_dir() else repo
    return Path(root).expanduser().resolve()


# --------------------------------------------------------------------------------------------
# file layouts (torchvision's)

_IDX_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_IDX_IMAGES, _IDX_LABELS = 2051, 2049  # idx magic numbers: ubyte data, 3 dims / 1 dim
_CIFAR_FOLDER = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_CIFAR_FILES = {
    ("cifar10", "train"): tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("cifar10", "test"): ("test_batch",),
    ("cifar100", "train"): ("train",),
    ("cifar100", "test"): ("test",),
}
_TORCHVISION_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10",
                      "cifar100": "CIFAR100"}


def _folder(name: str, root: Path) -> Path:
    if name in _IDX_FOLDER:
        return root / _IDX_FOLDER[name] / "raw"
    return root / _CIFAR_FOLDER[name]


def _idx_names(split: str) -> tuple[str, str]:
    p = _IDX_PREFIX[split]
    return f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"


def _find_idx(folder: Path, stem: str) -> Path | None:
    """The plain file if there, else its .gz (torchvision keeps both; either is enough)."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _expected(name: str, split: str) -> str:
    if name in _IDX_FOLDER:
        return " and ".join(f"{s}[.gz]" for s in _idx_names(split))
    return ", ".join(_CIFAR_FILES[(name, split)])


def _missing_files(name: str, split: str, root: Path) -> bool:
    folder = _folder(name, root)
    if name in _IDX_FOLDER:
        return any(_find_idx(folder, s) is None for s in _idx_names(split))
    return any(not (folder / f).is_file() for f in _CIFAR_FILES[(name, split)])


def _not_found(name: str, split: str, root: Path, why: str = "") -> DataNotFoundError:
    how = (f"install torchvision (with internet) to download it, or lay out offline copies with "
           f"`python {PREPARE} {root}`")
    if name == "cifar100":
        how = (f"install torchvision (with internet) to download it ({PREPARE} has no offline "
               f"copy of CIFAR-100)")
    msg = (f"{name}: not found under {_folder(name, root)} "
           f"(expected {_expected(name, split)}); {how}")
    if why:  # one line, whatever an underlying error's message held
        msg += "; " + " ".join(why.split())
    return DataNotFoundError(msg)


def _download(name: str, split: str, root: Path) -> None:
    """Fetch missing files through torchvision into ``root`` (its layout is the one read here).

    torchvision is imported here, not at module level: it is optional, and has no CPU build on
    some machines.  Without it, or if the download fails, a one-line DataNotFoundError.
    """
    try:
        import torchvision.datasets as tvd  # noqa: PLC0415
    except Exception:  # ImportError, or a broken install (e.g. mismatched torch build)
        raise _not_found(name, split, root) from None
    try:
        getattr(tvd, _TORCHVISION_CLASS[name])(str(root), train=(split == "train"), download=True)
    except Exception as e:  # no internet, checksum mismatch, ...
        raise _not_found(name, split, root, f"torchvision's download failed: "
                                            f"{type(e).__name__}: {e}") from e
    if _missing_files(name, split, root):
        raise _not_found(name, split, root, "torchvision's download left it incomplete")


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _idx_header(path: Path) -> tuple[int, tuple[int, ...]]:
    """(magic, dims) from an idx file's header, reading only its first bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(16)
    if len(head) < 8:
        raise ValueError(f"{path}: too short for an idx header")
    magic = int.from_bytes(head[:4], "big")
    ndim = magic & 0xFF
    if magic not in (_IDX_IMAGES, _IDX_LABELS):
        raise ValueError(f"{path}: not an idx ubyte file (magic {magic}, expected "
                         f"{_IDX_IMAGES} for images or {_IDX_LABELS} for labels)")
    if len(head) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated idx header")
    dims = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return magic, dims


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """An idx ubyte file (plain or .gz) as a uint8 array shaped by its header.

    The header is checked against the payload: the offline MNIST training set is a prefix of the
    official one whose header was rewritten to 17,435, so a file whose header and length
    disagree is reported rather than silently reshaped.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an idx header")
    got = int.from_bytes(raw[:4], "big")
    if got not in (_IDX_IMAGES, _IDX_LABELS) or (magic is not None and got != magic):
        want = magic if magic is not None else f"{_IDX_IMAGES} or {_IDX_LABELS}"
        raise ValueError(f"{path}: idx magic number {got}, expected {want}")
    ndim = got & 0xFF
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path}: truncated idx header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(dims)
    if len(raw) - offset != size:
        raise ValueError(f"{path}: header says {dims[0]} items of shape {dims[1:]} "
                         f"({size} bytes) but the file holds {len(raw) - offset} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=offset).reshape(dims)


def _read_idx_pair(name: str, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = _folder(name, root)
    img_stem, lab_stem = _idx_names(split)
    img_path, lab_path = _find_idx(folder, img_stem), _find_idx(folder, lab_stem)
    images = read_idx(img_path, _IDX_IMAGES)
    labels = read_idx(lab_path, _IDX_LABELS)
    if len(images) != len(labels):
        raise ValueError(f"{name} {split}: {img_path.name} holds {len(images)} images but "
                         f"{lab_path.name} {len(labels)} labels")
    return images, labels


# What a CIFAR batch file may reference: numpy arrays and bytes, nothing else. Plain
# pickle.load would call anything a crafted file names (os.system included).
_CIFAR_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"),
                  ("numpy.core.multiarray", "_reconstruct"),
                  ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch file "
                                     "(only numpy arrays, lists and bytes)")


def load_cifar_batch(f) -> dict:
    """A CIFAR batch file (pickled by Python 2, keys as bytes) read with a restricted
    unpickler: a file that names any other code is refused, not run."""
    return _CifarUnpickler(f, encoding="bytes").load()


def _get(d: dict, key: str):
    """A pickled CIFAR batch's entry: keys are bytes with encoding='bytes', str otherwise."""
    if key.encode() in d:
        return d[key.encode()]
    if key in d:
        return d[key]
    raise KeyError(key)


def _read_cifar(name: str, split: str, root: Path
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    folder = _folder(name, root)
    xs, ys, cs = [], [], []
    for fname in _CIFAR_FILES[(name, split)]:
        path = folder / fname
        with open(path, "rb") as f:
            try:
                d = load_cifar_batch(f)
            except pickle.UnpicklingError as e:
                raise ValueError(f"{path}: {e}") from None
        try:
            data = np.asarray(_get(d, "data"), dtype=np.uint8)
            ys.append(np.asarray(_get(d, "labels" if name == "cifar10" else "fine_labels")))
            if name == "cifar100":
                cs.append(np.asarray(_get(d, "coarse_labels")))
        except KeyError as e:
            raise ValueError(f"{path}: no {e.args[0]!r} entry; not a {name} batch") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(ys[-1]):
            raise ValueError(f"{path}: data of shape {data.shape} with {len(ys[-1])} labels; "
                             f"expected (N, 3072) with N labels")
        xs.append(data.reshape(-1, 3, 32, 32))  # rows are R plane, G plane, B plane, each 32x32
    x, y = np.concatenate(xs), np.concatenate(ys)
    return x, y, (np.concatenate(cs) if cs else None)


_DIGITS_N = 1797  # scikit-learn's digits (the UCI test set): fixed size


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images 0..16, labels, test mask): a fixed stratified 25% test split, seed 0.

    digits has no official split; this one is ours, drawn with :func:`stratified_subset` (a
    seeded numpy generator, not scikit-learn's splitter, whose internals may change between
    versions) so it stays the same everywhere.
    """
    from sklearn.datasets import load_digits  # noqa: PLC0415  (bundled; no download)

    d = load_digits()
    y = d.target.astype(np.int64)
    if len(y) != _DIGITS_N:
        raise ValueError(f"digits: scikit-learn returned {len(y)} images, expected {_DIGITS_N}")
    test = stratified_subset(torch.from_numpy(y), math.ceil(0.25 * len(y)), seed=0).numpy()
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return d.images, y, mask


# --------------------------------------------------------------------------------------------
# loading


@functools.lru_cache(maxsize=6)
def _load_cached(name: str, split: str, root: str
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, coarse) for one split; cached so repeated runs in one process read files once."""
    if name == "digits":
        images, y, test = _digits()
        keep = test if split == "test" else ~test
        x = torch.from_numpy(images[keep].astype(np.float32) / 16.0).unsqueeze(1)
        return x, torch.from_numpy(y[keep]), None
    rootp = Path(root)
    if _missing_files(name, split, rootp):
        _download(name, split, rootp)
    if name in _IDX_FOLDER:
        images, labels = _read_idx_pair(name, split, rootp)
        images, coarse = images[:, None], None
    else:
        images, labels, coarse = _read_cifar(name, split, rootp)
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    spec = DATASETS[name]
    if tuple(x.shape[1:]) != spec.shape:
        raise ValueError(f"{name} {split}: images of shape {tuple(x.shape[1:])}, "
                         f"expected {spec.shape}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= spec.num_classes):
        raise ValueError(f"{name} {split}: labels outside 0..{spec.num_classes - 1}")
    c = None if coarse is None else torch.from_numpy(coarse.astype(np.int64))
    return x, y, c


def load(name: str, split: str, root: str | Path | None = None
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of one split: x float32 in [0, 1] shaped (N, C, H, W), y int64.

    Cached in memory per (name, split, resolved root): the tensors returned are shared between
    callers, so **do not modify them in place** (index or clone first; ``x[idx]`` already copies).
    Missing files are downloaded through torchvision when it is importable; otherwise
    :class:`DataNotFoundError` says where they were expected and how to get them.
    """
    _spec(name)
    _check_split(split)
    x, y, _ = _load_cached(name, split, str(data_root(root)))
    return x, y


def coarse_labels(name: str, split: str, root: str | Path | None = None) -> torch.Tensor:
    """The superclass of each example of a split (int64, aligned with :func:`load`'s y).

    CIFAR-100: its 20 coarse labels, from the data.  CIFAR-10: the registry's superclasses
    (vehicles 0, animals 1) mapped per example.  Other datasets have none: ValueError.
    """
    spec = _spec(name)
    _check_split(split)
    if name != "cifar100" and spec.superclasses is None:
        raise ValueError(f"dataset: {name} has no superclasses; allowed: cifar10, cifar100")
    _, y, coarse = _load_cached(name, split, str(data_root(root)))
    if coarse is not None:
        return coarse
    return torch.tensor(spec.superclasses, dtype=torch.int64)[y]



def superclass_of_class(name: str, root: str | Path | None = None) -> list[int] | None:
    """The superclass of each class (the layout hierarchical centers need): the registry's for
    CIFAR-10 (vehicles 0, animals 1) and digits, CIFAR-100's read from its coarse labels, None
    for a dataset without superclasses."""
    spec = _spec(name)
    if spec.superclasses is not None:
        return list(spec.superclasses)
    if name != "cifar100":
        return None
    _, fine = load(name, "train", root)
    sup = [0] * spec.num_classes
    for f, c in zip(fine.tolist(), coarse_labels(name, "train", root).tolist()):
        sup[f] = c
    return sup

def clear_cache() -> None:
    """Drop the in-memory copies (a few hundred MB for CIFAR) that :func:`load` keeps."""
    _load_cached.cache_clear()


def check(root: str | Path | None = None) -> dict[str, str]:
    """The state of every dataset under the root, without decoding images.

    "present (N train, M test)" or "missing: <path expected>".  idx files are judged from their
    headers alone; CIFAR batches are unpickled for their label counts (under a second), since
    only that says how many examples a copy really holds.  A file that exists but cannot be
    read reads "unreadable: <why>".
    """
    rootp = data_root(root)
    out: dict[str, str] = {}
    for name in DATASETS:
        if name == "digits":
            # Bundled with scikit-learn (a dependency): 1,797 images, 25% (rounded up) as test.
            # Counted without importing sklearn, which alone takes most of a second.
            if importlib.util.find_spec("sklearn") is None:
                out[name] = "missing: scikit-learn (pip install scikit-learn)"
            else:
                n_test = math.ceil(0.25 * _DIGITS_N)
                out[name] = f"present ({_DIGITS_N - n_test} train, {n_test} test)"
            continue
        missing = [s for s in SPLITS if _missing_files(name, s, rootp)]
        if missing:
            out[name] = (f"missing: {_folder(name, rootp)} "
                         f"(expected {'; '.join(_expected(name, s) for s in missing)})")
            continue
        try:
            counts = [_count(name, s, rootp) for s in SPLITS]
        except (OSError, ValueError, pickle.UnpicklingError, EOFError) as e:
            out[name] = f"unreadable: {' '.join(str(e).split())}"
            continue
        out[name] = f"present ({counts[0]} train, {counts[1]} test)"
    return out


def _count(name: str, split: str, root: Path) -> int:
    folder = _folder(name, root)
    if name in _IDX_FOLDER:
        img_stem, lab_stem = _idx_names(split)
        img_magic, img_dims = _idx_header(_find_idx(folder, img_stem))
        lab_magic, lab_dims = _idx_header(_find_idx(folder, lab_stem))
        if (img_magic, lab_magic) != (_IDX_IMAGES, _IDX_LABELS):
            raise ValueError(f"{folder}: {split} idx files have magic numbers "
                             f"{img_magic}/{lab_magic}, expected {_IDX_IMAGES}/{_IDX_LABELS}")
        if img_dims[0] != lab_dims[0]:
            raise ValueError(f"{folder}: {img_dims[0]} {split} images but {lab_dims[0]} labels")
        return img_dims[0]
    key = "labels" if name == "cifar10" else "fine_labels"
    n = 0
    for fname in _CIFAR_FILES[(name, split)]:
        with open(folder / fname, "rb") as f:
            n += len(_get(load_cifar_batch(f), key))
    return n


# --------------------------------------------------------------------------------------------
# subsets, augmentation, batches


def stratified_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted int64 indices of ``n`` examples whose class mix matches ``y``'s.

    Used for the reduced-budget profiles (a fraction of a training or test set) so that a small
    subset still has every class in its proportion.  Class c gets floor(n * |c| / N) examples,
    and the remaining few go one each to the classes with the largest fractional parts (ties:
    lower class first) -- so 100 of a balanced 10-class set is 10 each.  Which examples: the
    first ones of each class in a permutation drawn by ``numpy.random.default_rng(seed)``, so the
    same (y, n, seed) always gives the same indices.  n >= len(y): all indices.
    """
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    y_np = np.asarray(torch.as_tensor(y).detach().cpu().numpy()).reshape(-1)
    N = len(y_np)
    if n >= N:
        return torch.arange(N, dtype=torch.int64)
    classes, inverse, sizes = np.unique(y_np, return_inverse=True, return_counts=True)
    # Largest-remainder apportionment in exact integer arithmetic.
    quota, rem = np.divmod(n * sizes.astype(np.int64), N)
    short = n - int(quota.sum())
    order = np.lexsort((np.arange(len(classes)), -rem))  # largest remainder first, then class
    quota[order[:short]] += 1
    perm = np.random.default_rng(seed).permutation(N)
    # rank of each permuted example among those of its class
    cls = inverse[perm]
    by_class = np.argsort(cls, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(N, dtype=np.int64)
    rank[by_class] = np.arange(N) - starts[cls[by_class]]
    chosen = perm[rank < quota[cls]]
    return torch.from_numpy(np.sort(chosen).astype(np.int64))


def _draw(fn, generator: torch.Generator | None, device: torch.device, *args, **kwargs):
    """Draw random numbers on the generator's device (torch requires it), then move them."""
    gdev = generator.device if generator is not None else device
    return fn(*args, generator=generator, device=gdev, **kwargs).to(device)


def augment(x: torch.Tensor, generator: torch.Generator | None, shift: float = 0.1,
            flip: bool = True) -> torch.Tensor:
    """Random shifts (edge-replicated) and horizontal flips of a batch, on x's device.

    The original trains CIFAR with Keras' ImageDataGenerator(width_shift_range=0.1,
    height_shift_range=0.1, horizontal_flip=True, fill_mode="nearest").  Here each example gets
    an integer shift drawn uniformly from [-round(shift*H), round(shift*H)] rows (same for
    columns with W) -- Keras draws continuous shifts and interpolates; integer shifts are the
    documented simplification -- filled with the nearest edge pixel, then (flip) a horizontal flip
    with probability 0.5, the order Keras applies them in.

    Done for the whole batch at once: shifting by d with edge replication is replicate padding
    followed by a per-example crop, i.e. output row i reads input row clamp(i - d, 0, H-1); the
    clamped row / column indices (with the flip folded into the column indices) are applied with
    two gathers.  No Python loop over examples.  Draw order: row shifts, column shifts, flips,
    so the same generator state gives the same output.  ``x`` is never modified; shift=0 and
    flip=False return a copy.
    """
    if x.dim() != 4:
        raise ValueError(f"x: expected (N, C, H, W), got shape {tuple(x.shape)}")
    if shift < 0:
        raise ValueError(f"shift: must be >= 0, got {shift}")
    B, C, H, W = x.shape
    dev = x.device
    sh, sw = round(shift * H), round(shift * W)
    if B == 0 or (sh == 0 and sw == 0 and not flip):
        return x.clone()
    rows = torch.arange(H, device=dev).expand(B, H)
    cols = torch.arange(W, device=dev).expand(B, W)
    if sh:
        dy = _draw(torch.randint, generator, dev, -sh, sh + 1, (B, 1))
        rows = (rows - dy).clamp_(0, H - 1)
    if sw:
        dx = _draw(torch.randint, generator, dev, -sw, sw + 1, (B, 1))
        cols = (cols - dx).clamp_(0, W - 1)
    if flip:
        flipped = _draw(torch.rand, generator, dev, (B, 1)) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    out = x.gather(2, rows[:, None, :, None].expand(B, C, H, W))
    return out.gather(3, cols[:, None, None, :].expand(B, C, H, W))


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
            generator: torch.Generator | None = None, shuffle: bool = True,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches (xb, yb) covering every example once per pass.

    With shuffle, the order is one permutation drawn from ``generator`` (on the generator's
    device when it differs from the tensors', then moved), so a seeded generator makes an epoch
    reproducible; without, the batches are slices in order.  drop_last drops a final short batch.
    Tensors stay where they are: put the whole set on the GPU once (``x.to(device)``) and
    batches are cheap index operations, with no DataLoader workers.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    N = len(x)
    if len(y) != N:
        raise ValueError(f"x and y: {N} examples but {len(y)} labels")
    stop = N - N % batch_size if drop_last else N
    if not shuffle:
        for i in range(0, stop, batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]
        return
    perm = _draw(torch.randperm, generator, x.device, N)
    perm_y = perm if y.device == x.device else perm.to(y.device)
    for i in range(0, stop, batch_size):
        yield x[perm[i:i + batch_size]], y[perm_y[i:i + batch_size]]

