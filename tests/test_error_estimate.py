"""Error estimates (solve(..., error_estimate=True)): they bound the true error, measured against
exact moments."""

import json
import math

import numpy as np
import pytest
import xarray as xr
from moment_odes import linear_gaussian_moments
from scipy.special import log_ndtr

import fpguide as fg
from fpguide.engine.transfer import collect_masses
from fpguide.runs.error_estimate import _difference


@pytest.mark.parametrize("sampler, eta", [("ode", 0.0), ("sde", 1.0)])
@pytest.mark.parametrize("cond_variance, variance, cond_mean", [(1.0, 2.0, 0.5), (2.0, 1.5, 0.0)])
@pytest.mark.parametrize("swept", [False, True])
def test_estimates_bound_the_error_of_a_linear_guided_sampler_from_above(
    sampler, eta, cond_variance, variance, cond_mean, swept
):
    """p(x|c) = N(μ_c, a), p(x) = N(0, b): the output is Gaussian with the moments of linear ODEs,
    and its entropy is ½ log(2πe V). At the output, and as the largest over t, each estimate is at
    least the true error, and at most 100 times it (or 1e-6). Measured: 2.5-61x; the largest where
    the solve's own space and time errors partly cancel, which estimates of each cannot know. (a, b)
    = (2, 1.5), SDE, w = 8 is where a single companion halving dx and dt at once estimated 5x too
    little. A sweep estimates every weight from its companions, batched like the weights."""
    weights = [1.0, 8.0]
    model = fg.GaussianMixture(means=[0.0], covariances=variance)
    cond = fg.GaussianMixture(means=[cond_mean], covariances=cond_variance)
    if swept:
        sweep = fg.solve(model, fg.CFG(w=weights, cond=cond), sampler=sampler, error_estimate=True)
        assert json.loads(sweep.attrs["run"])["items"][0]["batch_sizes"][0] == 2
        solves = [sweep.sel(w=w) for w in weights]
    else:
        solves = [
            fg.solve(model, fg.CFG(w=w, cond=cond), sampler=sampler, error_estimate=True)
            for w in weights
        ]
    for w, ds in zip(weights, solves):
        mean, var = linear_gaussian_moments(
            eta, lambda t, w=w: w, cond_variance, variance, cond_mean, 10.0, ds.t.values
        )
        exact = {"mean": mean, "variance": var, "entropy": 0.5 * np.log(2 * math.pi * math.e * var)}
        for name, values in exact.items():
            error, estimate = np.abs(ds[name].values - values), ds[f"{name}_error"].values
            for got, bound in ((error[-1], estimate[-1]), (error.max(), estimate.max())):
                assert got <= bound <= max(100 * got, 1e-6), (w, name, got, bound)
    assert np.all(np.isfinite(ds.l1_error)) and ds.l1_error.attrs["long_name"].startswith(
        "estimated L1 error"
    )
    assert ds.entropy_error.attrs == {
        "long_name": "estimated error of the differential entropy",
        "units": "nats",
    }
    assert json.loads(ds.attrs["config"])["error_estimate"] is True


def test_a_2d_estimate_has_the_l1_error_of_the_density_over_time():
    box = fg.UniformMixture(
        lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
    )
    ds = fg.solve(
        box,
        fg.CFG(label=1, w=1.0),
        sampler="ode",
        t_min=0.1,
        n_save=3,
        grid=fg.TensorGrid.from_bounds([-7.0, -6.0], [7.0, 6.0], [112, 96]),
        error_estimate=True,
    )
    assert ds.l1_error.dims == ("t",) and ds.l1_error[0] < 1e-6 < ds.l1_error[-1] < 0.1
    assert ds.covariance_error.dims == ds.covariance.dims


@pytest.mark.parametrize("n_fine, n_coarse", [(12, 6), (13, 6), (7, 3)])
def test_masses_collected_into_coarser_cells_are_the_integrals_over_them(n_fine, n_coarse):
    """Against the exact integral of the piecewise-constant density over each coarse cell (fine
    cells split by coarse faces count in proportion)."""
    rng = np.random.default_rng(0)
    fine = np.linspace(0.0, 1.0, n_fine + 1)
    coarse = np.linspace(0.0, 1.0, n_coarse + 1)
    mass = rng.random((2, n_fine))
    got = collect_masses(mass, fine, coarse, axis=1)
    density = mass / np.diff(fine)
    expected = np.zeros((2, n_coarse))
    for j in range(n_coarse):
        overlap = np.clip(
            np.minimum(fine[1:], coarse[j + 1]) - np.maximum(fine[:-1], coarse[j]), 0.0, None
        )
        expected[:, j] = density @ overlap
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def _log_normal_pdf(x):
    return -0.5 * x**2 - 0.5 * np.log(2 * np.pi)


@pytest.mark.parametrize("tensor", [False, True])
def test_log_cell_averages_stay_exact_where_the_averages_underflow(tensor):
    """log of a standard normal's cell averages at x = 40..60 (where they underflow to 0) against
    the closed form log((Φ(b) − Φ(a))/dx), from log-tails."""
    axis = fg.Grid(40.0, 60.0, 2000)
    if tensor:
        averages = fg.TensorGrid((axis,)).log_cell_averages(
            lambda points: _log_normal_pdf(points[..., 0])
        )
    else:
        averages = axis.log_cell_averages(_log_normal_pdf)
    tail_a, tail_b = log_ndtr(-axis.bounds[:, 0]), log_ndtr(-axis.bounds[:, 1])
    exact = tail_a + np.log1p(-np.exp(tail_b - tail_a)) - np.log(axis.dx)
    assert np.all(np.exp(exact) == 0.0)
    np.testing.assert_allclose(averages, exact, rtol=1e-9)


def test_divergences_and_estimates_stay_finite_where_references_underflow():
    """A narrow target solved by the reverse SDE leaves mass where p_t(·|c) underflows in linear
    space: KL is finite (and obeys Pinsker's KL ≥ 2 TV²), and so is its estimated error; the
    estimate of values that agree is 0, also where they are infinite (an E[1/p(c|x)] that overflows
    in every run)."""
    target = fg.GaussianMixture(means=[0.0], covariances=0.0025, labels=[0])
    ds = fg.solve(
        target, fg.CFG(label=0, w=0.0), sampler="sde", t_min=1e-5, n_save=3, error_estimate=True
    )
    kl, tv = float(ds.kl_conditional), float(ds.tv_conditional)
    assert np.isfinite(kl) and kl >= 2 * tv**2
    assert np.isfinite(float(ds.kl_conditional_error))
    a, b = xr.DataArray([np.inf, np.inf, 1.0]), xr.DataArray([np.inf, 2.0, 1.5])
    assert _difference(a, b).values.tolist() == [0.0, np.inf, 0.5]
