"""Exact reference for the tests: the moments of a guided sampler whose drift is linear (1-D, OU
process)."""

import math

import numpy as np
from scipy.integrate import solve_ivp


def linear_gaussian_moments(
    eta, weight, a, b, mu_c, T, t_eval, breakpoints=(), cond_factor=1.0, uncond_factor=1.0
):
    """Mean and variance at the diffusion times ``t_eval`` (descending from T) of the sampler with
    stochasticity η when p_0(x|c) = N(mu_c, a), p_0(x) = N(0, b), the start is N(0, 1) and the
    weight is ``weight(t)``.

    p_t(x|c) = N(m mu_c, A), A = m²a + σ²; p_t(x) = N(0, B), B = m²b + σ². The drift in τ = T − t is
    x + (1 + η²) s_w with s_w = −(1+w) k_c (x − m mu_c)/A + w k_u x/B, the scores scaled by k_c =
    ``cond_factor`` and k_u = ``uncond_factor`` (1: exact scores), linear: v = α x + β with α = 1 +
    (1 + η²)(−(1+w) k_c/A + w k_u/B), β = (1 + η²)(1+w) k_c m mu_c / A; then dμ/dτ = αμ + β and
    dV/dτ = 2αV + 2η². The ODEs are integrated piecewise between the ``breakpoints`` (diffusion
    times where w(t) may jump).
    """
    gain = 1.0 + eta**2

    def rhs(tau, y):
        t = T - tau
        m, s2 = math.exp(-t), -math.expm1(-2 * t)
        w = weight(t)
        alpha = 1 + gain * (
            -(1 + w) * cond_factor / (m * m * a + s2) + w * uncond_factor / (m * m * b + s2)
        )
        beta = gain * (1 + w) * cond_factor * m * mu_c / (m * m * a + s2)
        return [alpha * y[0] + beta, 2 * alpha * y[1] + 2 * eta**2]

    taus = T - np.asarray(t_eval, dtype=float)
    stops = np.union1d(taus, [T - t for t in breakpoints if 0 < T - t < taus[-1]])
    state, moments = [0.0, 1.0], []
    for tau0, tau1 in zip(stops[:-1], stops[1:]):
        if np.any(np.isclose(taus, tau0, rtol=0, atol=1e-12)):
            moments.append(state)
        state = solve_ivp(rhs, (tau0, tau1), state, rtol=1e-12, atol=1e-14).y[:, -1]
    moments.append(state)
    return np.array(moments).T
