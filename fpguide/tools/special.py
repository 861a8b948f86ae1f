"""Numerically stable special functions, compiled with numba.

All of fpguide's closed-form densities go through these scalar kernels, so they are accurate in the
far tails and as the diffusion time goes to zero:

* ``log_ndtr(z)``  = log Φ(z), the log of the standard normal CDF, for every finite z;
* ``log_diff_ndtr(u, v)`` = log(Φ(u) − Φ(v)) for u > v, together with (φ(u) − φ(v)) / (Φ(u) − Φ(v)),
  the x-derivative factor of the noised uniform density;
* ``exp_nonpositive(z)`` = e^z for z ≤ 0, in arithmetic a compiled loop can vectorise (the mixtures'
  responsibilities).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["EXP_NEGLIGIBLE", "LOG_SQRT_2PI", "exp_nonpositive", "log_diff_ndtr", "log_ndtr"]

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TAIL = -30.0  # below this, log Φ uses its asymptotic series (erfc would leave the normal range)
_SMALL_GAP = 0.05  # h·(1+|c|) below this: Φ(c+h) − Φ(c−h) by its Hermite series
# terms below e^−45 (3e-20) of the leading one are below its last bit: not evaluated
EXP_NEGLIGIBLE = 45.0
# Φ(−9.5) = 1e-21: a tail negligible next to the straddling difference (at least ½)
_NEGLIGIBLE_Z = 9.5
_DIRECT_FROM = -36.0  # from here up, Φ(hi) = ½ erfc(−hi/√2) is a normal double (≥ 1e-284)
_LOG2E = 1.0 / math.log(2.0)
# ln 2 split so that n·_LN2_HI is exact for |n| < 2000 (fdlibm's constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_FLOOR = -745.2  # e^z rounds to zero below this
# 2^−n for n = 0 … 1076 (the last ones subnormal, then zero): the scaling of exp_nonpositive
_POW2_NEG = np.ldexp(1.0, -np.arange(1077))
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))  # 1/13!, …, 1/1!, 1


@nb.njit(cache=True, fastmath=False)
def log_ndtr(z: float) -> float:
    """log Φ(z), the log of the standard normal CDF, to full double precision for every finite z.

    For z > 0, log1p(−½ erfc(z/√2)); for −30 ≤ z ≤ 0, log(½ erfc(−z/√2)); for z < −30, the
    asymptotic Mills series Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …), whose seven terms
    reach 1e-17 at |z| ≥ 30. Compiled with numba (``njit``).

    Parameters
    ----------
    z : float
        The argument.

    Returns
    -------
    float
        log Φ(z).

    Examples
    --------
    >>> import math
    >>> log_ndtr(0.0) == math.log(0.5)
    True
    >>> round(log_ndtr(-40.0), 3)  # Φ(−40) ≈ 1e-350 underflows a double
    -804.608
    """
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

    Four regimes: a small gap h = (u − v)/2 around c = (u + v)/2, where the difference is φ(c)·2h·S
    with the Hermite series S = 1 + He₂(c)h²/6 + He₄(c)h⁴/120 + He₆(c)h⁶/5040 (no cancellation at
    all); arguments straddling zero (log1p of the two small tails); both arguments in one tail (the
    upper tail reflected onto the lower one), with the difference of the two tails taken directly
    while they are in the normal range of erfc (for u − v beyond the small-gap regime the
    cancellation costs at most a few ulps), and log Φ(a) + log(−expm1(log Φ(b) − log Φ(a))) in the
    far tail. Terms below e^{−EXP_NEGLIGIBLE} of the leading one are not evaluated: they cannot
    change it. Compiled with numba (``njit``).

    Parameters
    ----------
    u, v : float
        The arguments, u > v.

    Returns
    -------
    log_diff : float
        log(Φ(u) − Φ(v)).
    grad : float
        (φ(u) − φ(v)) / (Φ(u) − Φ(v)), the derivative of log(Φ(u + s) − Φ(v + s)) in a shift s of
        both arguments (the x-derivative factor of the noised uniform density).
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
        ds = h2 * (
            2.0 * c / 6.0
            + h2
            * (
                (4.0 * c2 * c - 12.0 * c) / 120.0
                + h2 * (6.0 * c2 * c2 * c - 60.0 * c2 * c + 90.0 * c) / 5040.0
            )
        )
        return log_npdf(c) + math.log(2.0 * h) + math.log(s), -c + ds / s
    # one minus two tails, each below ½; the difference is at least Φ(h) − Φ(−h) here
    if v < 0.0 < u:
        tail_u = 0.5 * math.erfc(u * _SQRT_HALF) if u < _NEGLIGIBLE_Z else 0.0
        tail_v = 0.5 * math.erfc(-v * _SQRT_HALF) if v > -_NEGLIGIBLE_Z else 0.0
        grad = (math.exp(-0.5 * u * u) - math.exp(-0.5 * v * v)) / (
            _SQRT_2PI * (1.0 - (tail_u + tail_v))
        )
        return math.log1p(-(tail_u + tail_v)), grad
    # one tail: Φ(u) − Φ(v) = Φ(hi) − Φ(lo) with hi = u, lo = v (lower tail) or hi = −v, lo = −u
    # (upper tail)
    hi, lo = (u, v) if u <= 0.0 else (-v, -u)
    # log φ(lo) − log φ(hi) < 0: how much smaller the far argument's density (and roughly its tail)
    # is
    gap = 0.5 * (hi * hi - lo * lo)
    if hi >= _DIRECT_FROM:
        far = 0.5 * math.erfc(-lo * _SQRT_HALF) if gap > -EXP_NEGLIGIBLE else 0.0
        logd = math.log(0.5 * math.erfc(-hi * _SQRT_HALF) - far)
    else:
        lhi = log_ndtr(hi)
        logd = lhi if gap < -EXP_NEGLIGIBLE else lhi + math.log(-math.expm1(log_ndtr(lo) - lhi))
    near = math.exp(log_npdf(hi) - logd)
    far_pdf = math.exp(log_npdf(lo) - logd) if gap > -EXP_NEGLIGIBLE else 0.0
    grad = near - far_pdf  # the derivative of log(Φ(hi) − Φ(lo)) along a shift of both arguments
    return logd, grad if u <= 0.0 else -grad


@nb.njit(cache=True, inline="always")
def exp_nonpositive(z: float) -> float:
    """e^z for z ≤ 0, to within 1 ulp, in arithmetic a compiled loop vectorises.

    LLVM calls libm's exp once per element, so a loop over exp does not vectorise; this one
    reduces z = −n ln 2 + r with n = round(−z/ln 2) and |r| ≤ ½ ln 2 (ln 2 in two parts, so that r
    is exact), sums the Taylor series of e^r to degree 13 (remainder below (½ ln 2)^14/14! = 4e-18
    relative) and scales by 2^−n from a table. z below −745.2 (−inf included) and NaN give 0 and
    z > 0 gives 1, so that the table is never read outside its bounds. The mixtures'
    responsibilities over 1000 components cost 1.1 ns per component and point with it, 2.7 ns
    with libm's exp (2 threads). Compiled with numba (``njit``, inlined).

    Parameters
    ----------
    z : float
        The exponent, z ≤ 0.

    Returns
    -------
    float
        e^z.
    """
    z = z if z > _EXP_FLOOR else _EXP_FLOOR  # NaN compares false: the floor
    z = z if z < 0.0 else 0.0
    n = math.floor(-z * _LOG2E + 0.5)
    r = z + n * _LN2_HI + n * _LN2_LO
    series = 0.0
    for coefficient in _EXP_TAYLOR:  # Horner's scheme, unrolled by the compiler
        series = series * r + coefficient
    return series * _POW2_NEG[int(n)]
