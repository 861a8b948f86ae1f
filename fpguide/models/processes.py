"""Forward (noising) processes dX = f(t) X dt + g(t) dB, with X_t = m(t) X_0 + σ(t) Z.

Each process gives m, σ, f, g², the log signal-to-noise ratio λ(t) = log(m²/σ²) and its inverse
(fpguide steps uniformly in λ, which refines the steps as σ → 0), and ∫g² over an interval (the
variance a diffusion step adds).

Variance-exploding processes (:class:`VE`, :class:`EDM`: X_t = X_0 + σ(t) Z, f = 0, g² = dσ²/dt) are
held in the scaled frame Y = X / s(t), s(t) = sqrt(1 + σ(t)²) (EDM's input scaling c_in with σ_data
= 1): Y_t = X_0/s + (σ/s) Z is the variance-preserving process with m = 1/s, and the scaling maps
the VE samplers (reverse SDE, probability flow, any η, any guidance: the guided score scales by s)
onto the VP samplers of that process exactly. A grid in x could not hold both the prior (width σ_max
= 80 for EDM) and the output (features of width ~σ_min); in y the widths stay of order one.
fpguide's densities and observables for these processes are those of Y; :meth:`Process.frame_scale`
gives s(t), so X = s(t) Y (s(t_min) = sqrt(1 + σ_min²): 1 + 2e-6 for EDM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..tools.validation import check_choice, check_positive_real

__all__ = ["EDM", "OU", "PROCESSES", "VE", "VP", "make_process", "Process"]


class Process:
    """Base class of the variance-preserving linear processes (m² + σ² = 1).

    Subclasses define the clock u(t) = ½∫₀ᵗβ = −log m(t), its rate u'(t) and its inverse t(u).
    """

    name = "process"

    # --- the clock, defined by subclasses
    # ----------------------------------------------------------------------------------------------
    def clock(self, t):
        raise NotImplementedError

    def clock_rate(self, t):
        raise NotImplementedError

    def clock_inverse(self, u):
        raise NotImplementedError

    # --- derived quantities
    # ----------------------------------------------------------------------------------------------
    def m(self, t):
        """Signal scale m(t) = exp(−u(t))."""
        return np.exp(-self.clock(t))

    def sigma(self, t):
        """Noise scale σ(t) = sqrt(1 − m²), evaluated as sqrt(−expm1(−2u)) so that it is exact as t
        → 0."""
        return np.sqrt(-np.expm1(-2.0 * self.clock(t)))

    def f(self, t):
        """Drift coefficient f(t) = −β/2 = −u'(t)."""
        return -self.clock_rate(t)

    def g2(self, t):
        """Squared diffusion coefficient g²(t) = β(t) = 2u'(t)."""
        return 2.0 * self.clock_rate(t)

    def g2_integral(self, t0, t1):
        """∫_{t0}^{t1} g²(t) dt = 2 (u(t1) − u(t0))."""
        return 2.0 * (self.clock(t1) - self.clock(t0))

    def log_snr(self, t):
        """λ(t) = log(m²/σ²) = −log(e^{2u} − 1), decreasing in t."""
        return -np.log(np.expm1(2.0 * self.clock(t)))

    def t_of_log_snr(self, lam):
        """Inverse of :meth:`log_snr`."""
        return self.clock_inverse(0.5 * np.log1p(np.exp(-np.asarray(lam, dtype=float))))

    def prior_std(self, T: float) -> float:
        """Standard deviation of the prior the samplers start from (N(0, 1) for variance-preserving
        processes)."""
        return 1.0

    def frame_scale(self, t):
        """s(t) with X = s(t)·(the state fpguide evolves): 1 for variance-preserving processes."""
        return np.ones_like(np.asarray(t, dtype=float))

    def check_horizon(self, T: float) -> None:
        """Raise if T is beyond the horizon where the process is defined: its log-SNR at T must be
        finite."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            lam = float(self.log_snr(T))
        if not math.isfinite(lam):
            raise ValueError(
                f"T={T} is too large for the {self.name} process: its log-SNR at T is "
                f"{lam} (the noise "
                "swamps the data to machine precision there); use a smaller T"
            )

    def to_dict(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class OU(Process):
    """Ornstein–Uhlenbeck process f = −1, g² = 2: m = e^{−t}, σ² = 1 − e^{−2t} (the papers'
    convention)."""

    name = "OU"

    def clock(self, t):
        return np.asarray(t, dtype=float)

    def clock_rate(self, t):
        return np.ones_like(np.asarray(t, dtype=float))

    def clock_inverse(self, u):
        return np.asarray(u, dtype=float)


@dataclass(frozen=True)
class VP(Process):
    """Variance-preserving process f = −β/2, g² = β with a linear or cosine β schedule on t ∈ [0,
    1].

    linear: β(t) = β_min + t (β_max − β_min); cosine: m(t) = cos(θ(t)) / cos(θ(0)), θ(t) = (t +
    s)/(1 + s) · π/2 (Nichol & Dhariwal), defined for t < 1. In the clock u = ½∫β the VP process is
    the OU process.
    """

    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    s: float = 0.008

    name = "VP"

    def __post_init__(self):
        check_choice("schedule", self.schedule, ("linear", "cosine"))
        check_positive_real("beta_min", self.beta_min)
        check_positive_real("beta_max", self.beta_max)
        check_positive_real("s", self.s)
        if self.beta_max < self.beta_min:
            raise ValueError(
                f"beta_max must be >= beta_min, got beta_max={self.beta_max}, "
                f"beta_min={self.beta_min}"
            )

    def _theta(self, t):
        return (np.asarray(t, dtype=float) + self.s) / (1.0 + self.s) * (math.pi / 2)

    def clock(self, t):
        t = np.asarray(t, dtype=float)
        if self.schedule == "linear":
            return 0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)
        return -np.log(np.cos(self._theta(t)) / math.cos(self._theta(0.0)))

    def clock_rate(self, t):
        t = np.asarray(t, dtype=float)
        if self.schedule == "linear":
            return 0.5 * (self.beta_min + (self.beta_max - self.beta_min) * t)
        return np.tan(self._theta(t)) * (math.pi / 2) / (1.0 + self.s)

    def clock_inverse(self, u):
        u = np.asarray(u, dtype=float)
        if self.schedule == "linear":
            a = 0.5 * (self.beta_max - self.beta_min)
            b = self.beta_min
            # a t² + b t − 2u = 0, in the cancellation-free form of the positive root
            return 4.0 * u / (b + np.sqrt(b * b + 8.0 * a * u))
        theta = np.arccos(np.exp(-u) * math.cos(self._theta(0.0)))
        return theta * (2.0 / math.pi) * (1.0 + self.s) - self.s

    def check_horizon(self, T: float) -> None:
        if self.schedule == "cosine" and not T < 1.0:
            raise ValueError(
                f"T must be < 1 for the cosine VP schedule (β diverges at t = 1), got T={T}"
            )
        super().check_horizon(T)

    def to_dict(self) -> dict:
        return {
            "name": "VP",
            "schedule": self.schedule,
            "beta_min": self.beta_min,
            "beta_max": self.beta_max,
            "s": self.s,
        }


class VarianceExploding(Process):
    """X_t = X_0 + σ(t) Z, held in the frame Y = X/s(t), s = sqrt(1 + σ²), where it is the
    variance-preserving process with clock u = log s = ½ log(1 + σ²). Subclasses give σ²(t), its
    rate dσ²/dt and the inverse t(σ²)."""

    def variance(self, t):
        raise NotImplementedError

    def variance_rate(self, t):
        raise NotImplementedError

    def variance_inverse(self, v):
        raise NotImplementedError

    def clock(self, t):
        return 0.5 * np.log1p(self.variance(t))

    def clock_rate(self, t):
        return 0.5 * self.variance_rate(t) / (1.0 + self.variance(t))

    def clock_inverse(self, u):
        return self.variance_inverse(np.expm1(2.0 * np.asarray(u, dtype=float)))

    def frame_scale(self, t):
        return np.sqrt(1.0 + self.variance(t))

    def prior_std(self, T: float) -> float:
        """The samplers start from X_T ~ N(0, σ(T)²), i.e. Y_T ~ N(0, σ²/(1 + σ²))."""
        v = float(self.variance(T))
        return math.sqrt(v / (1.0 + v))


@dataclass(frozen=True)
class VE(VarianceExploding):
    """Song et al.'s variance-exploding SDE dX = sqrt(dσ_g²/dt) dB with the geometric σ_g(t) = σ_min
    (σ_max/σ_min)^t, t ∈ (0, 1]: the noise added since t = 0 has variance σ²(t) = σ_g(t)² − σ_min²
    (so σ → 0 as t → 0); the samplers start from N(0, σ(T)²)."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    name = "VE"

    def __post_init__(self):
        check_positive_real("sigma_min", self.sigma_min)
        check_positive_real("sigma_max", self.sigma_max)
        if not self.sigma_max > self.sigma_min:
            raise ValueError(
                f"sigma_max must be > sigma_min, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}"
            )

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def variance(self, t):
        return self.sigma_min**2 * np.expm1(2.0 * self._log_ratio * np.asarray(t, dtype=float))

    def variance_rate(self, t):
        return (
            2.0
            * self._log_ratio
            * self.sigma_min**2
            * np.exp(2.0 * self._log_ratio * np.asarray(t, dtype=float))
        )

    def variance_inverse(self, v):
        return np.log1p(np.asarray(v, dtype=float) / self.sigma_min**2) / (2.0 * self._log_ratio)

    def check_horizon(self, T: float) -> None:
        if T > 1.0:
            raise ValueError(
                f"T must be <= 1 for the VE process (σ_max is reached at t = 1), got T={T}"
            )

    def to_dict(self) -> dict:
        return {"name": "VE", "sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


@dataclass(frozen=True)
class EDM(VarianceExploding):
    """Karras et al.'s (EDM) process: σ(t) = t, s(t) = 1 in their notation (X_t = X_0 + t Z); their
    sampler runs from T = σ_max = 80 down to t_min = σ_min = 0.002 (the ρ = 7 step spacing is a
    discretisation of the same continuous samplers, which are reparametrisation-invariant)."""

    name = "EDM"

    def variance(self, t):
        return np.asarray(t, dtype=float) ** 2

    def variance_rate(self, t):
        return 2.0 * np.asarray(t, dtype=float)

    def variance_inverse(self, v):
        return np.sqrt(np.asarray(v, dtype=float))


PROCESSES = {"OU": OU, "VP": VP, "VE": VE, "EDM": EDM}


def make_process(process) -> Process:
    """Accept a Process instance, a name ("OU", "VP") or a dict from :meth:`Process.to_dict`."""
    if process is None:
        return OU()
    if isinstance(process, Process):
        return process
    if isinstance(process, str):
        check_choice("process", process, tuple(PROCESSES))
        return PROCESSES[process]()
    if isinstance(process, dict):
        spec = dict(process)
        name = spec.pop("name", None)
        check_choice("process", name, tuple(PROCESSES))
        allowed = ("name", *(f.name for f in fields(PROCESSES[name])))
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ValueError(
                f"process keys must be among {allowed} for {name}, got {unknown} in {process!r}"
            )
        return PROCESSES[name](**spec)
    raise TypeError(
        f"process must be a Process, one of {tuple(PROCESSES)} or a dict, got "
        f"{type(process).__name__}"
    )
