"""Exact references, independent of the grid engine, that the tests and benchmarks measure it
against (and that :func:`~fpguide.solve_discrete` uses for the first stretch of the continuous ODE
from pure noise that it compares a flow-matching chain with).

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
from typing import TYPE_CHECKING

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import ndtri

if TYPE_CHECKING:
    from ..models.guidance import GuidedModel
    from ..models.processes import Process

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
    ``start_cdf`` at t_span[0].

    The faces are traced backwards along dX/dτ = v(X, τ) from t_span[1] to t_span[0] (scipy
    ``solve_ivp``, DOP853); the mass between two faces is the start CDF's difference at their
    departure points (the 1-D flow map is monotone).

    Parameters
    ----------
    drift : callable
        v(x, t) on arrays of points.
    start_cdf : callable
        The CDF F_0 of the start law, on arrays.
    faces : numpy.ndarray
        The cell faces at t_span[1], increasing.
    t_span : tuple of float
        (t0, t1): the start law's time and the output time.
    rtol, atol : float, optional
        The tolerances of the integration (defaults 1e-11, 1e-12).

    Returns
    -------
    numpy.ndarray
        The masses of the cells, one fewer than the faces.

    Raises
    ------
    RuntimeError
        When the integration of the characteristics fails.
    """
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
    """Exact entropy of the output: H = −∫ log q(X(z)) φ(z) dz, Gauss–Legendre in z ∈ [−8.5, 8.5].

    Along each characteristic from the start law's quantile at level Φ(z), d log q/dτ = −∂_x v is
    integrated with the characteristic itself (scipy ``solve_ivp``, DOP853; ∂_x v by findiff's
    sixth-order central stencil of step ``fd_step``·(1 + |x|)).

    Parameters
    ----------
    drift : callable
        v(x, t) on arrays of points.
    start_map : callable
        z ↦ the start law's quantile at level Φ(z) (z itself for N(0, 1)), on arrays.
    start_log_density : callable
        log q at t_span[0], on arrays.
    t_span : tuple of float
        (t0, t1): the start law's time and the output time.
    n_nodes : int, optional
        The Gauss–Legendre nodes (default 400).
    rtol, atol : float, optional
        The tolerances of the integration (defaults 1e-10, 1e-12).
    fd_step : float, optional
        The relative step of the finite differences of v (default 1e-4).

    Returns
    -------
    float
        The differential entropy H of the output law.

    Raises
    ------
    RuntimeError
        When the integration of the characteristics fails.
    """
    z, weights = np.polynomial.legendre.leggauss(n_nodes)
    z, weights = 8.5 * z, 8.5 * weights * np.exp(-0.5 * (8.5 * z) ** 2) / np.sqrt(2 * np.pi)
    from findiff import coefficients  # here: importing findiff takes 0.5 s, the solvers need none

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
    model: GuidedModel,
    process: Process,
    T: float,
    t_min: float,
    levels: np.ndarray,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> np.ndarray:
    """The quantiles of the output of fpguide's frame for a VE or EDM ``process``, from the flow of
    X itself.

    The guided probability flow of X itself, dX/dt = −½ (dσ²/dt) s_w(X, t) with the scores of X_t
    = X_0 + σ(t) Z and s_w = (1 + w) s_c − w s_u, carries the prior quantiles at ``levels`` (X_T ~
    N(0, σ(T)²)) to t_min (scipy ``solve_ivp``, DOP853); they are divided by s(t_min) = sqrt(1 +
    σ(t_min)²).

    Parameters
    ----------
    model : GuidedModel
        The guided model.
    process : Process
        A variance-exploding process (VE or EDM).
    T : float
        The start time.
    t_min : float
        The output time.
    levels : numpy.ndarray
        The quantile levels, in (0, 1).
    rtol, atol : float, optional
        The tolerances of the integration (defaults 1e-10).

    Returns
    -------
    numpy.ndarray
        The quantiles at ``levels`` of the output law in fpguide's frame y = x/s(t_min).

    Raises
    ------
    RuntimeError
        When the integration of the characteristics fails.
    """
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
    Ornstein–Uhlenbeck relaxation to N(−β/α, −1/α), exact in closed form. The predictor's
    moment equations are integrated by scipy ``solve_ivp`` (rtol 1e-12, atol 1e-14).

    Parameters
    ----------
    t : numpy.ndarray
        The step ends, descending from T (``t[0]`` = T).
    mu_c : float
        The mean of the conditional law p_0(x|c).
    a, b : float
        The variances of p_0(x|c) and p_0(x).
    gamma : float
        The power γ of the corrector's target π ∝ p_t(x|c)^γ p_t(x)^{1−γ}.
    rho : float
        The corrector's step ℓ per unit of time: ℓ = ρ Δt.
    T : float
        The start time.

    Returns
    -------
    mean, var : numpy.ndarray
        The means and the variances at the step ends ``t``.
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
