import math

import pytest
import torch

from rethinkmmc import hierarchical_centers, mm_centers, random_centers
from rethinkmmc.centers import unit_mm_centers


def _check_simplex(c: torch.Tensor, c_mm: float, atol: float = 0.0):
    """Norms c_mm and pairwise products -c_mm^2/(L-1), each to 1e-6 relative (+ atol * c_mm^2)."""
    L = c.shape[0]
    c = c.double()
    norms = c.norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, c_mm), rtol=1e-6, atol=0)
    gram = c @ c.T
    off = gram[~torch.eye(L, dtype=torch.bool)]
    target = -c_mm ** 2 / (L - 1)
    assert torch.allclose(off, torch.full_like(off, target), rtol=1e-6, atol=atol * c_mm ** 2)


@pytest.mark.parametrize("L,d", [(10, 256), (100, 256), (20, 256), (10, 9), (10, 10), (2, 1)])
@pytest.mark.parametrize("c_mm", [1.0, 10.0, 100.0])
def test_mm_centers_geometry(L, d, c_mm):
    exact = mm_centers(L, d, c_mm, dtype=torch.float64)
    assert exact.shape == (L, d)
    _check_simplex(exact, c_mm)
    # the float32 default: rounded once from the float64 construction (products to ~1e-7 c^2)
    c = mm_centers(L, d, c_mm)
    assert c.dtype == torch.float32 and torch.equal(c, exact.float())
    _check_simplex(c, c_mm, atol=1e-6)


def test_mm_centers_follow_the_original_recursion():
    # mu_1 = e_1; row k is zero beyond coordinate k (the recursion writes coordinate k of mu_k).
    u = unit_mm_centers(10)
    assert u[0, 0] == 1.0 and (u[0, 1:] == 0).all()
    assert all((u[k, k + 1:] == 0).all() for k in range(10))
    assert (u.diagonal() >= 0).all()
    # second center: mu_2[1] = -1/(L-1), mu_2[2] = sqrt(1 - 1/81)
    assert u[1, 0] == pytest.approx(-1 / 9, abs=1e-15)
    assert u[1, 1] == pytest.approx(math.sqrt(1 - 1 / 81), abs=1e-15)
    c = mm_centers(10, 256, 10.0).double()
    assert torch.equal(c[:, 10:], torch.zeros(10, 246, dtype=torch.float64))


def test_unsquared_norm_port_would_fail():
    # The 2020 reproduction's Python script: diagonal sqrt(|1 - ||mu|| |**2) = |1 - ||mu|| |
    # instead of sqrt(|1 - ||mu||^2|).
    L = 10
    mu = torch.zeros(L, L, dtype=torch.float64)
    mu[0, 0] = 1
    for k in range(1, L):
        for j in range(k):
            mu[k, j] = -(1 / (L - 1) + mu[k] @ mu[j]) / mu[j, j]
        mu[k, k] = math.sqrt(abs(1 - mu[k].norm()) ** 2)
    with pytest.raises(AssertionError):
        _check_simplex(mu * 10, 10.0)
    # the option that reproduces that script (for notebook 01) gives exactly these centers
    assert torch.allclose(torch.as_tensor(unit_mm_centers(L, "unsquared")), mu, atol=1e-12)
    # known answer for L = 3, by hand: mu_2 = (-1/2, |1 - 1/2|), mu_3 = (-1/2, -3/2,
    # |1 - sqrt(10)/2|)
    three = unit_mm_centers(3, "unsquared")
    assert three[1] == pytest.approx([-0.5, 0.5, 0.0], abs=1e-15)
    assert three[2] == pytest.approx([-0.5, -1.5, math.sqrt(10) / 2 - 1], abs=1e-15)
    with pytest.raises(ValueError, match="diagonal: unknown 'cubed'"):
        unit_mm_centers(L, "cubed")


def test_geometry_measures_distance_from_mm_centers():
    from rethinkmmc.centers import geometry, geometry_table

    g = geometry(mm_centers(10, 256, 10.0, dtype=torch.float64))
    assert g["norm_error"] < 1e-12 and g["inner_error"] < 1e-12
    assert g["min_angle_deg"] == pytest.approx(math.degrees(math.acos(-1 / 9)), abs=1e-9)
    assert g["min_distance"] == pytest.approx(10 * math.sqrt(2 * 10 / 9), rel=1e-12)
    bad = geometry(torch.as_tensor(unit_mm_centers(10, "unsquared")))
    assert bad["norm_error"] > 0.1
    t = geometry_table({"a": mm_centers(3, 2, 1.0), "b": mm_centers(4, 3, 2.0)})
    assert list(t.index) == ["a", "b"] and list(t["L"]) == [3, 4]


@pytest.mark.parametrize("L", [3, 4, 10])
def test_two_dimensional_centers_are_the_regular_polygon(L):
    c = mm_centers(L, 2, 10.0).double()
    assert torch.allclose(c.norm(dim=1), torch.full((L,), 10.0, dtype=torch.float64), rtol=1e-6)
    ang = torch.sort(torch.atan2(c[:, 1], c[:, 0])).values
    gaps = torch.diff(torch.cat([ang, ang[:1] + 2 * math.pi]))
    assert torch.allclose(gaps, torch.full((L,), 2 * math.pi / L, dtype=torch.float64), atol=1e-4)


def test_below_simplex_maximises_smallest_angle():
    # 6 points on the sphere in 3-D: the optimum is the octahedron (smallest angle 90 degrees).
    c = mm_centers(6, 3, 1.0).double()
    g = c @ c.T
    off = g[~torch.eye(6, dtype=torch.bool)]
    assert off.max().item() == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("args,field", [
    ((1, 10), "num_classes"), ((10, 0), "dim"), ((3, 1), "dim"), ((10, 9, 0.0), "c_mm"),
    ((10, 9, -1.0), "c_mm"), ((10, 9, float("nan")), "c_mm"), ((2.5, 9), "num_classes"),
])
def test_mm_centers_bad_arguments(args, field):
    with pytest.raises(ValueError, match=field):
        mm_centers(*args)


def test_random_centers_norm_and_seed():
    a = random_centers(10, 64, 10.0, seed=3)
    b = random_centers(10, 64, 10.0, seed=3)
    c = random_centers(10, 64, 10.0, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.norm(dim=1), torch.full((10,), 10.0), rtol=1e-6)
    # random directions are not a simplex
    with pytest.raises(AssertionError):
        _check_simplex(a, 10.0)


def test_hierarchical_centers_uneven_groups():
    sup = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]  # CIFAR-10: 4 vehicles, 6 animals
    c = hierarchical_centers(sup, 64, c1=10.0, c2=1.0).double()
    top = mm_centers(2, 64, 10.0).double()
    for s, n in ((0, 4), (1, 6)):
        members = [i for i, t in enumerate(sup) if t == s]
        sub = c[members] - top[s]
        # the offsets inside a superclass are MM centers of norm C2 for n classes
        _check_simplex(sub, 1.0)
        assert sub.shape[0] == n
    # classes of one superclass are closer to each other than to the other superclass
    d = torch.cdist(c, c)
    assert d[0, 1] < d[0, 2]


def test_hierarchical_bad_superclasses():
    with pytest.raises(ValueError, match="superclass_of"):
        hierarchical_centers([0, 2, 2], 8)
    with pytest.raises(ValueError, match="c2"):
        hierarchical_centers([0, 1, 1], 8, c2=0)
