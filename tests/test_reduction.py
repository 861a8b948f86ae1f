"""Exact reduction of high-dimensional targets: reduced solves against full grids, closed forms and
particles."""

import json
import math
import warnings

import numpy as np
import pytest

import fpguide as fg
from fpguide.tools.errors import CoarseGridWarning

T, T_MIN = 5.0, 0.05
SCALARS = ("entropy", "confidence", "projected_mean", "support_mass", "edge_mass", "outside_mass")


def _last(ds, name):
    value = ds[name]
    return float(value[-1] if value.ndim else value)


def _solve(target, sampler, w=2.0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        return fg.solve(target, fg.CFG(label=1, w=w), sampler=sampler, T=T, t_min=T_MIN, **kw)


def json_run(ds):
    return json.loads(ds.attrs["run"])


def _differences(full, red):
    """Full-law observables of a full-grid solve minus those of the reduced solve, at the output
    time."""
    out = {
        name: _last(full, name) - _last(red, name)
        for name in SCALARS + ("kl_conditional", "kl_tilted")
        if name in full
    }
    out["mean"] = float(np.max(np.abs(full["mean"][-1].values - red["mean"][-1].values)))
    out["variance"] = float(
        np.max(np.abs(np.diagonal(full["covariance"][-1].values) - red["variance"][-1].values))
    )
    return out


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_isotropic_2d_reduces_to_the_line_through_the_means(sampler):
    """Means on a tilted line: the reduced 1-D solve (plus the Gaussian across it) equals the 2-D
    grid solve."""
    gm = fg.GaussianMixture(
        np.array([[-0.6, -0.8], [0.6, 0.8]]) + [0.5, -0.3], 0.7, weights=[0.4, 0.6], labels=[0, 1]
    )
    red = _solve(gm, sampler, reduce=True)
    full = _solve(gm, sampler, reduce=False)
    assert red.sizes["solved"] == 1 and json_run(red)["reduction"]["kind"] == "isotropic"
    np.testing.assert_allclose(np.abs(red["basis"].values), [[0.6, 0.8]], atol=1e-12)
    diff = _differences(full, red)
    for name, tol in {
        "entropy": 1e-3,
        "confidence": 5e-4,
        "projected_mean": 5e-4,
        "mean": 5e-4,
        "variance": 1e-3,
        "kl_conditional": 3e-3,
        "kl_tilted": 3e-3,
    }.items():
        assert abs(diff[name]) < tol, (name, diff[name])
    assert abs(_last(red, "mass") - 1.0) < 1e-12 and float(red["density"].min()) >= 0.0


def test_isotropic_3d_full_grid_converges_to_the_reduced_plane():
    """Means spanning a tilted plane in 3-D: the full-grid observables approach the reduced (2-D
    grid + Gaussian) ones as the 3-D grid is refined (ODE)."""
    gm = fg.GaussianMixture(
        [[-1.0, 0.3, 0.2], [1.0, -0.2, 0.5], [0.2, 1.2, -0.4]],
        0.5,
        weights=[0.3, 0.3, 0.4],
        labels=[0, 1, 1],
    )
    red = _solve(gm, "ode", reduce=True, grid=fg.TensorGrid.from_bounds([-8, -8], [8, 8], 160))
    assert red.sizes["solved"] == 2
    coarse, fine = (
        _differences(
            _solve(gm, "ode", reduce=False, grid=fg.TensorGrid.from_bounds([-8] * 3, [8] * 3, n)),
            red,
        )
        for n in (32, 48)
    )
    for name in ("confidence", "projected_mean", "mean", "variance", "kl_conditional"):
        assert abs(fine[name]) < 0.5 * abs(coarse[name]), (name, coarse[name], fine[name])
    assert abs(fine["confidence"]) < 1e-3 and abs(fine["mean"]) < 2e-3


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_product_boxes_in_6d_agree_with_particles(sampler):
    """Boxes that differ along x0 and share [−1, 1] (four coordinates) and [0, 3] (one): a guided
    1-D solve times two unguided 1-D solves, against particles of the full 6-D sampler."""
    lows = np.array([[1.0, -1, -1, -1, -1, 0], [-2.0, -1, -1, -1, -1, 0]])
    highs = np.array([[2.0, 1, 1, 1, 1, 3], [-1.0, 1, 1, 1, 1, 3]])
    um = fg.UniformMixture(lows, highs, labels=[1, 0])
    kw = {"sampler": sampler, "T": T, "t_min": T_MIN, "t_eval": [T_MIN]}
    ds = fg.solve(um, fg.CFG(label=1, w=2.0), **kw)
    assert json_run(ds)["reduction"] == {"kind": "product", "solved": 1, "d": 6, "factors": [4, 1]}
    np.testing.assert_array_equal(ds["basis"].values, np.eye(6)[:1])
    report = fg.cross_check(ds, fg.sample(um, fg.CFG(label=1, w=2.0), n=6000, seed=5, **kw))
    assert report.passed, str(report)
    assert {"support_mass", "edge_mass", "outside_mass", "variance[x5]"} <= {
        row["name"] for row in report.rows
    }


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_linear_guidance_in_12d_follows_the_full_moment_odes(sampler):
    """Unconditional N(μ_u, 2I) and conditional N(μ_c, ½I) in d = 12 (different variances, so the
    orthogonal gain A = (1+w)/v_c − w/v_u is not 1/v): the reduced solve against the mean and full
    covariance ODEs of the linear guided drift, integrated in 12 dimensions with scipy."""
    from scipy.integrate import solve_ivp

    d, w = 12, 2.0
    rng = np.random.default_rng(4)
    mu_u, mu_c = rng.standard_normal(d), rng.standard_normal(d)
    var_u, var_c = 2.0, 0.5
    ds = fg.solve(
        fg.GaussianMixture([mu_u], var_u),
        fg.CFG(w=w, cond=fg.GaussianMixture([mu_c], var_c)),
        sampler,
        T=T,
        t_min=T_MIN,
        n_save=3,
    )
    c = 1.0 if sampler == "sde" else 0.5

    def rhs(tau, y):
        t = T - tau
        m, s2 = math.exp(-t), -math.expm1(-2 * t)
        prec_u, prec_c = 1.0 / (m * m * var_u + s2), 1.0 / (m * m * var_c + s2)
        # OU: f = −1, g² = 2; drift = gain·x + b
        gain = 1.0 + 2 * c * (w * prec_u - (1 + w) * prec_c)
        b = 2 * c * m * ((1 + w) * prec_c * mu_c - w * prec_u * mu_u)
        mean, cov = y[:d], y[d:].reshape(d, d)
        dcov = 2 * gain * cov + (2 * np.eye(d) if sampler == "sde" else 0)
        return np.concatenate([gain * mean + b, dcov.ravel()])

    ref = solve_ivp(
        rhs,
        (0, T - T_MIN),
        np.concatenate([np.zeros(d), np.eye(d).ravel()]),
        rtol=1e-11,
        atol=1e-12,
    ).y[:, -1]
    mean, cov = ref[:d], ref[d:].reshape(d, d)
    final = ds.isel(t=-1)
    assert final["basis"].shape == (1, d)
    np.testing.assert_allclose(final["mean"].values, mean, atol=2e-3)
    np.testing.assert_allclose(final["variance"].values, np.diagonal(cov), atol=2e-3)
    np.testing.assert_allclose(float(final["orthogonal_variance"]), cov[0, 0], rtol=1e-7)
    assert float(final["entropy"]) == pytest.approx(
        0.5 * np.linalg.slogdet(2 * math.pi * math.e * cov)[1], abs=3e-3
    )


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_unguided_orthogonal_law_is_the_noised_target(sampler):
    """w = 0 from the exact start: the law across the means' span stays p_t's, N(m(t) c, (m²s² + σ²)
    I)."""
    d = 50
    means = np.zeros((2, d))
    means[:, 0] = [-1.0, 1.0]
    means[:, 7] = 0.8  # the common offset c
    gm = fg.GaussianMixture(means, 0.3, labels=[0, 1])
    ds = fg.solve(gm, fg.CFG(label=1, w=0.0), sampler=sampler, T=T, t_min=T_MIN, start="exact")
    process, t = fg.OU(), ds["t"].values
    m, s2 = process.m(t), process.sigma(t) ** 2
    np.testing.assert_allclose(ds["orthogonal_variance"].values, m**2 * 0.3 + s2, rtol=1e-9)
    np.testing.assert_allclose(ds["mean"].sel(dim="x7").values, 0.8 * m, rtol=1e-9)
    assert np.all(ds["mean"].drop_sel(dim=["x0", "x7"]).values == 0.0)
    # the solved coordinate is the class's 1-D law N(m, m²s² + σ²): entropy of the full d-D Gaussian
    h = 0.5 * d * np.log(2 * math.pi * math.e * (m**2 * 0.3 + s2))
    np.testing.assert_allclose(ds["entropy"].values, h, atol=2e-4)
    assert abs(float(ds["kl_conditional"])) < 1e-4


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_d100_reduced_solve_agrees_with_particles(sampler):
    """d = 100: the reduced solve against particles of the full 100-D sampler (KS on the solved
    coordinate, z-scores on confidence, tails and the mean and variance of every coordinate)."""
    d, rng = 100, np.random.default_rng(3)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    offset = rng.standard_normal(d)
    offset -= (offset @ u) * u
    gm = fg.GaussianMixture(np.array([offset - u, offset + u]), 0.5, labels=[0, 1])
    kw = {"sampler": sampler, "T": T, "t_min": T_MIN, "t_eval": [T_MIN]}
    ds = fg.solve(gm, fg.CFG(label=1, w=3.0), **kw)
    ps = fg.sample(gm, fg.CFG(label=1, w=3.0), n=6000, seed=11, **kw)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    assert len(report.rows) > 2 * d
    np.testing.assert_allclose(ds["basis"].values[0], u, atol=1e-12)


def test_d1000_entropy_is_the_reduced_entropy_plus_the_gaussian_part():
    d = 1000
    means = np.zeros((2, d))
    means[:, 3] = [-1.0, 1.0]
    gm = fg.GaussianMixture(means, 1.0, labels=[0, 1])
    big = fg.solve(gm, fg.CFG(label=1, w=3.0), T=T, t_min=T_MIN)
    small = fg.solve(
        fg.GaussianMixture([-1.0, 1.0], 1.0, labels=[0, 1]),
        fg.CFG(label=1, w=3.0),
        T=T,
        t_min=T_MIN,
    )
    v = big["orthogonal_variance"].values
    np.testing.assert_allclose(
        big["entropy"].values,
        small["entropy"].values + 0.5 * (d - 1) * np.log(2 * math.pi * math.e * v),
        rtol=0,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        big["confidence"].values, small["confidence"].values, rtol=0, atol=1e-12
    )


def test_bad_reductions_are_refused_with_the_reason():
    aniso = fg.GaussianMixture(
        np.zeros((2, 5)) + np.eye(5)[:2], np.diag([1.0, 2.0, 1.0, 1.0, 1.0]), labels=[0, 1]
    )
    spread = fg.GaussianMixture(np.eye(5), 1.0, labels=[0, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="means span 4 dimensions"):
        fg.solve(spread, fg.CFG(label=1, w=1.0))
    with pytest.raises(ValueError, match="no exact reduction"):
        fg.solve(
            fg.GaussianMixture(np.eye(5)[:2], np.eye(5) + 0.1, labels=[0, 1]),
            fg.CFG(label=1, w=1.0),
        )
    with pytest.raises(ValueError, match="reduce=None or True"):
        fg.solve(aniso, fg.CFG(label=1, w=1.0), reduce=False)
    with pytest.raises(TypeError, match="reduce must be None, True or False"):
        fg.solve(aniso, fg.CFG(label=1, w=1.0), reduce="yes")
    with pytest.raises(ValueError, match="direction must lie in the span"):
        fg.solve(aniso, fg.CFG(label=1, w=1.0), direction=np.eye(5)[4])
