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
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grids.grid import Grid, TensorGrid
from ..tools.errors import WallMassError
from .evolve import evolve, time_points
from .remap import scheme_code
from .result import EvolveResult
from .transfer import transfer

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .remap import Scheme

__all__ = ["evolve_in_stages", "StagedResult"]

# the stages together may lose this fraction of wall_tol through their walls before one is
STAGE_OUTFLOW_SHARE = 1e-2
STAGE_TRIES = 3  # run again on a wider grid, at most this many times


@dataclass
class StagedResult:
    """What :func:`evolve_in_stages` returns: the saved densities, each on its stage's grid.

    Per saved time ``t[k]`` the density ``q[k]`` on ``grids[k]`` (its stage's grid), the
    cumulative outflows (wall outflow and trimmed mass, per side), and the monitors of
    :class:`~.evolve.EvolveResult` per saved time.

    Attributes
    ----------
    t : numpy.ndarray
        The saved times.
    q : list of numpy.ndarray
        The density (cell averages) at each saved time, on its stage's grid.
    grids : list of Grid or TensorGrid
        The grid of each saved density.
    outflow_lower, outflow_upper : numpy.ndarray
        The cumulative mass that left through the lower (upper) walls or was trimmed below
        (above) the new extent at the regrids, per saved time.
    trimmed : numpy.ndarray
        The cumulative mass trimmed at the regrids, per saved time.
    scheme : str
        The reconstruction of the remap.
    min_density, cfl, peclet : numpy.ndarray
        The monitors of :class:`~.evolve.EvolveResult` per saved time: the lowest density, the
        CFL number and the cell Péclet number over the steps since the previous saved time.
    n_steps, n_rejected, n_drift_evals : int
        The steps, rejected sweeps and drift evaluations of all stages together.
    max_lipschitz_dt : float
        The largest L·dt taken.
    flushed_mass : float
        The total mass of the sub-normal densities set to zero.
    stages : list of dict
        Per stage: its start, end, steps (``n_steps``), the mass trimmed at its start
        (``trimmed``), how many times it was widened (``widened``) and the shape of its final
        density (``shape``).
    """

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
        """The total mass on the grid at each saved time, Σ q·(cell volume)."""
        return np.array(
            [float(np.sum(q) * grid.cell_volume) for q, grid in zip(self.q, self.grids)]
        )

    def pieces(self) -> list[tuple[slice, EvolveResult]]:
        """The saved times as runs of one grid each.

        Consecutive saved times whose densities share one grid (the same object) form one piece.

        Returns
        -------
        list of tuple of (slice, EvolveResult)
            Per piece, in order: its slice of ``t``, and an :class:`~.evolve.EvolveResult` of its
            saved times on that grid (densities, outflows, scheme and monitors; the counts of
            steps are not split among the pieces and are left at 0).
        """
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
    q0: ArrayLike,
    drift: Callable[..., ArrayLike] | Any,
    *,
    starts: Sequence[float],
    grids: Sequence[Grid | TensorGrid],
    regrid: Callable[..., Grid | TensorGrid],
    widen: Callable[..., Grid | TensorGrid] | None = None,
    t_span: tuple[float, float],
    t_eval: ArrayLike | None = None,
    time_grid: ArrayLike | None = None,
    drift_jumps: ArrayLike | None = None,
    scheme: Scheme = "ppm",
    wall_tol: float = 1e-9,
    **options: Any,
) -> StagedResult:
    """Evolve ``q0`` from t_span[0] to t_span[1] in stages, each on its own grid.

    Stage k runs from ``starts[k]`` to the next start (the last to t_span[1]) by
    :func:`~.evolve.evolve`. At the start of every stage after the first, the density is moved
    by :func:`~.transfer.transfer` (positive, conservative) onto the grid that ``regrid``
    returns; the mass beyond the new extent is counted as trimmed. Wall outflow and trimmed mass
    together must stay within ``wall_tol``; both go into the outflows of the result, so that mass
    + outflow stays the initial mass to round-off.

    A stage that loses more than STAGE_OUTFLOW_SHARE (1e-2) of ``wall_tol`` (shared among the
    stages) through its walls is run again (at most STAGE_TRIES = 3 times) on ``widen(grid,
    lower, upper)``; without ``widen`` the outflow stands.

    Parameters
    ----------
    q0 : array_like
        The initial density, cell averages on ``grids[0]``.
    drift : callable or object with a method ``along``
        The drift, as :func:`~.evolve.evolve` takes it.
    starts : sequence of float
        The stages' start times, increasing, one per grid: ``starts[0]`` is t_span[0] and the
        last is before t_span[1].
    grids : sequence of Grid or TensorGrid
        The planned grid of each stage.
    regrid : callable
        ``regrid(starts[k], q, grids[k], previous)`` returns stage k's grid from the planned
        ``grids[k]`` and the density q (shape (1, *previous.shape)) on the previous stage's grid.
    widen : callable or None, optional
        ``widen(grid, lower, upper)`` returns a grid holding ``grid`` that reaches further below
        (``lower``) and/or above (``upper``) along every axis (default None: no reruns).
    t_span : tuple of float
        (t0, t1), increasing.
    t_eval, time_grid, drift_jumps : array_like or None, optional
        As for :func:`~.evolve.evolve`: the saved times (default: the two ends), added step
        boundaries and the times where the drift may jump.
    scheme : {"ppm", "plm", "pcm"}, optional
        The reconstruction of the remap and of the transfers (default "ppm").
    wall_tol : float, optional
        The mass that may leave through the walls or be trimmed in all (default 1e-9).
    **options
        The other arguments of :func:`~.evolve.evolve` (its step and diffusion settings).

    Returns
    -------
    StagedResult
        The saved densities, each on its stage's grid, with the outflows and monitors.

    Raises
    ------
    ValueError
        When ``starts`` does not begin at t_span[0], increase, end before t_span[1] and have one
        entry per grid, or a saved time lies outside ``t_span``, or ``scheme`` is unknown.
    ~fpguide.WallMassError
        When the mass that left through the walls or was trimmed exceeds ``wall_tol``.
    """
    t0, t1 = float(t_span[0]), float(t_span[1])
    starts = _checked_starts(starts, grids, t0, t1)
    saves = time_points("t_eval", t_eval, t0, t1, default=(t0, t1))
    code = scheme_code(scheme)
    ends = np.append(starts[1:], t1)
    out = _empty_result(saves, scheme)
    q, grid = np.asarray(q0, dtype=float), grids[0]
    escaped = np.zeros(2)  # wall outflow and trimmed mass so far, below and above
    for k, (start, end) in enumerate(zip(starts, ends)):
        lost = 0.0
        if k > 0:
            q, grid, lost = _regridded(regrid, start, q, grids[k], grid, code, escaped, wall_tol)
        stage_saves = np.concatenate([[start], saves[(saves > start) & (saves < end)], [end]])
        budget = STAGE_OUTFLOW_SHARE * wall_tol / starts.size
        result, grid, attempt = _run_stage(
            q,
            drift,
            grid,
            (start, end),
            stage_saves,
            budget,
            escaped,
            widen,
            time_grid,
            drift_jumps,
            scheme,
            wall_tol,
            code,
            options,
        )
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


def _empty_result(saves: np.ndarray, scheme: str) -> StagedResult:
    """The :class:`StagedResult` of the saved times ``saves`` before any stage has run."""
    return StagedResult(
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


def _checked_starts(starts, grids, t0: float, t1: float) -> np.ndarray:
    """The stages' starts as an array, checked against the grids and the time span."""
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
    return starts


def _regridded(regrid, start, q, planned, grid, code, escaped, wall_tol):
    """The density q moved from ``grid`` onto the grid ``regrid`` names at ``start``: (density,
    new grid, trimmed mass); the trimmed mass is added to ``escaped`` (in place), and a
    WallMassError when the mass escaped so far exceeds ``wall_tol``."""
    new = regrid(start, q[None], planned, grid)
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
    return q, grid, lost


def _run_stage(
    q,
    drift,
    grid,
    span,
    stage_saves,
    budget,
    escaped,
    widen,
    time_grid,
    drift_jumps,
    scheme,
    wall_tol,
    code,
    options,
):
    """One stage over ``span`` on ``grid``, run again on a widened grid (at most STAGE_TRIES
    times) while it loses more than ``budget`` through a wall: (its result, its final grid, the
    number of widenings)."""
    start, end = span
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
    return result, grid, attempt


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
