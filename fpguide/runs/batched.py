"""The batched-weights runner: 1-D engine runs of guidance weights that agree in everything else,
advanced together so that they share their score evaluations (what a sweep over w runs)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine import EvolveResult, evolve
from ..grids.grid import Grid
from ..models.dynamics import WeightBatch, start_law
from ..tools.errors import in_diffusion_time
from .grid_run import start_density

__all__ = ["evolve_batches"]

# weights of a sweep whose steps would differ by more run in separate batches
BATCH_STEP_RATIO = 2.0


def evolve_batches(prepared_calls: list, grid: Grid, settings: dict):
    """The engine runs of weights that agree in everything else, batched: from one saved time to the
    next, every batch advances in one run (common steps, shared score evaluations), and a batch
    whose members need steps that differ by more than BATCH_STEP_RATIO (their own rates L where
    their own mass is, or the log-SNR grid) is split for the next interval — a batch steps at the
    rate of its strongest member. Returns every member's result, as if evolved alone, and the sizes
    of the batches it was in."""
    dyn, t_min = prepared_calls[0].dyn, prepared_calls[0].t_min
    taus = dyn.T - prepared_calls[0].t_save
    log_start, _ = start_law(dyn.model, dyn.process, dyn.T, prepared_calls[0].start)
    n = len(prepared_calls)
    q = np.repeat(start_density(grid, log_start)[None], n, axis=0)
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
    for k in range(1, taus.size):
        span = (taus[k - 1], taus[k])
        inside = time_grid[(time_grid > span[0]) & (time_grid < span[1])]
        floor_rate = settings["lipschitz"] * (inside.size + 1) / (span[1] - span[0])
        regrouped = []
        for members in batches:
            escaped = outflow[k - 1, members].sum(axis=1).max()
            with in_diffusion_time(dyn.T):
                result = evolve(
                    q[members],
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
            q[members] = saved[k, members] = result.q[-1]
            outflow[k, members] = outflow[k - 1, members] + np.stack(
                [result.outflow_lower[-1], result.outflow_upper[-1]], axis=1
            )
            for name in ("n_steps", "n_rejected", "n_drift_evals"):
                counts[name][members] += getattr(result, name)
            counts["max_lipschitz_dt"][members] = np.maximum(
                counts["max_lipschitz_dt"][members], result.max_lipschitz_dt
            )
            counts["flushed_mass"][members] += result.flushed_mass
            for name, values in monitors.items():
                values[k, members] = getattr(result, name)[-1]
            for b in members:
                sizes[b].append(len(members))
            regrouped += split_by_rate(members, np.maximum(result.member_rate, floor_rate))
        batches = regrouped
    together = EvolveResult(
        taus,
        saved,
        outflow[..., 0],
        outflow[..., 1],
        grid,
        settings["scheme"],
        flushed_mass=counts["flushed_mass"],
        batch=True,
        **monitors,
    )
    results = [
        replace(
            together.member(b),
            n_steps=int(counts["n_steps"][b]),
            n_rejected=int(counts["n_rejected"][b]),
            n_drift_evals=int(counts["n_drift_evals"][b]),
            max_lipschitz_dt=float(counts["max_lipschitz_dt"][b]),
        )
        for b in range(n)
    ]
    return results, sizes


def split_by_rate(members: np.ndarray, rates: np.ndarray) -> list[np.ndarray]:
    """``members`` in batches of rates within BATCH_STEP_RATIO of the batch's smallest (in
    increasing order)."""
    order = np.argsort(rates, kind="stable")
    batches, start = [[members[order[0]]]], rates[order[0]]
    for j in order[1:]:
        if rates[j] > BATCH_STEP_RATIO * start:
            batches.append([])
            start = rates[j]
        batches[-1].append(members[j])
    return [np.array(sorted(batch)) for batch in batches]
