"""Run monitors (fpguide.runs.monitors): recorded against closed forms, and acted on (errors say
when, where, what)."""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.special import ndtr

import fpguide as fg
from fpguide.engine.line_sweeps import LineSweeper
from fpguide.runs.monitors import MASS_TOL, MONITORS, WALL_BAND

ONE = fg.GaussianMixture(means=[0.5], covariances=0.3, weights=[1.0], labels=[1])


def test_monitors_of_a_solve_match_the_exact_law():
    """w = 0 from the exact start keeps q = p_t(·|c): the feature width in cells is p_t's 1/(√(2π)
    max p_t) over dx, the wall mass is p_t's mass in the outer bands (both from the closed form),
    the mass balances to round-off and no cell goes negative."""
    ds = fg.solve(
        ONE,
        fg.CFG(label=1, w=0.0),
        sampler="sde",
        start="exact",
        T=2.0,
        n_save=5,
        grid=fg.Grid(-8.0, 8.0, 640),
    )
    assert set(MONITORS) <= set(ds.data_vars)
    dx = float(ds.x[1] - ds.x[0])
    fine = np.linspace(-8.0, 8.0, 200001)
    for k, t in enumerate(ds.t.values):
        peak = np.exp(ONE.log_density(fine, t, label=1)).max()
        assert ds.feature_cells.values[k] == pytest.approx(
            1.0 / (math.sqrt(2 * math.pi) * peak * dx), rel=2e-3
        )
    # p_T(·|c) under OU at T = 2
    mean, var = 0.5 * math.exp(-2.0), 0.3 * math.exp(-4.0) + 1.0 - math.exp(-4.0)
    band = WALL_BAND * 16.0
    exact = ndtr((-8.0 + band - mean) / math.sqrt(var)) + ndtr((mean - 8.0 + band) / math.sqrt(var))
    assert ds.wall_mass.values[0] == pytest.approx(exact, rel=1e-3)
    assert np.all(np.abs(ds.mass_balance_error.values) < 1e-13)
    assert np.all(ds.min_density.values >= 0.0)
    assert np.all(ds.peclet.values[1:] > 0) and np.all(ds.cfl.values[1:] > 0)
    assert ds.feature_cells.attrs["long_name"].startswith("cells across")


def test_cfl_and_peclet_numbers_of_a_uniform_drift():
    """v = c and D constant: CFL = c·dt/dx and cell Péclet = c·dx/D exactly."""
    grid = fg.Grid(-10.0, 10.0, 400)
    q0 = np.exp(-(grid.centres**2) / 2) / math.sqrt(2 * math.pi)
    c, D, dt = 1.5, 0.2, 0.01
    out = fg.evolve(
        q0,
        lambda x, t: np.full_like(x, c),
        grid=grid,
        t_span=(0.0, 1.0),
        diffusion=D,
        max_step=dt,
        t_eval=[0.0, 0.5, 1.0],
    )
    assert out.cfl[1:] == pytest.approx(c * dt / grid.dx, rel=1e-9)
    assert out.peclet[1:] == pytest.approx(c * grid.dx / D, rel=1e-9)
    assert np.all(out.min_density >= 0)
    plain = fg.evolve(
        q0, lambda x, t: np.full_like(x, c), grid=grid, t_span=(0.0, 1.0), max_step=dt
    )
    assert np.all(np.isinf(plain.peclet[1:]))


def _break_after(monkeypatch, when: float, damage):
    """Make the advection sweeps damage the density (``damage(q)``, in place) once they pass time
    ``when``."""
    advect = LineSweeper.advect

    def broken(self, q, axis, ta, tb, *frame):
        q = advect(self, q, axis, ta, tb, *frame)
        if tb > when:
            damage(q)
        return q

    monkeypatch.setattr(LineSweeper, "advect", broken)


@pytest.mark.parametrize("value, shown", [(np.nan, "nan"), (-1e-3, "-0.001")])
def test_a_broken_density_stops_the_run_saying_when_and_where(monkeypatch, value, shown):
    grid = fg.Grid(-7.0, 7.0, 140)

    def damage(q):
        q[..., 90] = value

    _break_after(monkeypatch, 4.0, damage)
    with pytest.raises(
        fg.NumericalError,
        match=rf"became {shown} at t=\d.*, x=\(2\.05\).*reduce "
        r"the step",
    ) as err:
        fg.solve(ONE, fg.CFG(label=1, w=2.0), grid=grid, T=5.0)
    assert "diffusion time t=" in str(err.value)  # the engine's time explained as the sampler's


def test_mass_lost_by_a_step_stops_the_run(monkeypatch):
    """A step that loses mass (which the conservative schemes never do) fails the run, naming
    when."""

    def damage(q):
        q *= 1.0 - 100 * MASS_TOL

    _break_after(monkeypatch, 4.0, damage)
    with pytest.raises(fg.NumericalError, match=r"drifted by -?\d.* by t=.*smaller steps"):
        fg.solve(ONE, fg.CFG(label=1, w=2.0), grid=fg.Grid(-7.0, 7.0, 140), T=5.0)


def test_outflow_close_to_the_tolerance_warns():
    """Outflow within 10x of wall_tol warns; far below it, nothing; above it, WallMassError (the
    engine's)."""
    far = fg.GaussianMixture(means=[3.5], covariances=0.3, weights=[1.0], labels=[1])
    call = {
        "target": far,
        "guidance": fg.CFG(label=1, w=1.0),
        "sampler": "sde",
        "grid": fg.Grid(-5.0, 5.0, 256),
        "n_save": 3,
    }
    escaped = float(fg.solve(**call, wall_tol=1.0).outflow[-1])
    assert escaped > 1e-8
    with pytest.warns(fg.WallMassWarning, match="within 10x of wall_tol"):
        fg.solve(**call, wall_tol=2 * escaped)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fg.WallMassWarning)
        fg.solve(**call, wall_tol=20 * escaped)
    with pytest.raises(fg.WallMassError):
        fg.solve(**call, wall_tol=0.5 * escaped)


def test_sweeps_and_reductions_carry_their_monitors():
    pair = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[0, 1])
    ds = fg.solve(pair, fg.CFG(label=1, w=[0.0, 4.0]), n_save=3)
    assert ds.cfl.dims == ("w", "t") and ds.cfl.isel(t=-1).min() > 0
    # guidance pushes
    assert np.all(ds.cfl.isel(w=1, t=slice(1, None)) > ds.cfl.isel(w=0, t=slice(1, None)))
    d5 = fg.GaussianMixture(
        means=[[0.5] + [0.0] * 4, [-0.5] + [0.0] * 4],
        covariances=1.0,
        weights=[0.5, 0.5],
        labels=[1, 0],
    )
    reduced = fg.solve(d5, fg.CFG(label=1, w=2.0), n_save=3)
    assert json.loads(reduced.attrs["run"])["reduction"]["solved"] == 1
    assert set(MONITORS) <= set(reduced.data_vars)
    assert np.all(np.isinf(ds.peclet.isel(t=slice(1, None))))  # the ODE has no diffusion
