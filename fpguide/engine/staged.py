"""evolve_in_stages(): :func:`~.evolve.evolve` over consecutive time intervals, each on its own
grid.

At the start of every stage after the first, ``regrid(t, q, planned, previous)`` names the next grid
from the planned one (it may look at the density the run has then), and the density is moved onto it
by :func:`~.transfer.transfer`: positive, conservative, the mass beyond the new extent counted as
trimmed. Wall outflow and trimmed mass together must stay within ``wall_tol``; both go into the
outflows of the result, so that mass + outflow stays the initial mass to round-off. Each stage keeps
its saved densities on its own grid (:class:`StagedResult`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..grids.grid import Grid, TensorGrid
from ..tools.errors import WallMassError
from .evolve import evolve, time_points
from .remap import scheme_code
from .result import EvolveResult
from .transfer import transfer

__all__ = ["evolve_in_stages", "StagedResult"]

# the stages together may lose this fraction of wall_tol through their walls before one is
STAGE_OUTFLOW_SHARE = 1e-2
STAGE_TRIES = 3  # run again on a wider grid, at most this many times


@dataclass
class StagedResult:
    """What :func:`evolve_in_stages` returns: per saved time ``t[k]`` the density ``q[k]`` on
    ``grids[k]`` (its stage's grid), the cumulative outflows (wall outflow and trimmed mass, per
    side), and the monitors of :class:`~.evolve.EvolveResult` per saved time."""

    t: np.ndarray
    q: list[np.ndarray]
    grids: list[Grid | TensorGrid]
    outflow_lower: np.ndarray
    outflow_upper: np.ndarray
    trimmed: np.ndarray  # cumulative mass trimmed at the regrids, per saved time
    scheme: str
    min_density: np.ndarray
    cfl: np.ndarray
    peclet: np.ndarray
    n_steps: int = 0
    n_rejected: int = 0
    n_drift_evals: int = 0
    max_lipschitz_dt: float = 0.0
    flushed_mass: float = 0.0
    # per stage: start, end, steps, trimmed mass at its start
    stages: list[dict] = field(default_factory=list)

    @property
    def mass(self) -> np.ndarray:
        return np.array(
            [float(np.sum(q) * grid.cell_volume) for q, grid in zip(self.q, self.grids)]
        )

    def pieces(self) -> list[tuple[slice, EvolveResult]]:
        """The saved times as runs of one grid each: (their slice of ``t``, an
        :class:`~.evolve.EvolveResult` of them on that grid)."""
        out, first = [], 0
        for k in range(1, len(self.grids) + 1):
            if k == len(self.grids) or self.grids[k] is not self.grids[first]:
                part = slice(first, k)
                out.append(
                    (
                        part,
                        EvolveResult(
                            self.t[part],
                            np.stack(self.q[part]),
                            self.outflow_lower[part],
                            self.outflow_upper[part],
                            self.grids[first],
                            self.scheme,
                            min_density=self.min_density[part],
                            cfl=self.cfl[part],
                            peclet=self.peclet[part],
                        ),
                    )
                )
                first = k
        return out


def evolve_in_stages(
    q0: np.ndarray,
    drift,
    *,
    starts: Sequence[float],
    grids: Sequence[Grid | TensorGrid],
    regrid: Callable,
    widen: Callable | None = None,
    t_span: tuple[float, float],
    t_eval=None,
    time_grid=None,
    drift_jumps=None,
    scheme: str = "ppm",
    wall_tol: float = 1e-9,
    **options,
) -> StagedResult:
    """Evolve ``q0`` (cell averages on ``grids[0]``) from t_span[0] to t_span[1], stage k from
    ``starts[k]`` on a grid ``regrid(starts[k], q, grids[k], previous)`` returns from the planned
    ``grids[k]`` and the density q (shape (1, *previous.shape)) on the previous stage's grid.
    ``starts[0]`` is t_span[0]; the other arguments are those of :func:`~.evolve.evolve`
    (``options``: its step and diffusion settings), which runs each stage.

    A stage that loses more than STAGE_OUTFLOW_SHARE of ``wall_tol`` (shared among the stages)
    through its walls is run again (at most STAGE_TRIES times) on ``widen(grid, lower, upper)``, a
    grid holding ``grid`` that reaches further below (``lower``) and/or above (``upper``) along
    every axis; without ``widen`` the outflow stands."""
    t0, t1 = float(t_span[0]), float(t_span[1])
    starts = np.asarray(starts, dtype=float)
    if (
        starts.size != len(grids)
        or starts.size == 0
        or starts[0] != t0
        or np.any(np.diff(starts) <= 0)
        or starts[-1] >= t1
    ):
        raise ValueError(
            f"starts must begin at t_span[0] = {t0}, increase, end before {t1} and "
            "have one entry per "
            f"grid, got {starts.tolist()} for {len(grids)} grids"
        )
    saves = time_points("t_eval", t_eval, t0, t1, default=(t0, t1))
    code = scheme_code(scheme)
    ends = np.append(starts[1:], t1)
    out = StagedResult(
        saves,
        [],
        [],
        np.zeros(saves.size),
        np.zeros(saves.size),
        np.zeros(saves.size),
        scheme,
        np.empty(saves.size),
        np.zeros(saves.size),
        np.zeros(saves.size),
    )
    q, grid = np.asarray(q0, dtype=float), grids[0]
    escaped = np.zeros(2)  # wall outflow and trimmed mass so far, below and above
    for k, (start, end) in enumerate(zip(starts, ends)):
        lost = 0.0
        if k > 0:
            new = regrid(start, q[None], grids[k], grid)
            moved, cut = transfer(q[None], grid, new, code)
            q, grid, lost = moved[0], new, float(cut.sum())
            escaped += cut[0].sum(axis=0)
            if escaped.sum() > wall_tol:
                raise WallMassError(
                    f"mass {escaped.sum():.3g} left the grid or was trimmed at the "
                    "regrid at "
                    f"t={start:.6g} (tolerance wall_tol={wall_tol:g}): widen the "
                    "stages' grids",
                    time=start,
                )
        stage_saves = np.concatenate([[start], saves[(saves > start) & (saves < end)], [end]])
        budget = STAGE_OUTFLOW_SHARE * wall_tol / starts.size
        for attempt in range(STAGE_TRIES + 1):
            # earlier tries may lose more: they are run again
            last = widen is None or attempt == STAGE_TRIES
            result = evolve(
                q,
                drift,
                grid=grid,
                t_span=(start, end),
                t_eval=stage_saves,
                time_grid=_within(time_grid, start, end),
                drift_jumps=_within(drift_jumps, start, end),
                scheme=scheme,
                wall_tol=max(wall_tol - escaped.sum(), 1e-300) if last else 1e300,
                **options,
            )
            sides = np.array([result.outflow_lower[-1], result.outflow_upper[-1]]) > budget
            if last or not sides.any():
                break
            wider = widen(grid, *sides)
            # a pure extension: nothing is trimmed
            q, grid = transfer(q[None], grid, wider, code)[0][0], wider
        out.trimmed[saves > start] += lost
        # the stage's start was saved as the end of the previous stage
        _collect(out, result, saves, stage_saves, 1 if k > 0 else 0, grid, escaped)
        escaped += (result.outflow_lower[-1], result.outflow_upper[-1])
        if escaped.sum() > wall_tol:  # a try that was not the last got through with it
            raise WallMassError(
                f"mass {escaped.sum():.3g} left the stages' grids through their "
                "walls or was trimmed "
                f"by t={end:.6g} (tolerance wall_tol={wall_tol:g}): widen the "
                "stages' grids",
                time=end,
            )
        q = result.q[-1]
        out.stages.append(
            {
                "start": float(start),
                "end": float(end),
                "n_steps": result.n_steps,
                "trimmed": lost,
                "widened": attempt,
                "shape": list(q.shape),
            }
        )
    return out


def _within(times, start: float, end: float):
    """The times strictly inside (start, end) (None stays None)."""
    if times is None:
        return None
    times = np.asarray(times, dtype=float)
    return times[(times > start) & (times < end)]


def _collect(
    out: StagedResult,
    result: EvolveResult,
    saves: np.ndarray,
    stage_saves: np.ndarray,
    first: int,
    grid,
    escaped: np.ndarray,
) -> None:
    """Add the densities a stage saved at ``stage_saves[first:]`` that are in ``saves``, on its
    ``grid``, with the outflows since the start (``escaped`` before the stage), and the stage's
    counts to ``out``."""
    for j in range(first, stage_saves.size):
        k = int(np.searchsorted(saves, stage_saves[j]))
        if k < saves.size and saves[k] == stage_saves[j]:
            out.q.append(result.q[j])
            out.grids.append(grid)
            out.outflow_lower[k] = escaped[0] + result.outflow_lower[j]
            out.outflow_upper[k] = escaped[1] + result.outflow_upper[j]
            out.min_density[k], out.cfl[k], out.peclet[k] = (
                result.min_density[j],
                result.cfl[j],
                result.peclet[j],
            )
    out.n_steps += result.n_steps
    out.n_rejected += result.n_rejected
    out.n_drift_evals += result.n_drift_evals
    out.max_lipschitz_dt = max(out.max_lipschitz_dt, result.max_lipschitz_dt)
    out.flushed_mass += float(result.flushed_mass)
