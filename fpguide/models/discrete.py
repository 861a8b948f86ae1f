"""Discrete-step samplers as diffusers runs them: DDIM (any η) and ancestral DDPM on a β schedule,
and the Euler steps of rectified flow (FlowMatchEuler, at the end).

Schedule (:class:`NoiseSchedule`, diffusers' scheduler configuration): β_k for the K training
timesteps k = 0 … K−1, "linear" (β_start … β_end), "scaled_linear" ((√β_start … √β_end)²) or
"squaredcos_cap_v2" (β_k = min(1 − ā((k+1)/K)/ā(k/K), 0.999), ā(s) = cos²((s + 0.008)/1.008 · π/2));
ᾱ_k = ∏_{i ≤ k} (1 − β_i), and the noised data at timestep k is √ᾱ_k X_0 + √(1 − ᾱ_k) Z. An N-step
run visits the timesteps of ``timestep_spacing``: "linspace" round(linspace(0, K−1, N)), "leading"
(0, 1, …, N−1)·(K//N) + ``steps_offset``, "trailing" round(K, K − K/N, …) − 1 (the first N:
diffusers' float ``arange`` adds a spurious −1 for some N, e.g. 61 of 1000), in decreasing order.

One step from timestep t to the previous level t' (ᾱ_{t'} = 1 below timestep 0), with m = √ᾱ, σ =
√(1 − ᾱ), the exact guided score s at the noise level of t, x̂0 = (x + σ_t² s)/m_t and ε̂ = −σ_t s:

* DDIM(η): x' = m_{t'} x̂0 + √(σ_{t'}² − s_η²) ε̂ + s_η Z, s_η = η σ_{t'}/σ_t √(1 − ᾱ_t/ᾱ_{t'});
  t' = t − K//N (diffusers' rule, also for "linspace", where t' is then not the next timestep of the
  run);
* DDPM: x' = (m_{t'} β/σ_t²) x̂0 + (√α σ_{t'}²/σ_t²) x + s Z, α = ᾱ_t/ᾱ_{t'}, β = 1 − α,
  s² = σ_{t'}² β/σ_t² ("fixed_small") or β ("fixed_large"), no noise at timestep 0; t' the next
  timestep of the run.

Both are x' = a x + b s_w(x) + c Z: a deterministic map followed by a Gaussian convolution, which is
how :func:`~fpguide.solve_discrete` advances the density. diffusers' schedulers clip x̂0 to [−1, 1]
by default (``clip_sample=True``; image pipelines such as Stable Diffusion turn it off); here
``clip_sample`` is off (None) unless given as the range r, and then the map is diffusers' arithmetic
with the clip, no longer affine in s, pushed forward all the same. The prediction type (ε, x₀ or v)
only changes what the network outputs; each is an affine function of the score, classifier-free
guidance mixes outputs affinely, so every type gives the same step (the particle sampler runs
diffusers' own arithmetic for each, as a check).

The continuous-time counterpart (:meth:`NoiseSchedule.process`) is the variance-preserving process
with m(t)² = ᾱ exactly at t = (k + 1)/K (log ᾱ linear in t between), so that timestep k sits at
diffusion time (k + 1)/K and the clean output at t = 0; as N grows DDIM(η) tends to the η-sampler of
that process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..tools.records import Recorded
from ..tools.validation import (
    check_choice,
    check_flag,
    check_in_range,
    check_int,
    check_positive_real,
)
from .dynamics import zero_signal_mean
from .processes import FlowMatching, Process, check_unit_horizon

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .guidance import GuidedModel

__all__ = [
    "BetaSchedule",
    "ChainSampler",
    "DDIM",
    "DDPM",
    "DiscreteSampler",
    "FlowMatchEuler",
    "network_output",
    "network_predictions",
    "NoiseSchedule",
    "PREDICTIONS",
    "PredictionType",
    "ScheduleProcess",
    "ScoreFunction",
    "Steps",
    "TimeShift",
    "TimestepSpacing",
    "VarianceType",
]

# diffusers' configuration values fpguide reproduces exactly
BetaSchedule = Literal["linear", "scaled_linear", "squaredcos_cap_v2"]
TimestepSpacing = Literal["leading", "trailing", "linspace"]
PredictionType = Literal["epsilon", "sample", "v_prediction"]
VarianceType = Literal["fixed_small", "fixed_large"]
TimeShift = Literal["exponential", "linear"]
BETA_SCHEDULES: tuple[BetaSchedule, ...] = get_args(BetaSchedule)
SPACINGS: tuple[TimestepSpacing, ...] = get_args(TimestepSpacing)
PREDICTIONS: tuple[PredictionType, ...] = get_args(PredictionType)
VARIANCES: tuple[VarianceType, ...] = get_args(VarianceType)
TIME_SHIFTS: tuple[TimeShift, ...] = get_args(TimeShift)
_COSINE_OFFSET, _MAX_BETA = 0.008, 0.999
# the guided score s_w(x, t) at points x and diffusion time t, as the steps evaluate it
ScoreFunction = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class NoiseSchedule:
    """diffusers' noise-schedule configuration (the defaults are DDPMScheduler's and
    DDIMScheduler's).

    β_k for the K training timesteps k = 0 … K−1, ᾱ_k = ∏_{i ≤ k} (1 − β_i), and the noised data at
    timestep k is √ᾱ_k X_0 + √(1 − ᾱ_k) Z.

    Parameters
    ----------
    beta_schedule : {"linear", "scaled_linear", "squaredcos_cap_v2"}, default "linear"
        β_k from β_start to β_end ("linear"), the squares of a linear ramp from √β_start to √β_end
        ("scaled_linear"), or β_k = min(1 − ā((k+1)/K)/ā(k/K), 0.999) with
        ā(s) = cos²((s + 0.008)/1.008 · π/2) ("squaredcos_cap_v2", which ignores β_start, β_end).
    num_train_timesteps : int, default 1000
        The number K >= 2 of training timesteps.
    beta_start, beta_end : float, default 1e-4 and 0.02
        The first and the last β of the linear schedules, in (0, 1), beta_start <= beta_end.
    timestep_spacing : {"leading", "trailing", "linspace"}, default "leading"
        Which timesteps an N-step run visits (see :meth:`timesteps`).
    steps_offset : int, default 0
        Added to the "leading" timesteps, >= 0.

    Raises
    ------
    ValueError
        If a choice is not one of the allowed values, num_train_timesteps < 2, steps_offset < 0,
        beta_start or beta_end is outside (0, 1), or beta_end < beta_start.

    Examples
    --------
    >>> import fpguide as fg
    >>> schedule = fg.NoiseSchedule()  # linear β from 1e-4 to 0.02 over 1000 timesteps
    >>> schedule.timesteps(4)
    array([750, 500, 250,   0])
    >>> schedule.time(schedule.timesteps(4))  # diffusion times (k + 1)/K
    array([0.751, 0.501, 0.251, 0.001])
    >>> fg.NoiseSchedule(timestep_spacing="trailing").timesteps(4)
    array([999, 749, 499, 249])
    """

    beta_schedule: BetaSchedule = "linear"
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    timestep_spacing: TimestepSpacing = "leading"
    steps_offset: int = 0

    def __post_init__(self):
        check_choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        check_int("num_train_timesteps", self.num_train_timesteps, 2)
        check_choice("timestep_spacing", self.timestep_spacing, SPACINGS)
        check_int("steps_offset", self.steps_offset, 0)
        for name in ("beta_start", "beta_end"):
            value = check_positive_real(name, getattr(self, name))
            if value >= 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value}")
        if self.beta_end < self.beta_start:
            raise ValueError(
                f"beta_end must be >= beta_start, got beta_start={self.beta_start}, "
                f"beta_end={self.beta_end}"
            )

    def betas(self) -> np.ndarray:
        """β_k, k = 0 … K−1, of ``beta_schedule``.

        Returns
        -------
        np.ndarray
            (K,) the betas.
        """
        k = self.num_train_timesteps
        if self.beta_schedule == "linear":
            return np.linspace(self.beta_start, self.beta_end, k)
        if self.beta_schedule == "scaled_linear":
            return np.linspace(self.beta_start**0.5, self.beta_end**0.5, k) ** 2
        s = np.arange(k + 1) / k
        abar = np.cos((s + _COSINE_OFFSET) / (1 + _COSINE_OFFSET) * math.pi / 2) ** 2
        return np.minimum(1.0 - abar[1:] / abar[:-1], _MAX_BETA)

    def alphas_cumprod(self) -> np.ndarray:
        """ᾱ_k = ∏_{i ≤ k} (1 − β_i), k = 0 … K−1 (a cumulative sum of logs, so that tiny ᾱ keep
        their digits).

        Returns
        -------
        np.ndarray
            (K,) the cumulative products ᾱ_k.
        """
        return np.exp(np.cumsum(np.log1p(-self.betas())))

    def timesteps(self, steps: int) -> np.ndarray:
        """The decreasing timesteps of an N-step run.

        "linspace": round(linspace(0, K−1, N)); "leading": (0, 1, …, N−1)·(K//N) + ``steps_offset``;
        "trailing": round(K, K − K/N, …) − 1, the first N (diffusers' float ``arange`` adds a
        spurious −1 for some N, e.g. 61 of 1000); in decreasing order.

        Parameters
        ----------
        steps : int
            The number N of steps, 1 <= N <= K.

        Returns
        -------
        np.ndarray
            (N,) int64 timesteps, decreasing.

        Raises
        ------
        ValueError
            If ``steps`` > K, the spacing does not give N timesteps in [0, K − 1], or
            ``steps_offset`` puts a timestep beyond K − 1.
        """
        k = self.num_train_timesteps
        steps = check_int("steps", steps, 1)
        if steps > k:
            raise ValueError(f"steps must be <= num_train_timesteps = {k}, got {steps}")
        if self.timestep_spacing == "linspace":
            out = np.linspace(0, k - 1, steps).round()[::-1]
        elif self.timestep_spacing == "leading":
            out = (np.arange(steps) * (k // steps)).round()[::-1] + self.steps_offset
        # diffusers' float arange yields a spurious last value (timestep −1) for some N, e.g. 61:
        # keep N
        else:
            out = np.round(np.arange(k, 0, -k / steps)[:steps]) - 1
        out = out.astype(np.int64)
        if out.size != steps or out.min() < 0:
            raise ValueError(
                f"timestep_spacing={self.timestep_spacing!r} gave {out.tolist()} for "
                f"steps={steps}: "
                f"expected {steps} timesteps in [0, {k - 1}]"
            )
        if out.max() > k - 1:
            raise ValueError(
                f"steps_offset={self.steps_offset} puts timestep {out.max()} beyond "
                "the last training "
                f"timestep {k - 1}"
            )
        return out

    def time(self, timestep: ArrayLike) -> np.ndarray:
        """Diffusion time (k + 1)/K of timestep k of the continuous counterpart; 0 (the clean data)
        for k < 0.

        Parameters
        ----------
        timestep : array_like
            Timesteps k (−1: the clean data).

        Returns
        -------
        np.ndarray
            The diffusion times, shaped like ``timestep``.
        """
        timestep = np.asarray(timestep)
        return np.where(timestep >= 0, (timestep + 1.0) / self.num_train_timesteps, 0.0)

    def process(self) -> ScheduleProcess:
        """The continuous-time counterpart: the variance-preserving process with m(t)² = ᾱ_k at
        t = (k + 1)/K (log ᾱ linear in t between), defined for 0 ≤ t ≤ 1.

        Returns
        -------
        ScheduleProcess
            The process.
        """
        return ScheduleProcess(self)

    def to_dict(self) -> dict:
        """The record: the six fields by name.

        Returns
        -------
        dict
            The configuration, which ``NoiseSchedule(**record)`` rebuilds.
        """
        return asdict(self)


class ScheduleProcess(Process):
    """The variance-preserving process whose m(t)² equals the schedule's ᾱ_k at t = (k + 1)/K, with
    u = −log m linear in t between (so β is constant between training timesteps); defined for 0 ≤ t
    ≤ 1.

    Parameters
    ----------
    schedule : NoiseSchedule
        The training schedule (made by :meth:`NoiseSchedule.process`).
    """

    name = "schedule"

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        k = schedule.num_train_timesteps
        self._t = np.arange(k + 1) / k
        self._u = np.concatenate([[0.0], -0.5 * np.log(schedule.alphas_cumprod())])
        self._rate = np.diff(self._u) / np.diff(self._t)

    def clock(self, t):
        return np.interp(t, self._t, self._u)

    def clock_rate(self, t):
        piece = np.clip(np.searchsorted(self._t, t, side="right") - 1, 0, self._rate.size - 1)
        return self._rate[piece]

    def clock_inverse(self, u):
        return np.interp(u, self._u, self._t)

    def check_horizon(self, T: float) -> None:
        check_unit_horizon(T, "a discrete schedule's process (t = 1 is the last training timestep)")

    def __eq__(self, other) -> bool:
        return isinstance(other, ScheduleProcess) and other.schedule == self.schedule

    def __hash__(self) -> int:
        return hash(self.schedule)

    def to_dict(self) -> dict:
        return {"name": self.name, **self.schedule.to_dict()}


@dataclass(frozen=True)
class Steps:
    """The steps of a run, as arrays over steps j: x' = a_j x + b_j s_w(x, t_j) + c_j Z.

    ``timestep`` is the training timestep whose score is used, ``previous`` the level the step goes
    to (−1: the clean data); ``t`` and ``t_next`` their diffusion times, ``m``, ``sigma`` the noise
    level of ``timestep``, ``m_next``, ``sigma_next`` that of ``previous``. Made by
    :meth:`DiscreteSampler.plan`; ``len`` is the number of steps.

    Attributes
    ----------
    timestep, previous : np.ndarray
        The training timestep of each step and the level it goes to (−1: the clean data).
    t, t_next : np.ndarray
        Their diffusion times.
    m, sigma : np.ndarray
        √ᾱ and √(1 − ᾱ) at ``timestep``.
    m_next, sigma_next : np.ndarray
        The same at ``previous`` (ᾱ = 1 below timestep 0).
    a, b, c : np.ndarray
        The coefficients of x' = a x + b s + c Z.
    """

    timestep: np.ndarray
    previous: np.ndarray
    t: np.ndarray
    t_next: np.ndarray
    m: np.ndarray
    sigma: np.ndarray
    m_next: np.ndarray
    sigma_next: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    def __len__(self) -> int:
        return self.timestep.size


def network_output(
    prediction_type: PredictionType, x: np.ndarray, score: np.ndarray, m: float, sigma: float
) -> np.ndarray:
    """What a network with ``prediction_type`` outputs at the variance-preserving sample x of noise
    level (m, σ), given the (guided) score there.

    ε = −σ s ("epsilon"), x₀ = (x + σ² s)/m ("sample"), v = m ε − σ x₀ ("v_prediction").

    Parameters
    ----------
    prediction_type : {"epsilon", "sample", "v_prediction"}
        What the network predicts.
    x, score : np.ndarray
        The points and the score there.
    m, sigma : float
        The noise level.

    Returns
    -------
    np.ndarray
        The network output, shaped like x.
    """
    eps = -sigma * score
    if prediction_type == "epsilon":
        return eps
    x0 = (x + sigma**2 * score) / m
    return x0 if prediction_type == "sample" else m * eps - sigma * x0


def network_predictions(
    prediction_type: PredictionType, x: np.ndarray, output: np.ndarray, m: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """diffusers' (x̂0, ε̂) from the output of a network with ``prediction_type`` at the
    variance-preserving sample x of noise level (m, σ).

    "epsilon": x̂0 = (x − σ ε)/m; "sample": ε̂ = (x − m x̂0)/σ; "v_prediction": x̂0 = m x − σ v,
    ε̂ = m v + σ x.

    Parameters
    ----------
    prediction_type : {"epsilon", "sample", "v_prediction"}
        What the network predicts.
    x, output : np.ndarray
        The points and the network output there (see :func:`network_output`).
    m, sigma : float
        The noise level.

    Returns
    -------
    x0, eps : np.ndarray
        The predicted clean data and noise.
    """
    if prediction_type == "epsilon":
        return (x - sigma * output) / m, output
    if prediction_type == "sample":
        return output, (x - m * output) / sigma
    return m * x - sigma * output, m * output + sigma * x


class ChainSampler(Recorded):
    """Base of the discrete samplers (:mod:`fpguide.models.samplers` lists them): the interface
    :func:`~fpguide.solve_discrete` and :func:`~fpguide.sample_discrete` use, and its defaults.

    A sampler gives its steps (:meth:`plan`), the deterministic part of a step as a map of the
    state through the guided score (:meth:`step_map`; by default the plan's affine a_j x + b_j
    s_w(x, t_j)), diffusers' own arithmetic on particles (:meth:`literal_step`), the law of its
    first state (:meth:`prior_law`; by default N(0, 1)), its continuous counterpart
    (:meth:`process`, :attr:`eta`), ``pure_noise_start`` (it starts from pure noise at the end of a
    flow-matching path), ``multistep`` (its steps use earlier states of the trajectory; see
    :class:`~fpguide.models.multistep.MultistepSampler`) and ``model_calls_per_step`` (the network
    evaluations of a step, which diffusers' guiders count as their steps).
    """

    kind = "chain"
    pure_noise_start = False  # the chain starts at a finite noise level
    multistep = False  # each step is a map of the state alone
    model_calls_per_step = 1

    @property
    def eta(self) -> float:
        """The stochasticity of the continuous sampler this one tends to as the steps shrink."""
        raise NotImplementedError

    def process(self) -> Process:
        """The continuous-time counterpart the chain tends to as its steps shrink.

        Returns
        -------
        Process
            The process.
        """
        raise NotImplementedError

    def plan(self) -> Steps:
        """The steps of the run, with their times, noise levels and coefficients in the frame.

        Returns
        -------
        Steps
            The steps.
        """
        raise NotImplementedError

    def prior_law(self, model: GuidedModel, process: Process) -> tuple[float, float]:
        """The law of the chain's first state when it starts from the pipeline's noise: N(0, 1), the
        variance-preserving prior (diffusers' ``init_noise_sigma`` = 1).

        Parameters
        ----------
        model : GuidedModel
            The guided model.
        process : Process
            The sampler's process (:meth:`process`).

        Returns
        -------
        loc, scale : float
            The mean and the standard deviation of the Gaussian law.
        """
        return 0.0, 1.0

    def step_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """The deterministic part of step j: a_j x + b_j s_w(x, t_j).

        Parameters
        ----------
        x : np.ndarray
            The points.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        np.ndarray
            The mapped points, shaped like x.
        """
        return plan.a[j] * x + plan.b[j] * score(x, plan.t[j])

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j of ``plan`` on particles with diffusers' arithmetic (network output → x̂0, ε̂ →
        update; the noise scale is the plan's c_j), standard normal ``noise``.

        Parameters
        ----------
        x : np.ndarray
            The particles.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.
        noise : np.ndarray or float
            Standard normal draws shaped like x (0.0: the deterministic part).

        Returns
        -------
        np.ndarray
            The particles after the step.
        """
        raise NotImplementedError


class DiscreteSampler(ChainSampler):
    """Base of :class:`DDIM` and :class:`DDPM`: the schedule, the number of steps, the prediction
    type and ``clip_sample`` (None, or r: x̂0 clipped to [−r, r] as diffusers' ``clip_sample=True``,
    ``clip_sample_range=r``).

    Every step is x' = a x + b s_w(x) + c Z (:meth:`plan`); with ``clip_sample`` its deterministic
    part is diffusers' arithmetic with the clip (:meth:`step_map`). The prediction type only
    changes what the network outputs (:func:`network_output`), not the step.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule or None
        The noise schedule; None: ``NoiseSchedule()``.
    prediction_type : {"epsilon", "sample", "v_prediction"}
        What the network predicts: ε, x₀ or v.
    clip_sample : float or None
        None (no clipping), or r > 0: x̂0 clipped to [−r, r].

    Attributes
    ----------
    schedule : NoiseSchedule
        The noise schedule.
    steps : int
        The number of steps.
    timesteps : np.ndarray
        (N,) the decreasing timesteps of the run.
    prediction_type : str
        The prediction type.
    clip_sample : float or None
        The clip range r.

    Raises
    ------
    TypeError
        If ``schedule`` is not a NoiseSchedule.
    ValueError
        If ``prediction_type`` is not one of the allowed values, ``clip_sample`` is not > 0, or
        (:meth:`NoiseSchedule.timesteps`) ``steps`` does not fit the schedule.
    """

    kind = "discrete"

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None,
        prediction_type: PredictionType,
        clip_sample: float | None,
    ):
        self.schedule = NoiseSchedule() if schedule is None else schedule
        if not isinstance(self.schedule, NoiseSchedule):
            raise TypeError(
                f"schedule must be a fpguide.NoiseSchedule, got {type(self.schedule).__name__}"
            )
        self.steps = check_int("steps", steps, 1)
        self.timesteps = self.schedule.timesteps(self.steps)
        check_choice("prediction_type", prediction_type, PREDICTIONS)
        self.prediction_type = prediction_type
        self.clip_sample = (
            None if clip_sample is None else check_positive_real("clip_sample", clip_sample)
        )

    def process(self) -> ScheduleProcess:
        """The continuous-time counterpart of the schedule (:meth:`NoiseSchedule.process`).

        Returns
        -------
        ScheduleProcess
            The variance-preserving process of the schedule.
        """
        return self.schedule.process()

    def previous(self) -> np.ndarray:
        """The level each step of the run goes to.

        Returns
        -------
        np.ndarray
            (N,) one timestep per timestep of the run (−1: the clean data).
        """
        raise NotImplementedError

    def _coefficients(self, abar, abar_next, timestep):
        """(a, b, c) of x' = a x + b s + c Z."""
        raise NotImplementedError

    def plan(self) -> Steps:
        """Every step of the run with its coefficients (a step to its own level, the identity, is
        left out).

        With ᾱ at the step's timestep and ᾱ' at its previous level (1 below timestep 0), m = √ᾱ,
        σ = √(1 − ᾱ) and the same for the next level.

        Returns
        -------
        Steps
            The steps, with their timesteps, times, noise levels and coefficients (a, b, c).
        """
        abar_all = self.schedule.alphas_cumprod()
        timestep, previous = self.timesteps, self.previous()
        moves = previous != timestep
        timestep, previous = timestep[moves], previous[moves]
        abar = abar_all[timestep]
        abar_next = np.where(previous >= 0, abar_all[np.maximum(previous, 0)], 1.0)
        a, b, c = self._coefficients(abar, abar_next, timestep)
        return Steps(
            timestep,
            previous,
            self.schedule.time(timestep),
            self.schedule.time(previous),
            np.sqrt(abar),
            np.sqrt(1.0 - abar),
            np.sqrt(abar_next),
            np.sqrt(1.0 - abar_next),
            a,
            b,
            c,
        )

    def predictions(
        self, x: np.ndarray, output: np.ndarray, m: float, sigma: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """diffusers' (x̂0, ε̂) from a network output, x̂0 clipped to [−r, r] with ``clip_sample`` =
        r.

        "epsilon": x̂0 = (x − σ ε)/m; "sample": ε̂ = (x − m x̂0)/σ; "v_prediction": x̂0 = m x − σ v,
        ε̂ = m v + σ x. ε̂ is computed before the clip.

        Parameters
        ----------
        x : np.ndarray
            The points.
        output : np.ndarray
            The network output there (see :func:`network_output`).
        m, sigma : float
            The noise level.

        Returns
        -------
        x0, eps : np.ndarray
            The predicted clean data (clipped with ``clip_sample``) and noise.
        """
        x0, eps = network_predictions(self.prediction_type, x, output, m, sigma)
        if self.clip_sample is not None:
            x0 = np.clip(x0, -self.clip_sample, self.clip_sample)
        return x0, eps

    def step_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """The deterministic part of step j: a_j x + b_j s, or with ``clip_sample`` diffusers'
        arithmetic without noise (no longer affine in s).

        Parameters
        ----------
        x : np.ndarray
            The points.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        np.ndarray
            The mapped points, shaped like x.
        """
        if self.clip_sample is None:
            return super().step_map(x, score, plan, j)
        return self.literal_step(x, score, plan, j, 0.0)


class DDIM(DiscreteSampler):
    """diffusers' DDIMScheduler with ``steps`` inference steps and stochasticity η (η = 0:
    deterministic DDIM; η = 1: the DDPM posterior variance). ``set_alpha_to_one``: the last step
    goes to the clean data (ᾱ = 1), else to the level of timestep 0.

    One step from timestep t to t' = t − K//N (diffusers' rule, also for "linspace", where t' is
    then not the next timestep of the run), with x̂0 = (x + σ_t² s)/m_t and ε̂ = −σ_t s:
    x' = m_{t'} x̂0 + √(σ_{t'}² − s_η²) ε̂ + s_η Z, s_η = η σ_{t'}/σ_t √(1 − ᾱ_t/ᾱ_{t'}). As N
    grows DDIM(η) tends to the η-sampler of :meth:`NoiseSchedule.process`.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    eta : float, default 0.0
        η in [0, 1] (0: deterministic DDIM, 1: DDPM variance).
    schedule : NoiseSchedule, optional
        The noise schedule; default ``NoiseSchedule()``.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same step for each).
    set_alpha_to_one : bool, default True
        Whether the last step goes to the clean data (ᾱ = 1) rather than to timestep 0.
    clip_sample : float, optional
        r > 0: x̂0 clipped to [−r, r] (diffusers' ``clip_sample=True``,
        ``clip_sample_range=r``); default None: no clipping.

    Raises
    ------
    ValueError
        If ``eta`` is outside [0, 1] (and as :class:`DiscreteSampler`).
    TypeError
        If ``set_alpha_to_one`` is not a bool (and as :class:`DiscreteSampler`).

    Examples
    --------
    >>> import fpguide as fg
    >>> sampler = fg.DDIM(4)
    >>> sampler.timesteps, sampler.previous()
    (array([750, 500, 250,   0]), array([500, 250,   0,  -1]))
    >>> len(sampler.plan())
    4
    """

    kind = "DDIM"

    def __init__(
        self,
        steps: int,
        eta: float = 0.0,
        schedule: NoiseSchedule | None = None,
        *,
        prediction_type: PredictionType = "epsilon",
        set_alpha_to_one: bool = True,
        clip_sample: float | None = None,
    ):
        super().__init__(steps, schedule, prediction_type, clip_sample)
        self._eta = check_in_range(
            "eta", eta, 0.0, 1.0, "(0: deterministic DDIM, 1: DDPM variance)"
        )
        self.set_alpha_to_one = check_flag("set_alpha_to_one", set_alpha_to_one)

    @property
    def eta(self) -> float:
        """The stochasticity η."""
        return self._eta

    def previous(self) -> np.ndarray:
        """The level each step goes to: t − K//N, and below timestep 0 the clean data (−1) with
        ``set_alpha_to_one``, else timestep 0.

        Returns
        -------
        np.ndarray
            (N,) one timestep per timestep of the run.
        """
        prev = self.timesteps - self.schedule.num_train_timesteps // self.steps
        return np.where(prev >= 0, prev, -1 if self.set_alpha_to_one else 0)

    def _std(self, abar, abar_next):
        return self._eta * np.sqrt((1.0 - abar_next) / (1.0 - abar) * (1.0 - abar / abar_next))

    def _coefficients(self, abar, abar_next, timestep):
        m, sigma, m_next = np.sqrt(abar), np.sqrt(1.0 - abar), np.sqrt(abar_next)
        std = self._std(abar, abar_next)
        direction = np.sqrt(np.maximum(1.0 - abar_next - std**2, 0.0))
        return m_next / m, m_next * sigma**2 / m - direction * sigma, std

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j of ``plan`` with DDIMScheduler's arithmetic: x̂0, ε̂ from the network output, then
        x' = √ᾱ' x̂0 + √(1 − ᾱ' − c_j²) ε̂ + c_j ``noise``.

        Parameters
        ----------
        x : np.ndarray
            The particles.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.
        noise : np.ndarray or float
            Standard normal draws shaped like x (0.0: the deterministic part).

        Returns
        -------
        np.ndarray
            The particles after the step.
        """
        s = plan
        m, sigma, abar_next = s.m[j], s.sigma[j], s.m_next[j] ** 2
        x0, eps = self.predictions(
            x, network_output(self.prediction_type, x, score(x, s.t[j]), m, sigma), m, sigma
        )
        std = s.c[j]
        return abar_next**0.5 * x0 + (1.0 - abar_next - std**2) ** 0.5 * eps + std * noise

    def to_dict(self) -> dict:
        """The record, which :func:`~fpguide.models.samplers.sampler_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "DDIM", the constructor's arguments and the schedule's record.
        """
        return {
            "type": "DDIM",
            "steps": self.steps,
            "eta": self._eta,
            "schedule": self.schedule.to_dict(),
            "prediction_type": self.prediction_type,
            "set_alpha_to_one": self.set_alpha_to_one,
            "clip_sample": self.clip_sample,
        }


class DDPM(DiscreteSampler):
    """diffusers' DDPMScheduler (ancestral sampling) with ``steps`` inference steps and the
    posterior variance ``variance_type`` "fixed_small" (β̃ = σ_{t'}² β/σ_t²) or "fixed_large"
    (β).

    One step from timestep t to the next timestep t' of the run (ᾱ_{t'} = 1 below timestep 0),
    with x̂0 = (x + σ_t² s)/m_t: x' = (m_{t'} β/σ_t²) x̂0 + (√α σ_{t'}²/σ_t²) x + s Z,
    α = ᾱ_t/ᾱ_{t'}, β = 1 − α, s² the posterior variance, no noise at timestep 0.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule, optional
        The noise schedule; default ``NoiseSchedule()``.
    variance_type : {"fixed_small", "fixed_large"}, default "fixed_small"
        The posterior variance: σ_{t'}² β/σ_t² or β.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same step for each).
    clip_sample : float, optional
        r > 0: x̂0 clipped to [−r, r] (diffusers' ``clip_sample=True``,
        ``clip_sample_range=r``); default None: no clipping.

    Raises
    ------
    ValueError
        If ``variance_type`` is not one of the allowed values (and as :class:`DiscreteSampler`).

    Examples
    --------
    >>> import fpguide as fg
    >>> fg.DDPM(4).previous()
    array([500, 250,   0,  -1])
    """

    kind = "DDPM"

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        variance_type: VarianceType = "fixed_small",
        prediction_type: PredictionType = "epsilon",
        clip_sample: float | None = None,
    ):
        super().__init__(steps, schedule, prediction_type, clip_sample)
        check_choice("variance_type", variance_type, VARIANCES)
        self.variance_type = variance_type

    @property
    def eta(self) -> float:
        """The stochasticity of the limit sampler: 1."""
        return 1.0

    def previous(self) -> np.ndarray:
        """The level each step goes to: the next timestep of the run, and −1 (the clean data) after
        the last.

        Returns
        -------
        np.ndarray
            (N,) one timestep per timestep of the run.
        """
        return np.append(self.timesteps[1:], -1)

    def _coefficients(self, abar, abar_next, timestep):
        m, sigma2, m_next = np.sqrt(abar), 1.0 - abar, np.sqrt(abar_next)
        alpha = abar / abar_next
        beta = 1.0 - alpha
        x0_coeff = m_next * beta / sigma2
        variance = (
            (1.0 - abar_next) * beta / sigma2 if self.variance_type == "fixed_small" else beta
        )
        std = np.where(timestep > 0, np.sqrt(variance), 0.0)
        return (
            x0_coeff / m + np.sqrt(alpha) * (1.0 - abar_next) / sigma2,
            x0_coeff * sigma2 / m,
            std,
        )

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j of ``plan`` with DDPMScheduler's arithmetic: x̂0 from the network output, then
        x' = (√ᾱ' β/σ_t²) x̂0 + (√α (1 − ᾱ')/σ_t²) x + c_j ``noise``.

        Parameters
        ----------
        x : np.ndarray
            The particles.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.
        noise : np.ndarray or float
            Standard normal draws shaped like x (0.0: the deterministic part).

        Returns
        -------
        np.ndarray
            The particles after the step.
        """
        s = plan
        m, sigma, abar_next = s.m[j], s.sigma[j], s.m_next[j] ** 2
        x0, _ = self.predictions(
            x, network_output(self.prediction_type, x, score(x, s.t[j]), m, sigma), m, sigma
        )
        alpha = m**2 / abar_next
        beta = 1.0 - alpha
        mean = abar_next**0.5 * beta / sigma**2 * x0 + alpha**0.5 * (1.0 - abar_next) / sigma**2 * x
        return mean + s.c[j] * noise

    def to_dict(self) -> dict:
        """The record, which :func:`~fpguide.models.samplers.sampler_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "DDPM", the constructor's arguments and the schedule's record.
        """
        return {
            "type": "DDPM",
            "steps": self.steps,
            "schedule": self.schedule.to_dict(),
            "variance_type": self.variance_type,
            "prediction_type": self.prediction_type,
            "clip_sample": self.clip_sample,
        }


class FlowMatchEuler(ChainSampler):
    """diffusers' FlowMatchEulerDiscreteScheduler (Stable Diffusion 3, Flux): Euler steps of the
    rectified-flow ODE from pure noise.

    The path is X = (1 − σ) X_0 + σ Z (:class:`~fpguide.models.processes.FlowMatching`, diffusion
    time t = σ); the network predicts the velocity v = ε − x̂0 and a step from σ to σ' is
    x' = x + (σ' − σ) v, with classifier-free guidance on v. With the exact guided score s (of X)
    that is x' = a x + b s, a = (1 − σ')/(1 − σ), b = σ (σ − σ')/(1 − σ); the first step, from
    σ = 1 (pure noise, where x̂0 is the guided denoiser's mean c at zero signal), is
    x' = σ' x + (1 − σ') c, which maps N(0, 1) to N((1 − σ') c, σ'²) exactly (:meth:`prior_law`):
    the chain's states start after it.

    The sigmas are diffusers' (float32): the training sigmas k/K shifted, σ ↦ shift σ/(1 + (shift −
    1) σ), give σ_max = 1 and σ_min; N values linear from σ_max to σ_min are shifted again (or, with
    ``use_dynamic_shifting``, mapped by e^μ/(e^μ + (1/σ − 1)) — "linear": μ/(μ + (1/σ − 1))) and
    end with σ = 0. Settings of the scheduler not taken here (Karras, exponential or beta sigmas,
    ``shift_terminal``, ``invert_sigmas``, ``stochastic_sampling``) are not reproduced.

    Parameters
    ----------
    steps : int
        The number N >= 2 of inference steps.
    shift : float, default 1.0
        The sigma shift (> 0; Stable Diffusion 3 uses 3).
    num_train_timesteps : int, default 1000
        The number K >= 2 of training timesteps.
    use_dynamic_shifting : bool, default False
        Shift by ``mu`` (resolution-dependent, Flux) instead of ``shift``.
    mu : float, optional
        The dynamic shift μ (required with ``use_dynamic_shifting``, > 0 for "linear").
    time_shift_type : {"exponential", "linear"}, default "exponential"
        The form of the dynamic shift.

    Raises
    ------
    ValueError
        For steps < 2, a shift or K out of range, ``mu`` missing with ``use_dynamic_shifting`` or
        given without it, or an unknown ``time_shift_type``.

    Examples
    --------
    >>> import fpguide as fg
    >>> sampler = fg.FlowMatchEuler(4, shift=3.0)
    >>> sampler.sigmas.round(4).tolist()
    [1.0, 0.8577, 0.6022, 0.0089, 0.0]
    """

    kind = "FlowMatchEuler"
    pure_noise_start = True  # from σ = 1, where the denoiser is the constant c

    def __init__(
        self,
        steps: int,
        shift: float = 1.0,
        *,
        num_train_timesteps: int = 1000,
        use_dynamic_shifting: bool = False,
        mu: float | None = None,
        time_shift_type: TimeShift = "exponential",
    ):
        self.steps = check_int("steps", steps, 2)
        self.shift = check_positive_real("shift", shift)
        self.num_train_timesteps = check_int("num_train_timesteps", num_train_timesteps, 2)
        self.use_dynamic_shifting = check_flag("use_dynamic_shifting", use_dynamic_shifting)
        check_choice("time_shift_type", time_shift_type, TIME_SHIFTS)
        self.time_shift_type = time_shift_type
        if use_dynamic_shifting and mu is None:
            raise ValueError(
                "mu is required with use_dynamic_shifting=True (diffusers' set_timesteps)"
            )
        if not use_dynamic_shifting and mu is not None:
            raise ValueError(f"mu={mu} is used only with use_dynamic_shifting=True")
        self.mu = None if mu is None else float(mu)
        if self.mu is not None and time_shift_type == "linear":
            check_positive_real("mu", self.mu)
        self.sigmas = self._sigmas()
        positive = self.sigmas[1:-1]
        if positive[0] >= 1.0 or (np.diff(positive) >= 0.0).any():
            shifted = "mu" if use_dynamic_shifting else "shift"
            raise ValueError(
                f"{shifted}={getattr(self, shifted)} with {steps} steps gives float32 sigmas that "
                f"reach 1 after the first step or repeat ({self.sigmas[:4].tolist()}...): steps "
                f"of zero length; use a smaller {shifted}"
            )

    def _shifted(self, sigma: np.ndarray) -> np.ndarray:
        if not self.use_dynamic_shifting:
            return self.shift * sigma / (1.0 + (self.shift - 1.0) * sigma)
        if self.time_shift_type == "exponential":
            return math.exp(self.mu) / (math.exp(self.mu) + (1.0 / sigma - 1.0))
        return self.mu / (self.mu + (1.0 / sigma - 1.0))

    def _sigmas(self) -> np.ndarray:
        """The N + 1 sigmas of the run as diffusers computes them (float32 values, then 0)."""
        k = self.num_train_timesteps
        train = np.linspace(1, k, k, dtype=np.float32)[::-1] / np.float32(k)  # float32, as torch
        if not self.use_dynamic_shifting:
            train = self.shift * train / (1 + (self.shift - 1) * train)
        sigma_max, sigma_min = float(train[0]), float(train[-1])
        sigmas = np.linspace(sigma_max * k, sigma_min * k, self.steps) / k
        return np.append(self._shifted(sigmas).astype(np.float32).astype(float), 0.0)

    @property
    def eta(self) -> float:
        """The stochasticity of the continuous sampler the chain tends to: 0 (the ODE)."""
        return 0.0

    @property
    def timesteps(self) -> np.ndarray:
        """(N,) the timesteps σ·K the network is given (float32 values, as diffusers')."""
        product = self.sigmas[:-1].astype(np.float32) * np.float32(self.num_train_timesteps)
        return product.astype(float)

    def process(self) -> Process:
        """The continuous-time counterpart: rectified flow, whose diffusion time is σ.

        Returns
        -------
        FlowMatching
            ``FlowMatching("linear")``.
        """
        return FlowMatching("linear")

    def plan(self) -> Steps:
        """The steps after the first (from σ_1 on), in fpguide's frame Y = X/S, S = sqrt((1 − σ)² +
        σ²): y' = (a S/S') y + (b/(S S')) s_Y(y) with a, b as above.

        Returns
        -------
        Steps
            The steps (``timestep``: σ·K), with c = 0.
        """
        sigma, sigma_next = self.sigmas[1:-1], self.sigmas[2:]
        scale, scale_next = np.hypot(1.0 - sigma, sigma), np.hypot(1.0 - sigma_next, sigma_next)
        a = (1.0 - sigma_next) / (1.0 - sigma)
        b = sigma * (sigma - sigma_next) / (1.0 - sigma)
        timesteps = np.append(self.timesteps, 0.0)
        return Steps(
            timesteps[1:-1],
            timesteps[2:],
            sigma,
            sigma_next,
            (1.0 - sigma) / scale,
            sigma / scale,
            (1.0 - sigma_next) / scale_next,
            sigma_next / scale_next,
            a * scale / scale_next,
            b / (scale * scale_next),
            np.zeros_like(sigma),
        )

    def prior_law(self, model: GuidedModel, process: Process) -> tuple[float, float]:
        """The law after the first step, from pure noise N(0, 1) at σ = 1: x' = x + (σ_1 − 1)(x − c)
        = σ_1 x + (1 − σ_1) c (v = ε̂ − x̂0 with ε̂ = x and x̂0 = c there), so N((1 − σ_1) c, σ_1²),
        in fpguide's frame at σ_1 (divided by S(σ_1)); c is the guided denoiser's mean at zero
        signal (:func:`~fpguide.models.dynamics.zero_signal_mean`).

        Parameters
        ----------
        model : GuidedModel
            The guided model.
        process : Process
            The rectified-flow process (:meth:`process`).

        Returns
        -------
        loc, scale : float
            The mean and the standard deviation of the Gaussian law; a start point z ~ N(0, 1) goes
            to loc + scale·z.
        """
        sigma = self.sigmas[1]
        frame = math.hypot(1.0 - sigma, sigma)
        return (1.0 - sigma) * zero_signal_mean(model, process) / frame, sigma / frame

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j of ``plan`` with the scheduler's arithmetic, in X = S y: the network's velocity
        v = ε̂ − x̂0 from the score (ε̂ = −σ s_X, x̂0 = (X + σ² s_X)/(1 − σ)), then
        X' = X + (σ' − σ) v.

        Parameters
        ----------
        x : np.ndarray
            The particles (in fpguide's frame).
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t (in fpguide's frame).
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.
        noise : np.ndarray or float
            Unused: the steps are deterministic.

        Returns
        -------
        np.ndarray
            The particles after the step, in fpguide's frame.
        """
        sigma, sigma_next = plan.t[j], plan.t_next[j]
        scale, scale_next = math.hypot(1.0 - sigma, sigma), math.hypot(1.0 - sigma_next, sigma_next)
        x_plain, score_plain = scale * x, score(x, plan.t[j]) / scale
        velocity = -sigma * score_plain - (x_plain + sigma**2 * score_plain) / (1.0 - sigma)
        return (x_plain + (sigma_next - sigma) * velocity) / scale_next

    def to_dict(self) -> dict:
        """The record, which :func:`~fpguide.models.samplers.sampler_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "FlowMatchEuler" and the constructor's arguments.
        """
        return {
            "type": "FlowMatchEuler",
            "steps": self.steps,
            "shift": self.shift,
            "num_train_timesteps": self.num_train_timesteps,
            "use_dynamic_shifting": self.use_dynamic_shifting,
            "mu": self.mu,
            "time_shift_type": self.time_shift_type,
        }
