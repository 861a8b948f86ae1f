"""solve() against exact references: the conditional law at w = 0, linear-Gaussian moment ODEs,
characteristics."""

import importlib
import json
import math

import numpy as np
import pytest
from moment_odes import linear_gaussian_moments
from scipy.special import ndtr
from scipy.stats import norm

import fpguide as fg
from fpguide.grids.autogrid import WIDEN_FACTOR
from fpguide.results.exact import characteristic_entropy, characteristic_masses


def _grid(ds):
    return fg.Grid(**json.loads(ds.attrs["config"])["grid"])


@pytest.mark.parametrize("sampler, tol", [("ode", 1e-4), ("sde", 3e-4)])
@pytest.mark.parametrize("which", ["gm", "um"])
def test_unguided_exact_start_stays_on_the_conditional_law(which, sampler, tol, request):
    """w = 0 from p_T(·|c): q(·, t) = p_t(·|c) at every saved t (ODE to the remap's accuracy, SDE to
    its splitting and diffusion-kernel accuracy)."""
    target = request.getfixturevalue(which)
    ds = fg.solve(target, fg.CFG(label=1, w=0.0), sampler=sampler, start="exact", T=2.0, n_save=9)
    g = _grid(ds)
    for k, t in enumerate(ds.t.values):
        ref = g.cell_averages(lambda x: target.log_density(x, t, label=1))
        assert np.abs(ds.density.values[k] - ref).sum() * g.dx < tol, (t, k)


def test_sde_error_at_w0_converges_in_dx(gm):
    """With short steps (so the splitting error is negligible) the SDE error falls at least 4x
    (second order) each time dx halves; the diffusion kernels are fourth order except on the
    shortest steps."""
    errors = []
    for n in (64, 128, 256):
        ds = fg.solve(
            gm,
            fg.CFG(label=1, w=0.0),
            sampler="sde",
            start="exact",
            T=2.0,
            n_save=2,
            grid=fg.Grid(-10.0, 10.0, n),
            log_snr_step=0.0125,
        )
        g = _grid(ds)
        ref = g.cell_averages(lambda x: gm.log_density(x, ds.t.values[-1], label=1))
        errors.append(np.abs(ds.density.values[-1] - ref).sum() * g.dx)
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 4.0), (errors, ratios)


@pytest.mark.parametrize("sampler, tol_var", [("ode", 3e-5), ("sde", 5e-4)])
@pytest.mark.parametrize("w", [1.0, 4.0])
def test_linear_gaussian_guidance_moments(sampler, tol_var, w):
    a, b, mu_c, T = 1.0, 2.0, 0.5, 5.0
    ds = fg.solve(
        fg.GaussianMixture(means=[0.0], covariances=b),
        fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a)),
        sampler=sampler,
        T=T,
    )
    eta = 1.0 if sampler == "sde" else 0.0
    mean, var = linear_gaussian_moments(eta, lambda t: w, a, b, mu_c, T, ds.t.values)
    np.testing.assert_allclose(ds["mean"].values, mean, atol=2e-5)
    np.testing.assert_allclose(ds["variance"].values, var, atol=tol_var)


def _independent_gm_drift(w, T):
    """Probability-flow drift of ½N(−1,1) + ½N(1,1) guided to +1 under OU, written with scipy
    only."""

    def drift(x, tau):
        t = T - tau
        m = math.exp(-t)  # components stay unit-variance: m² + σ² = 1
        plus, minus = norm.pdf(x, m, 1.0), norm.pdf(x, -m, 1.0)
        s_cond = -(x - m)
        s_uncond = (plus * -(x - m) + minus * -(x + m)) / (plus + minus)
        return x + (1 + w) * s_cond - w * s_uncond

    return drift


@pytest.mark.parametrize("w", [3.0])
def test_ode_against_characteristics(gm, w):
    T, t_min = 10.0, 1e-3
    ds = fg.solve(gm, fg.CFG(label=1, w=w), sampler="ode", T=T, t_min=t_min)
    g, drift = _grid(ds), _independent_gm_drift(w, T)
    exact = characteristic_masses(drift, ndtr, g.faces, (0.0, T - t_min))
    assert np.abs(ds.density.values[-1] * g.dx - exact).sum() < 1e-3
    entropy = characteristic_entropy(drift, lambda z: z, norm.logpdf, (0.0, T - t_min))
    assert abs(ds.entropy.values[-1] - entropy) < 1e-4


@pytest.mark.parametrize("sampler", ["ode", "sde"])
@pytest.mark.parametrize("which", ["gm", "um"])
@pytest.mark.parametrize("w", [0.0, 3.0, 15.0])
def test_mass_conservation_and_positivity(which, sampler, w, request):
    ds = fg.solve(request.getfixturevalue(which), fg.CFG(label=1, w=w), sampler=sampler, n_save=11)
    start = ds.mass.values[0] + ds.outflow.values[0]
    assert np.max(np.abs(ds.mass.values + ds.outflow.values - start)) < 1e-12
    assert abs(start - 1.0) < 1e-9
    assert float(ds.density.min()) >= 0.0
    assert np.all(np.isfinite(ds.entropy.values))


def test_guidance_lowers_entropy_and_raises_confidence(gm):
    """The first seed's theorem, on the grid: both monotone in w for both samplers."""
    for sampler in ("ode", "sde"):
        runs = [
            fg.solve(gm, fg.CFG(label=1, w=w), sampler=sampler, n_save=2).isel(t=-1)
            for w in (0, 1, 3, 7)
        ]
        entropy = [float(r.entropy) for r in runs]
        confidence = [float(r.confidence) for r in runs]
        assert np.all(np.diff(entropy) < 0) and np.all(np.diff(confidence) > 0)


def test_vp_process_runs_and_matches_its_ou_clock(gm):
    """VP(linear) in t is OU in u = ½∫β: the unguided exact-start law at t_min is p_{t_min}(·|c) of
    the VP process."""
    vp = fg.VP()
    ds = fg.solve(
        gm, fg.CFG(label=1, w=0.0), sampler="sde", process=vp, T=1.0, t_min=1e-3, start="exact"
    )
    g = _grid(ds)
    ref = g.cell_averages(lambda x: gm.log_density(x, 1e-3, vp, label=1))
    assert np.abs(ds.density.values[-1] - ref).sum() * g.dx < 1e-3


@pytest.mark.parametrize("grid", [None, "adaptive"])
def test_an_automatic_grid_that_leaks_is_chosen_again_wider_and_the_failure_recorded(
    gm, grid, monkeypatch
):
    """Mass leaves the first automatic grid (made to happen here): the solve chooses its grid (or
    stages) again, WIDEN_FACTOR times wider from the same pilot (the stages' extents to their cells'
    lattice), and records why in ``widened_after``; a grid the user gave is not retried."""
    solve_module = importlib.import_module("fpguide.runs.solve")
    evolve, evolve_in_stages, tried = solve_module.evolve, solve_module.evolve_in_stages, []

    def leaks_first(real):
        def run(q0, drift, *args, **kwargs):
            grid = kwargs["grid"] if "grid" in kwargs else kwargs["grids"][0]
            tried.append(grid)
            if len(tried) == 1:
                raise fg.WallMassError("mass left the grid (a test)")
            return real(q0, drift, *args, **kwargs)

        return run

    monkeypatch.setattr(solve_module, "evolve", leaks_first(evolve))
    monkeypatch.setattr(solve_module, "evolve_in_stages", leaks_first(evolve_in_stages))
    target = (
        gm
        if grid is None
        else fg.GaussianMixture(means=[[-1.0, 0.0], [1.0, 0.0]], covariances=0.5, labels=[0, 1])
    )
    ds = fg.solve(target, fg.CFG(label=1, w=1.0), t_min=0.05, n_save=3, grid=grid)
    run = json.loads(ds.attrs["run"])
    assert run["widened_after"] == ["mass left the grid (a test)"]
    spans = [[axis.upper - axis.lower for axis in getattr(g, "axes", [g])] for g in tried[:2]]
    assert np.allclose(np.divide(spans[1], spans[0]), WIDEN_FACTOR, rtol=0.05), spans
    tried.clear()
    with pytest.raises(fg.WallMassError, match="a test"):
        fg.solve(gm, fg.CFG(label=1, w=1.0), t_min=0.05, n_save=3, grid=fg.Grid(-6.0, 6.0, 256))
    assert len(tried) == 1
