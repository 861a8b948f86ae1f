"""The noise levels of diffusers' sigma-based schedulers (Euler, Euler ancestral, Heun,
DPM-Solver), in the variance-exploding scale x = x_0 + s ε of the training schedule.

The training sigmas are S_k = sqrt((1 − ᾱ_k)/ᾱ_k) for the K timesteps k of a
:class:`~fpguide.models.discrete.NoiseSchedule`; a run of N steps takes the sigmas of its timesteps
(linear interpolation of S_k in k at fractional timesteps), or Karras' ramp between two of them, and
ends with 0 or S_0. diffusers computes the table S_k in float32 (:func:`sigma_table` follows its
arithmetic), builds the run's sigmas from it in float64 and rounds them to float32 once; so does
:func:`run_sigmas`.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from ..tools.validation import check_choice, check_positive_real
from .discrete import NoiseSchedule

__all__ = [
    "FinalSigmas",
    "karras_sigmas",
    "multistep_timesteps",
    "run_sigmas",
    "sigma_table",
    "sigma_timesteps",
]

FinalSigmas = Literal["zero", "sigma_min"]
FINAL_SIGMAS: tuple[FinalSigmas, ...] = get_args(FinalSigmas)
KARRAS_RHO = 7.0


def sigma_table(schedule: NoiseSchedule) -> np.ndarray:
    """diffusers' training sigmas S_k = sqrt((1 − ᾱ_k)/ᾱ_k), k = 0 … K−1, in its float32 arithmetic.

    The betas rounded to float32, 1 − β_k in float32, their cumulative product accumulated in
    float64 and rounded to float32 (as torch's ``cumprod``), then S_k in float32. This is within
    3e-7 (relatively) of diffusers' own table (torch's float32 ``linspace`` puts some betas one ulp
    away); the float64 values differ from it by up to 8e-5 at k = 0, where 1 − ᾱ_0 = β_0 loses
    digits in float32.

    Parameters
    ----------
    schedule : NoiseSchedule
        The training schedule.

    Returns
    -------
    np.ndarray
        (K,) increasing sigmas (float32 values held as float64).
    """
    one = np.float32(1.0)
    betas = schedule.betas().astype(np.float32)
    abar = np.cumprod((one - betas).astype(np.float64)).astype(np.float32)
    return np.sqrt((one - abar) / abar).astype(float)


def sigma_timesteps(schedule: NoiseSchedule, steps: int) -> np.ndarray:
    """The decreasing (float) timesteps of an N-step run of Euler, Euler ancestral or Heun.

    "linspace": linspace(0, K − 1, N) in float32, not rounded; "leading" and "trailing" as
    :meth:`~fpguide.models.discrete.NoiseSchedule.timesteps`.

    Parameters
    ----------
    schedule : NoiseSchedule
        The training schedule and its ``timestep_spacing``.
    steps : int
        The number N of steps.

    Returns
    -------
    np.ndarray
        (N,) float timesteps, decreasing.

    Raises
    ------
    ValueError
        As :meth:`~fpguide.models.discrete.NoiseSchedule.timesteps`.
    """
    integral = schedule.timesteps(steps).astype(float)  # checks ``steps``
    if schedule.timestep_spacing != "linspace":
        return integral
    k = schedule.num_train_timesteps
    return np.linspace(0, k - 1, steps, dtype=np.float32)[::-1].astype(float)


def multistep_timesteps(schedule: NoiseSchedule, steps: int) -> np.ndarray:
    """The decreasing (integer) timesteps of an N-step run of DPM-Solver (multistep).

    "linspace": round(linspace(0, K − 1, N + 1)) without its 0; "leading": (0, 1, …, N)·(K//(N + 1))
    without its 0, + ``steps_offset``; "trailing" as :meth:`NoiseSchedule.timesteps`.

    Parameters
    ----------
    schedule : NoiseSchedule
        The training schedule and its ``timestep_spacing``.
    steps : int
        The number N of steps.

    Returns
    -------
    np.ndarray
        (N,) float timesteps (integers), decreasing.

    Raises
    ------
    ValueError
        As :meth:`~fpguide.models.discrete.NoiseSchedule.timesteps`.
    """
    trailing = schedule.timesteps(steps).astype(float)  # checks ``steps``
    k = schedule.num_train_timesteps
    if schedule.timestep_spacing == "linspace":
        return np.linspace(0, k - 1, steps + 1).round()[::-1][:-1]
    if schedule.timestep_spacing == "leading":
        ratio = k // (steps + 1)
        return (np.arange(steps + 1) * ratio).round()[::-1][:-1] + schedule.steps_offset
    return trailing


def karras_sigmas(sigma_min: float, sigma_max: float, steps: int) -> np.ndarray:
    """Karras et al.'s ramp: s_i = (s_max^{1/ρ} + i/(N − 1) (s_min^{1/ρ} − s_max^{1/ρ}))^ρ, ρ = 7.

    Parameters
    ----------
    sigma_min, sigma_max : float
        The ends of the ramp.
    steps : int
        The number N of sigmas.

    Returns
    -------
    np.ndarray
        (N,) sigmas from ``sigma_max`` down to ``sigma_min``.
    """
    ramp = np.linspace(0.0, 1.0, steps)
    top, bottom = sigma_max ** (1 / KARRAS_RHO), sigma_min ** (1 / KARRAS_RHO)
    return (top + ramp * (bottom - top)) ** KARRAS_RHO


def run_sigmas(
    schedule: NoiseSchedule,
    timesteps: np.ndarray,
    *,
    use_karras_sigmas: bool = False,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    final_sigmas_type: FinalSigmas = "zero",
) -> np.ndarray:
    """The N + 1 sigmas of a run, rounded to float32 as diffusers stores them.

    The sigmas of the timesteps (S interpolated linearly in k), or with ``use_karras_sigmas`` the
    Karras ramp of N sigmas between ``sigma_min`` and ``sigma_max`` (default: the smallest and the
    largest of those), followed by 0 (``final_sigmas_type="zero"``) or S_0 ("sigma_min").

    Parameters
    ----------
    schedule : NoiseSchedule
        The training schedule.
    timesteps : np.ndarray
        (N,) the decreasing timesteps of the run.
    use_karras_sigmas : bool, default False
        Karras' ramp instead of the timesteps' sigmas.
    sigma_min, sigma_max : float, optional
        The ends of the Karras ramp (> 0; only with ``use_karras_sigmas``).
    final_sigmas_type : {"zero", "sigma_min"}, default "zero"
        The sigma the run ends at.

    Returns
    -------
    np.ndarray
        (N + 1,) the sigmas, float32 values held as float64.

    Raises
    ------
    ValueError
        If ``final_sigmas_type`` is not one of the allowed values, a Karras end is not > 0, the
        ends are given without ``use_karras_sigmas``, or ``sigma_min`` >= ``sigma_max``.
    """
    check_choice("final_sigmas_type", final_sigmas_type, FINAL_SIGMAS)
    table = sigma_table(schedule)
    sigmas = np.interp(timesteps, np.arange(table.size), table)
    if not use_karras_sigmas and (sigma_min is not None or sigma_max is not None):
        raise ValueError(
            f"sigma_min={sigma_min} and sigma_max={sigma_max} are used only with "
            "use_karras_sigmas=True"
        )
    if use_karras_sigmas:
        low = sigmas[-1] if sigma_min is None else check_positive_real("sigma_min", sigma_min)
        high = sigmas[0] if sigma_max is None else check_positive_real("sigma_max", sigma_max)
        if low >= high:
            raise ValueError(f"sigma_min must be < sigma_max, got {low} and {high}")
        sigmas = karras_sigmas(low, high, timesteps.size)
    final = 0.0 if final_sigmas_type == "zero" else table[0]
    return np.append(sigmas, final).astype(np.float32).astype(float)
