"""The guided samplers as PDEs: drift and diffusion in reverse time τ = T − t.

::

    Reverse SDE ("sde", DDPM):            ∂_τ q = −∂_x(q [−f x + g² s_w]) + ½ g² ∂_xx q
    Probability-flow ODE ("ode", DDIM):    ∂_τ q = −∂_x(q [−f x + ½ g² s_w])
    and the family in between, stochasticity η ∈ [0, 1] ("sde" with eta; η = 1 the reverse SDE, η =
    0 the ODE):
                                           ∂_τ q = −∂_x(q [−f x + ½(1 + η²) g² s_w]) + ½ η² g² ∂_xx
                                           q

(f, g² at diffusion time t = T − τ; s_w the guided score). Every member has the marginals p_t when
s_w is the true score. The particle sampler integrates the same drift. Every process is held in a
variance-preserving frame (m² + σ² = 1, f = −β/2, g² = β), where the score of the prior N(0, I) is
−x: the drift is the Ornstein–Uhlenbeck part −f x + ½(1 + η²) g² (−x) = −D x, with D = ½ η² β the
diffusion, plus the data's pull; the engine integrates that part exactly (``evolve(...,
ou_drift=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from scipy.special import ndtri

from ..tools.integrable import Integrable
from ..tools.validation import (
    as_finite_array,
    check_choice,
    check_in_range,
    check_int,
    check_number_or_swept,
    check_positive_real,
    check_real,
)
from .guidance import CFG, GuidedModel, ScoreGuidedModel
from .processes import FlowMatching, Process, make_process
from .score_model import ScoreModel

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .targets import Mixture

__all__ = [
    "GuidedDynamics",
    "carried_mean",
    "gaussian_law",
    "PreparedRun",
    "zero_signal_mean",
    "Sampler",
    "Start",
    "prepare_run",
    "prior_moments",
    "start_law",
    "WeightBatch",
]

Sampler = Literal["ode", "sde"]  # the probability-flow ODE (DDIM), the reverse SDE (DDPM)
Start = Literal["prior", "exact"]  # N(0, 1) at T, or the noised conditional p_T(·|c)
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)
STARTS: tuple[Start, ...] = get_args(Start)


def check_eta(sampler: str, eta) -> float:
    """The stochasticity η of ``sampler``: 0 for "ode", any η ∈ [0, 1] for "sde" (default 1)."""
    if eta is None:
        return 1.0 if sampler == "sde" else 0.0
    eta = check_real("eta", eta)
    if sampler == "ode" and eta != 0.0:
        raise ValueError(
            f"eta must be 0 (or None) for sampler='ode', got {eta}: the stochastic "
            "samplers are "
            "sampler='sde' with eta in [0, 1]"
        )
    return check_in_range("eta", eta, 0.0, 1.0, "(0: probability-flow ODE, 1: reverse SDE)")


# A stochastic sampler's steps lengthen where SNR < 1, as Δλ ∝ SNR^(−η²·QUIET_POWER). There the law
# is near the prior N(0, I), whose drift −D x the engine integrates exactly (``ou_drift``), and what
# is left of the drift is the data's pull, of size ~ sqrt(SNR): its O(Δλ²) error per unit λ stays
# even for Δλ ∝ SNR^(−1/4). With η < 1 the kernel forgets less of what a step got wrong, hence the
# η². The constant (the switch at SNR = 1) is measured, not derived: guidance and a data scale far
# from 1 make the pull larger, yet w = 15 needed no shorter steps. `benchmarks/quiet_steps.py` (1-D
# mixtures on their default grids, OU, t_min = 1e-3, entropy against solves with 4x the cells per
# width and 4x shorter steps; uniform log-SNR steps without the exact linear part → the rule): η =
# 1, Gaussians, 525 → 207 steps, errors 2.2e-5 → 2.9e-6 (w = 0), 2.3e-5 → 2.2e-5 (w = 3), 2.9e-5 →
# 3.1e-5 (w = 15); uniforms 525, 667, 1319 → 207, 349, 1008 steps, errors 4.3e-5, 3.0e-5, 2.2e-5 →
# 4.3e-5, 3.1e-5, 2.1e-5; η = 0.5, w = 15, 525 → 353 steps, 8.4e-6 → 1.0e-5 (Gaussians), 635 → 463
# steps, 4.4e-5 → 4.6e-5 (uniforms). Not with score errors: a scaled score leaves a pull of order
# one at any SNR (1-D linear Gaussian, Scaled(0.1) and Scaled(−0.05), w = 4: variance error 4.8e-4 →
# 3.0e-3 at t = 3). 2-D boxes, w = 3, t_min = 1e-3, adaptive: 644 → 319 steps, 21.9 s → 18.3 s,
# entropy 1.2e-6 → 3.9e-6 from the exact reduction.
QUIET_POWER = 0.25


def _quiet_clock(lam, p: float):
    """s(λ) = ∫ min(1, e^{pλ}) dλ: e^{pλ}/p for λ ≤ 0, 1/p + λ above (λ itself for p = 0)."""
    lam = np.asarray(lam, dtype=float)
    if p == 0.0:
        return lam
    return np.where(lam <= 0.0, np.exp(p * np.minimum(lam, 0.0)) / p, 1.0 / p + lam)


def _quiet_clock_inverse(s, p: float):
    """λ(s), the inverse of :func:`_quiet_clock`."""
    s = np.asarray(s, dtype=float)
    if p == 0.0:
        return s
    return np.where(s <= 1.0 / p, np.log(np.maximum(p * s, 1e-300)) / p, s - 1.0 / p)


@dataclass(frozen=True)
class GuidedDynamics:
    """The drift v(x, τ) and diffusion D(τ) of one guided sampler.

    In reverse time τ = T − t, v(x, τ) = −f x + ½(1 + η²) g² s_w(x, t) and D(τ) = ½ η² g²(t), with
    f, g² those of ``process`` and s_w the guided score of ``model`` (see
    :mod:`fpguide.models.dynamics`).

    Parameters
    ----------
    model : GuidedModel or ScoreGuidedModel
        The target and its guidance, bound (:meth:`~fpguide.models.guidance.CFG.bind`).
    process : Process
        The forward process.
    sampler : {"ode", "sde"}
        The probability-flow ODE (DDIM) or the reverse SDE (DDPM).
    T : float
        The diffusion time the run starts from (τ = 0).
    eta : float or None, optional
        The stochasticity η: 0 for "ode", any η ∈ [0, 1] for "sde"; None (default) gives 0 for
        "ode" and 1 for "sde". Stored as the number.
    noise_start : bool, optional
        Whether the sampler started from pure noise at the end t = 1 of a flow-matching path (where
        the log-SNR is −∞), its law carried exactly to T, where the run starts (see
        :meth:`~fpguide.models.processes.FlowMatching.run_start` and :func:`start_law`); default
        False: the sampler starts at T.

    Raises
    ------
    ValueError
        If ``sampler`` is neither of the two, or ``eta`` is not allowed for it.
    """

    model: GuidedModel | ScoreGuidedModel
    process: Process
    sampler: Sampler
    T: float
    eta: float | None = None  # stochasticity; None: 0 for "ode", 1 for "sde"
    noise_start: bool = False

    def __post_init__(self):
        check_choice("sampler", self.sampler, SAMPLERS)
        object.__setattr__(self, "eta", check_eta(self.sampler, self.eta))

    @property
    def stochastic(self) -> bool:
        """Whether the sampler injects noise (η > 0).

        Then its law solves a Fokker–Planck equation rather than a continuity equation.
        """
        return self.eta > 0.0

    @property
    def score_factor(self) -> float:
        """c in v = −f x + c g² s_w: ½(1 + η²).

        So 1 for the SDE and ½ for the probability-flow ODE.
        """
        return 0.5 * (1.0 + self.eta**2)

    def drift(self, x: np.ndarray, tau: float, w: ArrayLike | None = None) -> np.ndarray:
        """The drift v(x, τ) = −f x + ½(1 + η²) g² s_w(x, t), t = T − τ.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        tau : float
            The reverse time τ.
        w : array_like or None, optional
            Weights instead of the model's, broadcasting against x (see
            :meth:`~fpguide.models.guidance.GuidedModel.guided_score`); None (default): the model's.

        Returns
        -------
        numpy.ndarray
            v(x, τ), shaped like the guided score.
        """
        return self._velocity(x, tau, self.score_factor, w)

    def ode_drift(self, x: np.ndarray, tau: float, w: ArrayLike | None = None) -> np.ndarray:
        """The probability-flow drift −f x + ½ g² s_w(x, t), whatever η.

        The deterministic transport used by the grid pilot of either sampler.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        tau : float
            The reverse time τ.
        w : array_like or None, optional
            Weights instead of the model's (see
            :meth:`~fpguide.models.guidance.GuidedModel.guided_score`); None (default): the model's.

        Returns
        -------
        numpy.ndarray
            The drift, shaped like the guided score.
        """
        return self._velocity(x, tau, 0.5, w)

    def _velocity(self, x, tau, score_factor, w=None):
        t = self.T - tau
        f, g2 = float(self.process.f(t)), float(self.process.g2(t))
        return -f * x + score_factor * g2 * self.model.guided_score(x, t, self.process, w)

    def along(self, axis: int, x: np.ndarray, points: np.ndarray, tau: float) -> np.ndarray:
        """v_axis on grid lines: the line form of :meth:`drift` that the d-D engine sweeps with.

        Parameters
        ----------
        axis : int
            The axis the lines run along.
        x : numpy.ndarray
            Positions along ``axis``, shape (L, M): M positions on each of L lines.
        points : numpy.ndarray
            A point of each line, shape (L, d).
        tau : float
            The reverse time τ.

        Returns
        -------
        numpy.ndarray
            The ``axis`` component of v at the positions, shape (L, M).
        """
        t = self.T - tau
        f, g2 = float(self.process.f(t)), float(self.process.g2(t))
        return self.model.velocity_along(
            axis, x, points, t, self.process, -f, self.score_factor * g2
        )

    def diffusion(self, tau: float) -> float:
        """The diffusion coefficient D(τ) = ½ η² g²(T − τ).

        Parameters
        ----------
        tau : float
            The reverse time τ.

        Returns
        -------
        float
            D(τ).
        """
        return 0.5 * self.eta**2 * float(self.process.g2(self.T - tau))

    def diffusion_antiderivative(self, tau: float) -> float:
        """F(τ) = −η² u(T − τ), whose derivative is D(τ) = ½ η² g²(T − τ) = η² u'(T − τ).

        Parameters
        ----------
        tau : float
            The reverse time τ.

        Returns
        -------
        float
            F(τ), u the process's clock.
        """
        return -(self.eta**2) * float(self.process.clock(self.T - tau))

    @property
    def engine_diffusion(self) -> Integrable | float:
        """D for :func:`~fpguide.engine.evolve`: :meth:`diffusion` with its antiderivative, or 0 if
        η = 0.

        With the antiderivative the engine integrates D over each step exactly (a flow-matching
        path's D grows like 1/(1 − t) near t = 1, where the steps of a stochastic sampler are long).
        The number 0 for the probability-flow ODE, so the engine knows it solves a continuity
        equation and splits only the axes.
        """
        if not self.stochastic:
            return 0.0
        return Integrable(self.diffusion, self.diffusion_antiderivative)

    def tau_grid(self, t_min: float, log_snr_step: float, quiet: bool = False) -> np.ndarray:
        """Reverse times of steps uniform in log-SNR λ from λ(T) to λ(t_min).

        Steps of h in λ give dt ≈ h σ²/|dλ/dt|, which refines as σ → 0: n = ⌈(λ(t_min) − λ(T)) /
        h⌉ steps (at least one). With ``quiet`` (what :func:`~fpguide.solve` runs), a stochastic
        sampler with exact scores takes steps uniform in s(λ) = ∫ min(1, SNR^p) dλ instead, p =
        QUIET_POWER·η², longer where SNR < 1 (see QUIET_POWER; score errors leave a pull there that
        the longer steps would miss). The breakpoints of a weight schedule are added, so that no
        step straddles a jump of w(t).

        Parameters
        ----------
        t_min : float
            The diffusion time the sampler ends at.
        log_snr_step : float
            The step h in λ (in s(λ) with ``quiet``), > 0.
        quiet : bool, optional
            Whether to lengthen the steps where SNR < 1 as above (default False); it has no effect
            on the ODE (η = 0) or with score errors.

        Returns
        -------
        numpy.ndarray
            The reverse times τ, ascending from 0 to T − t_min.
        """
        lam0, lam1 = float(self.process.log_snr(self.T)), float(self.process.log_snr(t_min))
        p = QUIET_POWER * self.eta**2 if quiet and not self.model.has_errors else 0.0
        n = max(1, math.ceil((_quiet_clock(lam1, p) - _quiet_clock(lam0, p)) / log_snr_step))
        lam = _quiet_clock_inverse(
            np.linspace(_quiet_clock(lam0, p), _quiet_clock(lam1, p), n + 1), p
        )
        t = self.process.t_of_log_snr(lam)
        t[0], t[-1] = self.T, t_min
        taus = np.maximum.accumulate(self.T - t)
        return np.union1d(taus, self.schedule_taus("breakpoints", t_min))

    def schedule_taus(self, which: Literal["breakpoints", "jumps"], t_min: float) -> np.ndarray:
        """Reverse times of the weight schedule's ``"breakpoints"`` or ``"jumps"`` inside the run.

        Parameters
        ----------
        which : {"breakpoints", "jumps"}
            Which times of the schedule (its method of that name).
        t_min : float
            The diffusion time the sampler ends at.

        Returns
        -------
        numpy.ndarray
            τ = T − t for those times t with 0 < τ < T − t_min, in the schedule's order (empty
            without a schedule).
        """
        schedule = self.model.schedule
        times = np.asarray(() if schedule is None else getattr(schedule, which)(), dtype=float)
        taus = self.T - times
        return taus[(taus > 0.0) & (taus < self.T - t_min)]


@dataclass(frozen=True)
class WeightBatch:
    """The dynamics of B guidance weights that agree in everything else, as one drift.

    For a batched :func:`~fpguide.engine.evolve`: at each point p_t(x|c), p_t(x) and their scores
    are evaluated once and combined per member, s_w = (1 + w_b) s_c − w_b s_u.

    Parameters
    ----------
    members : tuple of GuidedDynamics
        The B dynamics, which differ only in their weight w_b.
    """

    members: tuple[GuidedDynamics, ...]

    @property
    def common(self) -> GuidedDynamics:
        """The first member, whose everything but the weight all members share."""
        return self.members[0]

    @property
    def weights(self) -> np.ndarray:
        """The members' weights w_b, shape (B,)."""
        return np.array([member.model.w for member in self.members])

    def along(
        self, axis: int, x: np.ndarray, points: np.ndarray, tau: float, members: np.ndarray
    ) -> np.ndarray:
        """v_axis on the lines of the given members (see :meth:`GuidedDynamics.along`).

        In 1-D, lines at the same positions share one evaluation of the scores, over which the
        weights broadcast; in d-D the lines of each member are evaluated together.

        Parameters
        ----------
        axis : int
            The axis the lines run along.
        x : numpy.ndarray
            Positions along ``axis``, shape (L, M): M positions on each of L lines.
        points : numpy.ndarray
            A point of each line, shape (L, d).
        tau : float
            The reverse time τ.
        members : numpy.ndarray
            The member (an index into :attr:`members`) each line belongs to, shape (L,).

        Returns
        -------
        numpy.ndarray
            The ``axis`` component of each line's member's drift at the positions, shape (L, M).
        """
        dyn, weights = self.common, self.weights
        if dyn.model.ndim == 1:
            # lines at the same positions (the first stage of a trace starts at the grid's faces)
            # share one evaluation of the scores; the weights broadcast over it
            shared = x[:1] if (x == x[:1]).all() else x
            return dyn.drift(shared, tau, weights[members][:, None])
        t = dyn.T - tau
        f, g2 = float(dyn.process.f(t)), float(dyn.process.g2(t))
        out = np.empty_like(x)
        for b in np.unique(members):
            rows = members == b
            out[rows] = dyn.model.velocity_along(
                axis, x[rows], points[rows], t, dyn.process, -f, dyn.score_factor * g2, weights[b]
            )
        return out


def start_law(
    dyn: GuidedDynamics, start: Start
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[ArrayLike], np.ndarray]]:
    """The law at T the run starts from: its log-density and, per coordinate, its quantile function.

    The start law is the prior N(0, s²I), s = :meth:`~fpguide.models.processes.Process.prior_std`
    (T), or the exact p_T(·|c). The quantile function is exact in 1-D (for p_T(·|c): by the
    trapezoid rule on 20001 points over [m·lo − 12σ, m·hi + 12σ] of the class bulk [lo, hi]); for
    the exact start in d-D it is that of the Gaussian with the moments of p_T(·|c) per axis (centre
    m (lo + hi)/2, spread sqrt((m (hi − lo)/2)² + σ²)), which is what the grid pilot needs.

    For a sampler started from pure noise (``dyn.noise_start``: t = 1 of a flow-matching path, where
    the prior and the exact start are both N(0, I)), it is that start carried to T: N(m c, I) with
    c the guided denoiser's mean at zero signal (:func:`zero_signal_mean`, :func:`carried_mean`;
    see :meth:`~fpguide.models.processes.FlowMatching.run_start`), exact up to
    O(m²) ≈ 2e-9.

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics: its guided model (whose conditional model gives p_T(·|c)), its process and T.
    start : {"prior", "exact"}
        The start law (checked by :func:`prepare_run`; anything but "prior" is the exact start).

    Returns
    -------
    log_density : callable
        The log-density at points x (flat in 1-D, shape (..., d) otherwise).
    quantile : callable
        The quantile function of each coordinate, at probabilities u ∈ (0, 1).
    """
    model, process, T = dyn.model, dyn.process, dyn.T
    d = model.ndim
    if start == "prior" or dyn.noise_start:
        return gaussian_law(*prior_moments(dyn), d)
    cond = model.cond

    def log_density(x):
        return cond.log_density(x, T, process)

    m, sigma = float(process.m(T)), float(process.sigma(T))
    lo, hi = cond.bulk()
    if d > 1:
        centre, spread = m * 0.5 * (lo + hi), np.sqrt((m * 0.5 * (hi - lo)) ** 2 + sigma**2)
        return log_density, lambda u: centre + spread * ndtri(u)

    def quantile(u):
        xs = np.linspace(m * float(lo[0]) - 12 * sigma, m * float(hi[0]) + 12 * sigma, 20001)
        cdf = np.concatenate(
            [
                [0.0],
                np.cumsum(
                    0.5 * (np.exp(log_density(xs[1:])) + np.exp(log_density(xs[:-1]))) * np.diff(xs)
                ),
            ]
        )
        return np.interp(u, cdf / cdf[-1], xs)

    return log_density, quantile


def gaussian_law(
    loc: np.ndarray | float, scale: float, d: int
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[ArrayLike], np.ndarray]]:
    """The log-density and the per-coordinate quantile function of N(loc, scale² I) in d dimensions.

    Parameters
    ----------
    loc : numpy.ndarray or float
        The mean: a number in 1-D, shape (d,) otherwise (or a number for every coordinate).
    scale : float
        The standard deviation of every coordinate, > 0.
    d : int
        The dimension.

    Returns
    -------
    log_density : callable
        The log-density at points x (flat in 1-D, shape (..., d) otherwise).
    quantile : callable
        The quantile function of each coordinate, at probabilities u ∈ (0, 1).
    """

    def log_density(x):
        sq = (x - loc) ** 2 if d == 1 else np.sum((x - loc) ** 2, axis=-1)
        return -0.5 * sq / scale**2 - d * (math.log(scale) + 0.5 * math.log(2 * math.pi))

    return log_density, lambda u: loc + scale * ndtri(u)


def zero_signal_mean(model: GuidedModel, process: Process) -> np.ndarray | float:
    """c, the guided denoiser's mean at zero signal: lim σ² s_w(0, t)/m as m → 0.

    At zero signal the guided denoiser x̂0_w = (x + σ² s_w)/m is the constant c (for classifier-free
    guidance (1 + w) E[X_0|c] − w E[X_0]); it is evaluated at the time of log-SNR −40 (the end of a
    flow-matching path), where the remainder O(m²) is 4e-18.

    Parameters
    ----------
    model : GuidedModel
        The guided model (without score errors).
    process : Process
        A process whose log-SNR reaches −40 (a flow-matching path).

    Returns
    -------
    numpy.ndarray or float
        c, shape (d,) in d-D.
    """
    t = float(process.t_of_log_snr(-40.0))
    d = model.ndim
    origin = np.zeros(1) if d == 1 else np.zeros((1, d))
    score = np.asarray(model.guided_score(origin, t, process), dtype=float)[0]
    c = float(process.sigma(t)) ** 2 * score / float(process.m(t))
    return float(c) if d == 1 else c


def carried_mean(dyn: GuidedDynamics) -> np.ndarray | float:
    """The mean at T of the start law: m(T) c for a start from pure noise, else 0.

    From Y = Z at the end of a flow-matching path every sampler of the path carries the law to
    N(m c, I) + O(m²), c the guided denoiser's mean at zero signal (:func:`zero_signal_mean`; see
    :meth:`~fpguide.models.processes.FlowMatching.run_start`).

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics.

    Returns
    -------
    numpy.ndarray or float
        The mean, shape (d,) in d-D; 0.0 when the sampler starts at T.
    """
    if not dyn.noise_start:
        return 0.0
    return float(dyn.process.m(dyn.T)) * zero_signal_mean(dyn.model, dyn.process)


def prior_moments(dyn: GuidedDynamics) -> tuple[np.ndarray | float, float]:
    """The mean and the standard deviation per coordinate of the Gaussian start law at T:
    N(m c, I) carried from pure noise, or the prior N(0, s²I) (see :func:`start_law`).

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics.

    Returns
    -------
    mean : numpy.ndarray or float
        :func:`carried_mean` (0.0 unless the sampler starts from pure noise).
    std : float
        :meth:`~fpguide.models.processes.Process.prior_std` (T).
    """
    return carried_mean(dyn), dyn.process.prior_std(dyn.T)


@dataclass(frozen=True)
class PreparedRun:
    """The checked inputs of one guided run, what :func:`prepare_run` returns.

    Every front door (:func:`~fpguide.solve`, :func:`~fpguide.sample` and the predictor–corrector
    and discrete samplers) starts from one, and their sweeps prepare each item with it.

    Attributes
    ----------
    dyn : GuidedDynamics
        The sampler's drift and diffusion, bound to the target, guidance and process; ``dyn.T`` is
        where the run starts.
    guidance : CFG
        The guidance as given.
    t_min : float
        The diffusion time the sampler stops at.
    start : {"prior", "exact"}
        The start law (see :func:`start_law`).
    t_save : numpy.ndarray
        The saved diffusion times, descending from T to t_min.
    delta : float
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : numpy.ndarray
        Tail thresholds a of P(x ≥ a), at least 1-D.
    T : float
        The diffusion time the sampler starts from, as asked: ``dyn.T`` but for a start from pure
        noise (see :attr:`GuidedDynamics.noise_start`).
    """

    dyn: GuidedDynamics
    guidance: CFG
    t_min: float
    start: Start
    t_save: np.ndarray
    delta: float
    thresholds: np.ndarray
    T: float

    def config(self) -> dict:
        """The part of the configuration every run records (and ``cross_check`` compares).

        Returns
        -------
        dict
            The target, guidance, sampler, η, T, t_min, process, start, saved times, delta and
            thresholds, as JSON-ready values (objects by their ``to_dict()``).
        """
        dyn = self.dyn
        return {
            "target": dyn.model.uncond.to_dict(),
            "guidance": self.guidance.to_dict(),
            "sampler": dyn.sampler,
            "eta": dyn.eta,
            "T": self.T,
            "t_min": self.t_min,
            "process": dyn.process.to_dict(),
            "start": self.start,
            "t_eval": self.t_save.tolist(),
            "delta": self.delta,
            "thresholds": self.thresholds.tolist(),
        }


def prepare_run(
    target: Mixture | ScoreModel,
    guidance: CFG,
    sampler: Sampler,
    T: float,
    t_min: float,
    process: Process | str | dict | None,
    start: Start,
    n_save: int | None,
    t_eval: ArrayLike | None,
    delta: float,
    thresholds: ArrayLike | None,
    eta: float | None = None,
    chain: bool = False,
) -> PreparedRun:
    """Check every argument of a guided run and bind the target, guidance and process into its
    dynamics.

    The arguments are those of :func:`~fpguide.solve` and :func:`~fpguide.sample`, which share
    this preparation.

    Parameters
    ----------
    target : Mixture or ScoreModel
        The unconditional target (a GaussianMixture, EmpiricalMixture, UniformMixture or
        ScoreModel).
    guidance : CFG
        The guidance; its weight schedule, if any, is checked on [t_min, T].
    sampler : {"ode", "sde"}
        The sampler.
    T, t_min : float
        The diffusion times the sampler starts and ends at, 0 < t_min < T, T within the horizon of
        the process.
    process : Process, str, dict or None
        The forward process (anything :func:`~fpguide.models.processes.make_process` accepts).
    start : {"prior", "exact"}
        The start law (see :func:`start_law`).
    n_save : int or None
        The number (≥ 2) of saved times uniform in log-SNR, used when ``t_eval`` is None.
    t_eval : array_like or None
        Saved diffusion times within [t_min, T] (T and t_min are added), or None.
    delta : float
        Half-width (> 0) of the window around the far edge of the class support counted as edge
        mass.
    thresholds : array_like or None
        Tail thresholds a of P(x ≥ a), a number or a sequence; None: sqrt(max(w, 0)).
    eta : float or None, optional
        The stochasticity η (see :class:`GuidedDynamics`; default None).
    chain : bool, optional
        Whether the run is a discrete chain's, whose guidance rule may have a step window (default
        False: a continuous sampler's).

    Returns
    -------
    PreparedRun
        The dynamics, the guidance, t_min, the start, the saved times (descending from T to
        t_min), delta and the thresholds (at least 1-D).

    Raises
    ------
    ValueError
        If an argument is invalid: score errors, a guidance rule or a schedule's breakpoint above
        the run's start with a start from pure noise (see
        :meth:`~fpguide.models.processes.FlowMatching.run_start`), T or t_min not positive,
        t_min ≥ T, T beyond the process's
        horizon, a schedule outside [t_min, T] or not in [0, 1], an unknown sampler or start, η
        not allowed for the sampler, delta not positive, invalid thresholds, n_save < 2, or
        t_eval empty or outside [t_min, T].
    TypeError
        If ``guidance`` is not a :class:`~fpguide.models.guidance.CFG`, or ``process`` or
        ``target`` is of a wrong type.
    """
    T = check_positive_real("T", T)
    t_min = check_positive_real("t_min", t_min)
    if not t_min < T:
        raise ValueError(f"t_min must be < T, got t_min={t_min}, T={T}")
    process = make_process(process)
    process.check_horizon(T)
    run_start = process.run_start(T)
    if not t_min < run_start:
        raise ValueError(
            f"t_min must be < {run_start}, where a run from pure noise at T={T} starts, got "
            f"t_min={t_min}"
        )
    if not isinstance(guidance, CFG):
        raise TypeError(f"guidance must be a fpguide.CFG, got {type(guidance).__name__}")
    if guidance.schedule is not None:
        guidance.schedule.check(t_min, T)
    model = guidance.bind(target)
    _check_score_models(model, start, (run_start, t_min), process)
    if run_start < T and model.has_errors:
        raise ValueError(
            f"a start from pure noise at T={T} cannot take score errors: the denoiser "
            "x̂0 = (x + σ² (s + e))/α of a model with an error e that does not vanish with α is "
            "infinite at α = 0; start just below it (e.g. T=0.999, from N(0, σ(T)²)) or drop "
            "cond_error and uncond_error"
        )
    if (
        model.rule is not None
        and model.rule.prediction == "flow"
        and not (isinstance(process, FlowMatching) and process.path == "linear")
    ):
        raise ValueError(
            f"the rule's prediction='flow' is rectified flow's velocity ε − x̂0, the network output "
            f"of FlowMatching('linear') only, got process={process!r}: give the prediction the "
            "network outputs (epsilon, sample or v_prediction)"
        )
    if model.rule is not None and model.rule.chain_only is not None and not chain:
        raise ValueError(
            f"{model.rule.kind} is defined on {model.rule.chain_only} chains only "
            "(fpguide.solve_discrete, fpguide.sample_discrete): it has no continuous sampler"
        )
    if model.rule is not None and model.rule.path_dependent and not chain:
        raise ValueError(
            f"{model.rule!r} averages along each sample's path over a discrete chain's steps, "
            "which a continuous sampler does not have: run it with fpguide.sample_discrete"
        )
    if model.rule is not None and model.rule.windowed and not chain:
        raise ValueError(
            f"the rule's step window start={model.rule.start}, stop={model.rule.stop} is a window "
            "of a discrete chain's steps (fpguide.solve_discrete); a continuous sampler has no "
            "steps: give the window in diffusion time as CFG(schedule=fpguide.schedules.Interval"
            "(t_lo, t_hi))"
        )
    if run_start < T and model.rule is not None:
        raise ValueError(
            f"a start from pure noise at T={T} cannot take the guidance rule {model.rule!r}: the "
            "start carried from pure noise assumes the guided denoiser's mean at zero signal is "
            "the constant of the linear combination, which a rule's norms need not keep; start "
            "just below it (e.g. T=0.999, from N(0, sigma(T)^2))"
        )
    breakpoints = () if guidance.schedule is None else guidance.schedule.breakpoints()
    inside = [t for t in breakpoints if run_start < t < T]
    if run_start < T and inside:
        raise ValueError(
            f"the guidance schedule changes form at t={inside[0]}, between T={T} (pure noise) and "
            f"{run_start}, where the run starts from that start carried exactly with the weight "
            f"there: move the breakpoint to <= {run_start}"
        )
    dyn = GuidedDynamics(model, process, sampler, run_start, eta, noise_start=run_start < T)
    check_choice("start", start, STARTS)
    delta = check_positive_real("delta", delta)
    default = [math.sqrt(max(dyn.model.w, 0.0))]
    thresholds = np.atleast_1d(
        check_number_or_swept("thresholds", default if thresholds is None else thresholds)
    )
    t_save = save_times(dyn, t_min, n_save, t_eval)
    return PreparedRun(dyn, guidance, t_min, start, t_save, delta, thresholds, T)


def _check_score_models(
    model: GuidedModel | ScoreGuidedModel, start: Start, times: tuple[float, ...], process: Process
) -> None:
    """Evaluate the score models among the two at the run's start and end before it (a callable
    returning a wrong shape, type or NaN is named here); the exact start needs the conditional
    law's density, which a score model does not give."""
    for which in (model.uncond, model.cond):
        if isinstance(which, ScoreModel):
            which.check(times, process)
    if start == "exact" and isinstance(model.cond, ScoreModel):
        raise ValueError(
            f"start='exact' needs the density of p_T(.|c), which the score model {model.cond.name} "
            "does not give: use start='prior'"
        )


def save_times(dyn: GuidedDynamics, t_min: float, n_save, t_eval) -> np.ndarray:
    """Saved diffusion times, descending from T to t_min: ``t_eval`` (T and t_min added) or
    ``n_save`` times uniform in log-SNR."""
    if t_eval is None:
        n_save = check_int("n_save", n_save, 2)
        lam = np.linspace(
            float(dyn.process.log_snr(dyn.T)), float(dyn.process.log_snr(t_min)), n_save
        )
        t = dyn.process.t_of_log_snr(lam)
        t[0], t[-1] = dyn.T, t_min
        return np.minimum.accumulate(t)
    t = np.unique(as_finite_array("t_eval", t_eval, ndim=1))[::-1]
    if t.size == 0 or t[0] > dyn.T or t[-1] < t_min:
        raise ValueError(
            "t_eval must be a non-empty sequence of times that lie within [t_min, T] "
            f"= [{t_min}, "
            f"{dyn.T}], got {t_eval!r}"
        )
    return np.unique(np.concatenate([[dyn.T, t_min], t]))[::-1]
