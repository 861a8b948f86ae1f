"""Closed-form noised targets against independent evaluations (scipy, quadrature, finite
differences)."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

import fpguide as fg

OU = fg.OU()


def test_gaussian_mixture_against_scipy(gm):
    x = np.linspace(-12, 12, 97)
    for t in (1e-6, 0.1, 2.0):
        m, s = np.exp(-t), np.sqrt(1 - np.exp(-2 * t))
        comps = [norm(mu * m, np.sqrt(m * m + s * s)) for mu in (-1.0, 1.0)]
        ref = np.log(0.5 * comps[0].pdf(x) + 0.5 * comps[1].pdf(x))
        np.testing.assert_allclose(gm.log_density(x, t), ref, rtol=1e-13)
        np.testing.assert_allclose(gm.log_density(x, t, label=1), comps[1].logpdf(x), rtol=1e-13)
        post = 0.5 * comps[1].pdf(x) / np.exp(ref)
        np.testing.assert_allclose(gm.class_posterior(x, t, 1), post, rtol=1e-12)


@pytest.mark.parametrize("t", [1e-6, 1e-3, 0.5, 5.0])
def test_uniform_mixture_against_quadrature(um, t):
    m, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    for x in (-2.5, -1.5, -1.0, 0.0, 1.0 + 1e-4, 1.5, 2.0, 2.3):
        dens = sum(
            0.5
            * quad(lambda y: norm.pdf(x, m * y, s), a, b, epsabs=0, epsrel=1e-12, points=[x / m])[0]
            for a, b in ((-2.0, -1.0), (1.0, 2.0))
        )
        if dens > 1e-250:
            assert um.log_density(np.array([x]), t)[0] == pytest.approx(
                np.log(dens), rel=1e-9, abs=1e-9
            )


@pytest.mark.parametrize("t", [1e-6, 1e-3, 0.3, 8.0])
def test_scores_are_gradients_and_finite_everywhere(gm, um, t):
    x = np.linspace(-30, 30, 1201)
    for target in (gm, um):
        for label in (None, 1):
            logp, score = target.evaluate(x, t, OU, label)
            assert np.all(np.isfinite(logp)) and np.all(np.isfinite(score))
            h = 1e-6 * np.sqrt(-np.expm1(-2 * t))
            fd = (
                target.log_density(x + h, t, label=label)
                - target.log_density(x - h, t, label=label)
            ) / (2 * h)
            np.testing.assert_allclose(score, fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(score)).max())


@pytest.mark.parametrize("t", [1e-3, 0.2, 3.0])
def test_densities_integrate_to_one(gm, um, t):
    for target in (gm, um):
        total = quad(
            lambda x: np.exp(target.log_density(np.array([x]), t)[0]),
            -15,
            15,
            limit=400,
            points=[-2, -1, 1, 2],
            epsabs=1e-13,
        )[0]
        assert total == pytest.approx(1.0, abs=1e-9)


def test_condition_supports_and_serialisation(um, gm):
    assert um.supports() == [(-2.0, -1.0), (1.0, 2.0)]
    assert um.supports(1) == [(1.0, 2.0)]
    assert gm.supports() is None
    assert um.condition(1).n_components == 1
    for target in (gm, um):
        assert fg.models.targets.target_from_dict(target.to_dict()) == target


def test_vp_is_ou_in_its_clock():
    for vp in (fg.VP(), fg.VP(schedule="cosine")):
        t = np.linspace(1e-4, 0.9, 50)
        u = vp.clock(t)
        np.testing.assert_allclose(vp.m(t), OU.m(u), rtol=1e-13)
        np.testing.assert_allclose(vp.sigma(t), OU.sigma(u), rtol=1e-12)
        np.testing.assert_allclose(vp.t_of_log_snr(vp.log_snr(t)), t, rtol=1e-10)
        integral = quad(lambda s: float(vp.g2(s)), 0.1, 0.7, epsrel=1e-12)[0]
        assert vp.g2_integral(0.1, 0.7) == pytest.approx(integral, rel=1e-10)
        h = 1e-6
        assert float(vp.f(0.3)) == pytest.approx(
            float((np.log(vp.m(0.3 + h)) - np.log(vp.m(0.3 - h))) / (2 * h)), rel=1e-7
        )
