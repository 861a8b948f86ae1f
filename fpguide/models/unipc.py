"""diffusers' UniPCMultistepScheduler (UniPC: a multistep predictor with a corrector) as an exact
chain.

On the variance-preserving sample (α, σ, λ = −log s at sigma s, as DPM-Solver), step i takes the
model output m_i (x̂0 with ``predict_x0``, else ε̂) at the sample x_i the previous step returned,
then

* corrects (UniC, for i > 0 unless i − 1 is in ``disable_corrector``) the previous step's input
  xc_{i−1} into xc_i with the outputs m_{i−1}, m_{i−2}, … and m_i, at the previous step's order;
* predicts (UniP, order p_i = min(``solver_order``, i + 1, and N − i with ``lower_order_final``))
  x_{i+1} from xc_i with m_i, m_{i−1}, …

each as y' = (σ'/σ) y − α' hφ₁ m_0 − α' B(h) Σ_k ρ_k (m_k − m_0)/r_k (with ε̂: α'/α, σ'), where
h = λ' − λ, hφ₁ = e^{−h} − 1, B(h) = e^{−h} − 1 ("bh2") or −h ("bh1"), r_k the earlier log-SNR
increments over h, and ρ the solution of UniPC's order conditions (ρ = ½ at order 2 for the
predictor and order 1 for the corrector). x_i itself enters only through m_i.

Every state is a deterministic function of the first state, and its law the push-forward of the
start law (:meth:`UniPCMultistep.path_map`). The arithmetic is diffusers' (its ``R``, ``b`` and
``torch.linalg.solve`` in float64), shared by the grid's maps and the particles: the independent
checks are orders 1 and 2 written out from UniPC's order conditions (the tests), the order of the
gap to the probability-flow ODE, and diffusers itself (``benchmarks/diffusers_schedulers.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

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
from .multistep import MAX_ORDER, MultistepSampler
from .sigmas import FinalSigmas

__all__ = ["UniPCMultistep", "UniPCSolverType"]

UniPCSolverType = Literal["bh2", "bh1"]
UNIPC_SOLVER_TYPES: tuple[UniPCSolverType, ...] = get_args(UniPCSolverType)


class UniPCMultistep(MultistepSampler):
    """diffusers' UniPCMultistepScheduler: UniPC of order 1 to 3 with its corrector (see
    :mod:`fpguide.models.unipc`), deterministic.

    Parameters
    ----------
    steps : int
        The number N >= 1 of inference steps (at most K).
    schedule : NoiseSchedule, optional
        The training schedule; default ``NoiseSchedule(timestep_spacing="linspace")``, diffusers'
        defaults.
    solver_order : {1, 2, 3}, default 2
        The predictor's order.
    predict_x0 : bool, default True
        The model output the updates use: x̂0 (True) or ε̂.
    solver_type : {"bh2", "bh1"}, default "bh2"
        B(h) = e^{−h} − 1 or −h ("bh1"; like ``predict_x0=False`` diffusers runs it only with
        ``final_sigmas_type="sigma_min"``).
    lower_order_final : bool, default True
        Lower the predictor's order on the last steps (p_i <= N − i); without it diffusers runs
        orders above 1 only with ``final_sigmas_type="sigma_min"``.
    disable_corrector : sequence of int, default ()
        The steps i whose following correction is skipped (diffusers' ``disable_corrector``).
    use_karras_sigmas : bool, default False
        Karras' ramp (ρ = 7) between ``sigma_min`` and ``sigma_max``.
    sigma_min, sigma_max : float, optional
        The ends of the Karras ramp; default the schedule's smallest and largest sigma.
    final_sigmas_type : {"zero", "sigma_min"}, default "zero"
        The run ends at sigma 0 (the clean data) or at S_0.
    prediction_type : {"epsilon", "sample", "v_prediction"}, default "epsilon"
        What the network predicts (the same steps for each).

    Raises
    ------
    ValueError
        For a choice or order out of range, a setting diffusers returns NaN for ("bh1",
        ``predict_x0=False``, or an order above 1 without ``lower_order_final``, with
        ``final_sigmas_type="zero"``), Karras' sigmas
        ending at sigma_min (the last step to its own sigma returns the corrected sample), and as
        :class:`~fpguide.models.euler_samplers.SigmaSampler`.
    TypeError
        If a flag is not a bool, or as :class:`~fpguide.models.euler_samplers.SigmaSampler`.

    Examples
    --------
    >>> import fpguide as fg
    >>> sampler = fg.UniPCMultistep(10, solver_order=3)
    >>> sampler.orders().tolist()  # the predictor's
    [1, 2, 3, 3, 3, 3, 3, 3, 2, 1]
    """

    kind = "UniPCMultistep"

    def __init__(
        self,
        steps: int,
        schedule: NoiseSchedule | None = None,
        *,
        solver_order: int = 2,
        predict_x0: bool = True,
        solver_type: UniPCSolverType = "bh2",
        lower_order_final: bool = True,
        disable_corrector: Sequence[int] = (),
        use_karras_sigmas: bool = False,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        final_sigmas_type: FinalSigmas = "zero",
        prediction_type: PredictionType = "epsilon",
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
        self.solver_order = check_int("solver_order", solver_order, 1)
        if solver_order > MAX_ORDER:
            raise ValueError(f"solver_order must be 1, 2 or 3, got {solver_order}")
        self.predict_x0 = check_flag("predict_x0", predict_x0)
        check_choice("solver_type", solver_type, UNIPC_SOLVER_TYPES)
        self.solver_type = solver_type
        self.lower_order_final = check_flag("lower_order_final", lower_order_final)
        self.disable_corrector = tuple(
            check_int("disable_corrector", step, 0) for step in disable_corrector
        )
        zero = final_sigmas_type == "zero"
        if zero and (solver_type == "bh1" or not predict_x0):
            setting = "solver_type='bh1'" if solver_type == "bh1" else "predict_x0=False"
            raise ValueError(
                f"{setting} needs final_sigmas_type='sigma_min' (diffusers' last step to sigma 0 "
                "returns NaN with it)"
            )
        if zero and not lower_order_final and solver_order > 1:
            raise ValueError(
                "lower_order_final=False with solver_order > 1 needs final_sigmas_type="
                "'sigma_min' (diffusers' last step to sigma 0 divides by zero then)"
            )
        if self.sigmas[-1] == self.sigmas[-2]:
            raise ValueError(
                "use_karras_sigmas=True with final_sigmas_type='sigma_min' ends with a step to "
                "its own sigma, where diffusers returns the corrected sample: not reproduced"
            )
        # each update's coefficients, once: the maps evaluate every trajectory many times
        orders = self.orders()
        self._predictors = [self._terms(i + 1, i, orders[i], False) for i in range(self.steps)]
        self._correctors = [None] + [
            self._terms(i, i - 1, orders[i - 1], True) for i in range(1, self.steps)
        ]

    def orders(self) -> np.ndarray:
        """The predictor's order at each step: min(``solver_order``, i + 1, and N − i with
        ``lower_order_final``).

        Returns
        -------
        np.ndarray
            (N,) int orders.
        """
        i = np.arange(self.steps)
        cap = self.steps - i if self.lower_order_final else self.solver_order
        return np.minimum(np.minimum(self.solver_order, cap), i + 1)

    def _rhos(self, h: float, rks: list[float], order: int, corrector: bool):
        """UniPC's ρ (``rhos_p`` or ``rhos_c``), hφ₁ and B(h), as diffusers computes them."""
        hh = -h if self.predict_x0 else h
        h_phi_1 = math.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1.0
        factorial = 1
        b_h = hh if self.solver_type == "bh1" else math.expm1(hh)
        rows, rhs = [], []
        ratios = np.array([*rks, 1.0])
        for i in range(1, order + 1):
            rows.append(ratios ** (i - 1))
            rhs.append(h_phi_k * factorial / b_h)
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1.0 / factorial
        matrix, rhs = np.array(rows), np.array(rhs)
        if corrector:
            rhos = np.array([0.5]) if order == 1 else np.linalg.solve(matrix, rhs)
        elif order == 1:
            rhos = np.array([])
        else:
            rhos = np.array([0.5]) if order == 2 else np.linalg.solve(matrix[:-1, :-1], rhs[:-1])
        return rhos, h_phi_1, b_h

    def _terms(self, target: int, source: int, order: int, corrector: bool):
        """The coefficients of UniP (``corrector`` False) or UniC from level ``source`` to
        ``target``: (r_k, ρ, the sample's factor, m_0's factor, B's factor), or None for the step
        to the clean data (x̂0 itself, with predict_x0 as the checks ensure)."""
        alpha, sigma, lam = self.levels()
        if sigma[target] == 0:
            return None
        h = lam[target] - lam[source]
        rks = [(lam[source - k] - lam[source]) / h for k in range(1, order)]
        rhos, h_phi_1, b_h = self._rhos(h, rks, order, corrector)
        if self.predict_x0:
            return (
                rks,
                rhos,
                sigma[target] / sigma[source],
                alpha[target] * h_phi_1,
                alpha[target] * b_h,
            )
        return (
            rks,
            rhos,
            alpha[target] / alpha[source],
            sigma[target] * h_phi_1,
            sigma[target] * b_h,
        )

    @staticmethod
    def _update(y, outputs, terms, latest=None):
        """UniP (``latest`` None: ``outputs`` end with m_0 at the source) or UniC (``latest`` the
        output at the target) with the coefficients ``terms`` (:meth:`_terms`)."""
        if terms is None:
            return outputs[-1]
        rks, rhos, factor, m0_factor, weight = terms
        m0 = outputs[-1]
        d1s = [(outputs[-(k + 1)] - m0) / rks[k - 1] for k in range(1, len(rks) + 1)]
        base = factor * y - m0_factor * m0
        residual = sum((rho * d1 for rho, d1 in zip(rhos, d1s)), 0.0 * m0)
        if latest is not None:
            residual = residual + rhos[-1] * (latest - m0)
        return base - weight * residual

    def _trajectories(self, x, score, plan, last: int) -> list[np.ndarray]:
        """The states y_0 … y_{last+1} of diffusers' loop from the first states x."""
        states, outputs, corrected = [x], [], None
        for i in range(last + 1):
            y = states[-1]
            m, sigma = plan.m[i], plan.sigma[i]
            output = network_output(self.prediction_type, y, score(y, plan.t[i]), m, sigma)
            x0, eps = network_predictions(self.prediction_type, y, output, m, sigma)
            latest = x0 if self.predict_x0 else eps
            if i > 0 and i - 1 not in self.disable_corrector:
                y = self._update(corrected, outputs, self._correctors[i], latest)
            outputs.append(latest)
            corrected = y
            states.append(self._update(y, outputs, self._predictors[i]))
        return states

    def path_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """Φ_j: the state after step j (the predictor's output) of the trajectories from x.

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
        return self._trajectories(x, score, plan, j)[-1]

    def literal_path(self, x: np.ndarray, score: ScoreFunction, plan: Steps) -> np.ndarray:
        """Every state of the trajectories from the first states x (diffusers' loop, as
        :meth:`path_map`).

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
        return np.array(self._trajectories(x, score, plan, len(plan) - 1))

    def step_map(self, x: np.ndarray, score: ScoreFunction, plan: Steps, j: int) -> np.ndarray:
        """The last step to sigma 0 alone: y' = x̂0(y), a map of its own state (the corrected
        sample enters with weight σ' = 0).

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
            For any other step: it depends on earlier states (use :meth:`path_map`).
        """
        if plan.sigma_next[j] != 0 or not self.predict_x0:
            raise ValueError(f"step {j} uses earlier states: only the step to sigma 0 is a map")
        return (x + plan.sigma[j] ** 2 * score(x, plan.t[j])) / plan.m[j]

    def _record(self) -> dict:
        return self._sigmas_record() | {
            "solver_order": self.solver_order,
            "predict_x0": self.predict_x0,
            "solver_type": self.solver_type,
            "lower_order_final": self.lower_order_final,
            "disable_corrector": list(self.disable_corrector),
            "final_sigmas_type": self.final_sigmas_type,
        }
