"""Exact references, independent of the grid engine, that the tests and benchmarks measure it
against.

1-D continuity equation, by the method of characteristics (scipy ``solve_ivp``): the flow map X of
dX/dτ = v(X, τ) is monotone in one dimension, so the output law is the start law pushed through it:
the mass between two points is F_0(X⁻¹(b)) − F_0(X⁻¹(a)) (trace the points backwards), and along a
characteristic d log q/dτ = −∂_x v, which gives the exact entropy H = −E[log q(X)].
:func:`plain_frame_quantiles` does the same for a variance-exploding process in its own frame x
(fpguide solves it in y = x/s(t)). :func:`predictor_corrector_gaussian_moments` gives the exact
moments of a linear-Gaussian predictor–corrector chain.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from findiff import coefficients
from scipy.integrate import solve_ivp
from scipy.special import ndtri

__all__ = [
    "characteristic_entropy",
    "characteristic_masses",
    "plain_frame_quantiles",
    "predictor_corrector_gaussian_moments",
]

Drift = Callable[[np.ndarray, float], np.ndarray]


def characteristic_masses(
    drift: Drift,
    start_cdf: Callable[[np.ndarray], np.ndarray],
    faces: np.ndarray,
    t_span: tuple[float, float],
    rtol: float = 1e-11,
    atol: float = 1e-12,
) -> np.ndarray:
    """Exact masses of the cells between ``faces`` at t_span[1], for the start law with CDF
    ``start_cdf`` at t_span[0]."""
    t0, t1 = t_span
    sol = solve_ivp(
        lambda t, x: drift(x, t),
        (t1, t0),
        np.asarray(faces, dtype=float),
        method="DOP853",
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"characteristics failed: {sol.message}")
    return np.diff(start_cdf(sol.y[:, -1]))


def characteristic_entropy(
    drift: Drift,
    start_map: Callable[[np.ndarray], np.ndarray],
    start_log_density: Callable[[np.ndarray], np.ndarray],
    t_span: tuple[float, float],
    n_nodes: int = 400,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    fd_step: float = 1e-4,
) -> float:
    """Exact entropy of the output: H = −∫ log q(X(z)) φ(z) dz, Gauss–Legendre in z ∈ [−8.5, 8.5],
    where ``start_map(z)`` is the start law's quantile at level Φ(z) (z itself for N(0, 1)),
    integrating d log q/dτ = −∂_x v along each characteristic (∂_x v by findiff's sixth-order
    central stencil of step ``fd_step``·(1 + |x|))."""
    z, weights = np.polynomial.legendre.leggauss(n_nodes)
    z, weights = 8.5 * z, 8.5 * weights * np.exp(-0.5 * (8.5 * z) ** 2) / np.sqrt(2 * np.pi)
    x0 = start_map(z)
    n = x0.size
    stencil = coefficients(deriv=1, acc=6)["center"]

    def rhs(t, y):
        x = y[:n]
        h = fd_step * (1.0 + np.abs(x))
        div = (
            sum(
                c * drift(x + k * h, t)
                for c, k in zip(stencil["coefficients"], stencil["offsets"])
                if k
            )
            / h
        )
        return np.concatenate([drift(x, t), -div])

    sol = solve_ivp(
        rhs,
        t_span,
        np.concatenate([x0, start_log_density(x0)]),
        method="DOP853",
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"characteristics failed: {sol.message}")
    return float(-np.sum(weights * sol.y[n:, -1]) / np.sum(weights))


class _PlainFrame:
    """The noise levels of a variance-exploding process in its own frame: X_t = X_0 + σ(t) Z (m =
    1)."""

    def __init__(self, process):
        self.process = process

    def m(self, t):
        return 1.0

    def sigma(self, t):
        return float(np.sqrt(self.process.variance(t)))


def plain_frame_quantiles(
    model,
    process,
    T: float,
    t_min: float,
    levels: np.ndarray,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> np.ndarray:
    """Where the guided probability flow of X itself, dX/dt = −½ (dσ²/dt) s_w(X, t) with the scores
    of X_t = X_0 + σ(t) Z, carries the prior quantiles at ``levels`` (X_T ~ N(0, σ(T)²)) by t_min,
    divided by s(t_min) = sqrt(1 + σ(t_min)²): the quantiles of the output of fpguide's frame for a
    VE or EDM ``process``."""
    plain = _PlainFrame(process)

    def rhs(t, x):
        _, s_u, _, s_c = model.scores(x, t, plain)
        w = model.weight(t)
        return -0.5 * float(process.variance_rate(t)) * ((1 + w) * s_c - w * s_u)

    x_T = np.sqrt(float(process.variance(T))) * ndtri(np.asarray(levels, dtype=float))
    sol = solve_ivp(rhs, (T, t_min), x_T, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"characteristics failed: {sol.message}")
    return sol.y[:, -1] / float(process.frame_scale(t_min))


def predictor_corrector_gaussian_moments(
    t: np.ndarray, mu_c: float, a: float, b: float, gamma: float, rho: float, T: float
) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances at the step ends ``t`` (descending from T) of the predictor–corrector
    chain of :mod:`fpguide.runs.predictor_corrector` under OU with p_0(x|c) = N(mu_c, a), p_0(x) =
    N(0, b), started from N(0, 1).

    Predictor: the conditional probability flow v = x − (x − m mu_c)/A (A = m²a + σ², B = m²b + σ²)
    is linear, so dμ/dτ = μ − (μ − m mu_c)/A and dV/dτ = 2(1 − 1/A)V. Corrector: dX = (αX + β) dℓ +
    sqrt(2) dB with ∇log π = αx + β, α = −γ/A + (γ − 1)/B, β = γ m mu_c/A, for ℓ = ρ Δt: an
    Ornstein–Uhlenbeck relaxation to N(−β/α, −1/α), exact in closed form.
    """

    def laws(s):
        m = np.exp(-s)
        return m * m * a + 1 - m * m, m * m * b + 1 - m * m, m

    def predictor(tau, y):
        A, _, m = laws(T - tau)
        return [y[0] - (y[0] - m * mu_c) / A, 2 * (1 - 1 / A) * y[1]]

    moments = [(0.0, 1.0)]
    for t_hi, t_lo in zip(t[:-1], t[1:]):
        mean, var = solve_ivp(
            predictor, (T - t_hi, T - t_lo), moments[-1], rtol=1e-12, atol=1e-14
        ).y[:, -1]
        A, B, m = laws(t_lo)
        alpha, beta = -gamma / A + (gamma - 1) / B, gamma * m * mu_c / A
        decay = np.exp(alpha * rho * (t_hi - t_lo))
        moments.append(
            (
                -beta / alpha + (mean + beta / alpha) * decay,
                -1 / alpha + (var + 1 / alpha) * decay**2,
            )
        )
    mean, var = np.array(moments).T
    return mean, var
