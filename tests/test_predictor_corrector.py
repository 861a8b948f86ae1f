"""Predictor–corrector guidance: the split chain against closed forms, its particles, and its
continuous limit."""

import json
import math

import numpy as np
import pytest

import fpguide as fg
from fpguide import PredictorCorrector
from fpguide.results.exact import predictor_corrector_gaussian_moments


def _grid(ds):
    return fg.Grid(**json.loads(ds.attrs["config"])["grid"])


def test_without_corrector_it_is_the_conditional_flow(gm):
    ds = fg.solve_pc(gm, fg.CFG(label=1, gamma=3.0), PredictorCorrector(8, langevin=0.0))
    ref = fg.solve(gm, fg.CFG(label=1, w=0.0), sampler="ode", grid=_grid(ds), t_eval=ds.t.values)
    assert np.abs(ds.density.values - ref.density.values).sum(axis=1).max() * _grid(ds).dx < 1e-4


def test_linear_gaussian_chain_against_exact_moments():
    """p(x|c) = N(μ_c, a), p(x) = N(0, b) under OU: the predictor's moments follow linear ODEs, the
    corrector is an Ornstein–Uhlenbeck process dX = (αX + β) dℓ + sqrt(2) dB at frozen t, relaxing
    exactly to N(−β/α, −1/α)."""
    mu_c, a, b, gamma, rho, T = 1.0, 0.5, 2.0, 2.5, 0.7, 3.0
    guide = fg.CFG(gamma=gamma, cond=fg.GaussianMixture(means=[mu_c], covariances=a))
    pc = PredictorCorrector(6, langevin=rho)
    ds = fg.solve_pc(fg.GaussianMixture(means=[0.0], covariances=b), guide, pc, T=T, t_min=1e-2)

    mean, var = predictor_corrector_gaussian_moments(ds.t.values, mu_c, a, b, gamma, rho, T)
    np.testing.assert_allclose(ds["mean"].values, mean, atol=1e-5)
    # measured 1.1e-4: the corrector's splitting
    np.testing.assert_allclose(ds.variance.values, var, rtol=2.5e-4)


@pytest.mark.parametrize("target, t_min", [("gm", 0.01), ("um", 0.05)])
def test_chain_against_its_particles(request, target, t_min):
    law = request.getfixturevalue(target)
    guide, pc = fg.CFG(label=1, gamma=3.0), PredictorCorrector(10, langevin=1.0)
    ds = fg.solve_pc(law, guide, pc, T=2.0, t_min=t_min)
    ps = fg.sample_pc(law, guide, pc, T=2.0, t_min=t_min, n=20_000, seed=4)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    assert json.loads(ds.attrs["run"])["mass_error"] < 1e-12


def test_splitting_converges_at_first_order_to_the_eta_sampler(gm):
    """C∘P → the η-sampler with η² = ρ and w = ρ(γ − 1)/(1 + ρ): the gap halves as the steps
    double."""
    guide, rho = fg.CFG(label=1, gamma=3.0), 0.5
    eta, limit = PredictorCorrector(1, rho).continuous_limit(guide)
    assert eta == pytest.approx(math.sqrt(rho)) and limit.w == pytest.approx(rho * 2.0 / 1.5)
    gaps = []
    for steps in (10, 20, 40):
        ds = fg.solve_pc(gm, guide, PredictorCorrector(steps, rho), T=2.0)
        ref = fg.solve(gm, limit, sampler="sde", eta=eta, grid=_grid(ds), T=2.0, n_save=2)
        gaps.append(np.abs(ds.density.values[-1] - ref.density.values[-1]).sum() * _grid(ds).dx)
    rates = np.log2(np.array(gaps[:-1]) / gaps[1:])
    assert ((rates > 0.8) & (rates < 1.2)).all(), (gaps, rates)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: PredictorCorrector(0), ValueError, "steps must be >= 1"),
        (lambda: PredictorCorrector(5, langevin=-0.1), ValueError, "langevin must be >= 0"),
        (
            lambda: PredictorCorrector(5, langevin=2.0).continuous_limit(fg.CFG(label=1, w=1.0)),
            ValueError,
            "only for langevin <= 1",
        ),
        (
            lambda: fg.solve_pc(
                fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1]),
                fg.CFG(label=1, w=1.0, schedule=fg.schedules.Interval(0.1, 1.0)),
                PredictorCorrector(5),
            ),
            ValueError,
            "schedule must be None",
        ),
        (
            lambda: fg.solve_pc(
                fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1]),
                fg.CFG(label=1, w=1.0),
                5,
            ),
            TypeError,
            "pc must be a fpguide.PredictorCorrector",
        ),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()
