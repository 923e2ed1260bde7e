"""Tests for rethinkmmc.data: readers on synthetic files, splits, subsets, augmentation, batches."""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from rethinkmmc import data as D

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts and ends with an empty load() cache (synthetic roots are reused)."""
    D.clear_cache()
    yield
    D.clear_cache()


@pytest.fixture
def no_torchvision(monkeypatch):
    """Make `import torchvision...` fail even where torchvision is installed."""
    for mod in ("torchvision", "torchvision.datasets"):
        monkeypatch.setitem(sys.modules, mod, None)


# --------------------------------------------------------------------------------------------
# synthetic files in torchvision's layout


def _idx_bytes(arr: np.ndarray, magic: int, count: int | None = None) -> bytes:
    dims = list(arr.shape)
    if count is not None:
        dims[0] = count
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + arr.astype(np.uint8).tobytes()


def write_idx_dataset(root: Path, folder: str, n_train: int, n_test: int, gz: bool,
                      seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, blob in ((f"{prefix}-images-idx3-ubyte", _idx_bytes(images, 2051)),
                           (f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels, 2049))):
            if gz:
                (raw / f"{stem}.gz").write_bytes(gzip.compress(blob))
            else:
                (raw / stem).write_bytes(blob)
        out[split] = (images, labels)
    return out


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, size=per_batch).tolist()
        _pickle(folder / f"data_batch_{i}", {b"batch_label": b"x", b"data": x, b"labels": y})
        train_x.append(x)
        train_y += y
    tx = rng.integers(0, 256, size=(n_test, 3072), dtype=np.uint8)
    ty = list(range(n_test))
    _pickle(folder / "test_batch", {b"data": tx, b"labels": ty})
    names = [c.encode() for c in D.DATASETS["cifar10"].classes]
    _pickle(folder / "batches.meta", {b"label_names": names})
    return (np.concatenate(train_x), np.array(train_y)), (tx, np.array(ty))


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        coarse = [f // 5 for f in fine]
        _pickle(folder / split, {b"data": x, b"fine_labels": fine, b"coarse_labels": coarse})
        out[split] = (x, np.array(fine), np.array(coarse))
    _pickle(folder / "meta", {b"fine_label_names": [], b"coarse_label_names": []})
    return out


# --------------------------------------------------------------------------------------------
# registry, root, argument checks


def test_registry():
    assert set(D.DATASETS) == {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100"}
    for name, spec in D.DATASETS.items():
        assert spec.name == name
        assert len(spec.classes) == spec.num_classes == len(set(spec.classes))
        assert len(spec.shape) == 3 and spec.notes
    assert D.DATASETS["mnist"].shape == (1, 28, 28) and D.DATASETS["cifar10"].shape == (3, 32, 32)
    assert "17,435" in D.DATASETS["mnist"].notes and "JPEG" in D.DATASETS["cifar10"].notes
    sup = D.DATASETS["cifar10"].superclasses
    vehicles = [c for c, s in zip(D.DATASETS["cifar10"].classes, sup) if s == 0]
    assert vehicles == ["airplane", "automobile", "ship", "truck"] and sup.count(1) == 6
    assert D.DATASETS["cifar100"].superclasses is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        D.DATASETS["mnist"].num_classes = 3


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("RETHINKMMC_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    checkout = (Path(D.__file__).resolve().parents[1] / "data").resolve()
    # no ./data here: the checkout's data/ when it exists, else ./data
    assert D.data_root() == (checkout if checkout.is_dir() else (tmp_path / "data").resolve())
    (tmp_path / "data").mkdir()
    assert D.data_root() == (tmp_path / "data").resolve()  # ./data wins over the checkout's
    monkeypatch.setenv("RETHINKMMC_DATA", str(tmp_path / "env"))
    assert D.data_root() == (tmp_path / "env").resolve()
    assert D.data_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert D.data_root(str(tmp_path)) == tmp_path.resolve()


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="dataset.*mnist"):
        D.load("imagenet", "train")
    with pytest.raises(ValueError, match="split.*train.*test"):
        D.load("digits", "val")
    with pytest.raises(ValueError, match="superclasses"):
        D.coarse_labels("mnist", "train")


# --------------------------------------------------------------------------------------------
# idx readers


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_reader(tmp_path, gz, name, folder):
    ref = write_idx_dataset(tmp_path, folder, n_train=7, n_test=3, gz=gz)
    for split, n in (("train", 7), ("test", 3)):
        x, y = D.load(name, split, tmp_path)
        images, labels = ref[split]
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and y.tolist() == labels.tolist()
        assert torch.equal(x[:, 0], torch.from_numpy(images).float() / 255)
        assert 0 <= x.min() and x.max() <= 1
    # cached: the same tensors come back
    assert D.load(name, "train", tmp_path)[0] is D.load(name, "train", str(tmp_path))[0]


def test_idx_wrong_count_header(tmp_path):
    write_idx_dataset(tmp_path, "MNIST", n_train=5, n_test=3, gz=False)
    raw = tmp_path / "MNIST" / "raw"
    images = np.zeros((5, 28, 28), np.uint8)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx_bytes(images, 2051, count=6))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: header says 6 items"):
        D.load("mnist", "train", tmp_path)


def test_idx_images_labels_disagree(tmp_path):
    write_idx_dataset(tmp_path, "MNIST", n_train=5, n_test=3, gz=True)
    raw = tmp_path / "MNIST" / "raw"
    labels = np.zeros(4, np.uint8)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels, 2049)))
    with pytest.raises(ValueError, match="5 images but.*4 labels"):
        D.load("mnist", "train", tmp_path)
    assert "4 labels" in D.check(tmp_path)["mnist"]


def test_idx_wrong_magic(tmp_path):
    write_idx_dataset(tmp_path, "MNIST", n_train=2, n_test=2, gz=False)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "t10k-images-idx3-ubyte").write_bytes(
        _idx_bytes(np.zeros(2, np.uint8), 2049))  # a labels file where images belong
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        D.load("mnist", "test", tmp_path)


def test_plain_preferred_but_gz_alone_enough(tmp_path):
    write_idx_dataset(tmp_path, "MNIST", n_train=4, n_test=2, gz=True, seed=1)
    ref = write_idx_dataset(tmp_path, "MNIST", n_train=4, n_test=2, gz=False, seed=2)
    x, _ = D.load("mnist", "train", tmp_path)
    assert torch.equal(x[:, 0], torch.from_numpy(ref["train"][0]).float() / 255)


# --------------------------------------------------------------------------------------------
# CIFAR readers


def test_cifar10_reader(tmp_path):
    (trx, try_), (tex, tey) = write_cifar10(tmp_path)
    x, y = D.load("cifar10", "train", tmp_path)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == try_.tolist()
    # each row is the R plane, then G, then B, each row-major 32x32
    assert torch.equal(x, torch.from_numpy(trx).float().div(255).view(20, 3, 32, 32))
    assert x[3, 1, 2, 5] == trx[3, 1024 + 2 * 32 + 5] / 255
    x, y = D.load("cifar10", "test", tmp_path)
    assert x.shape == (6, 3, 32, 32) and y.tolist() == tey.tolist()
    coarse = D.coarse_labels("cifar10", "test", tmp_path)
    sup = D.DATASETS["cifar10"].superclasses
    assert coarse.tolist() == [sup[k] for k in tey.tolist()] == [0, 0, 1, 1, 1, 1]
    assert D.check(tmp_path)["cifar10"] == "present (20 train, 6 test)"


def test_cifar100_reader(tmp_path):
    ref = write_cifar100(tmp_path)
    for split in ("train", "test"):
        x, y = D.load("cifar100", split, tmp_path)
        rx, fine, coarse = ref[split]
        assert x.shape == (len(fine), 3, 32, 32)
        assert torch.equal(x, torch.from_numpy(rx).float().div(255).view(-1, 3, 32, 32))
        assert y.tolist() == fine.tolist()
        c = D.coarse_labels("cifar100", split, tmp_path)
        assert c.dtype == torch.int64 and c.tolist() == coarse.tolist()
    assert D.check(tmp_path)["cifar100"] == "present (12 train, 5 test)"


def test_cifar_bad_batch(tmp_path):
    write_cifar10(tmp_path)
    _pickle(tmp_path / "cifar-10-batches-py" / "test_batch",
            {b"data": np.zeros((2, 3072), np.uint8)})  # no labels
    with pytest.raises(ValueError, match="test_batch.*labels"):
        D.load("cifar10", "test", tmp_path)


# --------------------------------------------------------------------------------------------
# missing data


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_missing_data_error(tmp_path, no_torchvision, name):
    root = tmp_path / "nothing"
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load(name, "train", root)
    msg = str(exc.value)
    assert isinstance(exc.value, FileNotFoundError)
    assert "\n" not in msg and msg.startswith(f"{name}: not found under ")
    assert str(root.resolve()) in msg and "prepare.py" in msg and "torchvision" in msg
    folder = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw",
              "cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    assert str(root.resolve() / folder) in msg
    if name == "mnist":
        assert "train-images-idx3-ubyte[.gz]" in msg
        assert f"prepare.py {root.resolve()}`" in msg


def test_partial_data_is_missing(tmp_path, no_torchvision):
    write_idx_dataset(tmp_path, "MNIST", n_train=3, n_test=2, gz=False)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    assert D.load("mnist", "train", tmp_path)[0].shape == (3, 1, 28, 28)
    with pytest.raises(D.DataNotFoundError, match="t10k-labels-idx1-ubyte"):
        D.load("mnist", "test", tmp_path)


def _fake_torchvision(monkeypatch, mnist_cls):
    tv, tvd = types.ModuleType("torchvision"), types.ModuleType("torchvision.datasets")
    tvd.MNIST = mnist_cls
    tv.datasets = tvd
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tvd)


def test_download_through_torchvision(tmp_path, monkeypatch):
    """Missing files are fetched by torchvision into the same root, then read as usual."""
    calls = []

    class FakeMNIST:  # writes what torchvision's MNIST would: root/MNIST/raw/*-ubyte
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            write_idx_dataset(Path(root), "MNIST", n_train=5, n_test=2, gz=False)

    _fake_torchvision(monkeypatch, FakeMNIST)
    x, y = D.load("mnist", "test", tmp_path / "dl")
    assert x.shape == (2, 1, 28, 28)
    assert calls == [(str((tmp_path / "dl").resolve()), False, True)]
    D.load("mnist", "train", tmp_path / "dl")
    assert len(calls) == 1  # already there: no second download


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    class OfflineMNIST:
        def __init__(self, root, train, download):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    _fake_torchvision(monkeypatch, OfflineMNIST)
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load("mnist", "train", tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and "download failed" in msg and "no network" in msg
    assert "prepare.py" in msg


def test_check(tmp_path):
    write_idx_dataset(tmp_path, "FashionMNIST", n_train=4, n_test=2, gz=True)
    state = D.check(tmp_path)
    assert list(state) == list(D.DATASETS)
    assert state["digits"] == "present (1347 train, 450 test)"
    assert state["fashion_mnist"] == "present (4 train, 2 test)"
    for name, folder in (("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py"),
                         ("cifar100", "cifar-100-python")):
        assert state[name].startswith(f"missing: {tmp_path.resolve() / folder}")


# --------------------------------------------------------------------------------------------
# digits


def test_digits_split():
    xtr, ytr = D.load("digits", "train")
    xte, yte = D.load("digits", "test")
    assert xtr.shape == (1347, 1, 8, 8) and xte.shape == (450, 1, 8, 8)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert float(xtr.min()) == 0.0 and float(xtr.max()) == 1.0
    ctr, cte = torch.bincount(ytr, minlength=10), torch.bincount(yte, minlength=10)
    assert (ctr > 0).all() and (cte > 0).all()
    frac = cte.double() / (ctr + cte).double()
    assert ((frac - 0.25).abs() < 0.01).all()
    # disjoint and complete: together they are scikit-learn's 1,797 images, each once
    from sklearn.datasets import load_digits
    ref = torch.from_numpy(load_digits().images.reshape(1797, 64)).float() / 16
    both = torch.cat([xtr, xte]).reshape(-1, 64)
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert key(both) == key(ref)


def test_digits_deterministic():
    a = D.load("digits", "test")
    D.clear_cache()
    D._digits.cache_clear()
    b = D.load("digits", "test")
    assert a[0] is not b[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# --------------------------------------------------------------------------------------------
# stratified_subset


def test_stratified_subset_balanced():
    y = torch.arange(10).repeat(50)
    idx = D.stratified_subset(y, 100, seed=3)
    assert idx.dtype == torch.int64 and len(idx) == 100
    assert torch.equal(idx, idx.sort().values) and len(set(idx.tolist())) == 100
    assert torch.bincount(y[idx], minlength=10).tolist() == [10] * 10


def test_stratified_subset_unbalanced():
    sizes = [400, 200, 100, 50, 250]  # N = 1000
    y = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    idx = D.stratified_subset(y, 100, seed=0)
    assert torch.bincount(y[idx]).tolist() == [40, 20, 10, 5, 25]
    # remainders: n=7 -> exact quotas 2.8 1.4 .7 .35 1.75 -> floors 2 1 0 0 1, +1 to .8 .75
    idx = D.stratified_subset(y, 7, seed=0)
    assert torch.bincount(y[idx], minlength=5).tolist() == [3, 1, 1, 0, 2]
    # labels need not be 0..L-1
    idx = D.stratified_subset(y * 3 + 5, 100, seed=0)
    assert torch.bincount(y[idx]).tolist() == [40, 20, 10, 5, 25]


def test_stratified_subset_determinism_and_edges():
    y = torch.randint(0, 7, (500,), generator=torch.Generator().manual_seed(1))
    a, b = D.stratified_subset(y, 60, seed=5), D.stratified_subset(y, 60, seed=5)
    assert torch.equal(a, b)
    assert not torch.equal(a, D.stratified_subset(y, 60, seed=6))
    assert torch.equal(D.stratified_subset(y, 500, seed=0), torch.arange(500))
    assert torch.equal(D.stratified_subset(y, 10**6, seed=0), torch.arange(500))
    assert len(D.stratified_subset(y, 1, seed=0)) == 1
    with pytest.raises(ValueError, match="n"):
        D.stratified_subset(y, 0, seed=0)


# --------------------------------------------------------------------------------------------
# augment


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ramp(B: int, C: int, H: int, W: int) -> torch.Tensor:
    """Images whose every pixel (within an image) is distinct, asymmetric left/right."""
    base = torch.arange(C * H * W, dtype=torch.float32).view(1, C, H, W) / (C * H * W)
    return base.repeat(B, 1, 1, 1)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference: img (C,H,W) moved down dy and right dx, edges replicated (pad + crop)."""
    C, H, W = img.shape
    s = max(abs(dy), abs(dx))
    p = np.pad(img, ((0, 0), (s, s), (s, s)), mode="edge")
    return p[:, s - dy:s - dy + H, s - dx:s - dx + W]


def test_augment_identity_and_range():
    x = torch.rand(16, 3, 32, 32, generator=_gen(0))
    out = D.augment(x, _gen(1), shift=0.0, flip=False)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    out = D.augment(x, _gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= x.min() and out.max() <= x.max()
    assert not torch.equal(out, x)


def test_augment_flip_only():
    x = _ramp(64, 2, 6, 7)
    out = D.augment(x, _gen(0), shift=0.0, flip=True)
    flipped = torch.flip(x, dims=[3])
    is_same = (out == x).flatten(1).all(1)
    is_flip = (out == flipped).flatten(1).all(1)
    assert (is_same ^ is_flip).all()  # each example exactly one of the two
    assert 10 < int(is_flip.sum()) < 54  # p = 0.5 over 64 examples
    assert torch.equal(out[is_flip], torch.flip(x[is_flip], dims=[3]))


@pytest.mark.parametrize("flip", [False, True])
def test_augment_shift_is_edge_replicated(flip):
    B, C, H, W = 300, 2, 20, 20  # shift 0.1 -> up to 2 pixels each way
    x = _ramp(B, C, H, W)
    out = D.augment(x, _gen(7), shift=0.1, flip=flip).numpy()
    img = x[0].numpy()
    cands = {(dy, dx): _shifted(img, dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    seen, flips = set(), 0
    for o in out:
        matches = [(k, False) for k, c in cands.items() if np.array_equal(o, c)]
        if flip:
            matches += [(k, True) for k, c in cands.items() if np.array_equal(o, c[:, :, ::-1])]
        assert len(matches) == 1, "output is not a unique edge-replicated shift"
        (k, f), = matches
        seen.add(k)
        flips += f
    assert seen == set(cands)  # every integer shift in [-2, 2]^2 occurs
    assert (10 < flips < 290) if flip else flips == 0


def test_augment_known_shift_rows():
    """A known 5x5 image, shift 1 pixel: every output row is some input row moved by the same
    (dy, dx) with the edge pixel repeated, built here with plain list operations."""
    img = [[10 * i + j for j in range(5)] for i in range(5)]
    x = torch.tensor(img, dtype=torch.float32).view(1, 1, 5, 5).repeat(100, 1, 1, 1) / 44
    out = (D.augment(x, _gen(3), shift=0.2, flip=False) * 44).round().long()  # round(.2*5) = 1
    clamp = lambda k: min(max(k, 0), 4)  # noqa: E731
    expect = {(dy, dx): [[img[clamp(i - dy)][clamp(j - dx)] for j in range(5)] for i in range(5)]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    seen = set()
    for o in out[:, 0].tolist():
        fits = {k for k, e in expect.items() if all(o[i] == e[i] for i in range(5))}
        assert len(fits) == 1
        seen |= fits
    assert len(seen) == 9
    # e.g. a shift down-right by one: first row and column repeat the edge
    assert expect[(1, 1)][0] == [0, 0, 1, 2, 3] and expect[(1, 1)][1] == [0, 0, 1, 2, 3]


def test_augment_no_inplace_and_reproducible():
    x = torch.rand(32, 3, 16, 16, generator=_gen(0))
    before = x.clone()
    a = D.augment(x, _gen(11))
    b = D.augment(x, _gen(11))
    assert torch.equal(x, before)
    assert torch.equal(a, b)
    assert not torch.equal(a, D.augment(x, _gen(12)))
    g = _gen(11)
    first = D.augment(x, g)
    assert torch.equal(first, a) and not torch.equal(D.augment(x, g), a)  # state advanced


# --------------------------------------------------------------------------------------------
# batches


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_cover_every_index(shuffle):
    N = 53
    x = torch.arange(N, dtype=torch.float32).view(N, 1).repeat(1, 3)
    y = torch.arange(N)
    for epoch in range(2):
        seen = []
        for xb, yb in D.batches(x, y, 8, generator=_gen(epoch), shuffle=shuffle):
            assert len(xb) == len(yb) <= 8
            assert torch.equal(xb[:, 0].long(), yb)  # x and y stay aligned
            seen += yb.tolist()
        assert sorted(seen) == list(range(N))
        assert (seen == list(range(N))) != shuffle
    sizes = [len(yb) for _, yb in D.batches(x, y, 8, generator=_gen(0), drop_last=True)]
    assert sizes == [8] * 6


def test_batches_reproducible():
    x, y = torch.randn(40, 2), torch.arange(40)
    a = [yb for _, yb in D.batches(x, y, 16, generator=_gen(4))]
    b = [yb for _, yb in D.batches(x, y, 16, generator=_gen(4))]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and len(a) == 3
    with pytest.raises(ValueError, match="batch_size"):
        next(D.batches(x, y, 0))


# --------------------------------------------------------------------------------------------
# real data, when laid out


@pytest.fixture
def real_root() -> Path:
    env = os.environ.get("RETHINKMMC_DATA")
    return Path(env) if env else REPO / "data"


def test_real_mnist(real_root):
    if not (real_root / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST under {real_root}")
    x, y = D.load("mnist", "train", real_root)
    assert x.shape == (17435, 1, 28, 28) and y.shape == (17435,)
    assert torch.bincount(y).tolist() == [1732, 1981, 1693, 1821, 1678, 1539, 1727, 1844,
                                          1676, 1744]
    x, y = D.load("mnist", "test", real_root)
    assert x.shape == (10000, 1, 28, 28) and 0 <= x.min() and x.max() == 1


def test_real_cifar10(real_root):
    if not (real_root / "cifar-10-batches-py" / "test_batch").is_file():
        pytest.skip(f"no CIFAR-10 under {real_root}")
    x, y = D.load("cifar10", "train", real_root)
    assert x.shape == (50000, 3, 32, 32) and torch.bincount(y).tolist() == [5000] * 10
    del x
    D.clear_cache()
    x, y = D.load("cifar10", "test", real_root)
    assert x.shape == (10000, 3, 32, 32) and torch.bincount(y).tolist() == [1000] * 10
    assert D.coarse_labels("cifar10", "test", real_root).bincount().tolist() == [4000, 6000]


def test_superclass_of_class(tmp_path):
    assert D.superclass_of_class("cifar10") == list(D.DATASETS["cifar10"].superclasses)
    assert D.superclass_of_class("mnist") is None
    write_cifar100(tmp_path)
    x, fine = D.load("cifar100", "train", tmp_path)
    sup = D.superclass_of_class("cifar100", tmp_path)
    coarse = D.coarse_labels("cifar100", "train", tmp_path)
    assert len(sup) == 100
    assert all(sup[f] == c for f, c in zip(fine.tolist(), coarse.tolist()))
    with pytest.raises(ValueError, match="dataset"):
        D.superclass_of_class("imagenet")


class _Payload:
    """Unpickling this runs code: it would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path as _P
        return (_P.touch, (_P(self.marker),))


@pytest.mark.parametrize("file", ["test_batch", "data_batch_1"])
def test_crafted_cifar_batch_is_refused_not_run(tmp_path, file):
    root = tmp_path / "data"
    write_cifar10(root)
    marker = tmp_path / "pwned"
    _pickle(root / "cifar-10-batches-py" / file,
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": _Payload(marker)})
    split = "test" if file == "test_batch" else "train"
    with pytest.raises(ValueError, match=f"{file}.*not allowed in a CIFAR batch"):
        D.load("cifar10", split, root)
    assert "not allowed" in D.check(root)["cifar10"]
    assert not marker.exists()
