"""The batched-weights runner: 1-D engine runs of guidance weights that agree in everything else,
advanced together so that they share their score evaluations (what a sweep over w runs)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..engine import EvolveResult, evolve
from ..grids.grid import Grid
from ..models.dynamics import PreparedRun, WeightBatch, start_law
from ..tools.errors import in_diffusion_time
from .grid_run import start_density

__all__ = ["evolve_batches"]

# weights of a sweep whose steps would differ by more run in separate batches
BATCH_STEP_RATIO = 2.0


def evolve_batches(
    prepared_calls: list[PreparedRun], grid: Grid, settings: dict
) -> tuple[list[EvolveResult], list[list[int]]]:
    """Advance the 1-D engine runs of weights that agree in everything else together, in batches.

    From one saved time to the next, every batch advances in one engine run (common steps, shared
    score evaluations through :class:`~fpguide.models.dynamics.WeightBatch`). A batch whose members
    need steps that differ by more than ``BATCH_STEP_RATIO`` (their own rates L where their own
    mass is, or the log-SNR grid) is split for the next interval: a batch steps at the rate of its
    strongest member.

    Parameters
    ----------
    prepared_calls : list
        The prepared solves (what :func:`~fpguide.models.dynamics.prepare_run` returns), one per
        weight; they agree in everything but the guidance weight (dynamics, saved times, start).
    grid : Grid
        The 1-D grid every member runs on.
    settings : dict
        The engine settings of the solves (:func:`~fpguide.runs.grid_run.checked_settings`):
        ``scheme``, ``log_snr_step``, ``lipschitz`` and ``wall_tol``.

    Returns
    -------
    results : list of EvolveResult
        Every member's result, as if evolved alone (its own step counts and monitors).
    sizes : list of list of int
        For every member, the sizes of the batches it was in, one per interval between saved times.
    """
    dyn, t_min = prepared_calls[0].dyn, prepared_calls[0].t_min
    taus = dyn.T - prepared_calls[0].t_save
    n = len(prepared_calls)
    # one start per member: a start from pure noise is carried to T by each member's own guidance
    q = np.stack([start_density(grid, start_law(p.dyn, p.start)[0]) for p in prepared_calls])
    saved, outflow = np.empty((taus.size, n, grid.n)), np.zeros((taus.size, n, 2))
    saved[0] = q
    monitors = {
        "min_density": q.min(axis=1)[None].repeat(taus.size, axis=0),
        "cfl": np.zeros((taus.size, n)),
        "peclet": np.zeros((taus.size, n)),
    }
    counts = {
        name: np.zeros(n)
        for name in ("n_steps", "n_rejected", "n_drift_evals", "max_lipschitz_dt", "flushed_mass")
    }
    sizes = [[] for _ in range(n)]
    time_grid = dyn.tau_grid(t_min, settings["log_snr_step"], quiet=True)
    jumps = dyn.schedule_taus("jumps", t_min)
    batches = [np.arange(n)]
    state = _BatchState(q, saved, outflow, monitors, counts, sizes)
    for k in range(1, taus.size):
        span = (taus[k - 1], taus[k])
        inside = time_grid[(time_grid > span[0]) & (time_grid < span[1])]
        floor_rate = settings["lipschitz"] * (inside.size + 1) / (span[1] - span[0])
        regrouped = []
        for members in batches:
            rates = _advance_batch(
                state, k, members, prepared_calls, grid, settings, span, inside, jumps
            )
            regrouped += split_by_rate(members, np.maximum(rates, floor_rate))
        batches = regrouped
    return _member_results(taus, state, grid, settings), sizes


@dataclass
class _BatchState:
    """The arrays the batches of :func:`evolve_batches` fill in: the current densities ``q`` (n,
    cells), the saved densities, the cumulative outflow, the monitors, the step counts and the batch
    sizes of every member."""

    q: np.ndarray
    saved: np.ndarray
    outflow: np.ndarray
    monitors: dict
    counts: dict
    sizes: list


def _advance_batch(
    state: _BatchState, k, members, prepared_calls, grid, settings, span, inside, jumps
) -> np.ndarray:
    """Advance the batch ``members`` over ``span`` (to the saved time k) in one engine run,
    recording into ``state``; returns the members' own step rates."""
    dyn = prepared_calls[0].dyn
    escaped = state.outflow[k - 1, members].sum(axis=1).max()
    with in_diffusion_time(dyn.T):
        result = evolve(
            state.q[members],
            WeightBatch(tuple(prepared_calls[b].dyn for b in members)),
            grid=grid,
            t_span=span,
            diffusion=dyn.engine_diffusion,
            ou_drift=True,
            time_grid=inside,
            drift_jumps=jumps[(jumps > span[0]) & (jumps < span[1])],
            scheme=settings["scheme"],
            lipschitz=settings["lipschitz"],
            wall_tol=max(settings["wall_tol"] - escaped, 1e-300),
            batch=True,
            progress=False,
        )
    state.q[members] = state.saved[k, members] = result.q[-1]
    state.outflow[k, members] = state.outflow[k - 1, members] + np.stack(
        [result.outflow_lower[-1], result.outflow_upper[-1]], axis=1
    )
    counts = state.counts
    for name in ("n_steps", "n_rejected", "n_drift_evals"):
        counts[name][members] += getattr(result, name)
    counts["max_lipschitz_dt"][members] = np.maximum(
        counts["max_lipschitz_dt"][members], result.max_lipschitz_dt
    )
    counts["flushed_mass"][members] += result.flushed_mass
    for name, values in state.monitors.items():
        values[k, members] = getattr(result, name)[-1]
    for b in members:
        state.sizes[b].append(len(members))
    return result.member_rate


def _member_results(taus, state: _BatchState, grid, settings) -> list[EvolveResult]:
    """Every member's result from the batches' records, as if evolved alone."""
    counts = state.counts
    together = EvolveResult(
        taus,
        state.saved,
        state.outflow[..., 0],
        state.outflow[..., 1],
        grid,
        settings["scheme"],
        flushed_mass=counts["flushed_mass"],
        batch=True,
        **state.monitors,
    )
    return [
        replace(
            together.member(b),
            n_steps=int(counts["n_steps"][b]),
            n_rejected=int(counts["n_rejected"][b]),
            n_drift_evals=int(counts["n_drift_evals"][b]),
            max_lipschitz_dt=float(counts["max_lipschitz_dt"][b]),
        )
        for b in range(len(state.sizes))
    ]


def split_by_rate(members: np.ndarray, rates: np.ndarray) -> list[np.ndarray]:
    """Split ``members`` into batches of rates within ``BATCH_STEP_RATIO`` of the batch's smallest.

    Parameters
    ----------
    members : np.ndarray
        The members' indices.
    rates : np.ndarray
        Their step rates, one per member.

    Returns
    -------
    list of np.ndarray
        The batches, in increasing order of their rates, each with its members' indices sorted.
    """
    order = np.argsort(rates, kind="stable")
    batches, start = [[members[order[0]]]], rates[order[0]]
    for j in order[1:]:
        if rates[j] > BATCH_STEP_RATIO * start:
            batches.append([])
            start = rates[j]
        batches[-1].append(members[j])
    return [np.array(sorted(batch)) for batch in batches]
