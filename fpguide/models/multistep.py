"""diffusers' DPMSolverMultistepScheduler (DPM-Solver and DPM-Solver++, orders 1 to 3) as an exact
chain.

The scheduler steps the variance-preserving sample y (fpguide's frame: α = m = 1/sqrt(1 + s²),
σ = s m at sigma s, λ = log(α/σ) = −log s) over the sigmas of :mod:`.sigmas`. With h = λ' − λ the
step's log-SNR increment, D_k = x̂0 at the state k steps back and r_k the ratios of the earlier
increments to h, DPM-Solver++ (``algorithm_type="dpmsolver++"``, data prediction) takes

    y' = (σ'/σ) y + α' (1 − e^{−h}) D_0 + (a correction in D_0 − D_1 and D_1 − D_2),

and DPM-Solver (``"dpmsolver"``) the same with ε̂ and e^{h} (see the docs page on diffusers'
scheduler arithmetic for every coefficient). Step j uses order 1 at the first step, at the last
step when it goes to sigma 0 (and with ``euler_at_final``, or ``lower_order_final`` below 15 steps),
order 2 at the second (and the second-to-last with ``lower_order_final`` below 15 steps), and
``solver_order`` otherwise.

A step of order 2 or 3 depends on the model outputs at the earlier states of the same trajectory,
so the chain is not a map of the current state alone. It is a map of the first state: in 1-D every
state y_j = Φ_j(y_0) is a deterministic function of the start, and the law of y_j is the start law
pushed forward through Φ_j (:meth:`DPMSolverMultistep.path_map`). As the steps shrink, the chain
tends to the probability-flow ODE. At order 1 (``solver_order=1``) every step is a map of its state,
and the stochastic variants ("sde-dpmsolver++", "sde-dpmsolver") add their Gaussian after it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..tools.validation import check_choice, check_flag, check_int
from .discrete import (
    NoiseSchedule,
    PredictionType,
    ScoreFunction,
    Steps,
    network_output,
    network_predictions,
)
from .euler_samplers import SigmaSampler
from .sigmas import FinalSigmas, multistep_timesteps

if TYPE_CHECKING:
    from .guidance import GuidedModel
    from .processes import Process

__all__ = ["AlgorithmType", "DPMSolverMultistep", "MAX_ORDER", "MultistepSampler", "SolverType"]

AlgorithmType = Literal["dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"]
SolverType = Literal["midpoint", "heun"]
ALGORITHMS: tuple[AlgorithmType, ...] = get_args(AlgorithmType)
SOLVER_TYPES: tuple[SolverType, ...] = get_args(SolverType)
MAX_ORDER = 3
# diffusers lowers the order of the last steps of runs shorter than this
_SHORT_RUN = 15


class MultistepSampler(SigmaSampler):
    """Base of :class:`DPMSolverMultistep` and :class:`~fpguide.models.unipc.UniPCMultistep`:
    diffusers' multistep schedulers on the variance-preserving sample, from N(0, 1), over the
    timesteps of :func:`~fpguide.models.sigmas.multistep_timesteps` (Karras' ramp between the
    schedule's smallest and largest sigma, its timesteps rounded).

    A step of order 2 or 3 uses the model outputs at earlier states of the trajectory: every state
    is a map of the first state (:meth:`path_map`), and particles run whole trajectories
    (:meth:`literal_path`).

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps.
    schedule : NoiseSchedule or None
        The training schedule; None: ``NoiseSchedule(timestep_spacing="linspace")``.
    *args, **options
        The prediction type and the sigma options of
        :class:`~fpguide.models.euler_samplers.SigmaSampler`.
    """

    multistep = True  # steps of order 2 and 3 use earlier states of the trajectory
    karras_over_table = True  # Karras' ramp between S_0 and S_{K−1} by default

    def __init__(self, steps: int, schedule: NoiseSchedule | None, *args, **options):
        super().__init__(steps, schedule, *args, **options)
        if self.use_karras_sigmas:  # diffusers rounds the timesteps of Karras' sigmas
            self.timesteps = np.round(self.timesteps)

    def spaced_timesteps(self) -> np.ndarray:
        """The timesteps of the schedule's spacing
        (:func:`~fpguide.models.sigmas.multistep_timesteps`).

        Returns
        -------
        np.ndarray
            (N,) timesteps, decreasing.
        """
        return multistep_timesteps(self.schedule, self.steps)

    def init_noise_sigma(self) -> float:
        """diffusers' ``init_noise_sigma``: 1 (the pipeline starts from N(0, 1) in the frame).

        Returns
        -------
        float
            1.0.
        """
        return 1.0

    def prior_law(self, model: GuidedModel, process: Process) -> tuple[float, float]:
        """The law of the first state from the pipeline's noise: N(0, 1).

        Parameters
        ----------
        model : GuidedModel
            The guided model (unused).
        process : Process
            The schedule's process (unused).

        Returns
        -------
        loc, scale : float
            0.0 and 1.0.
        """
        return 0.0, 1.0

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """α = 1/sqrt(1 + s²), σ = s α and λ = log(α/σ) = −log s of the run's sigmas (λ = +inf at
        s = 0).

        Returns
        -------
        alpha, sigma, lam : np.ndarray
            (N + 1,) each.
        """
        s = self.sigmas
        alpha = 1.0 / np.hypot(s, 1.0)
        with np.errstate(divide="ignore"):
            return alpha, s * alpha, -np.log(s)

    def path_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """Φ_j: the state after step j of the trajectories that start at the first state x.

        Parameters
        ----------
        x : np.ndarray
            First states y_0.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        np.ndarray
            y_{j+1}, shaped like x.
        """
        raise NotImplementedError

    def literal_path(self, x: np.ndarray, score: ScoreFunction, plan: Steps) -> np.ndarray:
        """Every state of the trajectories from the first states x, with the scheduler's arithmetic.

        Parameters
        ----------
        x : np.ndarray
            First states y_0.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.

        Returns
        -------
        np.ndarray
            (N + 1, ...) the states, the first one x.
        """
        raise NotImplementedError


class DPMSolverMultistep(MultistepSampler):
    """diffusers' DPMSolverMultistepScheduler: DPM-Solver++ or DPM-Solver of order 1 to 3 (see
    :mod:`fpguide.models.multistep`), and their stochastic first-order variants.

    At order 1 every step is a map of its state (DDIM's step), followed for the SDE variants by a
    Gaussian: "sde-dpmsolver++" y' = (σ'/σ) e^{−h} y + α' (1 − e^{−2h}) x̂0 + σ' sqrt(1 − e^{−2h}) Z
    (DDPM's posterior), "sde-dpmsolver" y' = (α'/α) y − 2σ' (e^h − 1) ε̂ + σ' sqrt(e^{2h} − 1) Z;
    as the steps shrink they tend to the reverse SDE (η = 1). At higher orders the SDE variants
    would need the law of a pair of states, and are refused.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule, optional
        The training schedule; default ``NoiseSchedule(timestep_spacing="linspace")``, diffusers'
        defaults.
    solver_order : {1, 2, 3}, default 2
        The order of the multistep method.
    algorithm_type : {"dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"}
        Data prediction (DPM-Solver++) or noise prediction (DPM-Solver, which diffusers runs only
        with ``final_sigmas_type="sigma_min"``); the "sde-" variants with ``solver_order=1`` only.
        Default "dpmsolver++".
    solver_type : {"midpoint", "heun"}, default "midpoint"
        The second-order correction.
    lower_order_final : bool, default True
        Lower the order of the last two steps of runs under 15 steps.
    euler_at_final : bool, default False
        Take the last step at order 1.
    use_karras_sigmas : bool, default False
        Karras' ramp (ρ = 7) between the schedule's smallest and largest sigma.
    final_sigmas_type : {"zero", "sigma_min"}, default "zero"
        The run ends at sigma 0 (the clean data; the last step is then of order 1) or at S_0.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same steps for each).

    Raises
    ------
    ValueError
        For a choice or order out of range, "dpmsolver" or "sde-dpmsolver" with
        ``final_sigmas_type="zero"``, an "sde-" variant above order 1, and as
        :class:`~fpguide.models.euler_samplers.SigmaSampler`.
    TypeError
        If a flag is not a bool, or as :class:`~fpguide.models.euler_samplers.SigmaSampler`.

    Examples
    --------
    >>> import fpguide as fg
    >>> sampler = fg.DPMSolverMultistep(10)  # DPM-Solver++(2M)
    >>> sampler.timesteps.astype(int).tolist()
    [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    >>> sampler.orders().tolist()
    [1, 2, 2, 2, 2, 2, 2, 2, 2, 1]
    """

    kind = "DPMSolverMultistep"

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        solver_order: int = 2,
        algorithm_type: AlgorithmType = "dpmsolver++",
        solver_type: SolverType = "midpoint",
        lower_order_final: bool = True,
        euler_at_final: bool = False,
        use_karras_sigmas: bool = False,
        final_sigmas_type: FinalSigmas = "zero",
        prediction_type: PredictionType = "epsilon",
    ):
        super().__init__(
            steps,
            schedule,
            prediction_type,
            use_karras_sigmas=use_karras_sigmas,
            final_sigmas_type=final_sigmas_type,
        )
        self.solver_order = check_int("solver_order", solver_order, 1)
        if solver_order > MAX_ORDER:
            raise ValueError(f"solver_order must be 1, 2 or 3, got {solver_order}")
        check_choice("algorithm_type", algorithm_type, ALGORITHMS)
        check_choice("solver_type", solver_type, SOLVER_TYPES)
        self.stochastic = algorithm_type.startswith("sde-")
        if self.stochastic and solver_order > 1:
            raise ValueError(
                f"algorithm_type={algorithm_type!r} with solver_order={solver_order} is not "
                "reproduced: its steps add noise and use earlier states, so the chain's law is "
                "that of the pair (y_j, y_{j-1}), not of one density; use solver_order=1"
            )
        self.data_prediction = algorithm_type.endswith("++")  # x̂0 (else ε̂)
        if not self.data_prediction and final_sigmas_type == "zero":
            raise ValueError(
                f"algorithm_type={algorithm_type!r} needs final_sigmas_type='sigma_min' "
                "(diffusers refuses final_sigmas_type='zero' for it)"
            )
        self.algorithm_type, self.solver_type = algorithm_type, solver_type
        self.multistep = solver_order > 1  # at order 1 every step is a map of its state
        self.lower_order_final = check_flag("lower_order_final", lower_order_final)
        self.euler_at_final = check_flag("euler_at_final", euler_at_final)
        self._x_weights, self._score_weights = self._weights()

    @property
    def eta(self) -> float:
        """The stochasticity of the continuous sampler the chain tends to: 1 for the SDE variants,
        else 0."""
        return 1.0 if self.stochastic else 0.0

    def _coefficients(self, s, s_next, m, m_next, sigma):
        """(a, b) of the first-order step without noise (DDIM's), and c, the SDE variants' noise."""
        a, b, _ = super()._coefficients(s, s_next, m, m_next, sigma)
        if not self.stochastic:
            return a, b, np.zeros_like(s)
        with np.errstate(divide="ignore"):
            h = np.log(s / s_next)  # +inf to the clean data, where there is no noise
        grow = -np.expm1(-2.0 * h) if self.data_prediction else np.expm1(2.0 * h)
        return a, b, np.where(s_next > 0, s_next * m_next * np.sqrt(grow), 0.0)

    def orders(self) -> np.ndarray:
        """The order diffusers uses at each step.

        Returns
        -------
        np.ndarray
            (N,) int orders, 1 to ``solver_order``.
        """
        n = self.steps
        out = np.empty(n, dtype=int)
        for j in range(n):
            short = self.lower_order_final and n < _SHORT_RUN
            last = j == n - 1 and (self.euler_at_final or short or self.final_sigmas_type == "zero")
            second = j == n - 2 and short
            if self.solver_order == 1 or j == 0 or last:
                out[j] = 1
            elif self.solver_order == 2 or j == 1 or second:
                out[j] = 2
            else:
                out[j] = 3
        return out

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, S): y_{j+1} = Σ_k X[j, k] y_{j−k} + S[j, k] s_w(y_{j−k}), k < 3."""
        alpha, sigma, lam = self.levels()
        x_weights, score_weights = (
            np.zeros((self.steps, MAX_ORDER)),
            np.zeros((self.steps, MAX_ORDER)),
        )
        for j, order in enumerate(self.orders()):
            w = self._output_weights(j, order, alpha, sigma, lam)
            levels = j - np.arange(order)  # the states whose outputs step j uses
            if self.data_prediction:  # m = x̂0 = (y + σ² s)/α
                x_weights[j, :order] = w / alpha[levels]
                score_weights[j, :order] = w * sigma[levels] ** 2 / alpha[levels]
                decay = math.exp(lam[j] - lam[j + 1]) if self.stochastic else 1.0  # e^{−h}
                x_weights[j, 0] += sigma[j + 1] / sigma[j] * decay
            else:  # m = ε̂ = −σ s
                score_weights[j, :order] = -w * sigma[levels]
                x_weights[j, 0] += alpha[j + 1] / alpha[j]
        return x_weights, score_weights

    def _output_weights(self, j, order, alpha, sigma, lam) -> np.ndarray:
        """The weights of the model outputs m_j, m_{j−1}, … (the first ``order``) in step j."""
        if self.sigmas[j + 1] == 0:  # order 1 to the clean data: y' = x̂0
            return np.array([1.0])
        h = lam[j + 1] - lam[j]
        if h == 0:  # the last step to its own sigma (Karras' ramp ending at sigma_min): y' = y
            return np.zeros(order)
        if self.stochastic:  # order 1 only
            if self.data_prediction:
                return np.array([-alpha[j + 1] * math.expm1(-2.0 * h)])
            return np.array([-2.0 * sigma[j + 1] * math.expm1(h)])
        if self.data_prediction:
            base = -alpha[j + 1] * math.expm1(-h)
            first = alpha[j + 1] * (math.expm1(-h) / h + 1.0)
            second = -alpha[j + 1] * ((math.expm1(-h) + h) / h**2 - 0.5)
        else:
            base = -sigma[j + 1] * math.expm1(h)
            first = -sigma[j + 1] * (math.expm1(h) / h - 1.0)
            second = -sigma[j + 1] * ((math.expm1(h) - h) / h**2 - 0.5)
        w = np.array([base])
        if order == 1:
            return w
        r0 = (lam[j] - lam[j - 1]) / h
        d1_0 = np.array([1.0, -1.0, 0.0]) / r0  # (m_0 − m_1)/r_0
        if order == 2:
            slope = 0.5 * base if self.solver_type == "midpoint" else first
            return np.array([base, 0.0]) + slope * d1_0[:2]
        r1 = (lam[j - 1] - lam[j - 2]) / h
        d1_1 = np.array([0.0, 1.0, -1.0]) / r1
        d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        return np.array([base, 0.0, 0.0]) + first * d1 + second * d2

    def path_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """Φ_j: the state after step j of the trajectories that start at the first state x.

        Parameters
        ----------
        x : np.ndarray
            First states y_0.
        score : callable
            The guided score s_w(x, t) at points x and diffusion time t.
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        np.ndarray
            y_{j+1}, shaped like x.
        """
        states, scores = [], []
        y = x
        for i in range(j + 1):
            states.insert(0, y)
            scores.insert(0, score(y, plan.t[i]))
            y = sum(
                self._x_weights[i, k] * states[k] + self._score_weights[i, k] * scores[k]
                for k in range(min(i + 1, MAX_ORDER))
            )
        return y

    def step_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """Step j alone, for a step of order 1 (a map of its state: DDIM's step).

        Parameters
        ----------
        x : np.ndarray
            The points.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps (:meth:`plan`).
        j : int
            The step.

        Returns
        -------
        np.ndarray
            The mapped points.

        Raises
        ------
        ValueError
            If step j is of order 2 or 3: it depends on earlier states (use :meth:`path_map`).
        """
        if np.any(self._x_weights[j, 1:]) or np.any(self._score_weights[j, 1:]):
            raise ValueError(f"step {j} is of order {self.orders()[j]}: it uses earlier states")
        return self._x_weights[j, 0] * x + self._score_weights[j, 0] * score(x, plan.t[j])

    def literal_path(self, x: np.ndarray, score: ScoreFunction, plan: Steps) -> np.ndarray:
        """Every state of the trajectories from the first states x, with the scheduler's arithmetic:
        the network output converted to x̂0 (DPM-Solver++) or ε̂ (DPM-Solver), then the
        first-, second- or third-order update written as diffusers writes it (D0, D1, D2).

        Parameters
        ----------
        x : np.ndarray
            First states y_0.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.

        Returns
        -------
        np.ndarray
            (N + 1, ...) the states, the first one x.
        """
        path, outputs = [x], []
        for j, order in enumerate(self.orders()):
            outputs.append(self._literal_output(path[-1], score, plan, j))
            path.append(self._literal_update(path[-1], outputs, j, order, 0.0))
        return np.array(path)

    def literal_step(
        self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int, noise: np.ndarray | float
    ) -> np.ndarray:
        """Step j of a first-order run (``solver_order=1``) with diffusers' arithmetic, its SDE
        variants' ``noise`` included.

        Parameters
        ----------
        x : np.ndarray
            The particles.
        score : callable
            The guided score s_w(x, t).
        plan : Steps
            The steps.
        j : int
            The step.
        noise : np.ndarray or float
            Standard normal draws shaped like x (0.0: the deterministic part).

        Returns
        -------
        np.ndarray
            The particles after the step.
        """
        return self._literal_update(x, [self._literal_output(x, score, plan, j)], j, 1, noise)

    def _literal_output(self, y, score, plan, j):
        """The model output diffusers' update uses: the network's output of the prediction type
        converted to x̂0 (DPM-Solver++) or ε̂ (DPM-Solver)."""
        m, sigma = plan.m[j], plan.sigma[j]
        output = network_output(self.prediction_type, y, score(y, plan.t[j]), m, sigma)
        x0, eps = network_predictions(self.prediction_type, y, output, m, sigma)
        return x0 if self.data_prediction else eps

    def _literal_update(self, y, outputs, j, order, noise):
        """diffusers' dpm_solver_first_order_update (with its SDE variants' noise) and multistep
        second/third-order updates."""
        s = self.sigmas
        alpha_t, sigma_t = 1.0 / math.hypot(s[j + 1], 1.0), s[j + 1] / math.hypot(s[j + 1], 1.0)
        alpha_s0, sigma_s0 = 1.0 / math.hypot(s[j], 1.0), s[j] / math.hypot(s[j], 1.0)
        if sigma_t == 0:
            return outputs[-1]  # the first-order update to sigma 0: x̂0
        lambda_t, lambda_s = -math.log(s[j + 1]), [-math.log(s[j - k]) for k in range(order)]
        h = lambda_t - lambda_s[0]
        d0 = outputs[-1]
        if self.algorithm_type == "sde-dpmsolver++":
            return (
                (sigma_t / sigma_s0 * math.exp(-h)) * y
                + (alpha_t * (1 - math.exp(-2.0 * h))) * d0
                + sigma_t * math.sqrt(1.0 - math.exp(-2 * h)) * noise
            )
        if self.algorithm_type == "sde-dpmsolver":
            return (
                (alpha_t / alpha_s0) * y
                - 2.0 * (sigma_t * (math.exp(h) - 1.0)) * d0
                + sigma_t * math.sqrt(math.exp(2 * h) - 1.0) * noise
            )
        if order >= 2:
            r0 = (lambda_s[0] - lambda_s[1]) / h
            d1 = (1.0 / r0) * (d0 - outputs[-2])
        if order == 3:
            r1 = (lambda_s[1] - lambda_s[2]) / h
            d1_0, d1_1 = d1, (1.0 / r1) * (outputs[-2] - outputs[-3])
            d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
            d2 = (1.0 / (r0 + r1)) * (d1_0 - d1_1)
        if self.algorithm_type == "dpmsolver++":
            x_t = (sigma_t / sigma_s0) * y - (alpha_t * (math.exp(-h) - 1.0)) * d0
            if order == 2 and self.solver_type == "midpoint":
                x_t = x_t - 0.5 * (alpha_t * (math.exp(-h) - 1.0)) * d1
            elif order >= 2:
                x_t = x_t + (alpha_t * ((math.exp(-h) - 1.0) / h + 1.0)) * d1
            if order == 3:
                x_t = x_t - (alpha_t * ((math.exp(-h) - 1.0 + h) / h**2 - 0.5)) * d2
            return x_t
        x_t = (alpha_t / alpha_s0) * y - (sigma_t * (math.exp(h) - 1.0)) * d0
        if order == 2 and self.solver_type == "midpoint":
            x_t = x_t - 0.5 * (sigma_t * (math.exp(h) - 1.0)) * d1
        elif order >= 2:
            x_t = x_t - (sigma_t * ((math.exp(h) - 1.0) / h - 1.0)) * d1
        if order == 3:
            x_t = x_t - (sigma_t * ((math.exp(h) - 1.0 - h) / h**2 - 0.5)) * d2
        return x_t

    def _record(self) -> dict:
        return {
            "solver_order": self.solver_order,
            "algorithm_type": self.algorithm_type,
            "solver_type": self.solver_type,
            "lower_order_final": self.lower_order_final,
            "euler_at_final": self.euler_at_final,
            "use_karras_sigmas": self.use_karras_sigmas,
            "final_sigmas_type": self.final_sigmas_type,
        }
