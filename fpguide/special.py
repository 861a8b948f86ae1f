"""Numerically stable special functions, compiled with numba.

All of fpguide's closed-form densities go through these scalar kernels, so they are accurate in the far tails and as
the diffusion time goes to zero:

* ``log_ndtr(z)``  = log Φ(z), the log of the standard normal CDF, for every finite z;
* ``log_diff_ndtr(u, v)`` = log(Φ(u) − Φ(v)) for u > v, together with (φ(u) − φ(v)) / (Φ(u) − Φ(v)),
  the x-derivative factor of the noised uniform density.
"""

from __future__ import annotations

import math

import numba as nb

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TAIL = -30.0  # below this, log Φ uses its asymptotic series (erfc would leave the normal range)
_SMALL_GAP = 0.05  # h·(1+|c|) below this: Φ(c+h) − Φ(c−h) by its Hermite series


@nb.njit(cache=True, fastmath=False)
def log_ndtr(z: float) -> float:
    """log Φ(z) to full double precision: erfc in the bulk, the asymptotic Mills series for z < −30."""
    if z > 0.0:
        return math.log1p(-0.5 * math.erfc(z * _SQRT_HALF))
    if z >= _TAIL:
        return math.log(0.5 * math.erfc(-z * _SQRT_HALF))
    # Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …); seven terms reach 1e-17 at |z| ≥ 30.
    r = 1.0 / (z * z)
    series = 1.0 + r * (-1.0 + r * (3.0 + r * (-15.0 + r * (105.0 + r * (-945.0 + r * 10395.0)))))
    return -0.5 * z * z - math.log(-z) - LOG_SQRT_2PI + math.log(series)


@nb.njit(cache=True)
def log_npdf(z: float) -> float:
    """log φ(z)."""
    return -0.5 * z * z - LOG_SQRT_2PI


@nb.njit(cache=True)
def log_diff_ndtr(u: float, v: float) -> tuple[float, float]:
    """Return ``(log(Φ(u) − Φ(v)), (φ(u) − φ(v)) / (Φ(u) − Φ(v)))`` for u > v, stably.

    Three regimes: both arguments in one tail (reflect the upper tail onto the lower one and use
    log Φ(a) + log(−expm1(log Φ(b) − log Φ(a)))), arguments straddling zero (log1p of the two small tails), and a
    small gap h = (u − v)/2 around c = (u + v)/2, where the difference is φ(c)·2h·S with the Hermite series
    S = 1 + He₂(c)h²/6 + He₄(c)h⁴/120 + He₆(c)h⁶/5040 (no cancellation at all).
    """
    c = 0.5 * (u + v)
    h = 0.5 * (u - v)
    if h * (1.0 + abs(c)) < _SMALL_GAP:
        c2 = c * c
        h2 = h * h
        he2 = c2 - 1.0
        he4 = c2 * c2 - 6.0 * c2 + 3.0
        he6 = c2 * c2 * c2 - 15.0 * c2 * c2 + 45.0 * c2 - 15.0
        s = 1.0 + h2 * (he2 / 6.0 + h2 * (he4 / 120.0 + h2 * he6 / 5040.0))
        ds = h2 * (2.0 * c / 6.0 + h2 * ((4.0 * c2 * c - 12.0 * c) / 120.0
                                          + h2 * (6.0 * c2 * c2 * c - 60.0 * c2 * c + 90.0 * c) / 5040.0))
        return log_npdf(c) + math.log(2.0 * h) + math.log(s), -c + ds / s
    if v >= 0.0:  # both in the upper tail: Φ(u) − Φ(v) = Φ(−v) − Φ(−u)
        hi, lo = -v, -u
    else:
        hi, lo = u, v
    if hi > 0.0:  # v < 0 < u: one minus two tails, each below ½; the difference is at least Φ(h) − Φ(−h) here
        tails = 0.5 * (math.erfc(u * _SQRT_HALF) + math.erfc(-v * _SQRT_HALF))
        grad = (math.exp(-0.5 * u * u) - math.exp(-0.5 * v * v)) / (_SQRT_2PI * (1.0 - tails))
        return math.log1p(-tails), grad
    lhi = log_ndtr(hi)
    logd = lhi + math.log(-math.expm1(log_ndtr(lo) - lhi))
    grad = math.exp(log_npdf(u) - logd) - math.exp(log_npdf(v) - logd)
    return logd, grad
