"""The guided samplers as PDEs: drift and diffusion in reverse time τ = T − t.

Reverse SDE ("sde", DDPM):            ∂_τ q = −∂_x(q [−f x + g² s_w]) + ½ g² ∂_xx q
Probability-flow ODE ("ode", DDIM):    ∂_τ q = −∂_x(q [−f x + ½ g² s_w])
(f, g² at diffusion time t = T − τ; s_w the guided score). The particle sampler integrates the same drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ._validation import check_choice
from .guidance import GuidedModel
from .processes import Process

SAMPLERS = ("ode", "sde")
STARTS = ("prior", "exact")


@dataclass(frozen=True)
class GuidedDynamics:
    """The drift v(x, τ) and diffusion D(τ) of one guided sampler."""

    model: GuidedModel
    process: Process
    sampler: str
    T: float

    def __post_init__(self):
        check_choice("sampler", self.sampler, SAMPLERS)

    @property
    def score_factor(self) -> float:
        """c in v = −f x + c g² s_w: 1 for the SDE, ½ for the probability-flow ODE."""
        return 1.0 if self.sampler == "sde" else 0.5

    def drift(self, x: np.ndarray, tau: float) -> np.ndarray:
        return self._velocity(x, tau, self.score_factor)

    def ode_drift(self, x: np.ndarray, tau: float) -> np.ndarray:
        """The probability-flow drift (the deterministic transport used by the grid pilot of either sampler)."""
        return self._velocity(x, tau, 0.5)

    def _velocity(self, x, tau, score_factor):
        t = self.T - tau
        f, g2 = float(self.process.f(t)), float(self.process.g2(t))
        return -f * x + score_factor * g2 * self.model.guided_score(x, t, self.process)

    def diffusion(self, tau: float) -> float:
        return 0.5 * float(self.process.g2(self.T - tau)) if self.sampler == "sde" else 0.0

    def tau_grid(self, t_min: float, log_snr_step: float) -> np.ndarray:
        """Reverse times of steps uniform in log-SNR λ from λ(T) to λ(t_min): dt ≈ h σ²/|dλ/dt| refines as σ → 0."""
        lam0, lam1 = float(self.process.log_snr(self.T)), float(self.process.log_snr(t_min))
        n = max(1, math.ceil((lam1 - lam0) / log_snr_step))
        t = self.process.t_of_log_snr(np.linspace(lam0, lam1, n + 1))
        t[0], t[-1] = self.T, t_min
        return np.maximum.accumulate(self.T - t)


def start_law(model: GuidedModel, process: Process, T: float, start: str):
    """log-density of the start law and its quantile function: the prior N(0, s²) or the exact p_T(·|c)."""
    check_choice("start", start, STARTS)
    if start == "prior":
        s = process.prior_std(T)
        return (lambda x: -0.5 * (x / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi),
                lambda u: s * ndtri(u))
    cond = model.cond

    def log_density(x):
        return cond.log_density(x, T, process)

    def quantile(u):
        lo, hi = cond.bulk()
        m, sigma = float(process.m(T)), float(process.sigma(T))
        xs = np.linspace(m * lo - 12 * sigma, m * hi + 12 * sigma, 20001)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (np.exp(log_density(xs[1:])) + np.exp(log_density(xs[:-1])))
                                            * np.diff(xs))])
        return np.interp(u, cdf / cdf[-1], xs)

    return log_density, quantile
