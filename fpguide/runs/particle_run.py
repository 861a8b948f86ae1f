"""The toolkit of particle runs, shared by ``sample``, ``sample_pc`` and ``sample_discrete``: the
steps' times, the start points, one step of the dynamics, and the observables as sample means with
standard errors."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..engine import STAGE_INSIDE
from ..models.dynamics import GuidedDynamics, prior_moments
from ..results import observables_nd as obs_nd
from ..results.dataset import attach
from ..results.observables import class_supports, far_edge
from ..tools.validation import as_finite_array, check_positive_real

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..models.dynamics import PreparedRun, Start

__all__ = [
    "particle_observables",
    "particle_observables_nd",
    "particle_step",
    "seed_record",
    "start_points",
    "step_taus",
    "with_observables",
]

DEFAULT_LOG_SNR_STEP = {"sde": 0.01, "ode": 0.05}


def step_taus(
    prepared: PreparedRun, time_grid: ArrayLike | None, log_snr_step: float | None
) -> np.ndarray:
    """The reverse times τ = T − t of the particle steps of a prepared run.

    ``time_grid`` (diffusion times in [t_min, T]) or steps uniform in log-SNR (``log_snr_step``,
    default per sampler: 0.01 with noise, 0.05 for the ODE), with the saved times and both ends
    added.

    Parameters
    ----------
    prepared : PreparedRun
        The prepared run (:func:`~fpguide.models.dynamics.prepare_run`).
    time_grid : array_like or None
        The diffusion times of the steps, or None for steps uniform in log-SNR.
    log_snr_step : float or None
        The step in log-SNR when ``time_grid`` is None (None: the sampler's default).

    Returns
    -------
    np.ndarray
        The reverse times of the step boundaries, increasing from 0 to T − t_min.

    Raises
    ------
    ValueError
        For a ``time_grid`` that is empty or leaves [t_min, T], or a ``log_snr_step`` ≤ 0.
    """
    dyn, t_save, T, t_min = prepared.dyn, prepared.t_save, prepared.dyn.T, prepared.t_min
    if time_grid is None:
        default = DEFAULT_LOG_SNR_STEP["sde" if dyn.stochastic else "ode"]
        step = check_positive_real(
            "log_snr_step", default if log_snr_step is None else log_snr_step
        )
        taus = dyn.tau_grid(t_min, step)
    else:
        grid_t = as_finite_array("time_grid", time_grid, ndim=1)
        if grid_t.size == 0 or grid_t.min() < t_min or grid_t.max() > T:
            raise ValueError(
                "time_grid must be a non-empty sequence of times that lie within "
                "[t_min, T] = "
                f"[{t_min}, {T}], got {time_grid!r}"
            )
        taus = T - grid_t
    return np.union1d(np.union1d(taus, T - t_save), [0.0, T - t_min])


def seed_record(seed: Any) -> int | str | None:
    """The seed as the configuration records it.

    Parameters
    ----------
    seed : int, numpy.random.Generator, sequence or None
        The seed argument of a particle run.

    Returns
    -------
    int, str or None
        None or the integer as given; anything else (a generator, a sequence) by its ``str``.
    """
    return seed if seed is None or isinstance(seed, int) else str(seed)


def with_observables(
    ds: xr.Dataset, observables: dict[str, tuple[np.ndarray, np.ndarray]]
) -> xr.Dataset:
    """The particle Dataset with each observable and its standard error, labelled.

    Parameters
    ----------
    ds : xarray.Dataset
        The particle Dataset (positions, coordinates, attributes).
    observables : dict
        ``{name: (estimate, standard error)}``, as :func:`particle_observables` returns them.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``<name>`` and ``<name>_se`` (dims t, then threshold for tail probabilities, or
        dim/dim2 for d-D moments), labelled (:func:`~fpguide.results.dataset.attach`).
    """
    for name, (value, se) in observables.items():
        dims = (
            ("t", "threshold")
            if name == "tail_probability"
            else ("t", "dim", "dim2")[: np.ndim(value)]
        )
        ds[name] = (dims, value)
        ds[f"{name}_se"] = (dims, se)
    return attach(ds)


def start_points(dyn: GuidedDynamics, start: Start, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` start points at the time T the run starts from.

    From the prior N(0, prior_std(T)² I) (``start="prior"``) or from the noised conditional
    p_T(·|c) (``"exact"``: clean samples of the class, scaled by m(T), plus σ(T) noise); for a
    sampler started from pure noise (``dyn.noise_start``), from that start carried to T,
    N(m c, I) (see :func:`~fpguide.models.dynamics.start_law`).

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics: the guided model (its conditional is sampled for ``"exact"``), the process
        and T.
    start : {"prior", "exact"}
        The start law.
    n : int
        The number of points.
    rng : numpy.random.Generator
        The random numbers.

    Returns
    -------
    np.ndarray
        Shape (n,) in 1-D, (n, d) in d-D.
    """
    model, process, T = dyn.model, dyn.process, dyn.T
    if start == "prior" or dyn.noise_start:
        z = rng.standard_normal(n if model.ndim == 1 else (n, model.ndim))
        mean, std = prior_moments(dyn)
        return mean + std * z
    x0 = model.cond.sample(n, rng)
    return float(process.m(T)) * x0 + float(process.sigma(T)) * rng.standard_normal(x0.shape)


def particle_step(
    dyn: GuidedDynamics, x: np.ndarray, tau: float, dt: float, rng: np.random.Generator
) -> np.ndarray:
    """One step of the particles from reverse time τ to τ + dt.

    Euler–Maruyama for η > 0, X + v(X, τ) dt + sqrt(2 D(τ) dt) Z, else classical RK4. The end
    stages are taken inside the step (by ``STAGE_INSIDE``·dt), as the grid's trace takes them: a
    weight schedule that jumps at a step boundary acts on the step's own side.

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics: drift v, diffusion D, and whether it is stochastic.
    x : np.ndarray
        The positions.
    tau, dt : float
        The reverse time at the step's start and the step.
    rng : numpy.random.Generator
        The random numbers (for the noise).

    Returns
    -------
    np.ndarray
        The positions after the step.
    """
    inside = STAGE_INSIDE * dt
    if dyn.stochastic:
        noise = math.sqrt(2.0 * dyn.diffusion(tau) * dt)
        return x + dt * dyn.drift(x, tau + inside) + noise * rng.standard_normal(x.shape)
    k1 = dyn.drift(x, tau + inside)
    k2 = dyn.drift(x + 0.5 * dt * k1, tau + 0.5 * dt)
    k3 = dyn.drift(x + 0.5 * dt * k2, tau + 0.5 * dt)
    k4 = dyn.drift(x + dt * k3, tau + dt - inside)
    return x + dt / 6.0 * (k1 + 2.0 * (k2 + k3) + k4)


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and its standard error along the last axis."""
    return values.mean(axis=-1), values.std(axis=-1, ddof=1) / math.sqrt(values.shape[-1])


def particle_observables(
    positions: np.ndarray, t: np.ndarray, dyn: GuidedDynamics, delta: float, thresholds: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(estimate, standard error) of each 1-D observable at each saved time.

    Mean and variance; confidence E[p_t(c|x)] and inverse confidence E[1/p_t(c|x)] (when the
    conditional is a class of the target); tail probabilities P(x ≥ a); for targets with supports,
    the support, outside and edge masses; and the Vasicek m-spacing entropy estimate (m ≈ √n/2,
    with Ebrahimi's boundary correction; biased at finite n by O(m/n + 1/m)), its standard error
    from 10 disjoint batches.

    Parameters
    ----------
    positions : np.ndarray
        The positions, shape (n_t, n).
    t : np.ndarray
        The diffusion times at which p_t enters the observables, one per row.
    dyn : GuidedDynamics
        The dynamics (model and process).
    delta : float
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : np.ndarray
        The tail thresholds a.

    Returns
    -------
    dict
        ``{name: (estimate, standard error)}``, arrays over t (and threshold).
    """
    model, n = dyn.model, positions.shape[1]
    out = {"mean": _mean_se(positions)}
    centred = positions - out["mean"][0][:, None]
    out["variance"] = _mean_se(centred**2 * n / (n - 1))
    out |= _class_and_tail_observables(positions, positions, t, dyn, thresholds)
    supports = class_supports(model)
    if supports is not None:
        out["support_mass"] = _mean_se(_inside(positions, supports))
        out["outside_mass"] = _mean_se(1.0 - _inside(positions, model.uncond.supports()))
        edge = far_edge(model)
        if edge is not None:
            out["edge_mass"] = _mean_se((np.abs(positions - edge) <= delta).astype(float))
    out["entropy"] = _spacing_entropy(positions)
    return out


def particle_observables_nd(
    positions: np.ndarray,
    t: np.ndarray,
    dyn: GuidedDynamics,
    delta: float,
    thresholds: np.ndarray,
    direction: np.ndarray,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The d-D observables as sample means with standard errors.

    Those of :func:`fpguide.results.observables_nd.time_series`: mean vector, covariance (and the
    marginal variances), projected mean ⟨mean, u⟩, confidence and tail probabilities of ⟨x, u⟩,
    and for box targets the support, outside and edge masses; no entropy estimate.

    Parameters
    ----------
    positions : np.ndarray
        The positions, shape (n_t, n, d).
    t : np.ndarray
        The diffusion times at which p_t enters the observables, one per saved time.
    dyn : GuidedDynamics
        The dynamics (model and process).
    delta : float
        Half-width of the edge slab counted as edge mass.
    thresholds : np.ndarray
        The tail thresholds a of P(⟨x, u⟩ ≥ a).
    direction : np.ndarray
        The unit direction u of the projections.

    Returns
    -------
    dict
        ``{name: (estimate, standard error)}``.
    """
    model = dyn.model
    mean, mean_se = _mean_se(np.moveaxis(positions, 1, -1))
    covariance = [_covariance_se(row - m) for row, m in zip(positions, mean)]
    projected = positions @ direction
    out = {
        "mean": (mean, mean_se),
        "covariance": tuple(np.stack(parts) for parts in zip(*covariance)),
        "projected_mean": _mean_se(projected),
    }
    out["variance"] = tuple(
        np.diagonal(part, axis1=1, axis2=2).copy() for part in out["covariance"]
    )
    out |= _class_and_tail_observables(positions, projected, t, dyn, thresholds)
    boxes = class_supports(model)
    if boxes is not None:
        out["support_mass"] = _mean_se(_in_boxes(positions, boxes))
        out["outside_mass"] = _mean_se(1.0 - _in_boxes(positions, model.uncond.supports()))
        slab = obs_nd.edge_slab(model, delta)
        if slab is not None:
            out["edge_mass"] = _mean_se(_in_boxes(positions, [slab]))
    return out


def _covariance_se(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unbiased covariance of n centred points (n, d) and the standard errors of its entries
    (those of the mean of the products y_i y_j n/(n − 1)), in O(d²) memory."""
    n = centred.shape[0]
    first = centred.T @ centred / n
    squares = centred**2
    spread = np.maximum(squares.T @ squares / n - first**2, 0.0) * n / (n - 1)
    scale = n / (n - 1)
    return scale * first, scale * np.sqrt(spread / n)


def _class_and_tail_observables(positions, projected, t, dyn: GuidedDynamics, thresholds) -> dict:
    """Confidence E[p_t(c|x)], inverse confidence E[1/p_t(c|x)] (when the conditional is a class of
    the target) and tail probabilities P(projected ≥ a), with standard errors."""
    model, out = dyn.model, {}
    if model.has_class_posterior:
        log_post = np.array(
            [
                model.log_class_posterior(row, float(tk), dyn.process)
                for row, tk in zip(positions, t)
            ]
        )
        out["confidence"] = _mean_se(np.exp(log_post))
        with np.errstate(over="ignore"):
            out["inverse_confidence"] = _mean_se(np.exp(-log_post))
    tails = [_mean_se((projected >= a).astype(float)) for a in thresholds]
    out["tail_probability"] = (
        np.stack([v for v, _ in tails], axis=1),
        np.stack([s for _, s in tails], axis=1),
    )
    return out


def _in_boxes(positions: np.ndarray, boxes) -> np.ndarray:
    """1 where a point lies in the union of the boxes (lows, highs), else 0."""
    inside = np.zeros(positions.shape[:-1], dtype=bool)
    for lo, hi in boxes:
        inside |= np.all((positions >= lo) & (positions <= hi), axis=-1)
    return inside.astype(float)


def _inside(positions: np.ndarray, intervals) -> np.ndarray:
    inside = np.zeros(positions.shape)
    for a, b in intervals:
        inside += (positions >= a) & (positions <= b)
    return inside


def _spacing_entropy(positions: np.ndarray, batches: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Vasicek m-spacing entropy estimate (m ≈ √n/2, Ebrahimi's boundary correction), with a
    standard error from ``batches`` disjoint batches. Biased at finite n (by O(m/n + 1/m)):
    informative, not an exact check."""

    def estimate(sample):
        x = np.sort(sample, axis=-1)
        size = x.shape[-1]
        m = max(1, int(round(0.5 * math.sqrt(size))))
        idx = np.arange(size)
        upper, lower = np.minimum(idx + m, size - 1), np.maximum(idx - m, 0)
        factor = np.where(
            idx < m, 1 + idx / m, np.where(idx >= size - m, 1 + (size - 1 - idx) / m, 2.0)
        )
        gaps = np.maximum(x[..., upper] - x[..., lower], 1e-300)
        return np.mean(np.log(size * gaps / (factor * m)), axis=-1)

    per_batch = np.stack(
        [estimate(chunk) for chunk in np.array_split(positions, batches, axis=1)], axis=1
    )
    return estimate(positions), per_batch.std(axis=1, ddof=1) / math.sqrt(batches)
