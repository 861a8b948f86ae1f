"""The sampler family between the probability-flow ODE (η = 0) and the reverse SDE (η = 1)."""

import json

import numpy as np
import pytest
from moment_odes import linear_gaussian_moments

import fpguide as fg


def _grid(ds):
    return fg.Grid(**json.loads(ds.attrs["config"])["grid"])


@pytest.mark.parametrize("which", ["gm", "um"])
def test_eta_ends_reproduce_the_ode_and_the_sde(which, request):
    target, guide = request.getfixturevalue(which), fg.CFG(label=1, w=3.0)
    for sampler, eta in (("ode", 0.0), ("sde", 1.0)):
        plain = fg.solve(target, guide, sampler=sampler, n_save=3)
        family = fg.solve(target, guide, sampler="sde", eta=eta, n_save=3)
        np.testing.assert_array_equal(family.density.values, plain.density.values)
        assert json.loads(family.attrs["config"])["eta"] == eta


@pytest.mark.parametrize("eta", [0.3, 0.7])
@pytest.mark.parametrize("which", ["gm", "um"])
def test_unguided_family_member_stays_on_the_conditional_law(which, eta, request):
    """Every η has the marginals p_t(·|c) of the true score: w = 0 from p_T(·|c) stays on them at
    every saved t."""
    target = request.getfixturevalue(which)
    ds = fg.solve(
        target, fg.CFG(label=1, w=0.0), sampler="sde", eta=eta, start="exact", T=2.0, n_save=7
    )
    g = _grid(ds)
    for k, t in enumerate(ds.t.values):
        ref = g.cell_averages(lambda x: target.log_density(x, t, label=1))
        assert np.abs(ds.density.values[k] - ref).sum() * g.dx < 3e-4, (t, k)


@pytest.mark.parametrize("eta", [0.5])
def test_linear_gaussian_guidance_moments_for_eta(eta):
    """p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b) under OU: the drift x + (1 + η²) s_w is linear; mean
    and variance against their ODEs (``moment_odes``)."""
    a, b, mu_c, w, T = 1.0, 2.0, 0.5, 3.0, 5.0
    ds = fg.solve(
        fg.GaussianMixture(means=[0.0], covariances=b),
        fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a)),
        sampler="sde",
        eta=eta,
        T=T,
    )
    mean, var = linear_gaussian_moments(eta, lambda t: w, a, b, mu_c, T, ds.t.values)
    np.testing.assert_allclose(ds["mean"].values, mean, atol=2e-5)
    np.testing.assert_allclose(ds["variance"].values, var, atol=5e-4)


def test_eta_family_agrees_with_particles(um):
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve(um, guide, sampler="sde", eta=0.5, n_save=3)
    ps = fg.sample(um, guide, sampler="sde", eta=0.5, n=20_000, seed=21, n_save=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    with pytest.raises(ValueError, match="eta"):
        fg.cross_check(ds, fg.sample(um, guide, sampler="sde", n=200, seed=1, n_save=3))


def test_output_moves_monotonically_from_the_ode_to_the_sde(um):
    """The uniform target at w = 3: the ODE piles mass past the far edge, the SDE keeps it inside;
    the support mass grows with the noise in between."""
    guide = fg.CFG(label=1, w=3.0)
    support = [
        float(fg.solve(um, guide, sampler="sde", eta=eta, n_save=2).support_mass[-1])
        for eta in (0.0, 0.25, 0.5, 1.0)
    ]
    assert np.all(np.diff(support) > 0), support


@pytest.mark.parametrize(
    "sampler, eta, error, message",
    [
        ("ode", 0.5, ValueError, "eta must be 0"),
        ("sde", 1.5, ValueError, r"eta must lie in \[0, 1\]"),
        ("sde", -0.1, ValueError, r"eta must lie in \[0, 1\]"),
        ("sde", float("nan"), ValueError, "eta must be finite"),
        ("sde", "0.5", TypeError, "eta must be a real number"),
    ],
)
def test_bad_eta(gm, sampler, eta, error, message):
    for run in (fg.solve, fg.sample):
        with pytest.raises(error, match=message):
            run(gm, fg.CFG(label=1, w=1.0), sampler=sampler, eta=eta)
