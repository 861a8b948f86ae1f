"""The stable normal-CDF kernels against scipy and against direct quadrature; the vectorisable
exponential against mpmath."""

import math

import mpmath
import numba as nb
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import log_ndtr as scipy_log_ndtr
from scipy.stats import norm

from fpguide.tools.special import exp_nonpositive, log_diff_ndtr, log_ndtr


@pytest.mark.parametrize(
    "z", [-1e4, -500.0, -40.0, -30.0001, -29.999, -10.0, -1.0, 0.0, 0.5, 5.0, 9.0, 40.0]
)
def test_log_ndtr_matches_scipy(z):
    assert log_ndtr(z) == pytest.approx(scipy_log_ndtr(z), rel=1e-13, abs=1e-300)


def _reference_log_diff(u, v):
    """log ∫_v^u φ by adaptive quadrature of φ relative to its largest value on [v, u]."""
    top = max(norm.logpdf(u), norm.logpdf(v)) if u * v > 0 else norm.logpdf(0.0)
    val, _ = quad(lambda y: math.exp(norm.logpdf(y) - top), v, u, epsabs=0, epsrel=1e-13, limit=200)
    return top + math.log(val)


@pytest.mark.parametrize(
    "u, v",
    [
        (1.0, -1.0),
        (0.3, -0.2),
        (3.0, 2.0),
        (-2.0, -3.0),  # bulk
        (41.0, 40.0),
        (-40.0, -41.0),
        (-35.0, -36.5),
        (38.0, 30.0),  # far tails, both signs
        (1e-3, -1e-3),
        (5.0 + 1e-6, 5.0),
        (-20.0, -20.0 - 1e-7),  # tiny gaps (Hermite series)
        (0.02, -0.01),
        (2.01, 1.99),  # around the series threshold
    ],
)
def test_log_diff_ndtr_against_quadrature(u, v):
    value, grad = log_diff_ndtr(u, v)
    assert value == pytest.approx(_reference_log_diff(u, v), rel=1e-11, abs=1e-12)
    # (φ(u) − φ(v)) / (Φ(u) − Φ(v)) is the derivative of the log-difference along a shift of both
    # arguments
    h = 1e-6 * max(1.0, abs(u))
    fd = (log_diff_ndtr(u + h, v + h)[0] - log_diff_ndtr(u - h, v - h)[0]) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-6)


def test_log_diff_ndtr_is_finite_everywhere():
    for c in np.linspace(-1e3, 1e3, 201):
        for h in (1e-12, 1e-6, 1e-2, 1.0, 50.0):
            value, grad = log_diff_ndtr(c + h, c - h)
            assert math.isfinite(value) and math.isfinite(grad)


def test_log_diff_ndtr_against_mpmath_in_every_regime():
    """Random arguments over the bulk, both far tails and gaps from 1e-9 to 200, against 60-digit
    arithmetic: the log-difference to 1e-13 (relative to max(1, |value|)) and the derivative factor
    to 1e-10 of its larger term."""
    mpmath.mp.dps = 60
    rng = np.random.default_rng(7)
    centres = np.concatenate(
        [rng.uniform(-3, 3, 150), rng.uniform(-60, 60, 150), rng.uniform(-400, 400, 100)]
    )
    halves = 10 ** rng.uniform(-9, 2, centres.size)
    for c, h in zip(centres, halves):
        u, v = c + h, c - h
        big_u, big_v = mpmath.mpf(u), mpmath.mpf(v)
        diff = (
            mpmath.ncdf(big_u) - mpmath.ncdf(big_v)
            if v <= 0
            else mpmath.ncdf(-big_v) - mpmath.ncdf(-big_u)
        )
        terms = (mpmath.npdf(big_u) / diff, mpmath.npdf(big_v) / diff)
        value, grad = log_diff_ndtr(u, v)
        assert abs(value - float(mpmath.log(diff))) <= 1e-13 * max(
            1.0, abs(float(mpmath.log(diff)))
        ), (u, v)
        assert abs(grad - float(terms[0] - terms[1])) <= 1e-10 * float(max(terms)), (u, v)


@nb.njit
def _exp_nonpositive_of(z):
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = exp_nonpositive(z[i])
    return out


def test_exp_nonpositive_against_mpmath():
    """Within one ulp of e^z (mpmath's, correctly rounded) over the normal range, its spacing
    where e^z is subnormal, and 0 below it; −inf and NaN give 0 (the kernels' negligible terms)."""
    rng = np.random.default_rng(5)
    z = np.concatenate([-rng.uniform(0.0, 708.0, 3000), -rng.uniform(0.0, 1.0, 1000), [0.0, -0.0]])
    exact = np.array([float(mpmath.exp(mpmath.mpf(v))) for v in z])
    assert np.all(np.abs(_exp_nonpositive_of(z) - exact) <= np.spacing(exact))
    deep = -rng.uniform(708.0, 746.0, 500)
    exact = np.array([float(mpmath.exp(mpmath.mpf(v))) for v in deep])
    assert np.all(np.abs(_exp_nonpositive_of(deep) - exact) <= 5e-324)
    edge = _exp_nonpositive_of(np.array([-np.inf, np.nan, -746.0, -1e300]))
    assert np.array_equal(edge, np.zeros(4))
