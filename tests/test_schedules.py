"""Guidance weight schedules w(t) = w·p(t): guidance intervals, ramps, steps and user profiles."""

import json
import math

import numpy as np
import pytest
from moment_odes import linear_gaussian_moments

import fpguide as fg
from fpguide.schedules import Cosine, Custom, Interval, Linear, Step

T, T_MIN = 10.0, 1e-3


@pytest.mark.parametrize(
    "schedule",
    [
        Interval(T_MIN, T),
        Linear(T, 1.0, T_MIN, 1.0),
        Cosine(T_MIN, 1.0, 1.0, 1.0),
        Step(0.5, before=1.0, after=1.0),
        lambda t: 1.0,
    ],
    ids=["full interval", "flat linear", "flat cosine", "flat step", "callable"],
)
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_schedules_that_are_one_everywhere_reproduce_plain_cfg(um, schedule, sampler):
    plain = fg.solve(um, fg.CFG(label=1, w=3.0), sampler=sampler, n_save=3)
    scheduled = fg.solve(um, fg.CFG(label=1, w=3.0, schedule=schedule), sampler=sampler, n_save=3)
    breaks = fg.CFG(label=1, w=3.0, schedule=schedule).schedule.breakpoints()
    if all(b in (T, T_MIN) for b in breaks):  # no extra step boundaries: the same computation
        np.testing.assert_array_equal(scheduled.density.values, plain.density.values)
    else:  # the breakpoint adds a step boundary: the same solution to the solver's accuracy
        assert (
            np.abs(scheduled.density.values[-1] - plain.density.values[-1]).sum() * _dx(plain)
            < 1e-4
        )


def _dx(ds):
    return fg.Grid(**json.loads(ds.attrs["config"])["grid"]).dx


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_no_guidance_before_the_interval(gm, sampler):
    """Guidance only for t ∈ [0.05, 0.5], from the exact p_T(·|c): before t = 0.5 the density stays
    p_t(·|c)."""
    guide = fg.CFG(label=1, w=5.0, schedule=Interval(0.05, 0.5))
    ds = fg.solve(gm, guide, sampler=sampler, start="exact", T=2.0, t_eval=[1.0, 0.5, 0.2])
    g = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    for t in (2.0, 1.0, 0.5):
        ref = g.cell_averages(lambda x: gm.log_density(x, t, label=1))
        assert np.abs(ds.density.sel(t=t).values - ref).sum() * g.dx < 3e-4, t
    ref = g.cell_averages(lambda x: gm.log_density(x, 0.2, label=1))
    # guided in between: no longer p_t(·|c)
    assert np.abs(ds.density.sel(t=0.2).values - ref).sum() * g.dx > 1e-2


@pytest.mark.parametrize(
    "schedule", [Interval(0.1, 1.0), Cosine(3.0, 0.0, 0.05, 1.0)], ids=["interval", "cosine"]
)
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_linear_gaussian_moments_under_a_schedule(schedule, sampler):
    """p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b) under OU: mean and variance ODEs with w(t) =
    w·p(t)."""
    a, b, mu_c, w, horizon = 1.0, 2.0, 0.5, 4.0, 5.0
    ds = fg.solve(
        fg.GaussianMixture(means=[0.0], covariances=b),
        fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a), schedule=schedule),
        sampler=sampler,
        T=horizon,
    )
    eta = 1.0 if sampler == "sde" else 0.0
    mean, var = linear_gaussian_moments(
        eta, lambda t: w * schedule(t), a, b, mu_c, horizon, ds.t.values, schedule.breakpoints()
    )
    np.testing.assert_allclose(ds["mean"].values, mean, atol=3e-5)
    np.testing.assert_allclose(ds["variance"].values, var, atol=5e-4)


def test_scheduled_grid_agrees_with_particles(um):
    guide = fg.CFG(label=1, w=7.0, schedule=Step(0.2, before=0.0, after=1.0))
    ds = fg.solve(um, guide, sampler="sde", n_save=3)
    ps = fg.sample(um, guide, sampler="sde", n=20_000, seed=5, n_save=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_schedule_is_recorded_and_rebuilt(um):
    guide = fg.CFG(label=1, w=3.0, schedule=Linear(T, 0.0, T_MIN, 1.0))
    ds = fg.solve(um, guide, sampler="ode", n_save=2)
    spec = json.loads(ds.attrs["config"])["guidance"]
    assert spec["schedule"] == {
        "type": "Linear",
        "t_from": T,
        "p_from": 0.0,
        "t_to": T_MIN,
        "p_to": 1.0,
    }
    again = fg.solve(um, fg.CFG.from_dict(spec), sampler="ode", n_save=2)
    np.testing.assert_array_equal(again.density.values, ds.density.values)
    custom = fg.CFG(label=1, w=3.0, schedule=Custom(math.cos)).to_dict()
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        fg.CFG.from_dict(custom)


@pytest.mark.parametrize(
    "process", [fg.OU(), fg.VP(), fg.VP("cosine")], ids=["OU", "VP", "VP cosine"]
)
def test_interval_in_sigma_is_the_interval_of_t_where_sigma_lies(process):
    t_lo, t_hi = 0.02, 0.6
    interval = Interval.from_sigma(float(process.sigma(t_lo)), float(process.sigma(t_hi)), process)
    assert interval.t_lo == pytest.approx(t_lo, rel=1e-10) and interval.t_hi == pytest.approx(
        t_hi, rel=1e-10
    )
    for sigma in (1.0, 0.0, -0.5):
        with pytest.raises(ValueError, match=r"sigma_hi must lie in \(0, 1\)"):
            Interval.from_sigma(0.1, sigma, process)


@pytest.mark.parametrize(
    "schedule, error, message",
    [
        (Interval(1e-4, 1.0), ValueError, r"outside the run's \[t_min, T\]"),
        (Step(20.0), ValueError, r"outside the run's \[t_min, T\]"),
        (lambda t: float("nan"), ValueError, "finite profile in"),
        (lambda t: 2.0, ValueError, r"profile in \[0, 1\]"),
        (lambda t: "high", ValueError, "finite profile"),
    ],
)
def test_bad_schedules_in_a_run(gm, schedule, error, message):
    for run in (fg.solve, fg.sample):
        with pytest.raises(error, match=message):
            run(gm, fg.CFG(label=1, w=2.0, schedule=schedule), sampler="ode", n_save=2)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: Interval(1.0, 0.5), ValueError, "t_lo < t_hi"),
        (lambda: Interval(-1.0, 0.5), ValueError, "t_lo must be a diffusion time > 0"),
        (lambda: Linear(1.0, 0.0, 1.0, 1.0), ValueError, "t_from != t_to"),
        (lambda: Step("soon"), TypeError, "t_switch must be a real number"),
        (lambda: fg.CFG(label=1, w=1.0, schedule=3.0), TypeError, "schedule must be None"),
        (
            lambda: fg.CFG.from_dict({"w": 1.0, "label": 1, "schedule": {"type": "Sawtooth"}}),
            ValueError,
            "unknown schedule type",
        ),
    ],
)
def test_bad_schedule_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()
