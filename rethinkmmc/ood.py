"""Out-of-distribution inputs at a model's input shape, for the uncertainty claim (notebook
05): uniform noise, crops of scikit-learn's two bundled photographs (china.jpg, flower.jpg: no
download), and another dataset's test split. The photographs also give the one-image probe of
the 2020 reproduction's Table 3 (a photo resized to the model's input)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .evaluate import select_points

__all__ = ["photos", "to_input", "photo", "ood_set", "ood_sample"]


@lru_cache(maxsize=1)
def photos() -> dict[str, torch.Tensor]:
    """scikit-learn's sample photographs as (3, H, W) tensors in [0, 1], by file name."""
    from sklearn.datasets import load_sample_images  # noqa: PLC0415

    sample = load_sample_images()
    return {name.rsplit("/", 1)[-1]: torch.tensor(img).permute(2, 0, 1).float().div(255)
            for name, img in zip(sample.filenames, sample.images)}


def to_input(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """(N, C', H', W') images in [0, 1] -> the model's (N, C, H, W): RGB averaged for 1-channel
    models, grey repeated for 3-channel ones, resized with antialiasing."""
    c, h, w = shape
    if x.shape[1] != c:
        x = x.mean(1, keepdim=True) if c == 1 else x.expand(-1, c, -1, -1)
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1).contiguous()


def photo(name: str, shape: tuple[int, int, int]) -> torch.Tensor:
    """A photograph's centred square crop at the model's input shape (Table 3's input)."""
    p = photos()[name]
    s = min(p.shape[1:])
    top, left = (p.shape[1] - s) // 2, (p.shape[2] - s) // 2
    return to_input(p[None, :, top:top + s, left:left + s], shape)


def _photo_crops(shape: tuple[int, int, int], n: int, seed: int
                 ) -> tuple[torch.Tensor, np.ndarray]:
    # A crop of side m * H (m a random integer, side 32-320 pixels) on the m-grid, averaged
    # over m x m blocks: one average pooling per photo and m serves every crop of that m.
    rng = np.random.default_rng(seed)
    imgs = photos()
    keys, pooled, crops, sources = sorted(imgs), {}, [], []
    for _ in range(n):
        sources.append(int(rng.integers(len(keys))))
        key = keys[sources[-1]]
        m = int(rng.integers(max(1, -(-32 // shape[1])), 320 // shape[1] + 1))
        if (key, m) not in pooled:
            pooled[key, m] = F.avg_pool2d(imgs[key][None], m)
        p = pooled[key, m]
        top = rng.integers(p.shape[2] - shape[1] + 1)
        left = rng.integers(p.shape[3] - shape[2] + 1)
        crops.append(p[:, :, top:top + shape[1], left:left + shape[2]])
    return to_input(torch.cat(crops), shape), np.asarray(sources)


def ood_set(name: str, shape: tuple[int, int, int], n: int, seed: int,
            data_root=None) -> torch.Tensor:
    """`n` out-of-distribution inputs of `shape`, seeded: ``noise`` (uniform), ``photos``
    (random crops of the photographs) or a dataset's name (a class-stratified subset of its
    test split, resized)."""
    return ood_sample(name, shape, n, seed, data_root)[0]


def ood_sample(name: str, shape: tuple[int, int, int], n: int, seed: int, data_root=None
               ) -> tuple[torch.Tensor, np.ndarray | None]:
    """:func:`ood_set` and the cluster of each input: for ``photos`` the photograph each crop
    comes from (crops of one photograph are not independent draws, and an interval must count
    photographs), None where the inputs are independent."""
    if name == "noise":
        g = torch.Generator().manual_seed(seed)
        return torch.rand((n, *shape), generator=g), None
    if name == "photos":
        return _photo_crops(shape, n, seed)
    if name not in D.DATASETS:
        raise ValueError(f"name: unknown out-of-distribution set {name!r} (allowed: noise, "
                         f"photos, {', '.join(D.DATASETS)})")
    x, y = D.load(name, "test", data_root)
    return to_input(select_points(x, y, n, seed)[0], shape), None
