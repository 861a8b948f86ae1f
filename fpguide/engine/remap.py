"""Flux-form semi-Lagrangian advection: the conservative remap of cell masses along characteristics.

For the continuity equation ∂_t q + ∂_x(v q) = 0 the mass in cell [x_i, x_{i+1}] at time t + dt is
exactly the old mass between the departure points X_i, X_{i+1} of its faces (traced backwards along
dX/dt = v). In flux form the mass through face i during the step is ∫_{X_i}^{x_i} q — a
finite-volume scheme with no CFL limit, conservative to round-off, and positive because every new
cell mass is the integral of a non-negative reconstruction over an interval.

Reconstructions of q inside cell k, written through its two face values dL, dR (``q_k`` the cell
average): q(s) = 6 q_k s(1 − s) + dL (1 − s)(1 − 3s) + dR s(3s − 2), s ∈ [0, 1], whose cumulative
integral is the cubic Hermite interpolant of the cumulative mass. It is non-negative whenever 0 ≤
dL, dR ≤ 3 q_k (Fritsch–Carlson), which the limiters below enforce:

* ``"ppm"`` (default): fourth-order face values (7(q_{j−1} + q_j) − (q_{j−2} + q_{j+1}))/12 limited
  to [0, 3 min(q_{j−1}, q_j)] — a positive, monotone piecewise-parabolic method (third order for
  smooth q);
* ``"plm"``: piecewise linear with the monotonised-central limiter (second order);
* ``"pcm"``: piecewise constant (first order, the donor-cell limit).
"""

from __future__ import annotations

from typing import Literal, get_args

import numba as nb
import numpy as np

from ..tools.validation import check_choice

__all__ = [
    "SCHEMES",
    "Scheme",
    "cdf_values",
    "mass_between",
    "masses_between",
    "reconstruct",
    "remap",
    "scheme_code",
]

Scheme = Literal["ppm", "plm", "pcm"]  # piecewise parabolic, linear, constant reconstruction
SCHEMES: tuple[Scheme, ...] = get_args(Scheme)
_SCHEME_CODE = {name: code for code, name in enumerate(SCHEMES)}


def scheme_code(scheme: Scheme) -> int:
    """The integer code of a reconstruction, as the compiled kernels take it.

    Parameters
    ----------
    scheme : {"ppm", "plm", "pcm"}
        The reconstruction: piecewise parabolic, linear or constant.

    Returns
    -------
    int
        0, 1 or 2, its position in :data:`SCHEMES`.

    Raises
    ------
    ValueError
        When ``scheme`` is not one of :data:`SCHEMES` (a list is refused too).

    Examples
    --------
    >>> from fpguide.engine import scheme_code
    >>> scheme_code("plm")
    1
    """
    # compares without hashing: a list is refused, not a TypeError
    check_choice("scheme", scheme, SCHEMES)
    return _SCHEME_CODE[scheme]


@nb.njit(cache=True)
def _cell(q, k):
    return q[k] if 0 <= k < q.size else 0.0


@nb.njit(cache=True)
def reconstruct(q, code, d_left, d_right):
    """Face values of the positive reconstruction of each cell (density zero outside the grid)."""
    n = q.size
    if code == 0:  # ppm
        for j in range(n + 1):
            qa, qb = _cell(q, j - 1), _cell(q, j)
            d = (7.0 * (qa + qb) - (_cell(q, j - 2) + _cell(q, j + 1))) / 12.0
            d = min(max(d, 0.0), 3.0 * min(qa, qb))
            if j < n:
                d_left[j] = d
            if j > 0:
                d_right[j - 1] = d
    elif code == 1:  # plm, MC limiter
        for k in range(n):
            back = q[k] - _cell(q, k - 1)
            fwd = _cell(q, k + 1) - q[k]
            half = 0.0
            if back * fwd > 0.0:
                mag = min(0.25 * abs(back + fwd), abs(back), abs(fwd))
                half = mag if back > 0.0 else -mag
            d_left[k] = q[k] - half
            d_right[k] = q[k] + half
    else:  # pcm
        for k in range(n):
            d_left[k] = q[k]
            d_right[k] = q[k]


@nb.njit(cache=True)
def _below(q, dl, dr, k, s):
    """Mass of cell k left of fraction s, per unit width: q·h01(s) + dL·h10(s) + dR·h11(s)."""
    s2 = s * s
    return max(
        q[k] * (3.0 * s2 - 2.0 * s2 * s) + dl[k] * (s2 * s - 2.0 * s2 + s) + dr[k] * (s2 * s - s2),
        0.0,
    )


@nb.njit(cache=True)
def _above(q, dl, dr, k, s):
    """Mass of cell k right of fraction s, per unit width (complementary form, no cancellation)."""
    s2 = s * s
    return max(
        q[k] * (1.0 - 3.0 * s2 + 2.0 * s2 * s)
        - dl[k] * (s2 * s - 2.0 * s2 + s)
        - dr[k] * (s2 * s - s2),
        0.0,
    )


@nb.njit(cache=True)
def _cell_and_offset(xi, n):
    """The cell k that index coordinate ξ ∈ [0, n] falls in (the last cell for ξ = n) and ξ − k ∈
    [0, 1]."""
    k = min(int(xi), n - 1)
    return k, xi - k


@nb.njit(cache=True)
def mass_between(q, dl, dr, dx, xa, xb):
    """∫ of the reconstruction between index coordinates 0 ≤ xa ≤ xb ≤ n (x = lower + ξ dx)."""
    n = q.size
    ka, sa = _cell_and_offset(xa, n)
    kb, sb = _cell_and_offset(xb, n)
    if ka == kb:
        return max(_below(q, dl, dr, ka, sb) - _below(q, dl, dr, ka, sa), 0.0) * dx
    total = _above(q, dl, dr, ka, sa)
    for k in range(ka + 1, kb):
        total += q[k]
    return (total + _below(q, dl, dr, kb, sb)) * dx


@nb.njit(cache=True)
def masses_between(q, dl, dr, dx, xa, xb, out):
    """out[i] = :func:`mass_between` (xa[i], xb[i]), for index coordinates 0 ≤ xa[i] ≤ n (empty
    where xb ≤ xa)."""
    for i in range(xa.size):
        out[i] = mass_between(q, dl, dr, dx, xa[i], xb[i]) if xb[i] > xa[i] else 0.0


@nb.njit(cache=True)
def remap(q, dl, dr, dx, xi, out):
    """New cell averages from departure points ``xi`` of the n + 1 faces (index units,
    non-decreasing).

    Density outside the grid is zero (nothing enters through the walls); the old mass that no new
    cell receives has left through the walls and is returned as (outflow through the lower wall,
    through the upper wall).
    """
    n = q.size
    clamped = np.minimum(np.maximum(xi, 0.0), float(n))
    for i in range(n):
        out[i] = mass_between(q, dl, dr, dx, clamped[i], clamped[i + 1]) / dx
    lower = mass_between(q, dl, dr, dx, 0.0, clamped[0])
    upper = mass_between(q, dl, dr, dx, clamped[n], float(n))
    return lower, upper


@nb.njit(cache=True)
def cdf_values(q, dl, dr, dx, xi):
    """Cumulative mass of the reconstruction at sorted index coordinates ``xi`` (clamped to [0,
    n])."""
    n = q.size
    out = np.empty(xi.size)
    total = 0.0  # mass of the cells left of cell k
    k = 0
    for j in range(xi.size):
        x = min(max(xi[j], 0.0), float(n))
        cell, s = _cell_and_offset(x, n)
        while k < cell:
            total += q[k] * dx
            k += 1
        out[j] = total + _below(q, dl, dr, cell, s) * dx
    return out
