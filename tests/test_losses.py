import pytest
import torch
import torch.nn.functional as F

from rethinkmmc import mm_centers
from rethinkmmc.losses import CenterHead, LinearHead, make_head, make_loss, sq_distances


def _zy(n=32, d=16, L=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 5, torch.randint(0, L, (n,), generator=g)


def test_mmc_loss_is_squared_distance_without_half():
    z, y = _zy()
    head = make_head("mmc", 16, 10, mm_centers(10, 16, 10.0))
    loss = make_loss("mmc", head)(z, y)
    expected = ((z - head.centers[y]) ** 2).sum(1).mean()
    assert torch.allclose(loss, expected)
    # the paper's 1/2 ||z - mu_y||^2 would be half of it: the code's convention is followed
    assert not torch.allclose(loss, 0.5 * expected)


def test_mmc_predicts_nearest_center_and_logits_are_negative_sq_distances():
    z, _ = _zy()
    c = mm_centers(10, 16, 10.0)
    head = make_head("mmc", 16, 10, c)
    logits = head(z)
    assert torch.allclose(logits, -torch.cdist(z, c) ** 2, rtol=1e-4, atol=1e-3)
    assert (logits.argmax(1) == torch.cdist(z, c).argmin(1)).all()
    assert (logits <= 0).all()


def test_sq_distances_keep_argmin_for_large_distances():
    # far from the origin the expansion ||z||^2 - 2 z.mu + ||mu||^2 loses the argmin in fp32
    c = mm_centers(10, 256, 10.0)
    z = c[3] * 1 + 1e3 * torch.ones(256) / 16
    z = z.unsqueeze(0)
    d = sq_distances(z, c)
    exact = ((z.double() - c.double()) ** 2).sum(1)
    assert d.argmin().item() == exact.argmin().item()


def test_mmlda_is_cross_entropy_over_center_logits():
    z, y = _zy()
    head = make_head("mmlda", 16, 10, mm_centers(10, 16, 10.0))
    loss = make_loss("mmlda", head)(z, y)
    assert torch.allclose(loss, F.cross_entropy(-torch.cdist(z, head.centers) ** 2, y), rtol=1e-4)


def test_center_loss_adds_weighted_distance_to_learned_centers():
    z, y = _zy()
    head = make_head("center", 16, 10)
    assert isinstance(head, LinearHead) and isinstance(head.centers, torch.nn.Parameter)
    with torch.no_grad():
        head.centers.normal_()
    loss = make_loss("center", head, center_lambda=0.5)(z, y)
    expected = F.cross_entropy(head(z), y) + 0.25 * ((z - head.centers[y]) ** 2).sum(1).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert head.centers.grad is not None and head.centers.grad.abs().sum() > 0


def test_lgm_margin_and_likelihood():
    z, y = _zy()
    head = make_head("lgm", 16, 10, seed=1)
    assert isinstance(head, CenterHead) and head.centers.requires_grad
    d = 0.5 * torch.cdist(z, head.centers) ** 2
    no_margin = make_loss("lgm", head, lgm_alpha=0.0, lgm_lambda=0.0)(z, y)
    assert torch.allclose(no_margin, F.cross_entropy(-d, y), rtol=1e-4)
    with_margin = make_loss("lgm", head, lgm_alpha=0.5, lgm_lambda=0.0)(z, y)
    assert with_margin > no_margin  # the margin enlarges the true class's distance
    lkd = make_loss("lgm", head, lgm_alpha=0.0, lgm_lambda=1.0)(z, y) - no_margin
    assert torch.allclose(lkd, d.gather(1, y[:, None]).mean(), rtol=1e-4)


def test_fixed_centers_get_no_gradient_and_are_saved():
    head = make_head("mmc", 16, 10, mm_centers(10, 16))
    assert "centers" in head.state_dict() and not head.centers.requires_grad
    assert list(head.parameters()) == []


@pytest.mark.parametrize("loss,field", [("foo", "loss"), ("mmc", "centers")])
def test_bad_heads(loss, field):
    with pytest.raises(ValueError, match=field):
        make_head(loss, 16, 10)
    with pytest.raises(ValueError, match="centers"):
        make_head("mmc", 16, 10, mm_centers(10, 8))
    with pytest.raises(ValueError, match="loss"):
        make_loss("foo", LinearHead(4, 2))
