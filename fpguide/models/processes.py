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

Flow-matching paths (:class:`FlowMatching`: X_t = α(t) X_0 + σ(t) Z on t ∈ [0, 1], pure noise at
t = 1 where α = 0; rectified flow is α = 1 − t, σ = t) are held the same way, in Y = X / s(t) with
s(t) = sqrt(α² + σ²): Y_t = (α/s) X_0 + (σ/s) Z is the variance-preserving process with
m = α/s, clock u = log(s/α) = ½ log(1 + σ²/α²). A flow-matching sampler's velocity v = α' x̂0 +
σ' ε̂ is the probability-flow drift of that process, and classifier-free guidance on v (v_u +
γ(v_c − v_u), what diffusers computes) is guidance on the score with the same γ, since v is affine
in the score at each (x, t). The start from pure noise at t = 1 (log-SNR −∞) is carried exactly to
the run's first time (:meth:`Process.run_start`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..tools.validation import check_choice, check_positive_real

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "check_unit_horizon",
    "EDM",
    "FlowMatching",
    "FlowPath",
    "NOISE_END_LOG_SNR",
    "OU",
    "PROCESSES",
    "VE",
    "VP",
    "make_process",
    "Process",
]

FlowPath = Literal["linear", "cosine"]  # rectified flow α = 1 − t, σ = t; α = cos, σ = sin (πt/2)
FLOW_PATHS: tuple[FlowPath, ...] = get_args(FlowPath)
# A start from pure noise at a flow-matching path's t = 1 (m = 0) is carried exactly to the time of
# this log-SNR, where the run starts: its law there is N(m c, I) + O(m²) (see
# :meth:`FlowMatching.run_start`), m² ≈ e^λ = 2e-9 here, four orders below the solver's errors
# (1e-5; the OU solves from T = 10 start 4.5e-5 away from their law); it starts where they do.
NOISE_END_LOG_SNR = -20.0


def check_unit_horizon(T: float, what: str) -> None:
    """Raise if T > 1, for a process whose time ends at t = 1.

    Parameters
    ----------
    T : float
        The diffusion time the samplers would start from.
    what : str
        The process and why its time ends at 1, for the message.

    Raises
    ------
    ValueError
        If T > 1.
    """
    if T > 1.0:
        raise ValueError(f"T must be <= 1 for {what}, got T={T}")


class Process:
    """Base class of the variance-preserving linear processes (m² + σ² = 1).

    Subclasses define the clock u(t) = ½∫₀ᵗβ = −log m(t), its rate u'(t) and its inverse t(u);
    everything else (m, σ, f, g², ∫g², the log-SNR λ and its inverse) derives from them.

    Attributes
    ----------
    name : str
        The process's name, as :func:`make_process` and :meth:`to_dict` spell it.
    """

    name = "process"

    # --- the clock, defined by subclasses
    # ----------------------------------------------------------------------------------------------
    def clock(self, t: ArrayLike) -> np.ndarray:
        """The clock u(t) = ½∫₀ᵗβ = −log m(t).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            u(t), shaped like ``t``.

        Raises
        ------
        NotImplementedError
            Always, in this base class: subclasses define it.
        """
        raise NotImplementedError

    def clock_rate(self, t: ArrayLike) -> np.ndarray:
        """The clock's rate u'(t) = β(t)/2.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            u'(t), shaped like ``t``.

        Raises
        ------
        NotImplementedError
            Always, in this base class: subclasses define it.
        """
        raise NotImplementedError

    def clock_inverse(self, u: ArrayLike) -> np.ndarray:
        """The inverse t(u) of the clock.

        Parameters
        ----------
        u : array_like
            Clock values u ≥ 0.

        Returns
        -------
        numpy.ndarray
            The diffusion times t with u(t) = ``u``, shaped like ``u``.

        Raises
        ------
        NotImplementedError
            Always, in this base class: subclasses define it.
        """
        raise NotImplementedError

    # --- derived quantities
    # ----------------------------------------------------------------------------------------------
    def m(self, t: ArrayLike) -> np.ndarray:
        """Signal scale m(t) = exp(−u(t)).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            m(t), shaped like ``t``.
        """
        return np.exp(-self.clock(t))

    def sigma(self, t: ArrayLike) -> np.ndarray:
        """Noise scale σ(t) = sqrt(1 − m²).

        Evaluated as sqrt(−expm1(−2u)) so that it is exact as t → 0.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            σ(t), shaped like ``t``.
        """
        return np.sqrt(-np.expm1(-2.0 * self.clock(t)))

    def f(self, t: ArrayLike) -> np.ndarray:
        """Drift coefficient f(t) = −β/2 = −u'(t).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            f(t), shaped like ``t``.
        """
        return -self.clock_rate(t)

    def g2(self, t: ArrayLike) -> np.ndarray:
        """Squared diffusion coefficient g²(t) = β(t) = 2u'(t).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            g²(t), shaped like ``t``.
        """
        return 2.0 * self.clock_rate(t)

    def g2_integral(self, t0: ArrayLike, t1: ArrayLike) -> np.ndarray:
        """∫_{t0}^{t1} g²(t) dt = 2 (u(t1) − u(t0)): the variance a diffusion step adds.

        Parameters
        ----------
        t0, t1 : array_like
            The ends of the interval (broadcast against each other).

        Returns
        -------
        numpy.ndarray
            The integral, shaped like ``t0`` and ``t1`` broadcast together.
        """
        return 2.0 * (self.clock(t1) - self.clock(t0))

    def log_snr(self, t: ArrayLike) -> np.ndarray:
        """The log signal-to-noise ratio λ(t) = log(m²/σ²) = −log(e^{2u} − 1), decreasing in t.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            λ(t), shaped like ``t``.
        """
        return -np.log(np.expm1(2.0 * self.clock(t)))

    def t_of_log_snr(self, lam: ArrayLike) -> np.ndarray:
        """Inverse of :meth:`log_snr`: t(λ) = t_u(½ log(1 + e^{−λ})), t_u the clock's inverse.

        Parameters
        ----------
        lam : array_like
            Log-SNR values λ.

        Returns
        -------
        numpy.ndarray
            The diffusion times t with λ(t) = ``lam``, shaped like ``lam``.
        """
        return self.clock_inverse(0.5 * np.log1p(np.exp(-np.asarray(lam, dtype=float))))

    def prior_std(self, T: float) -> float:
        """Standard deviation of the prior the samplers start from.

        N(0, 1) for variance-preserving processes, whatever ``T``.

        Parameters
        ----------
        T : float
            The diffusion time the samplers start from.

        Returns
        -------
        float
            The prior's standard deviation in the frame fpguide evolves: 1 here.
        """
        return 1.0

    def frame_scale(self, t: ArrayLike) -> np.ndarray:
        """s(t) with X = s(t)·(the state fpguide evolves): 1 for variance-preserving processes.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            s(t), shaped like ``t`` (ones here).
        """
        return np.ones_like(np.asarray(t, dtype=float))

    def run_start(self, T: float) -> float:
        """The diffusion time a run asked to start at T starts from: T itself.

        A flow-matching path overrides it for T = 1 (see :meth:`FlowMatching.run_start`).

        Parameters
        ----------
        T : float
            The diffusion time the sampler starts from.

        Returns
        -------
        float
            ``T``.
        """
        return T

    def check_horizon(self, T: float) -> None:
        """Raise if T is beyond the horizon where the process is defined.

        The log-SNR λ(T) must be finite (beyond, the noise swamps the data to machine precision).

        Parameters
        ----------
        T : float
            The diffusion time the samplers would start from.

        Raises
        ------
        ValueError
            If λ(T) is not finite.
        """
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            lam = float(self.log_snr(T))
        if not math.isfinite(lam):
            raise ValueError(
                f"T={T} is too large for the {self.name} process: its log-SNR at T is "
                f"{lam} (the noise "
                "swamps the data to machine precision there); use a smaller T"
            )

    def to_dict(self) -> dict:
        """The process as a record that :func:`make_process` turns back into it.

        Returns
        -------
        dict
            ``{"name": name}``, plus the parameters of the process where it has any.
        """
        return {"name": self.name}


@dataclass(frozen=True)
class OU(Process):
    """Ornstein–Uhlenbeck process f = −1, g² = 2: m = e^{−t}, σ² = 1 − e^{−2t}.

    The papers' convention; its clock is u(t) = t. It takes no parameters; :func:`make_process`
    gives it when no process is named.

    Examples
    --------
    >>> import fpguide as fg
    >>> p = fg.OU()
    >>> float(p.m(1.0)), float(p.sigma(1.0))  # e^−1 and sqrt(1 − e^−2)
    (0.36787944117144233, 0.9298734950321937)
    >>> float(p.t_of_log_snr(0.0))  # m = σ at t = log(2)/2
    0.34657359027997264
    """

    name = "OU"

    def clock(self, t: ArrayLike) -> np.ndarray:
        """The clock u(t) = t.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            u(t), shaped like ``t``.
        """
        return np.asarray(t, dtype=float)

    def clock_rate(self, t: ArrayLike) -> np.ndarray:
        """The clock's rate u'(t) = 1.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            Ones shaped like ``t``.
        """
        return np.ones_like(np.asarray(t, dtype=float))

    def clock_inverse(self, u: ArrayLike) -> np.ndarray:
        """The clock's inverse t(u) = u.

        Parameters
        ----------
        u : array_like
            Clock values.

        Returns
        -------
        numpy.ndarray
            t(u), shaped like ``u``.
        """
        return np.asarray(u, dtype=float)


@dataclass(frozen=True)
class VP(Process):
    """Variance-preserving process f = −β/2, g² = β with a linear or cosine β schedule, t ∈ [0, 1].

    linear: β(t) = β_min + t (β_max − β_min); cosine: m(t) = cos(θ(t)) / cos(θ(0)), θ(t) = (t +
    s)/(1 + s) · π/2 (Nichol & Dhariwal), defined for t < 1. In the clock u = ½∫β the VP process is
    the OU process.

    Parameters
    ----------
    schedule : {"linear", "cosine"}
        The β schedule (default "linear").
    beta_min, beta_max : float
        β(0) and β(1) of the linear schedule: > 0, with beta_max ≥ beta_min (defaults 0.1 and 20).
    s : float
        The offset s > 0 of the cosine schedule (default 0.008).

    Raises
    ------
    ValueError
        If ``schedule`` is neither of the two, a parameter is not a positive real number, or
        beta_max < beta_min.

    Examples
    --------
    >>> import fpguide as fg
    >>> fg.VP()
    VP(schedule='linear', beta_min=0.1, beta_max=20.0, s=0.008)
    >>> round(float(fg.VP().m(0.5)), 6)  # exp(−½(β_min t + ½(β_max − β_min) t²))
    0.281183
    >>> fg.VP(schedule="cosine").check_horizon(1.0)
    Traceback (most recent call last):
    ...
    ValueError: T must be < 1 for the cosine VP schedule (β diverges at t = 1), got T=1.0
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

    def clock(self, t: ArrayLike) -> np.ndarray:
        """The clock u(t) = ½∫₀ᵗβ.

        linear: u = ½(β_min t + ½(β_max − β_min) t²); cosine: u = −log(cos θ(t) / cos θ(0)).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            u(t), shaped like ``t``.
        """
        t = np.asarray(t, dtype=float)
        if self.schedule == "linear":
            return 0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)
        return -np.log(np.cos(self._theta(t)) / math.cos(self._theta(0.0)))

    def clock_rate(self, t: ArrayLike) -> np.ndarray:
        """The clock's rate u'(t) = β(t)/2.

        linear: ½(β_min + (β_max − β_min) t); cosine: tan θ(t) · (π/2)/(1 + s).

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            u'(t), shaped like ``t``.
        """
        t = np.asarray(t, dtype=float)
        if self.schedule == "linear":
            return 0.5 * (self.beta_min + (self.beta_max - self.beta_min) * t)
        return np.tan(self._theta(t)) * (math.pi / 2) / (1.0 + self.s)

    def clock_inverse(self, u: ArrayLike) -> np.ndarray:
        """The clock's inverse t(u).

        linear: the positive root of a t² + b t − 2u = 0 (a = ½(β_max − β_min), b = β_min), in the
        cancellation-free form 4u / (b + sqrt(b² + 8au)); cosine: t = θ · (2/π)(1 + s) − s with
        θ = arccos(e^{−u} cos θ(0)).

        Parameters
        ----------
        u : array_like
            Clock values u ≥ 0.

        Returns
        -------
        numpy.ndarray
            t(u), shaped like ``u``.
        """
        u = np.asarray(u, dtype=float)
        if self.schedule == "linear":
            a = 0.5 * (self.beta_max - self.beta_min)
            b = self.beta_min
            # a t² + b t − 2u = 0, in the cancellation-free form of the positive root
            return 4.0 * u / (b + np.sqrt(b * b + 8.0 * a * u))
        theta = np.arccos(np.exp(-u) * math.cos(self._theta(0.0)))
        return theta * (2.0 / math.pi) * (1.0 + self.s) - self.s

    def check_horizon(self, T: float) -> None:
        """Raise if T is beyond the horizon where the process is defined.

        The cosine schedule needs T < 1 (β diverges at t = 1); and, as for every process, the
        log-SNR λ(T) must be finite.

        Parameters
        ----------
        T : float
            The diffusion time the samplers would start from.

        Raises
        ------
        ValueError
            If the schedule is cosine and T ≥ 1, or λ(T) is not finite.
        """
        if self.schedule == "cosine" and not T < 1.0:
            raise ValueError(
                f"T must be < 1 for the cosine VP schedule (β diverges at t = 1), got T={T}"
            )
        super().check_horizon(T)

    def to_dict(self) -> dict:
        """The process as a record that :func:`make_process` turns back into it.

        Returns
        -------
        dict
            ``"name"`` ("VP") and the four parameters.
        """
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

    def variance(self, t: ArrayLike) -> np.ndarray:
        """The variance σ²(t) of the noise added since t = 0 (defined by subclasses)."""
        raise NotImplementedError

    def variance_rate(self, t: ArrayLike) -> np.ndarray:
        """Its rate dσ²/dt = g²(t) (defined by subclasses)."""
        raise NotImplementedError

    def variance_inverse(self, v: ArrayLike) -> np.ndarray:
        """The inverse t(σ²) (defined by subclasses)."""
        raise NotImplementedError

    def clock(self, t: ArrayLike) -> np.ndarray:
        """The clock of the scaled frame, u(t) = ½ log(1 + σ²(t))."""
        return 0.5 * np.log1p(self.variance(t))

    def clock_rate(self, t: ArrayLike) -> np.ndarray:
        """u'(t) = ½ (dσ²/dt) / (1 + σ²)."""
        return 0.5 * self.variance_rate(t) / (1.0 + self.variance(t))

    def clock_inverse(self, u: ArrayLike) -> np.ndarray:
        """t(u) = t(σ² = e^{2u} − 1)."""
        return self.variance_inverse(np.expm1(2.0 * np.asarray(u, dtype=float)))

    def frame_scale(self, t: ArrayLike) -> np.ndarray:
        """s(t) = sqrt(1 + σ²(t)), with X = s(t) Y."""
        return np.sqrt(1.0 + self.variance(t))

    def prior_std(self, T: float) -> float:
        """The samplers start from X_T ~ N(0, σ(T)²), i.e. Y_T ~ N(0, σ²/(1 + σ²)).

        Parameters
        ----------
        T : float
            The diffusion time the samplers start from.

        Returns
        -------
        float
            The prior's standard deviation in the frame Y: sqrt(σ²/(1 + σ²)) at T.
        """
        v = float(self.variance(T))
        return math.sqrt(v / (1.0 + v))


@dataclass(frozen=True)
class VE(VarianceExploding):
    """Song et al.'s variance-exploding SDE dX = sqrt(dσ_g²/dt) dB, σ_g geometric on t ∈ (0, 1].

    σ_g(t) = σ_min (σ_max/σ_min)^t: the noise added since t = 0 has variance σ²(t) = σ_g(t)² −
    σ_min² (so σ → 0 as t → 0); the samplers start from N(0, σ(T)²). fpguide evolves it in the
    frame Y = X / sqrt(1 + σ²) (see :mod:`fpguide.models.processes`).

    Parameters
    ----------
    sigma_min, sigma_max : float
        σ_g(0) and σ_g(1): > 0, with sigma_max > sigma_min (defaults 0.01 and 50).

    Raises
    ------
    ValueError
        If either is not a positive real number, or sigma_max ≤ sigma_min.

    Examples
    --------
    >>> import fpguide as fg
    >>> p = fg.VE()
    >>> p
    VE(sigma_min=0.01, sigma_max=50.0)
    >>> round(float(p.variance(1.0)), 4)  # σ_max² − σ_min²
    2499.9999
    """

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

    def variance(self, t: ArrayLike) -> np.ndarray:
        """The variance σ²(t) = σ_min² (e^{2 log(σ_max/σ_min) t} − 1) of the noise added since 0.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            σ²(t), shaped like ``t``.
        """
        return self.sigma_min**2 * np.expm1(2.0 * self._log_ratio * np.asarray(t, dtype=float))

    def variance_rate(self, t: ArrayLike) -> np.ndarray:
        """Its rate dσ²/dt = 2 log(σ_max/σ_min) σ_min² e^{2 log(σ_max/σ_min) t}.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            dσ²/dt, shaped like ``t``.
        """
        return (
            2.0
            * self._log_ratio
            * self.sigma_min**2
            * np.exp(2.0 * self._log_ratio * np.asarray(t, dtype=float))
        )

    def variance_inverse(self, v: ArrayLike) -> np.ndarray:
        """The inverse t(σ²) = log(1 + σ²/σ_min²) / (2 log(σ_max/σ_min)).

        Parameters
        ----------
        v : array_like
            Variances σ² ≥ 0.

        Returns
        -------
        numpy.ndarray
            The diffusion times t with σ²(t) = ``v``, shaped like ``v``.
        """
        return np.log1p(np.asarray(v, dtype=float) / self.sigma_min**2) / (2.0 * self._log_ratio)

    def check_horizon(self, T: float) -> None:
        """Raise if T > 1: σ_max is reached at t = 1.

        Parameters
        ----------
        T : float
            The diffusion time the samplers would start from.

        Raises
        ------
        ValueError
            If T > 1.
        """
        check_unit_horizon(T, "the VE process (σ_max is reached at t = 1)")

    def to_dict(self) -> dict:
        """The process as a record that :func:`make_process` turns back into it.

        Returns
        -------
        dict
            ``"name"`` ("VE"), ``"sigma_min"`` and ``"sigma_max"``.
        """
        return {"name": "VE", "sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


@dataclass(frozen=True)
class EDM(VarianceExploding):
    """Karras et al.'s (EDM) process: σ(t) = t, s(t) = 1 in their notation (X_t = X_0 + t Z).

    Their sampler runs from T = σ_max = 80 down to t_min = σ_min = 0.002 (the ρ = 7 step spacing is
    a discretisation of the same continuous samplers, which are reparametrisation-invariant).
    fpguide evolves it in the frame Y = X / sqrt(1 + t²), EDM's input scaling c_in with σ_data = 1
    (see :mod:`fpguide.models.processes`). It takes no parameters.

    Examples
    --------
    >>> import fpguide as fg
    >>> p = fg.EDM()
    >>> round(p.prior_std(80.0), 6)  # Y_T ~ N(0, σ²/(1 + σ²)) with σ = 80
    0.999922
    >>> round(float(p.frame_scale(0.002)), 9)  # s(t_min) = sqrt(1 + σ_min²): 1 + 2e-6
    1.000002
    """

    name = "EDM"

    def variance(self, t: ArrayLike) -> np.ndarray:
        """The variance σ²(t) = t².

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            t², shaped like ``t``.
        """
        return np.asarray(t, dtype=float) ** 2

    def variance_rate(self, t: ArrayLike) -> np.ndarray:
        """Its rate dσ²/dt = 2t.

        Parameters
        ----------
        t : array_like
            Diffusion times.

        Returns
        -------
        numpy.ndarray
            2t, shaped like ``t``.
        """
        return 2.0 * np.asarray(t, dtype=float)

    def variance_inverse(self, v: ArrayLike) -> np.ndarray:
        """The inverse t(σ²) = sqrt(σ²).

        Parameters
        ----------
        v : array_like
            Variances σ² ≥ 0.

        Returns
        -------
        numpy.ndarray
            sqrt(v), shaped like ``v``.
        """
        return np.sqrt(np.asarray(v, dtype=float))


def _linear_path(t, lib):
    return 1.0 - t, t, -1.0, 1.0


def _cosine_path(t, lib):
    # α = sin(π(1 − t)/2) = cos(πt/2), written so that α(1) = 0 exactly
    rate = 0.5 * math.pi
    return (
        lib.sin(rate * (1.0 - t)),
        lib.sin(rate * t),
        -rate * lib.cos(rate * (1.0 - t)),
        rate * lib.cos(rate * t),
    )


_PATHS = {"linear": _linear_path, "cosine": _cosine_path}
_PATH_FUNCTIONS = ("signal", "noise", "signal_rate", "noise_rate")


@dataclass(frozen=True)
class FlowMatching(Process):
    """A flow-matching path X_t = α(t) X_0 + σ(t) Z on t ∈ [0, 1], pure noise at t = 1 (α(1) = 0).

    ``"linear"`` is rectified flow (α = 1 − t, σ = t: Stable Diffusion 3, Flux, diffusers'
    ``FlowMatchEulerDiscreteScheduler``), ``"cosine"`` α = cos(πt/2), σ = sin(πt/2); any other path
    is given by α, σ and their rates. fpguide evolves it in the frame Y = X / s(t), s = sqrt(α² +
    σ²), where it is the variance-preserving process with m = α/s and clock u = log(s/α) (see
    :mod:`fpguide.models.processes`); :meth:`frame_scale` gives s(t), so X = s(t) Y. Its samplers
    are those of every process: ``"ode"`` is the flow-matching ODE dX/dt = v(X, t) = α' x̂0 + σ' ε̂
    (the probability-flow ODE of the path), ``"sde"`` with ``eta`` the stochastic samplers with the
    same marginals; classifier-free guidance on v is guidance on the score with the same weight.

    The samplers start from N(0, σ(T)²) in X, pure noise N(0, 1) at T = 1 (the default start of a
    flow-matching sampler), where the log-SNR is −∞; that start is carried exactly to the time
    :meth:`run_start` gives, where the run starts.

    Parameters
    ----------
    path : {"linear", "cosine"}, default "linear"
        A named path; with functions given it is ignored, and set to ``"custom"``.
    signal, noise, signal_rate, noise_rate : callable, optional
        A path of your own: α(t), σ(t), α'(t) and σ'(t), vectorised over arrays of t ∈ [0, 1], with
        α > 0 on [0, 1), σ > 0 on (0, 1], α(1) ≥ 0 and σ/α strictly increasing. All four or none.
        Such a process is recorded by the functions' reprs and cannot be rebuilt from a record.

    Raises
    ------
    ValueError
        For an unknown ``path``, or functions that are not a path as above (checked on 1001 times).
    TypeError
        When some but not all of the four functions are given, or one is not callable.

    Examples
    --------
    >>> import fpguide as fg
    >>> p = fg.FlowMatching()  # rectified flow
    >>> t = 0.25
    >>> float(p.m(t) * p.frame_scale(t)), float(p.sigma(t) * p.frame_scale(t))  # α and σ
    (0.75, 0.25)
    >>> float(p.log_snr(1.0)), p.prior_std(1.0)  # pure noise at t = 1
    (-inf, 1.0)
    >>> p.run_start(1.0) < 1.0
    True
    """

    path: FlowPath = "linear"
    signal: Callable[[np.ndarray], np.ndarray] | None = None
    noise: Callable[[np.ndarray], np.ndarray] | None = None
    signal_rate: Callable[[np.ndarray], np.ndarray] | None = None
    noise_rate: Callable[[np.ndarray], np.ndarray] | None = None

    name = "FlowMatching"

    def __post_init__(self):
        given = [name for name in _PATH_FUNCTIONS if getattr(self, name) is not None]
        if not given:
            check_choice("path", self.path, FLOW_PATHS)
            return
        if len(given) < 4 or not all(callable(getattr(self, f)) for f in given):
            raise TypeError(
                "a path of your own needs all four of signal, noise, signal_rate and noise_rate "
                f"as callables of t, got {', '.join(given)}"
            )
        object.__setattr__(self, "path", "custom")
        self._check_custom()

    def _check_custom(self) -> None:
        t = np.linspace(0.0, 1.0, 1001)
        values = self._functions(t)
        for name, value in zip(_PATH_FUNCTIONS, values):
            if np.shape(value) != t.shape or not np.all(np.isfinite(value)):
                raise ValueError(
                    f"{name}(t) must return finite values shaped like t on [0, 1] (an array of "
                    f"{t.size} times), got shape {np.shape(value)}, finite: "
                    f"{bool(np.all(np.isfinite(value)))}"
                )
        alpha, sigma = values[0], values[1]
        if not (np.all(alpha[:-1] > 0) and alpha[-1] >= 0 and np.all(sigma[1:] > 0)):
            raise ValueError(
                "a flow-matching path needs signal > 0 on [0, 1), signal(1) >= 0 and noise > 0 "
                f"on (0, 1], got signal(0), signal(1) = {alpha[0]}, {alpha[-1]} and noise(1) = "
                f"{sigma[-1]}"
            )
        with np.errstate(divide="ignore"):
            ratio = sigma / alpha
        if not np.all(np.diff(ratio) > 0):
            raise ValueError("noise(t)/signal(t) must increase strictly on [0, 1]")

    def _functions(self, t):
        """α, σ, α' and σ' at the times t: a float (evaluated with :mod:`math`: the engine asks
        for one time at a time) or an array."""
        if self.path == "custom":
            functions = (self.signal, self.noise, self.signal_rate, self.noise_rate)
            return tuple(np.asarray(f(np.asarray(t)), dtype=float) for f in functions)
        return _PATHS[self.path](t, math if isinstance(t, float) else np)

    def _ratio(self, t) -> np.ndarray:
        """r(t) = σ/α, +∞ at α = 0."""
        alpha, sigma, _, _ = self._functions(np.asarray(t, dtype=float))
        with np.errstate(divide="ignore"):
            return sigma / alpha

    def clock(self, t: ArrayLike) -> np.ndarray:
        """The clock u(t) = log(s/α) = ½ log(1 + r²), r = σ/α (+∞ at α = 0).

        Parameters
        ----------
        t : array_like
            Diffusion times in [0, 1].

        Returns
        -------
        numpy.ndarray
            u(t), shaped like ``t``.
        """
        if isinstance(t, float):
            alpha, sigma, _, _ = self._functions(t)
            if alpha == 0.0:
                return np.float64(math.inf)
            return np.float64(0.5 * math.log1p((sigma / alpha) ** 2))
        with np.errstate(over="ignore"):
            return 0.5 * np.log1p(self._ratio(t) ** 2)

    def clock_rate(self, t: ArrayLike) -> np.ndarray:
        """The clock's rate u'(t) = σ (σ' α − σ α') / (α (α² + σ²)).

        Parameters
        ----------
        t : array_like
            Diffusion times in [0, 1].

        Returns
        -------
        numpy.ndarray
            u'(t), shaped like ``t`` (+∞ at α = 0).
        """
        scalar = isinstance(t, float)
        alpha, sigma, alpha_rate, sigma_rate = self._functions(
            t if scalar else np.asarray(t, float)
        )
        if scalar and alpha == 0.0:
            return np.float64(math.inf)
        with np.errstate(divide="ignore"):
            rate = (
                sigma * (sigma_rate * alpha - sigma * alpha_rate) / (alpha * (alpha**2 + sigma**2))
            )
        return np.float64(rate) if scalar else rate

    def clock_inverse(self, u: ArrayLike) -> np.ndarray:
        """The clock's inverse t(u): the time where σ/α = r = sqrt(e^{2u} − 1).

        linear: t = r/(1 + r); cosine: t = (2/π) arctan r; a path of your own: by bisection on
        [0, 1] to the last bit.

        Parameters
        ----------
        u : array_like
            Clock values u ≥ 0 (+∞ gives the end of the path).

        Returns
        -------
        numpy.ndarray
            t(u), shaped like ``u``.
        """
        with np.errstate(over="ignore"):
            r = np.sqrt(np.expm1(2.0 * np.asarray(u, dtype=float)))
        if self.path == "linear":
            return 1.0 / (1.0 + 1.0 / r)
        if self.path == "cosine":
            return np.arctan(r) / (0.5 * math.pi)
        lo, hi = np.zeros_like(r), np.ones_like(r)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            below = self._ratio(mid) < r
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return hi

    def frame_scale(self, t: ArrayLike) -> np.ndarray:
        """s(t) = sqrt(α² + σ²), with X = s(t) Y.

        Parameters
        ----------
        t : array_like
            Diffusion times in [0, 1].

        Returns
        -------
        numpy.ndarray
            s(t), shaped like ``t``.
        """
        alpha, sigma, _, _ = self._functions(np.asarray(t, dtype=float))
        return np.sqrt(alpha**2 + sigma**2)

    def prior_std(self, T: float) -> float:
        """The samplers start from X_T ~ N(0, σ(T)²), i.e. Y_T ~ N(0, σ²/(α² + σ²)).

        Parameters
        ----------
        T : float
            The diffusion time the samplers start from.

        Returns
        -------
        float
            σ(T)/s(T): 1 at T = 1 (pure noise).
        """
        alpha, sigma, _, _ = self._functions(np.asarray(float(T)))
        return float(sigma / math.hypot(float(alpha), float(sigma)))

    def run_start(self, T: float) -> float:
        """Where a run asked to start at T starts: T, or for T = 1 on a path with α(1) = 0 (pure
        noise, log-SNR −∞) the time t_a of log-SNR ``NOISE_END_LOG_SNR``.

        From Y = Z at t = 1, every sampler of the path carries the law to N(m c, I) + O(m²) at
        m = m(t): in the clock u = −log m the drift is the prior's, which keeps N(0, I), plus the
        data's pull m c, c = lim σ² s_w(0, t)/m the guided denoiser's mean at zero signal, whose
        integral ∫_u^∞ e^{−u'} c du' is m c; the run starts there (see
        :func:`~fpguide.models.dynamics.start_law`), with m² ≈ 2e-9 at t_a.

        Parameters
        ----------
        T : float
            The diffusion time the sampler starts from, ≤ 1.

        Returns
        -------
        float
            The time the run starts from.
        """
        if T < 1.0 or float(self._functions(np.asarray(1.0))[0]) > 0.0:
            return T
        return float(self.t_of_log_snr(NOISE_END_LOG_SNR))

    def check_horizon(self, T: float) -> None:
        """Raise if T > 1: the path ends at t = 1.

        Parameters
        ----------
        T : float
            The diffusion time the samplers would start from.

        Raises
        ------
        ValueError
            If T > 1.
        """
        check_unit_horizon(T, "a flow-matching path (pure noise at t = 1)")

    def to_dict(self) -> dict:
        """The process as a record that :func:`make_process` turns back into it.

        Returns
        -------
        dict
            ``{"name": "FlowMatching", "path": path}``; a path of your own adds the functions'
            reprs (and cannot be rebuilt from them).
        """
        if self.path != "custom":
            return {"name": self.name, "path": self.path}
        functions = {name: repr(getattr(self, name)) for name in _PATH_FUNCTIONS}
        return {"name": self.name, "path": "custom"} | functions


PROCESSES = {"OU": OU, "VP": VP, "VE": VE, "EDM": EDM, "FlowMatching": FlowMatching}


def make_process(process: Process | str | dict | None) -> Process:
    """The process named by ``process``: a Process, a name or a record.

    Accepts a Process instance, a name ("OU", "VP", "VE", "EDM", "FlowMatching") or a dict from
    :meth:`Process.to_dict`.

    Parameters
    ----------
    process : Process, str, dict or None
        A process (returned as it is); the name of one of ``PROCESSES`` (made with its
        defaults); a record ``{"name": ..., **parameters}``, whose other keys must be parameters of
        that process; or None for :class:`OU`.

    Returns
    -------
    Process
        The process.

    Raises
    ------
    ValueError
        If the name is not one of ``PROCESSES``, a record has keys the process does not take (or
        its parameters are invalid), or records a flow-matching path of your own.
    TypeError
        If ``process`` is none of these types.

    Examples
    --------
    >>> from fpguide.models.processes import make_process
    >>> make_process("VE")
    VE(sigma_min=0.01, sigma_max=50.0)
    >>> make_process({"name": "VP", "schedule": "cosine"})
    VP(schedule='cosine', beta_min=0.1, beta_max=20.0, s=0.008)
    """
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
        if name == "FlowMatching" and spec.get("path") == "custom":
            raise ValueError(
                "a flow-matching path of your own (signal, noise and their rates as functions) "
                "cannot be rebuilt from its record: pass FlowMatching(signal=..., noise=..., "
                "signal_rate=..., noise_rate=...) again"
            )
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
