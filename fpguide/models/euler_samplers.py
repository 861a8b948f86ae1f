"""diffusers' Euler, Euler ancestral and Heun schedulers (EulerDiscreteScheduler,
EulerAncestralDiscreteScheduler, HeunDiscreteScheduler): Karras et al.'s samplers, as exact chains.

They step in the variance-exploding scale x = x_0 + s ε over the sigmas s_0 > … > s_N of
:mod:`.sigmas`, with D(x, s) the exact guided denoiser x̂0 at the scheduler's own sigma:

* Euler: x' = (s'/s) x + (1 − s'/s) D(x, s), i.e. x + (s' − s) d, d = (x − D)/s;
* Euler ancestral: x' = (s'²/s²) x + (1 − s'²/s²) D(x, s) + s_up Z, s_up² = s'² (1 − s'²/s²);
* Heun: the Euler step x̃, then x' = x + ½ (s' − s)(d(x, s) + d(x̃, s')); the step to s' = 0 is
  Euler's alone (x' = D).

fpguide holds them in the variance-preserving frame y = m x, m = 1/sqrt(1 + s²), σ = s m, of the
schedule's process (:meth:`~fpguide.models.discrete.NoiseSchedule.process`), where sigma s is the
noise level at the diffusion time of log-SNR −2 log s and D = (y + σ² s_w)/m. There Euler and
Euler ancestral are y' = a y + b s_w(y, t) + c Z with a = m'/m, b = m' (1 − r) σ²/m, c = m' s_up
(r = s'/s, resp. s'²/s²): Euler is DDIM at the same noise levels, and as the steps shrink Euler and
Heun tend to the probability-flow ODE (η = 0), Euler ancestral to the reverse SDE (η = 1). Heun's
step is a map of y through two scores, at y and at the Euler point.

The pipeline starts from x = ``init_noise_sigma`` · Z: s_0 Z ("linspace", "trailing") or
sqrt(s_0² + 1) Z ("leading"), in the frame N(0, (m_0 s_0)²) resp. N(0, 1) (:meth:`prior_law`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..tools.validation import check_choice, check_flag, check_int
from .discrete import (
    PREDICTIONS,
    ChainSampler,
    NoiseSchedule,
    PredictionType,
    ScheduleProcess,
    ScoreFunction,
    Steps,
    network_output,
)
from .sigmas import FinalSigmas, run_sigmas, sigma_table, sigma_timesteps

if TYPE_CHECKING:
    from .guidance import GuidedModel
    from .processes import Process

__all__ = ["Euler", "EulerAncestral", "Heun", "SigmaSampler"]

# float32 rounding may put s_0 this far (relatively) above the schedule's last sigma
_SIGMA_ROUNDING = 1e-6


class SigmaSampler(ChainSampler):
    """Base of :class:`Euler`, :class:`EulerAncestral` and :class:`Heun`: the schedule, the steps,
    the prediction type and the run's sigmas (:func:`~fpguide.models.sigmas.run_sigmas`).

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule or None
        The training schedule and its ``timestep_spacing``; None: the scheduler's default.
    prediction_type : {"epsilon", "sample", "v_prediction"}
        What the network predicts.
    use_karras_sigmas, sigma_min, sigma_max, final_sigmas_type
        As :func:`~fpguide.models.sigmas.run_sigmas`.

    Attributes
    ----------
    schedule : NoiseSchedule
        The training schedule.
    steps : int
        The number of steps.
    sigmas : np.ndarray
        (N + 1,) the run's sigmas, float32 values.
    timesteps : np.ndarray
        (N,) the (float) timesteps of the sigmas s_0 … s_{N−1}.

    Raises
    ------
    TypeError
        If ``schedule`` is not a NoiseSchedule or a flag is not a bool.
    ValueError
        If ``prediction_type`` is not allowed, ``steps`` does not fit the schedule, the Karras ends
        are out of range, or s_0 lies beyond the schedule's largest sigma, where its process ends.
    """

    kind = "sigma"
    # Karras' ramp between the ends of the timesteps' sigmas (True: of the schedule's), by default
    karras_over_table = False
    default_schedule = NoiseSchedule(timestep_spacing="linspace")
    predictions: tuple[PredictionType, ...] = PREDICTIONS

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None,
        prediction_type: PredictionType,
        *,
        use_karras_sigmas: bool = False,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        final_sigmas_type: FinalSigmas = "zero",
    ):
        self.schedule = self.default_schedule if schedule is None else schedule
        if not isinstance(self.schedule, NoiseSchedule):
            raise TypeError(
                f"schedule must be a fpguide.NoiseSchedule, got {type(self.schedule).__name__}"
            )
        self.steps = check_int("steps", steps, 1)
        check_choice("prediction_type", prediction_type, self.predictions)
        self.prediction_type = prediction_type
        self.use_karras_sigmas = check_flag("use_karras_sigmas", use_karras_sigmas)
        spaced = self.spaced_timesteps()
        table = sigma_table(self.schedule)
        over_table = use_karras_sigmas and self.karras_over_table
        self.sigmas = run_sigmas(  # checks the Karras ends and final_sigmas_type
            self.schedule,
            spaced,
            use_karras_sigmas=use_karras_sigmas,
            sigma_min=table[0] if over_table and sigma_min is None else sigma_min,
            sigma_max=table[-1] if over_table and sigma_max is None else sigma_max,
            final_sigmas_type=final_sigmas_type,
        )
        self.sigma_min = None if sigma_min is None else float(sigma_min)
        self.sigma_max = None if sigma_max is None else float(sigma_max)
        self.final_sigmas_type = final_sigmas_type
        if self.sigmas[0] > table[-1] * (1.0 + _SIGMA_ROUNDING):
            raise ValueError(
                f"sigma_max={self.sigmas[0]:.6g} lies beyond the schedule's largest sigma "
                f"{table[-1]:.6g} (its last training timestep), where its process ends"
            )
        # diffusers' _sigma_to_t: the timestep interpolated linearly in log sigma
        self.timesteps = (
            np.interp(np.log(self.sigmas[:-1]), np.log(table), np.arange(table.size))
            if use_karras_sigmas
            else spaced
        )

    @property
    def eta(self) -> float:
        """The stochasticity of the continuous sampler the chain tends to: 0 (the ODE)."""
        return 0.0

    def spaced_timesteps(self) -> np.ndarray:
        """The timesteps of the schedule's spacing (:func:`~fpguide.models.sigmas.sigma_timesteps`).

        Returns
        -------
        np.ndarray
            (N,) float timesteps, decreasing.
        """
        return sigma_timesteps(self.schedule, self.steps)

    def process(self) -> ScheduleProcess:
        """The continuous-time counterpart (:meth:`NoiseSchedule.process`).

        Returns
        -------
        ScheduleProcess
            The variance-preserving process of the schedule.
        """
        return self.schedule.process()

    def time_of(self, sigmas: np.ndarray) -> np.ndarray:
        """The diffusion times of the process at noise level sigma (log-SNR −2 log s; 0 for s = 0),
        at most 1: s_0 in float32 may lie up to 1e-7 (relatively) above the process's top level,
        which is then taken.

        Parameters
        ----------
        sigmas : np.ndarray
            Sigmas s >= 0.

        Returns
        -------
        np.ndarray
            The times, shaped like ``sigmas``.
        """
        positive = sigmas > 0
        lam = -2.0 * np.log(np.where(positive, sigmas, 1.0))
        return np.where(positive, np.minimum(self.process().t_of_log_snr(lam), 1.0), 0.0)

    def init_noise_sigma(self) -> float:
        """diffusers' ``init_noise_sigma``: s_0, or sqrt(s_0² + 1) for "leading" spacing.

        Returns
        -------
        float
            The standard deviation of the pipeline's first x.
        """
        top = float(self.sigmas[0])
        return math.hypot(top, 1.0) if self.schedule.timestep_spacing == "leading" else top

    def prior_law(self, model: GuidedModel, process: Process) -> tuple[float, float]:
        """The law of the chain's first state from the pipeline's noise, in the frame:
        N(0, (m_0 ``init_noise_sigma``)²).

        Parameters
        ----------
        model : GuidedModel
            The guided model (unused: the start does not depend on it).
        process : Process
            The schedule's process.

        Returns
        -------
        loc, scale : float
            The mean and the standard deviation of the Gaussian law.
        """
        return 0.0, self.init_noise_sigma() / math.hypot(float(self.sigmas[0]), 1.0)

    def _coefficients(self, s, s_next, m, m_next, sigma):
        """(a, b, c) of y' = a y + b s_w + c Z, Euler's deterministic part by default."""
        ratio = s_next / s
        return m_next / m, m_next * (1.0 - ratio) * sigma**2 / m, np.zeros_like(s)

    def plan(self) -> Steps:
        """Every step of the run in the frame (``timestep``: the float timestep of its sigma, the
        last level labelled −1 for s = 0, 0 for s = S_0). A last step to its own sigma (Karras'
        sigmas ending at S_0 with ``final_sigmas_type="sigma_min"``), the identity, is left out.

        Returns
        -------
        Steps
            The steps, with their times, noise levels (m, σ in the frame) and coefficients.
        """
        moves = self.sigmas[1:] != self.sigmas[:-1]
        s, s_next = self.sigmas[:-1][moves], self.sigmas[1:][moves]
        m, m_next = 1.0 / np.hypot(s, 1.0), 1.0 / np.hypot(s_next, 1.0)
        a, b, c = self._coefficients(s, s_next, m, m_next, s * m)
        last = -1.0 if self.sigmas[-1] == 0 else 0.0
        return Steps(
            self.timesteps[moves],
            np.append(self.timesteps[1:], last)[moves],
            self.time_of(s),
            self.time_of(s_next),
            m,
            s * m,
            m_next,
            s_next * m_next,
            a,
            b,
            c,
        )

    @staticmethod
    def ve_sigmas(plan: Steps, j: int) -> tuple[float, float]:
        """The sigmas s = σ/m of step j and of its next level, in the VE scale.

        Parameters
        ----------
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        s, s_next : float
            The sigmas.
        """
        return plan.sigma[j] / plan.m[j], plan.sigma_next[j] / plan.m_next[j]

    def denoised(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, next_level=False):
        """diffusers' x̂0 at the VE sample x/m of step j's sigma (its next sigma with
        ``next_level``), from the network output of the prediction type given the VP sample x:
        x − s ε ("epsilon"), −s/sqrt(s² + 1) v + x/(s² + 1) ("v_prediction"), or the output
        ("sample").

        Parameters
        ----------
        x : np.ndarray
            The particles in the frame (the VP sample the network sees).
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.
        j : int
            The step.
        next_level : bool, default False
            At the step's next sigma instead of its own.

        Returns
        -------
        x_ve, x0 : np.ndarray
            The VE sample and diffusers' x̂0.
        """
        m, sigma, t = (
            (plan.m_next[j], plan.sigma_next[j], plan.t_next[j])
            if next_level
            else (plan.m[j], plan.sigma[j], plan.t[j])
        )
        s, x_ve = sigma / m, x / m
        output = network_output(self.prediction_type, x, score(x, t), m, sigma)
        if self.prediction_type == "epsilon":
            return x_ve, x_ve - s * output
        if self.prediction_type == "v_prediction":
            return x_ve, output * (-s / math.hypot(s, 1.0)) + x_ve / (s * s + 1.0)
        return x_ve, output

    def _sigmas_record(self) -> dict:
        return {
            "use_karras_sigmas": self.use_karras_sigmas,
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
        }

    def to_dict(self) -> dict:
        """The record, which :func:`~fpguide.models.samplers.sampler_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` (the class name), the constructor's arguments and the schedule's record.
        """
        return {
            "type": self.kind,
            "steps": self.steps,
            "schedule": self.schedule.to_dict(),
            "prediction_type": self.prediction_type,
        } | self._record()

    def _record(self) -> dict:
        """The subclass's own constructor arguments."""
        raise NotImplementedError


class Euler(SigmaSampler):
    """diffusers' EulerDiscreteScheduler: x' = (s'/s) x + (1 − s'/s) D(x, s) over the run's sigmas
    (see :mod:`fpguide.models.euler_samplers`); as the steps shrink, the probability-flow ODE.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule, optional
        The training schedule; default ``NoiseSchedule(timestep_spacing="linspace")``, diffusers'
        defaults.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same step for each).
    use_karras_sigmas : bool, default False
        Karras' ramp (ρ = 7) between ``sigma_min`` and ``sigma_max``.
    sigma_min, sigma_max : float, optional
        The ends of the Karras ramp; default the smallest and the largest sigma of the timesteps.
    final_sigmas_type : {"zero", "sigma_min"}, default "zero"
        The run ends at sigma 0 (the clean data) or at S_0 (the level of timestep 0).

    Raises
    ------
    ValueError, TypeError
        As :class:`SigmaSampler`.

    Examples
    --------
    >>> import fpguide as fg
    >>> sampler = fg.Euler(4)
    >>> sampler.timesteps.tolist()
    [999.0, 666.0, 333.0, 0.0]
    >>> sampler.sigmas.round(4).tolist()
    [157.4073, 9.4889, 1.4624, 0.01, 0.0]
    """

    kind = "Euler"

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        prediction_type: PredictionType = "epsilon",
        use_karras_sigmas: bool = False,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        final_sigmas_type: FinalSigmas = "zero",
    ):
        super().__init__(
            steps,
            schedule,
            prediction_type,
            use_karras_sigmas=use_karras_sigmas,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            final_sigmas_type=final_sigmas_type,
        )

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j with EulerDiscreteScheduler's arithmetic: d = (x − x̂0)/s, x' = x + d (s' − s)
        in VE units.

        Parameters
        ----------
        x : np.ndarray
            The particles in the frame.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.
        j : int
            The step.
        noise : np.ndarray or float
            Unused: the steps are deterministic.

        Returns
        -------
        np.ndarray
            The particles after the step, in the frame.
        """
        s, s_next = self.ve_sigmas(plan, j)
        x_ve, x0 = self.denoised(x, score, plan, j)
        return plan.m_next[j] * (x_ve + (x_ve - x0) / s * (s_next - s))

    def _record(self) -> dict:
        return self._sigmas_record() | {"final_sigmas_type": self.final_sigmas_type}


class EulerAncestral(SigmaSampler):
    """diffusers' EulerAncestralDiscreteScheduler: x' = (s'²/s²) x + (1 − s'²/s²) D(x, s) + s_up Z,
    s_up² = s'² (1 − s'²/s²), over the run's sigmas (ending at 0); as the steps shrink, the reverse
    SDE (η = 1).

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule, optional
        The training schedule; default ``NoiseSchedule(timestep_spacing="linspace")``.
    prediction_type : {"epsilon", "v_prediction"}, default "epsilon"
        What the network predicts (diffusers refuses "sample" here).

    Raises
    ------
    ValueError, TypeError
        As :class:`SigmaSampler`.

    Examples
    --------
    >>> import fpguide as fg
    >>> plan = fg.EulerAncestral(4).plan()
    >>> plan.c.round(4).tolist()  # the noise of each step, in the frame
    [0.9927, 0.8156, 0.01, 0.0]
    """

    kind = "EulerAncestral"
    predictions = ("epsilon", "v_prediction")

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        prediction_type: Literal["epsilon", "v_prediction"] = "epsilon",
    ):
        super().__init__(steps, schedule, prediction_type)

    @property
    def eta(self) -> float:
        """The stochasticity of the continuous sampler the chain tends to: 1 (the reverse SDE)."""
        return 1.0

    def _coefficients(self, s, s_next, m, m_next, sigma):
        ratio = (s_next / s) ** 2
        up = s_next * np.sqrt(1.0 - ratio)
        return m_next / m, m_next * (1.0 - ratio) * sigma**2 / m, m_next * up

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j with EulerAncestralDiscreteScheduler's arithmetic: s_up = sqrt(s'² (s² − s'²)/s²),
        s_down = sqrt(s'² − s_up²), x' = x + (x − x̂0)/s (s_down − s) + s_up ``noise`` in VE units.

        Parameters
        ----------
        x : np.ndarray
            The particles in the frame.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.
        j : int
            The step.
        noise : np.ndarray or float
            Standard normal draws shaped like x.

        Returns
        -------
        np.ndarray
            The particles after the step, in the frame.
        """
        s, s_next = self.ve_sigmas(plan, j)
        up = math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2)
        down = math.sqrt(s_next**2 - up**2)
        x_ve, x0 = self.denoised(x, score, plan, j)
        return plan.m_next[j] * (x_ve + (x_ve - x0) / s * (down - s) + up * noise)

    def _record(self) -> dict:
        return {}


class Heun(SigmaSampler):
    """diffusers' HeunDiscreteScheduler (Karras et al.'s second-order sampler): the Euler step x̃,
    then x' = x + ½ (s' − s)(d(x, s) + d(x̃, s')), d = (x − D)/s; the last step (to s' = 0) is
    Euler's. As the steps shrink, the probability-flow ODE, with a gap of second order.

    Each step is a map of x through two scores, x' = (s'/s) x + (s' − s)(s − 2s')/(2 s s') D(x, s)
    + (s − s')/(2 s') D(x̃, s'), that :meth:`step_map` evaluates in the frame.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (diffusers calls the network 2N − 1 times).
    schedule : NoiseSchedule, optional
        The training schedule; default diffusers' ``NoiseSchedule(beta_start=0.00085,
        beta_end=0.012, timestep_spacing="linspace")``.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same step for each).
    use_karras_sigmas : bool, default False
        Karras' ramp (ρ = 7) between the smallest and the largest sigma of the timesteps.

    Raises
    ------
    ValueError, TypeError
        As :class:`SigmaSampler`.

    Examples
    --------
    >>> import fpguide as fg
    >>> fg.Heun(4).sigmas.round(4).tolist()
    [25.1461, 4.4956, 1.2143, 0.0292, 0.0]
    """

    kind = "Heun"
    model_calls_per_step = 2
    default_schedule = NoiseSchedule(
        beta_start=0.00085, beta_end=0.012, timestep_spacing="linspace"
    )

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        prediction_type: PredictionType = "epsilon",
        use_karras_sigmas: bool = False,
    ):
        super().__init__(steps, schedule, prediction_type, use_karras_sigmas=use_karras_sigmas)

    def step_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """Step j in the frame: the Euler point ỹ = a_j y + b_j s_w(y, t_j), then (below the last
        step) m' ((s'/s) y/m + (s' − s)(s − 2s')/(2 s s') D_1 + (s − s')/(2 s') D_2) with
        D_1 = (y + σ² s_w(y, t_j))/m and D_2 = (ỹ + σ'² s_w(ỹ, t_{j+1}))/m'.

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
            The mapped points.
        """
        m, sigma, m_next, sigma_next = plan.m[j], plan.sigma[j], plan.m_next[j], plan.sigma_next[j]
        first = score(x, plan.t[j])
        euler = plan.a[j] * x + plan.b[j] * first
        if sigma_next == 0:
            return euler
        s, s_next = self.ve_sigmas(plan, j)
        d1 = (x + sigma**2 * first) / m
        d2 = (euler + sigma_next**2 * score(euler, plan.t_next[j])) / m_next
        return m_next * (
            s_next / s * x / m
            + (s_next - s) * (s - 2 * s_next) / (2 * s * s_next) * d1
            + (s - s_next) / (2 * s_next) * d2
        )

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j with HeunDiscreteScheduler's two calls: d1 = (x − x̂0)/s, x̃ = x + d1 (s' − s);
        then (s' > 0) d2 = (x̃ − x̂0(x̃, s'))/s', x' = x + ½ (d1 + d2)(s' − s), in VE units.

        Parameters
        ----------
        x : np.ndarray
            The particles in the frame.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.
        j : int
            The step.
        noise : np.ndarray or float
            Unused: the steps are deterministic.

        Returns
        -------
        np.ndarray
            The particles after the step, in the frame.
        """
        s, s_next = self.ve_sigmas(plan, j)
        x_ve, x0 = self.denoised(x, score, plan, j)
        first = (x_ve - x0) / s
        euler = x_ve + first * (s_next - s)
        if s_next == 0:
            return euler
        euler_ve, x0_next = self.denoised(plan.m_next[j] * euler, score, plan, j, next_level=True)
        second = (euler_ve - x0_next) / s_next
        return plan.m_next[j] * (x_ve + 0.5 * (first + second) * (s_next - s))

    def _record(self) -> dict:
        return {"use_karras_sigmas": self.use_karras_sigmas}
