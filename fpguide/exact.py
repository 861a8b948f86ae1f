"""Exact references for the 1-D continuity equation, by the method of characteristics (scipy ``solve_ivp``).

The flow map X of dX/dτ = v(X, τ) is monotone in one dimension, so the output law is the start law pushed through it:
the mass between two points is F_0(X⁻¹(b)) − F_0(X⁻¹(a)) (trace the points backwards), and along a characteristic
d log q/dτ = −∂_x v, which gives the exact entropy H = −E[log q(X)]. These are independent of the grid engine and are
what the tests and benchmarks measure it against.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from findiff import coefficients
from scipy.integrate import solve_ivp

Drift = Callable[[np.ndarray, float], np.ndarray]


def characteristic_masses(drift: Drift, start_cdf: Callable[[np.ndarray], np.ndarray], faces: np.ndarray,
                          t_span: tuple[float, float], rtol: float = 1e-11, atol: float = 1e-12) -> np.ndarray:
    """Exact masses of the cells between ``faces`` at t_span[1], for the start law with CDF ``start_cdf`` at t_span[0]."""
    t0, t1 = t_span
    sol = solve_ivp(lambda t, x: drift(x, t), (t1, t0), np.asarray(faces, dtype=float), method="DOP853",
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"characteristics failed: {sol.message}")
    return np.diff(start_cdf(sol.y[:, -1]))


def characteristic_entropy(drift: Drift, start_map: Callable[[np.ndarray], np.ndarray],
                           start_log_density: Callable[[np.ndarray], np.ndarray], t_span: tuple[float, float],
                           n_nodes: int = 400, rtol: float = 1e-10, atol: float = 1e-12,
                           fd_step: float = 1e-4) -> float:
    """Exact entropy of the output: H = −∫ log q(X(z)) φ(z) dz, Gauss–Legendre in z ∈ [−8.5, 8.5], where
    ``start_map(z)`` is the start law's quantile at level Φ(z) (z itself for N(0, 1)), integrating
    d log q/dτ = −∂_x v along each characteristic (∂_x v by findiff's sixth-order central stencil of step
    ``fd_step``·(1 + |x|))."""
    z, weights = np.polynomial.legendre.leggauss(n_nodes)
    z, weights = 8.5 * z, 8.5 * weights * np.exp(-0.5 * (8.5 * z) ** 2) / np.sqrt(2 * np.pi)
    x0 = start_map(z)
    n = x0.size
    stencil = coefficients(deriv=1, acc=6)["center"]

    def rhs(t, y):
        x = y[:n]
        h = fd_step * (1.0 + np.abs(x))
        div = sum(c * drift(x + k * h, t) for c, k in zip(stencil["coefficients"], stencil["offsets"]) if k) / h
        return np.concatenate([drift(x, t), -div])

    sol = solve_ivp(rhs, t_span, np.concatenate([x0, start_log_density(x0)]), method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"characteristics failed: {sol.message}")
    return float(-np.sum(weights * sol.y[n:, -1]) / np.sum(weights))
