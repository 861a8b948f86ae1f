"""VE and EDM processes, solved in the frame y = x/sqrt(1 + σ²) where they are
variance-preserving."""

import json
import math

import numpy as np
import pytest

import fpguide as fg
from fpguide.results.exact import plain_frame_quantiles

TWO = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1])
CASES = [(fg.VE(), 1.0, 1e-3), (fg.EDM(), 80.0, 0.002)]


@pytest.mark.parametrize("process, T, t_min", CASES, ids=["VE", "EDM"])
def test_frame_is_the_variance_preserving_process(process, T, t_min):
    """Y = X/s with s² = 1 + σ_x²: m_y = 1/s, σ_y = σ_x/s, f_y = −s'/s, g_y² = (dσ_x²/dt)/s² (Itô
    for X/s)."""
    t = np.geomspace(t_min, T, 50)
    var_x = process.variance(t)
    s = np.sqrt(1.0 + var_x)
    np.testing.assert_allclose(process.frame_scale(t), s, rtol=1e-14)
    np.testing.assert_allclose(process.m(t), 1.0 / s, rtol=1e-13)
    np.testing.assert_allclose(process.sigma(t), np.sqrt(var_x) / s, rtol=1e-12)
    h = 1e-4 * t
    ds_dt = (np.sqrt(1.0 + process.variance(t + h)) - np.sqrt(1.0 + process.variance(t - h))) / (
        2 * h
    )
    np.testing.assert_allclose(process.f(t), -ds_dt / s, rtol=1e-6)
    dvar_dt = (process.variance(t + h) - process.variance(t - h)) / (2 * h)
    np.testing.assert_allclose(process.g2(t), dvar_dt / s**2, rtol=1e-6)
    np.testing.assert_allclose(process.t_of_log_snr(process.log_snr(t)), t, rtol=1e-10)
    assert process.prior_std(T) == pytest.approx(math.sqrt(var_x[-1]) / s[-1], rel=1e-14)


@pytest.mark.parametrize("process, T, t_min", CASES, ids=["VE", "EDM"])
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_unguided_exact_start_keeps_the_noised_law(gm, process, T, t_min, sampler):
    ds = fg.solve(
        gm,
        fg.CFG(label=1, w=0.0),
        sampler=sampler,
        process=process,
        T=T,
        t_min=t_min,
        start="exact",
        n_save=4,
    )
    grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    cond = fg.CFG(label=1, w=0.0).bind(gm).cond
    for k, t in enumerate(ds.t.values):
        reference = grid.cell_averages(lambda x: cond.log_density(x, float(t), process))
        assert np.abs(ds.density.values[k] - reference).sum() * grid.dx < 5e-4
    np.testing.assert_allclose(ds.frame_scale.values, process.frame_scale(ds.t.values))


@pytest.mark.parametrize("process, T, t_min", CASES, ids=["VE", "EDM"])
def test_probability_flow_against_characteristics_in_the_plain_frame(um, process, T, t_min):
    """The guided probability-flow ODE of X itself, dX/dt = −½ (dσ²/dt) s_w(X, t), integrated from
    prior quantiles (N(0, σ(T)²)) with tight tolerances: the output quantiles, divided by s(t_min),
    are those of the grid's output, and not without that division."""
    w = 3.0
    levels = np.linspace(0.02, 0.98, 25)
    y_out = plain_frame_quantiles(fg.CFG(label=1, w=w).bind(um), process, T, t_min, levels)

    ds = fg.solve(
        um, fg.CFG(label=1, w=w), sampler="ode", process=process, T=T, t_min=t_min, n_save=2
    )
    grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    cdf = np.concatenate([[0.0], np.cumsum(ds.density.values[-1]) * grid.dx])
    errors = [
        np.max(np.abs(np.interp(y, grid.faces, cdf) - levels))
        for y in (y_out, y_out * float(process.frame_scale(t_min)))
    ]
    # measured 3.8e-7 / 7.6e-7 (VE / EDM); unscaled 8.8e-6 / 2.3e-5
    assert errors[0] < 5e-6 < errors[1]


def test_ve_sde_against_particles(gm):
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve(gm, guide, sampler="sde", process=fg.VE(), T=1.0, t_min=1e-3, n_save=3)
    ps = fg.sample(
        gm,
        guide,
        sampler="sde",
        process=fg.VE(),
        T=1.0,
        t_min=1e-3,
        n_save=3,
        n=20_000,
        seed=2,
        log_snr_step=0.03,
    )
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    assert "frame_scale" in ps and "frame_scale" not in fg.solve(gm, guide, n_save=2)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: fg.VE(sigma_min=1.0, sigma_max=0.5), ValueError, "sigma_max must be > sigma_min"),
        (lambda: fg.VE(sigma_min=-1.0), ValueError, "sigma_min must be > 0"),
        (
            lambda: fg.solve(TWO, fg.CFG(label=1, w=1.0), process="VE", T=2.0),
            ValueError,
            "T must be <= 1 for the VE process",
        ),
        (
            lambda: fg.solve(TWO, fg.CFG(label=1, w=1.0), process="VP-ish"),
            ValueError,
            "process must be one of",
        ),
    ],
)
def test_bad_process_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
