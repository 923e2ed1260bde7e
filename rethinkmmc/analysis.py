"""Feature-space and uncertainty analyses for the reproduction of Pang et al. (ICLR 2020).

Pang, Xu, Dong, Du, Chen & Zhu, "Rethinking Softmax Cross-Entropy Loss for Adversarial
Robustness" (ICLR 2020) claims that the Max-Mahalanobis Center (MMC) loss, compared with
softmax cross-entropy (SCE),

* induces a higher *sample density* in feature space (claim 4; :func:`knn_radius`,
  :func:`density_table`),
* gives better-behaved *uncertainty* scores, e.g. for telling in- from out-of-distribution
  inputs (claim 2; :func:`scores`, :func:`auroc`, :func:`detection_table`, :func:`top_k`),

and argues (its Remark 3) that SCE's ``log sum_{l != y} exp(h_l)`` is close to
``max_{l != y} h_l``; :func:`remark3_share` and :func:`topk_lse_error` test that approximation.
:func:`class_means`, :func:`center_distance_table` and :func:`project_2d` serve the feature
geometry figures.

Everything here is a small pure function on tensors or arrays (no training, no files);
:func:`embed` is the one that runs a model. Models follow :class:`rethinkmmc.models.Classifier`:
``model(x)`` gives logits from [0, 1] pixels, ``model.features(x)`` the features z and
``model.centers`` the fixed class centers of center-based heads (logits ``-||z - mu_l||^2``).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

__all__ = [
    "embed",
    "knn_radius",
    "knn_radii",
    "density_table",
    "class_mean_subspace",
    "scores",
    "auroc",
    "detection_table",
    "top_k",
    "remark3_share",
    "topk_lse_error",
    "class_means",
    "center_distance_table",
    "project_2d",
]

SCALES = ("centroid", "none")
PROJECTIONS = ("isomap", "pca", "umap")

# Rows of the query block handed to torch.cdist at once: a (chunk, n_class) distance block
# stays small (1024 x 5000 float64 = 40 MB) whatever the class size.
_CDIST_CHUNK = 1024


# ---------------------------------------------------------------------------
# Argument checks (each error names the argument and what is allowed)
# ---------------------------------------------------------------------------


def _int_at_least(field: str, value: object, low: int) -> int:
    # bool is an int subclass; True as a k or a batch size is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{field}: must be an integer >= {low}, got {value!r}")
    return int(value)


def _matrix(field: str, x: object, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``x`` (tensor or array) as a 2-D CPU tensor of ``dtype``; a detached copy if converted."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != 2:
        raise ValueError(f"{field}: expected a 2-D (N, D) tensor or array, got shape "
                         f"{tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{field}: expected real numbers, got dtype {t.dtype}")
    return t.detach().to("cpu", dtype)


def _labels(field: str, y: object, n: int) -> torch.Tensor:
    """``y`` as a 1-D int64 CPU tensor of length ``n``."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"{field}: expected a 1-D array of {n} labels (one per row), got "
                         f"shape {tuple(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{field}: expected integer class labels, got dtype {t.dtype}")
    return t.detach().to("cpu", torch.int64)


def _scores_1d(field: str, s: object) -> np.ndarray:
    a = s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
    if a.ndim != 1:
        raise ValueError(f"{field}: expected a 1-D array of scores, got shape {a.shape}")
    a = a.astype(np.float64)
    if a.size == 0:
        raise ValueError(f"{field}: needs at least one score, got an empty array")
    if np.isnan(a).any():
        # NaN has no rank: AUROC would silently depend on where it was sorted.
        raise ValueError(f"{field}: contains NaN; only real scores (inf allowed) can be ranked")
    return a


# ---------------------------------------------------------------------------
# 1. Running a model
# ---------------------------------------------------------------------------


def _model_device(model: nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def embed(model: nn.Module, x: torch.Tensor, batch_size: int = 500
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Features z (N, d) and logits (N, L) of ``model`` on ``x``, as float32 CPU tensors.

    Runs in eval mode (BatchNorm uses its running statistics, as at test time) under
    ``torch.no_grad`` in batches of ``batch_size``, on the model's device. Every submodule's
    train/eval flag is restored afterwards, also when the model raises: restoring each module's
    own flag, not ``model.train(was_training)``, keeps deliberately frozen parts (e.g. a BN
    layer left in eval mode inside a training model) as they were. ``x`` is not modified.

    If the model has a ``head`` submodule (:class:`~rethinkmmc.models.Classifier`), one forward
    pass per batch gives both outputs: a forward hook records the features the head receives.
    Otherwise ``model.features(xb)`` and ``model(xb)`` are called separately.
    """
    batch_size = _int_at_least("batch_size", batch_size, 1)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x: expected a torch.Tensor of inputs, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty batch (N, ...), got shape {tuple(x.shape)}")
    if not hasattr(model, "features"):
        raise ValueError("model: needs a features(x) method returning the features z")

    flags = [(m, m.training) for m in model.modules()]
    device = _model_device(model)
    head = getattr(model, "head", None)
    captured: list[torch.Tensor] = []
    hook = None
    if isinstance(head, nn.Module):
        hook = head.register_forward_hook(lambda mod, inp, out: captured.append(inp[0]))
    feats, logits = [], []
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                xb = x[start:start + batch_size].to(device)
                captured.clear()
                out = model(xb)
                # A head called exactly once received z; anything else (no head, a head
                # used twice) falls back to the explicit features() call.
                z = captured[0] if len(captured) == 1 else model.features(xb)
                feats.append(z.detach().float().cpu())
                logits.append(out.detach().float().cpu())
    finally:
        if hook is not None:
            hook.remove()
        for m, was_training in flags:
            m.training = was_training
    return torch.cat(feats), torch.cat(logits)


# ---------------------------------------------------------------------------
# 2. Sample density (claim 4)
# ---------------------------------------------------------------------------


def _feature_scale(z: torch.Tensor, y: torch.Tensor, scale: str) -> float:
    """The scale s of the feature cloud that :func:`knn_radius` divides by."""
    if scale == "none":
        return 1.0
    if scale != "centroid":
        raise ValueError(f"scale: unknown {scale!r} (allowed: {', '.join(SCALES)})")
    classes = torch.unique(y)
    if len(classes) < 2:
        raise ValueError("y: scale='centroid' needs at least 2 classes (distances between "
                         f"class means), got {len(classes)}")
    means = torch.stack([z[y == c].mean(0) for c in classes])
    # Differences, not cdist's matmul shortcut: only L(L-1)/2 pairs, and exact.
    dist = (means[:, None, :] - means[None, :, :]).pow(2).sum(-1).sqrt()
    iu = torch.triu_indices(len(classes), len(classes), offset=1)
    s = float(dist[iu[0], iu[1]].mean())
    if not s > 0 or not math.isfinite(s):
        raise ValueError(f"z: the class means coincide (mean distance {s}); scale='centroid' "
                         "needs separated classes, use scale='none'")
    return s


def _knn_distances(z: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k) ascending distances from each sample to its k nearest same-class neighbours."""
    out = torch.empty(z.shape[0], k, dtype=z.dtype)
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).squeeze(1)
        if len(idx) <= k:
            raise ValueError(f"k: k={k} needs more than k samples in every class, but class "
                             f"{c} has {len(idx)}")
        zc = z[idx]
        for start in range(0, len(idx), _CDIST_CHUNK):
            block = torch.cdist(zc[start:start + _CDIST_CHUNK], zc)
            rows = torch.arange(block.shape[0])
            # A sample is not its own neighbour; exact duplicates of it still count (at 0).
            block[rows, rows + start] = math.inf
            out[idx[start:start + block.shape[0]]] = block.topk(k, dim=1, largest=False).values
    return out


def knn_radius(z: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, k: int,
               scale: str = "centroid") -> np.ndarray:
    """Scale-free k-NN radius of every sample within its class, float64 array of shape (N,).

    For sample i of class c: the Euclidean distance to its k-th nearest neighbour among the
    *other* samples of class c, divided by a scale s of the whole feature cloud. A smaller
    radius means a higher sample density (the k-NN density estimate, Loftsgaarden &
    Quesenberry 1965, is p ~ k / (n_c V_d r_k^d)); Pang et al. (2020, Sec. 3.3 / claim 4) say
    MMC features are denser than SCE's.

    Why a scale: raw distances reward a model for merely shrinking its features (MMC's sit
    near radius C_MM, SCE's are unbounded), so a raw radius compares units, not clustering.
    ``scale="centroid"`` divides by s = the mean pairwise Euclidean distance between the
    class means, so the radius is relative to how far apart the classes are; multiplying z
    by c > 0 or translating it leaves the result unchanged. ``scale="none"`` (s = 1) gives
    the raw radius, to show that bias.

    Distances come from ``torch.cdist`` in float64, per class and in row chunks, so no
    N x N matrix is formed. Raises ValueError if a class has <= k samples.
    """
    k = _int_at_least("k", k, 1)
    return knn_radii(z, y, [k], scale)[k]


def knn_radii(z: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, ks: Sequence[int],
              scale: str = "centroid") -> dict[int, np.ndarray]:
    """:func:`knn_radius` at each k of `ks`, from one neighbour search up to the largest."""
    ks = [_int_at_least("ks", k, 1) for k in ks]
    if not ks:
        raise ValueError("ks: expected at least one k")
    zt = _matrix("z", z)
    return _radii(zt, _labels("y", y, zt.shape[0]), ks, scale)


def _radii(z: torch.Tensor, y: torch.Tensor, ks: list[int], scale: str) -> dict[int, np.ndarray]:
    s = _feature_scale(z, y, scale)
    # One neighbour search up to the largest k serves every k.
    dists = _knn_distances(z, y, max(ks)) / s
    return {k: dists[:, k - 1].numpy() for k in ks}


def density_table(feats: Mapping[str, tuple], ks: Sequence[int] = (5, 10, 20, 50),
                  scale: str = "centroid") -> pd.DataFrame:
    """Summary of :func:`knn_radius` per model and k: one row per (model, k).

    ``feats`` maps a model name to its ``(z, y)`` (features and labels, e.g. of the test set).
    Columns: ``model``, ``k``, ``median_radius``, ``q25``, ``q75`` (quartiles of the radius)
    and ``log_density = -d * log(median_radius)``, d the feature dimension. By the k-NN
    estimate p ~ k / (n_c V_d r^d), this is the log density at the median radius *up to a
    constant* (log k - log n_c - log V_d) that is shared by models of the same d evaluated
    with the same k and class sizes; compare it only between such models (higher = denser).
    """
    if not feats:
        raise ValueError("feats: expected at least one model name -> (z, y)")
    ks = [_int_at_least("ks", k, 1) for k in ks]
    if not ks:
        raise ValueError("ks: expected at least one k")
    rows = []
    for name, pair in feats.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"feats: the value for {name!r} must be a pair (z, y)")
        zt = _matrix(f"feats[{name!r}] z", pair[0])
        yt = _labels(f"feats[{name!r}] y", pair[1], zt.shape[0])
        radii = _radii(zt, yt, ks, scale)
        d = zt.shape[1]
        for k in ks:
            r = radii[k]
            med = float(np.median(r))
            with np.errstate(divide="ignore"):  # median 0 (duplicates) -> +inf density
                log_density = -d * float(np.log(med))
            rows.append({"model": name, "k": k, "median_radius": med,
                         "q25": float(np.quantile(r, 0.25)), "q75": float(np.quantile(r, 0.75)),
                         "log_density": log_density})
    return pd.DataFrame(rows, columns=["model", "k", "median_radius", "q25", "q75",
                                       "log_density"])


# ---------------------------------------------------------------------------
# 3. Uncertainty (claim 2)
# ---------------------------------------------------------------------------


def scores(logits: torch.Tensor | np.ndarray, centers_present: bool) -> dict[str, np.ndarray]:
    """Per-sample confidence scores (higher = more in-distribution), float64 arrays.

    * ``max_softmax``: the maximum softmax probability (Hendrycks & Gimpel, ICLR 2017), always;
    * ``max_logit``: the largest logit, always (Hendrycks et al., "Scaling out-of-distribution
      detection for real-world settings", ICML 2022);
    * ``energy``: log-sum-exp of the logits, minus the free energy at temperature 1 (Liu et al.,
      "Energy-based out-of-distribution detection", NeurIPS 2020), always;
    * ``min_distance``: only if ``centers_present`` (logits ``-||z - mu_l||^2``, MMC / MM-LDA):
      the max logit, i.e. *minus* the smallest squared distance to a center, so that, like the
      others, higher means more confident. Pang et al. (2020) use this distance to the nearest
      center as MMC's uncertainty measure. Do not set ``centers_present`` for the center loss,
      whose learned centers do not enter its linear logits.
    """
    h = _matrix("logits", logits)
    if h.shape[1] < 2:
        raise ValueError(f"logits: expected at least 2 classes, got shape {tuple(h.shape)}")
    out = {"max_softmax": torch.softmax(h, 1).max(1).values.numpy(),
           "max_logit": h.max(1).values.numpy(),
           "energy": torch.logsumexp(h, 1).numpy()}
    if centers_present:
        out["min_distance"] = out["max_logit"].copy()
    return out


def auroc(in_scores: np.ndarray | torch.Tensor, out_scores: np.ndarray | torch.Tensor) -> float:
    """Area under the ROC curve for telling in- (positive) from out-of-distribution samples.

    In-distribution samples should score higher. Computed as the Mann-Whitney U statistic
    divided by ``n_in * n_out`` (Hanley & McNeil 1982): the probability that a random
    in-distribution sample outscores a random out-of-distribution one, ties counting 1/2.
    Average ranks (``scipy.stats.rankdata``) make it O(n log n) and handle ties exactly.
    """
    a = _scores_1d("in_scores", in_scores)
    b = _scores_1d("out_scores", out_scores)
    ranks = rankdata(np.concatenate([a, b]))  # ties get their average rank
    n_in, n_out = len(a), len(b)
    u = ranks[:n_in].sum() - n_in * (n_in + 1) / 2.0
    return float(u / (n_in * n_out))


def detection_table(model_scores: Mapping[str, Mapping[str, np.ndarray]],
                    out_scores: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]
                    ) -> pd.DataFrame:
    """AUROC of every score for every model and out-of-distribution set.

    ``model_scores[model][score]``: the scores (from :func:`scores`) on the in-distribution
    test set; ``out_scores[model][out_data][score]``: the same scores on an
    out-of-distribution set. Returns columns ``model``, ``out_data``, ``score``, ``auroc``, one
    row per model in ``out_scores``, out-of-distribution set and score name. Both sides must
    hold the same score names (they come from the same :func:`scores` call settings).
    """
    rows = []
    for model, per_out in out_scores.items():
        if model not in model_scores:
            raise ValueError(f"model_scores: no in-distribution scores for model {model!r} "
                             f"(have: {', '.join(map(repr, model_scores))})")
        ins = model_scores[model]
        for out_data, outs in per_out.items():
            if set(outs) != set(ins):
                raise ValueError(f"out_scores: model {model!r} on {out_data!r} has scores "
                                 f"{sorted(outs)}, but model_scores has {sorted(ins)}")
            for name in ins:
                rows.append({"model": model, "out_data": out_data, "score": name,
                             "auroc": auroc(ins[name], outs[name])})
    return pd.DataFrame(rows, columns=["model", "out_data", "score", "auroc"])


def top_k(logits: torch.Tensor | np.ndarray, k: int = 3, *, softmax: bool
          ) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values per row and their class indices, in descending order.

    ``softmax=True`` (SCE models, as in the reproduction's Table 3): softmax probabilities.
    ``softmax=False`` (MMC models): the raw logits ``-||z - mu||^2``, whose softmax is
    nearly one-hot at MMC's distance scale and would hide the runner-up classes.
    Returns ``(values (N, k) float64, indices (N, k) int64)``.
    """
    h = _matrix("logits", logits)
    k = _int_at_least("k", k, 1)
    if k > h.shape[1]:
        raise ValueError(f"k: must be <= the number of classes {h.shape[1]}, got {k}")
    if softmax:
        h = torch.softmax(h, 1)
    v, i = h.topk(k, dim=1, largest=True, sorted=True)
    return v.numpy(), i.numpy()


# ---------------------------------------------------------------------------
# 4. Remark 3: log sum_{l != y} exp(h_l) ~= max_{l != y} h_l
# ---------------------------------------------------------------------------


def _other_logits_sorted(logits, y) -> torch.Tensor:
    """float64 (N, L-1): each row's logits without the true class, in descending order."""
    h = _matrix("logits", logits)
    yt = _labels("y", y, h.shape[0])
    n, L = h.shape
    if L < 2:
        raise ValueError(f"logits: expected at least 2 classes, got shape {tuple(h.shape)}")
    if len(yt) and (yt.min() < 0 or yt.max() >= L):
        raise ValueError(f"y: labels must lie in [0, {L - 1}] (logits have {L} columns), got "
                         f"range [{int(yt.min())}, {int(yt.max())}]")
    keep = torch.ones(n, L, dtype=torch.bool)
    keep[torch.arange(n), yt] = False
    return h[keep].view(n, L - 1).sort(dim=1, descending=True).values


def remark3_share(logits: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
                  ratio: float = 5.0, pair: tuple[int, int] = (1, 2)) -> float:
    """Share of samples whose two ranked other-class logits are within ``ratio`` in exp terms.

    Pang et al. (2020, Remark 3) approximate SCE's ``log sum_{l != y} exp(h_l)`` by
    ``max_{l != y} h_l``; that is good when the largest term dominates. With the other-class
    logits (all l != y) sorted ``h_(1) >= h_(2) >= ...``, this returns the share of samples
    with ``h_(i) - h_(j) <= ln(ratio)`` for ``pair=(i, j)`` (1-based ranks), i.e.
    ``exp(h_(j)) >= exp(h_(i)) / ratio``. ``pair=(1, 2)``: the runner-up term is within
    ``ratio``x of the largest (the approximation is poor there); ``pair=(2, 3)``: the second
    and third scores are within ``ratio``x, as the reproduction phrased it.
    """
    if (isinstance(ratio, bool) or not isinstance(ratio, (int, float))
            or not math.isfinite(ratio) or ratio < 1):
        raise ValueError(f"ratio: must be a finite number >= 1 (a ratio of exp terms), got "
                         f"{ratio!r}")
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pair)
            or not 1 <= pair[0] < pair[1]):
        raise ValueError(f"pair: expected two 1-based ranks (i, j) with 1 <= i < j, got {pair!r}")
    h = _other_logits_sorted(logits, y)
    if pair[1] > h.shape[1]:
        raise ValueError(f"pair: rank {pair[1]} exceeds the {h.shape[1]} other-class logits")
    if h.shape[0] == 0:
        raise ValueError("logits: needs at least one sample")
    gap = h[:, pair[0] - 1] - h[:, pair[1] - 1]
    return float((gap <= math.log(ratio)).double().mean())


def topk_lse_error(logits: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
                   ks: Sequence[int] = (1, 2, 3, 4, 5)) -> pd.DataFrame:
    """Error of approximating ``LSE_{l != y} h_l`` by the LSE of the top-k other-class logits.

    Tests Pang et al.'s (2020) Remark 3 (k = 1 is their ``max_{l != y} h_l``). For each k the
    per-sample error ``LSE(all l != y) - LSE(top k of l != y)`` is >= 0 (dropping positive
    exp terms only lowers the sum), falls as k grows and is 0 at k = L - 1. Computed in
    float64 with ``torch.logsumexp``; rounding below 0 is clipped to 0. Columns: ``k``,
    ``mean_abs_error``, ``median_abs_error``, ``max_abs_error``, ``share_below_0.1`` (share of
    samples with error < 0.1 nats).
    """
    h = _other_logits_sorted(logits, y)
    if h.shape[0] == 0:
        raise ValueError("logits: needs at least one sample")
    ks = [_int_at_least("ks", k, 1) for k in ks]
    if not ks:
        raise ValueError("ks: expected at least one k")
    bad = [k for k in ks if k > h.shape[1]]
    if bad:
        raise ValueError(f"ks: each k must be <= L - 1 = {h.shape[1]} (other-class logits), "
                         f"got {bad}")
    full = torch.logsumexp(h, dim=1)
    rows = []
    for k in ks:
        err = (full - torch.logsumexp(h[:, :k], dim=1)).clamp_min(0.0).numpy()
        rows.append({"k": k, "mean_abs_error": float(err.mean()),
                     "median_abs_error": float(np.median(err)),
                     "max_abs_error": float(err.max()),
                     "share_below_0.1": float((err < 0.1).mean())})
    return pd.DataFrame(rows, columns=["k", "mean_abs_error", "median_abs_error",
                                       "max_abs_error", "share_below_0.1"])


# ---------------------------------------------------------------------------
# 5. Feature geometry (Figures 2/3, the cat/dog argument)
# ---------------------------------------------------------------------------


def class_means(z: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
                num_classes: int) -> torch.Tensor:
    """Mean feature of each class, a float64 (L, d) tensor (row l = class l).

    Raises ValueError for labels outside [0, num_classes) or a class without samples (its
    mean is undefined, and a silent NaN row would corrupt distance tables).
    """
    L = _int_at_least("num_classes", num_classes, 1)
    zt = _matrix("z", z)
    yt = _labels("y", y, zt.shape[0])
    if len(yt) and (yt.min() < 0 or yt.max() >= L):
        raise ValueError(f"y: labels must lie in [0, {L - 1}] for num_classes={L}, got range "
                         f"[{int(yt.min())}, {int(yt.max())}]")
    counts = torch.bincount(yt, minlength=L)
    empty = torch.nonzero(counts == 0).squeeze(1).tolist()
    if empty:
        raise ValueError(f"y: classes {empty} have no samples (num_classes={L})")
    sums = torch.zeros(L, zt.shape[1], dtype=zt.dtype).index_add_(0, yt, zt)
    return sums / counts[:, None].to(zt.dtype)


def class_mean_subspace(z: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
                        num_classes: int) -> torch.Tensor:
    """The features projected onto the affine span of their class means, float64 (N, r) with
    r = the rank of the centred means (at most L - 1), in an orthonormal basis of that span.

    Only these directions separate the classes: an SCE model's linear head reads d features
    through an L-row matrix and leaves the other d - L + 1 directions free, where a spread
    costs it nothing, while MMC's loss pulls every direction toward the center. Distances
    between class means are unchanged by the projection (the means lie in the span).
    """
    zt = _matrix("z", z)
    m = class_means(zt, y, num_classes)
    origin = m.mean(0)
    u, sv, vh = torch.linalg.svd(m - origin, full_matrices=False)
    r = int((sv > sv.max() * 1e-9).sum()) if len(sv) else 0
    return (zt - origin) @ vh[:r].T


def center_distance_table(centers_or_means: torch.Tensor | np.ndarray,
                          class_names: Sequence[str]) -> pd.DataFrame:
    """L x L table of Euclidean distances between class centers (or class means).

    Index and columns are ``class_names``. Computed from differences in float64, so the
    diagonal is exactly 0 and the table symmetric.
    """
    c = _matrix("centers_or_means", centers_or_means)
    names = list(class_names)
    if len(names) != c.shape[0]:
        raise ValueError(f"class_names: expected {c.shape[0]} names (one per row of "
                         f"centers_or_means), got {len(names)}")
    dist = (c[:, None, :] - c[None, :, :]).pow(2).sum(-1).sqrt().numpy()
    return pd.DataFrame(dist, index=names, columns=names)


def _subset(n: int, max_points: int, y: torch.Tensor | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of size max_points, stratified by y if given."""
    rng = np.random.default_rng(seed)
    if y is None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    yn = y.numpy()
    classes, counts = np.unique(yn, return_counts=True)
    # Proportional quotas, rounded by largest remainder so they add up to max_points.
    exact = counts * max_points / n
    quota = np.floor(exact).astype(int)
    extra = max_points - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:extra]] += 1
    picks = [rng.choice(np.nonzero(yn == c)[0], size=q, replace=False)
             for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks))


def project_2d(z: torch.Tensor | np.ndarray, method: str = "isomap", n_neighbors: int = 10,
               seed: int = 0, max_points: int | None = None,
               y: torch.Tensor | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """2-D embedding of features for plots; returns ``(coords (n, 2), indices (n,))``.

    * ``"isomap"``: ``sklearn.manifold.Isomap`` (Tenenbaum, de Silva & Langford, Science
      2000), the "isometric projection" of the reproduction's figures; ``n_neighbors`` sets
      its neighbourhood graph.
    * ``"pca"``: ``sklearn.decomposition.PCA`` (linear; ``n_neighbors`` unused).
    * ``"umap"``: ``umap.UMAP`` (McInnes, Healy & Melville 2018) from the optional
      ``umap-learn`` package.

    Isomap costs O(n^2) memory and more, so ``max_points`` projects a seeded subset: stratified
    by class (proportional quotas) when labels ``y`` are given, else uniform. ``indices`` are
    the rows of ``z`` used, ascending (all rows when ``max_points`` is None or >= N), so
    ``y[indices]`` colours the points.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"method: unknown {method!r} (allowed: {', '.join(PROJECTIONS)})")
    n_neighbors = _int_at_least("n_neighbors", n_neighbors, 1)
    seed = _int_at_least("seed", seed, 0)
    zt = _matrix("z", z)
    n = zt.shape[0]
    yt = None if y is None else _labels("y", y, n)
    if max_points is not None:
        max_points = _int_at_least("max_points", max_points, 1)
    if max_points is None or max_points >= n:
        idx = np.arange(n)
    else:
        idx = _subset(n, max_points, yt, seed)
    x = zt.numpy()[idx]
    if method == "umap":
        try:
            import umap  # optional dependency
        except ImportError as e:
            raise ImportError("project_2d(method='umap') needs umap-learn: "
                              "pip install umap-learn") from e
        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed)
    elif method == "isomap":
        from sklearn.manifold import Isomap
        if n_neighbors >= len(idx):
            raise ValueError(f"n_neighbors: must be < the number of points {len(idx)}, got "
                             f"{n_neighbors}")
        reducer = Isomap(n_neighbors=n_neighbors, n_components=2)
    else:
        from sklearn.decomposition import PCA
        reducer = PCA(n_components=2, random_state=seed)
    coords = np.asarray(reducer.fit_transform(x), dtype=np.float64)
    return coords, idx


# ---------------------------------------------------------------------------
# 6. Uncertainty of an AUROC
# ---------------------------------------------------------------------------


def auroc_ci(in_scores: np.ndarray | torch.Tensor, out_scores: np.ndarray | torch.Tensor,
             n_boot: int = 200, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Seeded percentile-bootstrap interval of :func:`auroc` (Efron & Tibshirani 1993).

    Each of ``n_boot`` replicates resamples the in- and the out-of-distribution scores
    separately, with replacement and at their own sizes (the two samples are independent),
    and recomputes the AUROC; the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles of the replicates (linear interpolation). ``numpy.random.default_rng(seed)``
    draws the resamples, so the same scores and seed always give the same interval. No
    normality assumption (unlike DeLong's or Hanley & McNeil's standard errors), which matters
    near AUROC = 1, where the replicates pile up against the bound: an interval of (1, 1) means
    that every replicate separated the two sets perfectly, not that the AUROC is certain.
    Returns ``(low, high)`` as floats.
    """
    a = _scores_1d("in_scores", in_scores)
    b = _scores_1d("out_scores", out_scores)
    n_boot = _int_at_least("n_boot", n_boot, 1)
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed: must be an integer, got {seed!r}")
    if (isinstance(level, bool) or not isinstance(level, (int, float))
            or not 0 < level < 1):
        raise ValueError(f"level: must be a number in (0, 1), e.g. 0.95, got {level!r}")
    rng = np.random.default_rng(int(seed))
    n_in, n_out = len(a), len(b)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        ra = a[rng.integers(0, n_in, n_in)]
        rb = b[rng.integers(0, n_out, n_out)]
        ranks = rankdata(np.concatenate([ra, rb]))
        reps[i] = (ranks[:n_in].sum() - n_in * (n_in + 1) / 2.0) / (n_in * n_out)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


__all__.append("auroc_ci")
