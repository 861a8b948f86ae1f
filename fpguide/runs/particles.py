"""sample(): the same guided dynamics on particles, for cross-checking the grid solution.

The reverse SDE (and every sampler with noise, η > 0) is integrated by Euler–Maruyama, X ← X + v(X,
τ) dτ + sqrt(2 D(τ) dτ) Z, and the probability-flow ODE by classical RK4, on a time grid uniform in
log-SNR (or one given). Observables are the same as the grid solver's, as sample means with standard
errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..grids.grid import axis_labels
from ..models.dynamics import PreparedRun
from ..models.guidance import CFG
from ..results import observables_nd as obs_nd
from ..results.dataset import frame_variables, global_attrs
from ..results.observables import omitted_observables
from ..sweeps.calls import SampleCall
from ..sweeps.sweepable import sweepable
from ..tools.progress import progress_bar
from ..tools.validation import as_rng, check_int
from .particle_run import (
    particle_observables,
    particle_observables_nd,
    particle_step,
    seed_record,
    start_points,
    step_taus,
    with_observables,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..models.dynamics import Sampler, Start
    from ..models.processes import Process
    from ..models.targets import Mixture
    from ..sweeps.family import Family

__all__ = ["CheckedSample", "check_sample", "sample"]


@sweepable(SampleCall)
def sample(
    target: Mixture | Family,
    guidance: CFG,
    sampler: Sampler | Sequence[Sampler] = "ode",
    *,
    eta: float | Sequence[float] | None = None,
    n: int = 100_000,
    seed: int | Sequence[int] | np.random.Generator | np.random.SeedSequence | None = None,
    T: float | Sequence[float] = 10.0,
    t_min: float | Sequence[float] = 1e-3,
    process: Process | str | None = None,
    start: Start = "prior",
    n_save: int = 41,
    t_eval: ArrayLike | None = None,
    time_grid: ArrayLike | None = None,
    log_snr_step: float | Sequence[float] | None = None,
    delta: float | Sequence[float] = 0.1,
    thresholds: ArrayLike | None = None,
    direction: ArrayLike | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Run ``n`` particles of the guided sampler; positions and observables with standard errors.

    The sampler (``sampler`` and ``eta`` as in :func:`~fpguide.solve`) is integrated in reverse
    time τ: with noise (η > 0) by Euler–Maruyama, X ← X + v(X, τ) dτ + sqrt(2 D(τ) dτ) Z, and the
    probability-flow ODE by classical RK4. The observables are sample means with standard errors
    (variables ``<name>`` and ``<name>_se``).

    ``time_grid`` (diffusion times, descending from T to t_min) fixes the integration steps;
    otherwise steps are uniform in log-SNR with spacing ``log_snr_step`` (default 0.01 with noise, η
    > 0; 0.05 for the ODE). Saved times are added to the steps. In d dimensions positions have dims
    (t, particle, dim) and the observables are those of :func:`~fpguide.solve` in d-D (mean vector,
    covariance, projections on ``direction``; no entropy estimate). ``progress`` and sweeps
    (sequences for ``sampler``, the weight, ``T``, ``t_min``, ``eta``, ``delta``, ``log_snr_step``;
    every item with the same ``seed``) as in :func:`~fpguide.solve`.

    Parameters
    ----------
    target : Mixture, ScoreModel or Family
        The (unconditional) target: a mixture or a :class:`~fpguide.ScoreModel` (any dimension);
        a :class:`~fpguide.Family` sweeps it.
    guidance : CFG
        The classifier-free guidance (its weight may be a sequence: a sweep).
    sampler : {"ode", "sde"} or sequence of them, default "ode"
        ``"ode"`` (probability flow, DDIM) or ``"sde"`` (reverse SDE, DDPM).
    eta : float or sequence of float, optional
        Stochasticity η ∈ [0, 1] of ``"sde"`` (default 1), as in :func:`~fpguide.solve`.
    n : int, default 100_000
        The number of particles (at least 2).
    seed : int, sequence of int, numpy.random.Generator, SeedSequence or None, default None
        The seed of ``numpy.random.default_rng`` (or a generator); an integer seed makes the run
        repeatable (and :func:`~fpguide.rerun` able to replay it).
    T, t_min : float or sequence of float, default 10.0 and 1e-3
        The sampler runs in diffusion time from T down to t_min > 0.
    process : Process, str or None, default None
        The forward process, as in :func:`~fpguide.solve` (default OU).
    start : {"prior", "exact"}, default "prior"
        Start points from the prior N(0, prior_std(T)² I) or from the noised conditional
        ``p_T(·|c)`` (clean samples of the class, scaled by m(T), plus σ(T) noise).
    n_save : int, default 41
        The number of saved times, uniform in log-SNR (when ``t_eval`` is None).
    t_eval : array_like, optional
        The saved diffusion times, explicitly.
    time_grid : array_like, optional
        The diffusion times of the steps, within [t_min, T] (the saved times and both ends are
        added).
    log_snr_step : float or sequence of float, optional
        The step in log-SNR when ``time_grid`` is None (default 0.01 with noise, 0.05 for the ODE).
    delta : float or sequence of float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).
    direction : array_like, optional
        (d-D) the direction of the projected observables, as in :func:`~fpguide.solve`.
    progress : bool or None, default None
        A progress bar over the steps (over the items, for a sweep), as in :func:`~fpguide.solve`.
    client : dask.distributed.Client or str, optional
        (Sweeps) run the sweep on Dask, as in :func:`~fpguide.solve`.
    store : str or os.PathLike, optional
        (Sweeps) the zarr path the sweep is written to as it goes, as in :func:`~fpguide.solve`.

    Returns
    -------
    xarray.Dataset
        ``position`` with dims (t, particle) in 1-D, (t, particle, dim) in d-D, at the saved times
        (from T down to t_min); the observables ``<name>`` and their standard errors ``<name>_se``;
        the configuration in ``attrs["config"]``.

    Raises
    ------
    ValueError
        For ``n`` < 2, a ``time_grid`` that is empty or leaves [t_min, T], or other arguments out of
        their ranges (the message names the argument).
    FloatingPointError
        When the particles become non-finite (use a finer ``time_grid``).

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    >>> guidance = fg.CFG(label=1, w=2.0)
    >>> ds = fg.sample(target, guidance, n=1000, seed=0, n_save=5, log_snr_step=0.5)
    >>> ds["position"].shape
    (5, 1000)
    >>> sorted(name for name in ds.data_vars if name.startswith("mean"))
    ['mean', 'mean_se']
    """
    checked = check_sample(SampleCall(**locals()))
    n, rng, prepared, taus = checked.n, checked.rng, checked.prepared, checked.taus
    dyn, t_save, T, t_min = prepared.dyn, prepared.t_save, prepared.dyn.T, prepared.t_min
    d = dyn.model.ndim
    direction = checked.direction
    x = start_points(dyn, start, n, rng)
    positions = np.empty((t_save.size, *x.shape))
    save_taus = T - t_save
    k = 0
    if save_taus[0] == 0.0:
        positions[0], k = x, 1
    bar = progress_bar(progress, total=int(taus.size - 1), unit="step", desc="sample")
    for tau0, tau1 in zip(taus[:-1], taus[1:]):
        bar.update()
        x = particle_step(dyn, x, tau0, tau1 - tau0, rng)
        if not np.all(np.isfinite(x)):
            raise FloatingPointError(
                f"particles became non-finite at t={T - tau1:.6g}: use a finer time_grid"
            )
        if k < save_taus.size and np.isclose(tau1, save_taus[k], rtol=0, atol=1e-14 * T):
            positions[k], k = x, k + 1
    bar.close()

    config = prepared.config() | {
        "function": "sample",
        "n": n,
        "seed": seed_record(seed),
        "n_steps": int(taus.size - 1),
        "log_snr_step": log_snr_step,
        "time_grid": time_grid,
    }
    if d > 1:
        config["direction"] = direction.tolist()
    dims = ("t", "particle") if d == 1 else ("t", "particle", "dim")
    coords = {"t": t_save, "threshold": prepared.thresholds}
    if d > 1:
        coords |= {"dim": axis_labels(d), "dim2": axis_labels(d)}
    ds = xr.Dataset(
        {"position": (dims, positions)} | frame_variables(dyn.process, t_save),
        coords=coords,
        attrs=global_attrs(
            f"fpguide {sampler} particles, CFG w={dyn.model.w}",
            config,
            {},
            omitted_observables(dyn.model),
        ),
    )
    observables = (
        particle_observables(positions, t_save, dyn, prepared.delta, prepared.thresholds)
        if d == 1
        else particle_observables_nd(
            positions, t_save, dyn, prepared.delta, prepared.thresholds, direction
        )
    )
    return with_observables(ds, observables)


@dataclass(frozen=True)
class CheckedSample:
    """A :func:`sample` call with every argument checked, what :func:`check_sample` returns.

    Attributes
    ----------
    n : int
        The number of particles.
    rng : numpy.random.Generator
        The generator the seed gives.
    prepared : PreparedRun
        The target, guidance, process and sampler bound into their dynamics, with the saved times.
    taus : numpy.ndarray
        The reverse times of the particle steps (see :func:`~fpguide.runs.particle_run.step_taus`).
    direction : numpy.ndarray
        The direction of the projected observables (d-D).
    """

    n: int
    rng: np.random.Generator
    prepared: PreparedRun
    taus: np.ndarray
    direction: np.ndarray


def check_sample(call: SampleCall) -> CheckedSample:
    """Every check :func:`sample` makes before it draws anything, on the call's arguments.

    ``fpguide run`` checks each item of a configuration with it before running any.

    Parameters
    ----------
    call : SampleCall
        Every argument of :func:`sample`.

    Returns
    -------
    CheckedSample
        The checked call.

    Raises
    ------
    TypeError, ValueError
        The errors of :func:`sample` for a bad argument, naming it, its value and what is allowed.
    """
    n = check_int("n", call.n, 2)
    rng = as_rng("seed", call.seed)
    prepared = call.prepared()
    taus = step_taus(prepared, call.time_grid, call.log_snr_step)
    direction = obs_nd.check_direction(call.direction, prepared.dyn.model)
    return CheckedSample(n, rng, prepared, taus, direction)
