import math

import numpy as np
import pytest
import torch
from torch import nn

from rethinkmmc import analysis
from rethinkmmc.analysis import (auroc, center_distance_table, class_means, density_table,
                                 detection_table, embed, knn_radius, project_2d, remark3_share,
                                 scores, top_k, topk_lse_error)
from rethinkmmc.losses import CenterHead
from rethinkmmc.models import Classifier


def _clusters(n_per=30, d=8, L=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(L, d, generator=g) * 4
    y = torch.arange(L).repeat_interleave(n_per)
    z = means[y] + torch.randn(len(y), d, generator=g)
    # float64, so that rescaled copies (7.3 * z) are not rounded differently from z
    return z.double(), y


class _CenterNet(nn.Module):
    """Stand-in MMC model: a Linear feature map and logits -||z - mu||^2 (no ``head``)."""

    def __init__(self, d_in=4, d=3, L=5):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(d_in, d)
        self.bn = nn.BatchNorm1d(d)
        self.register_buffer("centers", torch.randn(L, d) * 3)
        self.modes_seen = []

    def features(self, x):
        self.modes_seen.append(self.training)
        return self.bn(self.fc(x))

    def forward(self, x):
        return -torch.cdist(self.features(x), self.centers) ** 2


# ---------------------------------------------------------------- embed


def test_embed_batches_eval_mode_restores_flags_and_leaves_x_untouched():
    model = _CenterNet()
    model.train()
    model.bn.eval()  # a deliberately frozen submodule must stay frozen
    x = torch.randn(23, 4)
    x0 = x.clone()
    z, logits = embed(model, x, batch_size=5)
    assert torch.equal(x, x0)
    assert z.shape == (23, 3) and logits.shape == (23, 5)
    assert z.dtype == logits.dtype == torch.float32 and z.device.type == "cpu"
    assert model.modes_seen and not any(model.modes_seen)  # ran in eval mode
    assert model.training and not model.bn.training and model.fc.training
    model.eval()
    with torch.no_grad():
        assert torch.allclose(z, model.features(x), atol=1e-6)
        assert torch.allclose(logits, model(x), atol=1e-5)
    assert not z.requires_grad


def test_embed_restores_train_mode_when_the_model_raises():
    class Boom(_CenterNet):
        def forward(self, x):
            raise RuntimeError("boom")

    model = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        embed(model, torch.randn(4, 4))
    assert model.training and model.bn.training


def test_embed_on_classifier_uses_one_pass_and_matches_features_and_logits():
    calls = []

    class Trunk(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            calls.append(len(x))
            return self.fc(x.flatten(1))

    torch.manual_seed(1)
    model = Classifier(Trunk(), CenterHead(torch.randn(4, 3) * 2))
    x = torch.rand(7, 1, 2, 3)
    z, logits = embed(model, x, batch_size=3)
    assert calls == [3, 3, 1]  # one trunk pass per batch, not two
    with torch.no_grad():
        assert torch.allclose(z, model.features(x))
        assert torch.allclose(logits, model(x))


def test_embed_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        embed(_CenterNet(), torch.randn(3, 4), batch_size=0)


# ---------------------------------------------------------------- density


def test_knn_radius_hand_computed():
    z = torch.tensor([[0., 0], [1, 0], [3, 0], [10, 0], [10, 2], [10, 5]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(knn_radius(z, y, 1, scale="none"), [1, 1, 2, 2, 2, 3])
    np.testing.assert_allclose(knn_radius(z, y, 2, scale="none"), [3, 2, 3, 5, 3, 5])
    # class means (4/3, 0) and (10, 7/3): distance sqrt(26^2 + 7^2) / 3
    s = math.sqrt(26 ** 2 + 7 ** 2) / 3
    r = knn_radius(z, y, 1)
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, np.array([1, 1, 2, 2, 2, 3]) / s)


def test_knn_radius_counts_duplicates_but_not_the_sample_itself():
    z = torch.tensor([[0., 0], [0, 0], [2, 0], [9, 9], [9, 8], [9, 6]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(knn_radius(z, y, 1, scale="none"), [0, 0, 2, 1, 1, 2])


def test_knn_radius_is_scale_and_translation_invariant_only_with_centroid_scale():
    z, y = _clusters()
    shift = torch.randn(1, z.shape[1], dtype=torch.float64) * 50
    base = knn_radius(z, y, 4)
    np.testing.assert_allclose(knn_radius(7.3 * z + shift, y, 4), base, rtol=1e-9)
    np.testing.assert_allclose(knn_radius(0.01 * z, y, 4), base, rtol=1e-9)
    raw = knn_radius(z, y, 4, scale="none")
    np.testing.assert_allclose(knn_radius(7.3 * z, y, 4, scale="none"), 7.3 * raw, rtol=1e-9)
    assert not np.allclose(raw, base)


def test_knn_radius_chunked_equals_brute_force(monkeypatch):
    monkeypatch.setattr(analysis, "_CDIST_CHUNK", 7)  # many chunks, ragged last one
    z, y = _clusters(n_per=40, d=5, seed=3)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    z, y = z[perm], y[perm]
    zn, yn = z.double().numpy(), y.numpy()
    expected = np.empty(len(yn))
    for i in range(len(yn)):
        same = np.nonzero((yn == yn[i]) & (np.arange(len(yn)) != i))[0]
        expected[i] = np.sort(np.linalg.norm(zn[same] - zn[i], axis=1))[5]
    np.testing.assert_allclose(knn_radius(z, y, 6, scale="none"), expected, rtol=1e-9)


def test_knn_radius_errors_name_k_and_class_and_scale():
    z, y = _clusters(n_per=5)
    with pytest.raises(ValueError, match=r"k: k=5 .*class 0 has 5"):
        knn_radius(z, y, 5)
    with pytest.raises(ValueError, match="k: must be an integer >= 1"):
        knn_radius(z, y, 0)
    with pytest.raises(ValueError, match="scale: unknown 'mean'.*centroid, none"):
        knn_radius(z, y, 2, scale="mean")
    with pytest.raises(ValueError, match="y: scale='centroid' needs at least 2 classes"):
        knn_radius(z[:5], y[:5], 2)


def test_density_table_rows_columns_and_log_density():
    z, y = _clusters(n_per=25)
    t = density_table({"a": (z, y), "a_x10": (10 * z, y), "half": (0.5 * z, y)},
                      ks=(2, 5))
    assert list(t.columns) == ["model", "k", "median_radius", "q25", "q75", "log_density"]
    assert list(zip(t.model, t.k)) == [("a", 2), ("a", 5), ("a_x10", 2), ("a_x10", 5),
                                       ("half", 2), ("half", 5)]
    r = knn_radius(z, y, 5)
    row = t[(t.model == "a") & (t.k == 5)].iloc[0]
    assert row.median_radius == pytest.approx(np.median(r))
    assert row.q25 <= row.median_radius <= row.q75
    assert row.log_density == pytest.approx(-8 * math.log(np.median(r)))
    # the scale-free estimator ranks a rescaled copy the same
    np.testing.assert_allclose(t[t.model == "a"].median_radius.values,
                               t[t.model == "a_x10"].median_radius.values, rtol=1e-9)
    raw = density_table({"a": (z, y), "a_x10": (10 * z, y)}, ks=(5,), scale="none")
    assert raw.log_density[0] - raw.log_density[1] == pytest.approx(8 * math.log(10))


# ---------------------------------------------------------------- uncertainty


def test_scores_keys_and_values():
    model = _CenterNet().eval()
    x = torch.randn(9, 4)
    with torch.no_grad():
        logits = model(x)
        d2 = torch.cdist(model.features(x), model.centers) ** 2
    s = scores(logits, centers_present=True)
    assert set(s) == {"max_softmax", "min_distance", "max_logit", "energy"}
    np.testing.assert_allclose(s["energy"], torch.logsumexp(logits.double(), 1))
    np.testing.assert_allclose(s["min_distance"], -d2.min(1).values.numpy(), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(s["max_softmax"], torch.softmax(logits.double(), 1).max(1).values)
    assert set(scores(logits, centers_present=False)) == {"max_softmax", "max_logit", "energy"}


def test_auroc_matches_sklearn_with_ties_and_clear_cases():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, 200).astype(float)  # many ties, also across the two sets
    b = rng.integers(-2, 4, 150).astype(float)
    expected = roc_auc_score(np.r_[np.ones(200), np.zeros(150)], np.r_[a, b])
    assert auroc(a, b) == pytest.approx(expected, abs=1e-12)
    c, d = rng.normal(size=50), rng.normal(size=70)
    expected = roc_auc_score(np.r_[np.ones(50), np.zeros(70)], np.r_[c, d])
    assert auroc(torch.tensor(c), d) == pytest.approx(expected, abs=1e-12)
    assert auroc([3.0, 4.0, 5.0], [0.0, 1.0]) == 1.0
    assert auroc([0.0, 1.0], [3.0, 4.0, 5.0]) == 0.0
    assert auroc(np.ones(5), np.ones(8)) == 0.5
    assert auroc([1.0, 2.0], [1.0]) == pytest.approx(0.75)  # one tie counts half


def test_auroc_errors_name_argument():
    with pytest.raises(ValueError, match="out_scores: contains NaN"):
        auroc([1.0], [np.nan])
    with pytest.raises(ValueError, match="in_scores: needs at least one score"):
        auroc([], [1.0])
    with pytest.raises(ValueError, match="in_scores: expected a 1-D"):
        auroc(np.ones((2, 2)), [1.0])


def test_detection_table():
    ins = {"mmc": {"max_logit": np.array([5.0, 6.0]), "max_softmax": np.array([0.9, 0.8])}}
    outs = {"mmc": {"svhn": {"max_logit": np.array([1.0, 2.0]),
                             "max_softmax": np.array([0.85, 0.95])}}}
    t = detection_table(ins, outs)
    assert list(t.columns) == ["model", "out_data", "score", "auroc"]
    assert t.set_index("score").auroc.to_dict() == {"max_logit": 1.0, "max_softmax": 0.25}
    with pytest.raises(ValueError, match="model_scores: no in-distribution scores for model 'sce'"):
        detection_table(ins, {"sce": outs["mmc"]})
    with pytest.raises(ValueError, match="out_scores: model 'mmc' on 'svhn'"):
        detection_table(ins, {"mmc": {"svhn": {"max_logit": np.ones(2)}}})


def test_top_k_order_softmax_and_raw():
    logits = torch.tensor([[1.0, 3.0, 2.0, -1.0], [-9.0, -1.0, -4.0, -2.0]])
    v, i = top_k(logits, k=3, softmax=False)
    np.testing.assert_array_equal(i, [[1, 2, 0], [1, 3, 2]])
    np.testing.assert_allclose(v, [[3, 2, 1], [-1, -2, -4]])
    p, j = top_k(logits, k=2, softmax=True)
    np.testing.assert_array_equal(j, [[1, 2], [1, 3]])
    np.testing.assert_allclose(p, torch.softmax(logits.double(), 1).numpy()[[[0], [1]], j])
    assert (np.diff(p, axis=1) <= 0).all()
    with pytest.raises(ValueError, match="k: must be <= the number of classes 4"):
        top_k(logits, k=5, softmax=True)


# ---------------------------------------------------------------- Remark 3


def test_remark3_share_hand_made():
    logits = torch.tensor([
        [9.0, 5.0, 5.0 - math.log(4), 0.0],  # others 5, 5-ln4, 0: (1,2) yes, (2,3) no
        [0.0, 10.0, 0.0, 0.0],               # others 10, 0, 0: (1,2) no, (2,3) yes
        [2.0, 2.0, 2.0, 100.0],              # others 2, 2, 2: yes, yes
        [3.0, 50.0, 1.0, 0.0],               # others 3, 1, 0: gap 2 > ln5 no, gap 1 yes
    ])
    y = torch.tensor([0, 0, 3, 1])
    assert remark3_share(logits, y) == 0.5
    assert remark3_share(logits, y, pair=(2, 3)) == 0.75
    assert remark3_share(logits, y, ratio=math.exp(2.5)) == 0.75
    assert remark3_share(logits, y, ratio=1.0) == 0.25  # exact ties only
    with pytest.raises(ValueError, match="ratio: must be a finite number >= 1"):
        remark3_share(logits, y, ratio=0.5)
    with pytest.raises(ValueError, match="pair: rank 4 exceeds the 3 other-class"):
        remark3_share(logits, y, pair=(1, 4))
    with pytest.raises(ValueError, match=r"y: labels must lie in \[0, 3\]"):
        remark3_share(logits, torch.tensor([0, 0, 4, 1]))


def test_topk_lse_error_known_values():
    # the true class holds a huge logit (excluded); the 4 others are equal: error = ln(4 / k)
    logits = torch.tensor([[0.0, 50.0, 0.0, 0.0, 0.0], [7.0, 7.0, 7.0, 7.0, -3.0]])
    y = torch.tensor([1, 4])
    t = topk_lse_error(logits, y, ks=(1, 2, 4))
    assert list(t.columns) == ["k", "mean_abs_error", "median_abs_error", "max_abs_error",
                               "share_below_0.1"]
    np.testing.assert_allclose(t.mean_abs_error, [math.log(4), math.log(2), 0.0], atol=1e-12)
    np.testing.assert_allclose(t.max_abs_error, [math.log(4), math.log(2), 0.0], atol=1e-12)
    assert list(t["share_below_0.1"]) == [0.0, 0.0, 1.0]
    # one dominant other logit: the max is already within 0.1 nats
    t1 = topk_lse_error(torch.tensor([[0.0, 20.0, 1.0, 2.0]]), torch.tensor([0]), ks=(1,))
    assert t1.mean_abs_error[0] == pytest.approx(math.log1p(math.exp(-19) + math.exp(-18)))
    assert t1["share_below_0.1"][0] == 1.0


def test_topk_lse_error_nonnegative_and_decreasing_to_zero():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=g) * 3
    y = torch.randint(0, 10, (200,), generator=g)
    t = topk_lse_error(logits, y, ks=range(1, 10))
    assert (t.mean_abs_error >= 0).all() and (t.max_abs_error >= 0).all()
    assert (np.diff(t.mean_abs_error) < 0).all() and (np.diff(t.max_abs_error) <= 0).all()
    assert t.max_abs_error.iloc[-1] == 0.0
    assert (np.diff(t["share_below_0.1"]) >= 0).all()
    with pytest.raises(ValueError, match=r"ks: each k must be <= L - 1 = 9"):
        topk_lse_error(logits, y, ks=(10,))


# ---------------------------------------------------------------- geometry


def test_class_means_and_center_distance_table():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 2, 1])
    m = class_means(z, y, 3)
    assert torch.allclose(m, torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]], dtype=m.dtype))
    t = center_distance_table(m, ["cat", "dog", "ship"])
    assert list(t.index) == list(t.columns) == ["cat", "dog", "ship"]
    assert t.loc["cat", "dog"] == pytest.approx(1.0)
    assert t.loc["ship", "cat"] == pytest.approx(math.sqrt(20))
    np.testing.assert_array_equal(t.values, t.values.T)
    assert (np.diag(t.values) == 0).all()
    with pytest.raises(ValueError, match=r"y: classes \[3\] have no samples"):
        class_means(z, y, 4)
    with pytest.raises(ValueError, match=r"y: labels must lie in \[0, 1\]"):
        class_means(z, y, 2)
    with pytest.raises(ValueError, match="class_names: expected 3 names"):
        center_distance_table(m, ["cat", "dog"])


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data[:400].astype(np.float32), d.target[:400]


def test_project_2d_pca_and_isomap_with_stratified_subset(digits):
    x, y = digits
    coords, idx = project_2d(x, method="pca")
    assert coords.shape == (400, 2) and np.array_equal(idx, np.arange(400))
    coords, idx = project_2d(x, method="isomap", max_points=100, y=y, seed=1)
    assert coords.shape == (100, 2) and np.isfinite(coords).all()
    assert len(np.unique(idx)) == 100 and (np.diff(idx) > 0).all()
    counts = np.bincount(y[idx], minlength=10)
    expected = np.bincount(y, minlength=10) * 100 / 400
    assert (np.abs(counts - expected) < 1).all()  # proportional quotas
    coords2, idx2 = project_2d(x, method="isomap", max_points=100, y=y, seed=1)
    assert np.array_equal(idx, idx2) and np.allclose(np.abs(coords), np.abs(coords2))
    _, idx3 = project_2d(x, method="pca", max_points=100, seed=2)
    assert len(idx3) == 100 and not np.array_equal(idx3, idx)


def test_project_2d_errors(digits):
    x, _ = digits
    with pytest.raises(ValueError, match="method: unknown 'tsne'.*isomap, pca, umap"):
        project_2d(x, method="tsne")
    with pytest.raises(ValueError, match="max_points: must be an integer >= 1"):
        project_2d(x, max_points=0)
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install umap-learn"):
            project_2d(x, method="umap")


def test_auroc_ci_covers_the_auroc_is_seeded_and_narrows_with_n():
    from rethinkmmc.analysis import auroc_ci

    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 200)
    lo, hi = auroc_ci(a, b, n_boot=200, seed=0)
    assert 0 <= lo < auroc(a, b) < hi <= 1
    # true AUROC of N(1,1) vs N(0,1): Phi(1 / sqrt(2)) = 0.760
    assert lo < 0.760 < hi
    assert auroc_ci(a, b, n_boot=200, seed=0) == (lo, hi)  # seeded: repeats exactly
    assert auroc_ci(a, b, n_boot=200, seed=1) != (lo, hi)
    assert auroc_ci(torch.as_tensor(a), torch.as_tensor(b), seed=0) == (lo, hi)
    big = auroc_ci(rng.normal(1.0, 1.0, 3000), rng.normal(0.0, 1.0, 2000), seed=0)
    assert big[1] - big[0] < (hi - lo) / 2  # ~ 1/sqrt(n): 10x the data, ~3x narrower
    # perfectly separated sets: every replicate is 1
    assert auroc_ci(np.arange(10.0) + 100, np.arange(5.0), seed=0) == (1.0, 1.0)
    # the mirror: swapping in and out mirrors the interval
    mlo, mhi = auroc_ci(b, a, n_boot=200, seed=0)
    assert 0 < mlo < 1 - auroc(a, b) < mhi < 1


def test_auroc_ci_errors():
    from rethinkmmc.analysis import auroc_ci

    with pytest.raises(ValueError, match="n_boot: must be an integer >= 1"):
        auroc_ci([1.0, 2.0], [0.0], n_boot=0)
    with pytest.raises(ValueError, match="level: must be a number in"):
        auroc_ci([1.0, 2.0], [0.0], level=95)
    with pytest.raises(ValueError, match="out_scores: contains NaN"):
        auroc_ci([1.0, 2.0], [np.nan])
    with pytest.raises(ValueError, match="in_scores: needs at least one score"):
        auroc_ci([], [0.0])


def test_feature_compactness_and_spacing_known_answers():
    from rethinkmmc.centers import mm_centers
    from rethinkmmc.claims.features import V, _above_zero, compactness, spacing_cv

    mu = mm_centers(4, 8, 10.0, dtype=torch.float64)
    y = torch.arange(4).repeat_interleave(5)
    on = mu[y]  # every feature on its class mean: compact 0, equally spaced means
    assert compactness(on, y, 4) == 0.0
    assert spacing_cv(on, y, 4) == pytest.approx(0.0, abs=1e-12)
    noise = torch.randn(20, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    noise -= torch.stack([noise[y == k].mean(0) for k in range(4)])[y]  # class means stay mu
    z = on + noise
    # mean distance to the class mean over the mean distance between the means (all equal)
    want = float(noise.norm(dim=1).mean() / (10.0 * (2 * 4 / 3) ** 0.5))
    assert compactness(z, y, 4) == pytest.approx(want, rel=1e-12)
    assert compactness(7 * z, y, 4) == pytest.approx(want, rel=1e-12)  # scale-free
    uneven = on.clone()
    uneven[y == 0] *= 2
    assert spacing_cv(uneven, y, 4) > 0.1
    assert _above_zero(0.2, (0.1, 0.3), "d").verdict == V.HOLDS
    assert _above_zero(-0.2, (-0.3, -0.1), "d").verdict == V.FAILS
    assert _above_zero(0.0, (-0.1, 0.1), "d").verdict == V.OPEN
