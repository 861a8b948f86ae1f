"""sample(): the same guided dynamics on particles, for cross-checking the grid solution.

The reverse SDE (and every sampler with noise, η > 0) is integrated by Euler–Maruyama, X ← X + v(X,
τ) dτ + sqrt(2 D(τ) dτ) Z, and the probability-flow ODE by classical RK4, on a time grid uniform in
log-SNR (or one given). Observables are the same as the grid solver's, as sample means with standard
errors.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..grids.grid import axis_labels
from ..models.dynamics import prepare_run
from ..models.guidance import CFG
from ..results import observables_nd as obs_nd
from ..results.dataset import frame_variables, global_attrs
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

__all__ = ["sample"]


@sweepable()
def sample(
    target,
    guidance: CFG,
    sampler: str = "ode",
    *,
    eta: float | None = None,
    n: int = 100_000,
    seed=None,
    T: float = 10.0,
    t_min: float = 1e-3,
    process=None,
    start: str = "prior",
    n_save: int = 41,
    t_eval=None,
    time_grid=None,
    log_snr_step: float | None = None,
    delta: float = 0.1,
    thresholds=None,
    direction=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Run ``n`` particles of the guided sampler (``sampler`` and ``eta`` as in
    :func:`~fpguide.solve`); returns positions at the saved times and observables with standard
    errors (variables ``<name>`` and ``<name>_se``).

    ``time_grid`` (diffusion times, descending from T to t_min) fixes the integration steps;
    otherwise steps are uniform in log-SNR with spacing ``log_snr_step`` (default 0.01 with noise, η
    > 0; 0.05 for the ODE). Saved times are added to the steps. In d dimensions positions have dims
    (t, particle, dim) and the observables are those of :func:`~fpguide.solve` in d-D (mean vector,
    covariance, projections on ``direction``; no entropy estimate). ``progress`` and sweeps
    (sequences for ``sampler``, the weight, ``T``, ``t_min``, ``eta``, ``delta``, ``log_snr_step``;
    every item with the same ``seed``) as in :func:`~fpguide.solve`.
    """
    n = check_int("n", n, 2)
    rng = as_rng("seed", seed)
    prepared = prepare_run(
        target, guidance, sampler, T, t_min, process, start, n_save, t_eval, delta, thresholds, eta
    )
    dyn, t_save, T, t_min = prepared.dyn, prepared.t_save, prepared.dyn.T, prepared.t_min
    taus = step_taus(prepared, time_grid, log_snr_step)
    d = dyn.model.ndim
    direction = obs_nd.check_direction(direction, dyn.model)
    x = start_points(dyn.model, dyn.process, T, start, n, rng)
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
        attrs=global_attrs(f"fpguide {sampler} particles, CFG w={dyn.model.w}", config, {}),
    )
    observables = (
        particle_observables(positions, t_save, dyn, prepared.delta, prepared.thresholds)
        if d == 1
        else particle_observables_nd(
            positions, t_save, dyn, prepared.delta, prepared.thresholds, direction
        )
    )
    return with_observables(ds, observables)
