"""EmpiricalMixture, the exact noised law of a finite data set: against its closed form written out
here, against the explicit GaussianMixture it stands for (covariances → 0), against particles, the
closed-form output of an unguided run (memorisation), reductions, records and bad input."""

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp, ndtr

import fpguide as fg
from fpguide.models.targets import target_from_dict
from fpguide.tools.errors import CoarseGridWarning

RNG = np.random.default_rng(3)
POINTS_2D = np.concatenate(
    [RNG.normal([-1.0, 0.0], 0.4, (30, 2)), RNG.normal([1.0, 0.5], 0.3, (30, 2))]
)
LABELS_2D = [0] * 30 + [1] * 30


def _closed_form(points, weights, x, t, process):
    """log p_t and ∇log p_t of Σ_i π_i N(m x_i, σ² I), written out."""
    m, sigma = float(process.m(t)), float(process.sigma(t))
    d = points.shape[1]
    diff = x[:, None, :] - m * points[None, :, :]  # (N, n, d)
    logk = np.log(weights) - 0.5 * (diff**2).sum(axis=2) / sigma**2
    logp = logsumexp(logk, axis=1) - 0.5 * d * np.log(2 * np.pi * sigma**2)
    resp = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    score = -(resp[:, :, None] * diff).sum(axis=1) / sigma**2
    return logp, score


@pytest.mark.parametrize("process", [fg.OU(), fg.VE(), fg.FlowMatching()])
@pytest.mark.parametrize("t", [1e-3, 0.05, 0.5])
def test_noised_law_is_the_gaussian_mixture_of_the_points(process, t):
    weights = np.linspace(1.0, 2.0, 60)
    data = fg.EmpiricalMixture(POINTS_2D, weights=weights, labels=LABELS_2D)
    x = RNG.uniform(-2.5, 2.5, (400, 2))
    logp, score = data.evaluate(x, t, process)
    ref_logp, ref_score = _closed_form(POINTS_2D, weights / weights.sum(), x, t, process)
    np.testing.assert_allclose(logp, ref_logp, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(score, ref_score, rtol=1e-9, atol=1e-9 * np.abs(ref_score).max())
    c = data.condition(1)
    ref_c, _ = _closed_form(POINTS_2D[30:], weights[30:] / weights[30:].sum(), x, t, process)
    np.testing.assert_allclose(c.log_density(x, t, process), ref_c, rtol=1e-11, atol=1e-11)


def test_one_dimensional_points_are_flat():
    data = fg.EmpiricalMixture([-1.0, 0.5, 2.0], labels=["a", "b", "b"])
    assert data.ndim == 1 and data.points.shape == (3,)
    x = np.linspace(-3, 3, 7)
    ref, _ = _closed_form(
        np.array([[-1.0], [0.5], [2.0]]), np.full(3, 1 / 3), x[:, None], 0.2, fg.OU()
    )
    np.testing.assert_allclose(data.log_density(x, 0.2), ref, rtol=1e-12)
    assert data.condition("b") == fg.EmpiricalMixture([0.5, 2.0], labels=["b", "b"])
    np.testing.assert_array_equal(data.sample(5, np.random.default_rng(0), label="a"), [-1.0] * 5)
    assert data.length_scale(0.2, fg.OU()) == pytest.approx(float(fg.OU().sigma(0.2)), rel=1e-15)
    lo, hi = data.bulk()
    assert (lo[0], hi[0]) == (-1.0, 2.0)


def test_records_marginals_and_projections():
    data = fg.EmpiricalMixture(POINTS_2D, labels=LABELS_2D)
    assert target_from_dict(json.loads(json.dumps(data.to_dict()))) == data
    np.testing.assert_array_equal(data.marginal(1).points, POINTS_2D[:, 1])
    assert isinstance(data.marginal([1, 0]), fg.EmpiricalMixture)
    basis = np.array([[0.6, 0.8]])
    np.testing.assert_allclose(data.project(basis).points, POINTS_2D @ basis[0], rtol=1e-15)
    draws = data.sample(1000, np.random.default_rng(1))
    assert {tuple(p) for p in draws} <= {tuple(p) for p in POINTS_2D}


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_solve_equals_the_gaussian_mixture_with_vanishing_covariances(sampler):
    """The solve of the data set and of GaussianMixture(points, 1e-12): the noised variances
    differ by m² 1e-12, so the Datasets agree to that (the same kernels, grid and steps)."""
    guide = fg.CFG(label=1, w=2.0)
    grid = fg.TensorGrid.from_bounds([-8.0, -8.0], [8.0, 8.0], 112)
    kw = {"sampler": sampler, "T": 5.0, "t_min": 0.05, "grid": grid, "n_save": 3, "wall_tol": 1e-7}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)  # coarse on purpose: the same grid twice
        data = fg.solve(fg.EmpiricalMixture(POINTS_2D, labels=LABELS_2D), guide, **kw)
        gm = fg.solve(fg.GaussianMixture(POINTS_2D, 1e-12, labels=LABELS_2D), guide, **kw)
        again = fg.rerun(data)
    np.testing.assert_allclose(data.density.values, gm.density.values, rtol=0, atol=1e-9)
    for name in ("entropy", "confidence", "kl_conditional"):
        np.testing.assert_allclose(data[name].values, gm[name].values, rtol=0, atol=1e-9)
    assert json.loads(data.attrs["config"])["target"]["type"] == "EmpiricalMixture"
    xr.testing.assert_identical(again, data)


def test_unguided_ode_from_the_exact_start_memorises():
    """w = 0 from p_T(·|c) with the exact score: the output is p_t(·|c) itself, spikes of width
    σ(t_min) = 0.14 at the class's points; the grid's output against the exact cell masses of
    Σ_i N(m x_i, σ²) (measured 1.4e-5 in L1 on 2080 cells)."""
    points = np.array([-2.0, -1.2, -0.3, 0.4, 0.9, 1.7])
    data = fg.EmpiricalMixture(points, labels=[0, 0, 1, 1, 1, 0])
    grid, ou = fg.Grid(-6.5, 6.5, 2080), fg.OU()
    ds = fg.solve(data, fg.CFG(label=1, w=0.0), T=5.0, t_min=1e-2, grid=grid, start="exact")
    m, sigma = float(ou.m(1e-2)), float(ou.sigma(1e-2))
    cdf = np.mean([ndtr((grid.faces - m * x) / sigma) for x in points[2:5]], axis=0)
    assert np.abs(ds.density.values[-1] * grid.dx - np.diff(cdf)).sum() < 3e-5


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_guided_2d_solve_against_particles(sampler):
    data = fg.EmpiricalMixture(POINTS_2D[::4], labels=LABELS_2D[::4])
    guide = fg.CFG(label=1, w=3.0)
    kw = {"sampler": sampler, "T": 5.0, "t_min": 0.05}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        ds = fg.solve(data, guide, n_save=3, **kw)
    ps = fg.sample(data, guide, n=20_000, seed=4, t_eval=ds.t.values, **kw)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_points_in_five_dimensions_reduce_to_their_span():
    """Three points in 5-D span a plane: the isotropic reduction solves two coordinates (the
    points projected), and equals the reduction of GaussianMixture(points, 1e-12)."""
    rng = np.random.default_rng(7)
    basis, _ = np.linalg.qr(rng.normal(size=(5, 2)))
    points = np.array([[-1.0, 0.0], [1.0, 0.5], [0.2, -1.0]]) @ basis.T
    guide = fg.CFG(label=1, w=2.0)
    kw = {
        "T": 5.0,
        "t_min": 0.1,
        "n_save": 3,
        "grid": fg.TensorGrid.from_bounds([-6, -6], [6, 6], 96),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        ds = fg.solve(fg.EmpiricalMixture(points, labels=[0, 1, 1]), guide, **kw)
        ref = fg.solve(fg.GaussianMixture(points, 1e-12, labels=[0, 1, 1]), guide, **kw)
    run = json.loads(ds.attrs["run"])
    assert run["reduction"]["kind"] == "isotropic" and ds.sizes["solved"] == 2
    np.testing.assert_allclose(ds.density.values, ref.density.values, rtol=0, atol=1e-9)
    for name in ("entropy", "confidence", "mean"):
        np.testing.assert_allclose(ds[name].values, ref[name].values, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (([],), ValueError, "points must be a non-empty"),
        (([[[0.0]]],), ValueError, "points must be a non-empty"),
        (([0.0, np.nan],), ValueError, "points"),
        (([0.0, 1.0], [1.0]), ValueError, "weights must have one entry per component"),
        (([0.0, 1.0], [1.0, -1.0]), ValueError, "weights must be non-negative"),
        (([0.0, 1.0], None, [0]), ValueError, "labels must have one entry per component"),
        (([0.0, 1.0], None, [0, 1.5]), TypeError, "labels must be ints or strings"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        fg.EmpiricalMixture(*args)


def test_no_density_at_t_zero():
    with pytest.raises(ValueError, match="t must be > 0"):
        fg.EmpiricalMixture([0.0, 1.0]).log_density([0.5], 0.0)
