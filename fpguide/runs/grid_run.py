"""The toolkit of grid runs, shared by ``solve``, ``solve_pc`` and ``solve_discrete``: the grid a
call asks for, the start density on it, the widen-and-retry of automatic grids, the engine settings
with their defaults, and the Dataset of a finished run (observables, monitors acted on, densities on
one output grid)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from ..engine import EvolveResult, StagedResult, scheme_code, transfer
from ..grids.adaptive import OUTPUT_TAIL, held_range, output_grid, plan_stages
from ..grids.autogrid import choose_grid, widening
from ..grids.grid import (
    ADAPTIVE,
    AXIS_NAMES,
    MAX_GRID_DIM,
    UNIFORM,
    GradedGrid,
    Grid,
    TensorGrid,
    axes_of,
    is_adaptive,
)
from ..results import observables as obs
from ..results import observables_nd as obs_nd
from ..results.dataset import attach, frame_variables, global_attrs
from ..results.error_size import error_norms
from ..tools.errors import WallMassError
from ..tools.validation import check_positive_real
from .monitors import act_on, monitor_variables

if TYPE_CHECKING:
    from ..grids.grid import GridChoice
    from ..models.dynamics import GuidedDynamics, PreparedRun
    from ..sweeps.calls import SolveCall

__all__ = [
    "SETTINGS",
    "STEP_DEFAULTS",
    "check_grid",
    "checked_settings",
    "grid_dataset",
    "on_automatic_grid",
    "reduces",
    "start_density",
]

START_MASS_TOL = 1e-6  # the start law's cell averages must carry its mass to this accuracy
# the engine settings of a solve
SETTINGS = ("scheme", "log_snr_step", "lipschitz", "cells_per_width", "wall_tol")
# Step control per sampler. The ODE's remap has no time-splitting error (only the RK4 trace), so
# long steps are better (fewer remaps); the SDE's Strang splitting error is O(dt²) and needs steps
# ~4x shorter in log-SNR, which then set its error: L·dt ≤ 1 instead of 0.5 leaves it within 1.5x on
# the standard cases (1-D, w = 3 and 15, against a refined solve: L1 ≤ 4e-5) and takes 20-35 % fewer
# steps where the guided edge layer is steep.
STEP_DEFAULTS = {
    "ode": {"log_snr_step": 0.2, "lipschitz": 0.5},
    "sde": {"log_snr_step": 0.05, "lipschitz": 1.0},
}


def reduces(call: SolveCall) -> bool:
    """Whether a solve call runs through a reduction (d > 3, or ``reduce=True`` in d > 1).

    Parameters
    ----------
    call : SolveCall
        A :func:`~fpguide.solve` call (``target`` and ``reduce`` used).

    Returns
    -------
    bool
        True when the call solves a reduction (see :mod:`fpguide.runs.reduction`).
    """
    d = call.target.ndim
    return d > MAX_GRID_DIM or (call.reduce is True and d > 1)


def checked_settings(stochastic: bool, call: SolveCall) -> dict:
    """The engine settings of a solve call, checked, with the sampler's step defaults filled in.

    ``fpguide run`` checks a configuration with it before running.

    Parameters
    ----------
    stochastic : bool
        Whether the sampler has noise (η > 0): the defaults of ``STEP_DEFAULTS["sde"]``, else
        ``["ode"]``.
    call : SolveCall
        The solve call (its arguments in :data:`SETTINGS` used).

    Returns
    -------
    dict
        ``scheme``, ``log_snr_step``, ``lipschitz``, ``cells_per_width`` and ``wall_tol``, the step
        settings that were None replaced by the defaults.

    Raises
    ------
    ValueError
        For an unknown ``scheme``, or a step setting, ``cells_per_width`` or ``wall_tol`` that is
        not a positive real number (TypeError for one that is not a number).
    """
    defaults = STEP_DEFAULTS["sde" if stochastic else "ode"]
    settings = {name: getattr(call, name) for name in SETTINGS}
    scheme_code(settings["scheme"])
    for name in ("log_snr_step", "lipschitz"):
        settings[name] = defaults[name] if settings[name] is None else settings[name]
    for name in ("log_snr_step", "lipschitz", "cells_per_width", "wall_tol"):
        check_positive_real(name, settings[name])
    return settings


def check_grid(
    grid: Grid | TensorGrid | Sequence[Grid] | GridChoice | None, d: int, adaptive: bool = False
) -> Grid | TensorGrid | Literal["adaptive"] | None:
    """The grid a run of a d-dimensional target uses.

    A Grid (1-D) or a TensorGrid (a sequence of Grids is made one) with one axis per dimension, as
    given; None for one uniform grid chosen automatically (``"uniform"``, or None in 1-D); or, where
    ``adaptive`` (solve's grid), ``"adaptive"`` for stages of their own (``"adaptive"``, or None in
    2-D and 3-D: there the stages cost 3-16x less than one uniform grid at the same accuracy, see
    :mod:`fpguide.grids.adaptive`; in 1-D one grid costs at most seconds and the stages' planning is
    a fixed cost).

    Parameters
    ----------
    grid : Grid, TensorGrid, sequence of Grid, {"uniform", "adaptive"} or None
        The grid argument of the run.
    d : int
        The number of dimensions of the target (of its solved coordinates).
    adaptive : bool, default False
        Whether the run takes adaptive grids (:func:`~fpguide.solve` and its sweeps).

    Returns
    -------
    Grid, TensorGrid, "adaptive" or None
        The grid as given (a TensorGrid for a sequence of Grids), ``"adaptive"``, or None for one
        uniform grid chosen automatically.

    Raises
    ------
    ValueError
        For a TensorGrid with another number of axes than d, and for ``"adaptive"`` where the run
        does not take it.
    TypeError
        For anything else.
    """
    if grid is None:
        return ADAPTIVE if adaptive and d > 1 else None
    if isinstance(grid, str) and grid == UNIFORM:
        return None
    if (d == 1 and isinstance(grid, Grid)) or (adaptive and is_adaptive(grid)):
        return grid
    if d > 1 and isinstance(grid, (list, tuple)) and all(isinstance(axis, Grid) for axis in grid):
        grid = TensorGrid(tuple(grid))
    if d > 1 and isinstance(grid, TensorGrid):
        if grid.ndim != d:
            raise ValueError(
                f"grid must have one axis per dimension of the target ({d}), got {grid.ndim}"
            )
        return grid
    wanted = "a fpguide.Grid" if d == 1 else f"a fpguide.TensorGrid with {d} axes"
    if is_adaptive(grid):
        raise ValueError(
            f"grid={ADAPTIVE!r} is for fpguide.solve (and its sweeps) only, for now: "
            f"give {wanted}, "
            f"{UNIFORM!r} or None here"
        )
    choices = (
        f"{wanted}, {UNIFORM!r}, {ADAPTIVE!r} or None"
        if adaptive
        else f"{wanted}, {UNIFORM!r} or None"
    )
    raise TypeError(
        f"grid must be {choices}, got "
        "" + (repr(grid) if isinstance(grid, str) else type(grid).__name__)
    )


def start_density(
    grid: Grid | TensorGrid, log_start: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The start law's cell averages on ``grid``, checked to carry its mass.

    Parameters
    ----------
    grid : Grid or TensorGrid
        The grid of the run.
    log_start : callable
        The start law's log-density (as :func:`~fpguide.models.dynamics.start_law` returns it).

    Returns
    -------
    np.ndarray
        The cell averages, of the grid's shape.

    Raises
    ------
    WallMassError
        When they do not carry the law's mass to ``START_MASS_TOL`` (an extent that cuts its bulk,
        or cells far wider than it): the run would evolve another law.
    """
    q0 = grid.cell_averages(log_start)
    mass = float(q0.sum() * grid.cell_volume)
    if not abs(mass - 1.0) <= START_MASS_TOL:
        extent = " x ".join(
            f"[{axis.lower:.6g}, {axis.upper:.6g}] ({axis.n} cells of {axis.dx:.3g})"
            for axis in axes_of(grid)
        )
        raise WallMassError(
            f"the start law has mass {mass:.6g} on the grid {extent}, not 1: widen "
            "the grid to cover "
            "its bulk, with cells narrower than its width (a grid chosen "
            "automatically this wide "
            "means the sampler's flow runs away, e.g. a score error amplified by "
            "w: give a grid and "
            "a wall_tol instead, and the escaping mass is counted as outflow)"
        )
    return q0


def on_automatic_grid(
    run_on: Callable,
    grid: Grid | TensorGrid | Literal["adaptive"] | None,
    dyn: GuidedDynamics,
    t_min: float,
    quantile: Callable,
    cells_per_width: float,
) -> tuple[Any, Grid | TensorGrid | list, dict]:
    """Run ``run_on`` on the given grid, or on one chosen automatically (widened while mass
    leaves through its walls).

    With a grid, ``run_on(grid)``; with None, on the grid :func:`choose_grid` picks from a pilot of
    ``dyn``; with ``"adaptive"``, on the stages :func:`~fpguide.grids.adaptive.plan_stages` picks (a
    list of :class:`~fpguide.grids.adaptive.Stage`), picked again wider while mass leaves through
    its walls (see :func:`~fpguide.grids.autogrid.widening`).

    Parameters
    ----------
    run_on : callable
        ``run_on(grid or stages)``: the run, returning its result.
    grid : Grid, TensorGrid, "adaptive" or None
        The grid as :func:`check_grid` returns it.
    dyn : GuidedDynamics
        The dynamics the pilot runs.
    t_min : float
        The run's output time.
    quantile : callable
        The quantile function of the start law (from :func:`~fpguide.models.dynamics.start_law`).
    cells_per_width : float
        Resolution of the automatic grid (cells across the narrowest density feature).

    Returns
    -------
    result
        What ``run_on`` returned.
    grid : Grid, TensorGrid or list of Stage
        The grid used (the stages, for an adaptive run).
    run : dict
        The run record: ``grid_choice`` (None for a given grid) and, after widening, the errors in
        ``widened_after``.
    """
    run = {"grid_choice": None}
    if grid is not None and not is_adaptive(grid):
        return run_on(grid), grid, run
    choose = plan_stages if is_adaptive(grid) else choose_grid

    def on_chosen(widen: float):
        chosen, run["grid_choice"] = choose(
            dyn, t_min, quantile, cells_per_width=cells_per_width, widen=widen
        )
        return run_on(chosen), chosen

    failed = []
    result, chosen = widening(on_chosen, failed=failed)
    if failed:
        run["widened_after"] = failed
    return result, chosen, run


def grid_dataset(
    result: EvolveResult | StagedResult,
    prepared: PreparedRun,
    config: dict,
    run: dict,
    direction: np.ndarray | None,
    feature_width: float | list[float],
    t_observe: np.ndarray | None = None,
) -> xr.Dataset:
    """The Dataset of a grid run, its monitors acted on (see :mod:`fpguide.runs.monitors`).

    ``result`` is an :class:`~fpguide.engine.EvolveResult`, or a
    :class:`~fpguide.engine.StagedResult` whose saved densities live on the grids of their stages:
    the observables are then computed on each density's own grid (exact cell integrals of the run's
    representation), and the densities are stored on one graded grid (:func:`_output_grid`) by exact
    cell integrals of their reconstruction: where a stage's densities hold their mass its cells are
    subdivided, beyond that (less than OUTPUT_TAIL per side and axis) they are summed into coarser
    cells; no mass is lost either way.

    Parameters
    ----------
    result : EvolveResult or StagedResult
        The engine run.
    prepared : PreparedRun
        The prepared run (:func:`~fpguide.models.dynamics.prepare_run`): dynamics, saved times,
        ``delta`` and thresholds.
    config : dict
        The run's configuration (``attrs["config"]``); its ``wall_tol`` is used.
    run : dict
        The run record (``attrs["run"]``), completed here with ``mass_error``.
    direction : np.ndarray or None
        (d-D) the direction of the projected observables; None in 1-D.
    feature_width : float or list of float
        The narrowest feature its dynamics can make, one or one per axis.
    t_observe : np.ndarray, optional
        The times at which p_t enters the observables (default: the saved times).

    Returns
    -------
    xarray.Dataset
        The densities, outflow, observables, divergences to the conditional and tilted references,
        and monitors over ``t``.

    Raises
    ------
    NumericalError
        When the mass balance drifts beyond the monitors' tolerance (see :func:`act_on`).
    """
    dyn, t_save = prepared.dyn, prepared.t_save
    t_observe = t_save if t_observe is None else t_observe
    pieces = result.pieces() if isinstance(result, StagedResult) else [(slice(None), result)]
    parts = [_observables(piece, prepared, t_observe[part], direction) for part, piece in pieces]
    data = {
        name: (
            dims,
            np.concatenate([part[name][1] for part in parts], axis=dims.index("t"))
            if "t" in dims
            else values,
        )
        for name, (dims, values) in parts[0].items()
    }
    final = pieces[-1][1]
    output = _output_grid([piece for _, piece in pieces])
    names = AXIS_NAMES[: len(axes_of(output))]
    data["density"] = (("t", *names), _on_grid(pieces, output, result.scheme))
    data["outflow"] = (("t",), result.outflow_lower + result.outflow_upper)
    data |= frame_variables(dyn.process, t_save)
    if dyn.model.has_densities:
        refs = obs.reference_densities(final.grid, dyn.model, float(t_observe[-1]), dyn.process)
        # the tilted law p_c^(1+w) p_u^(-w) is the linear combination's: a rule's run has none
        for name in ("conditional",) if dyn.model.rule is not None else ("conditional", "tilted"):
            data[f"kl_{name}"], data[f"tv_{name}"] = obs.divergences(
                final.q[-1].ravel(), refs[name].ravel(), final.grid.cell_volume
            )
    mass, outflow = data["mass"][1], data["outflow"][1]
    run["mass_error"] = float(np.max(np.abs(mass + outflow - mass[0])))
    monitors = [
        monitor_variables(piece, mass[part], outflow[part], initial=mass[0])
        for part, piece in pieces
    ]
    monitors = {
        name: (("t",), np.concatenate([part[name][1] for part in monitors])) for name in monitors[0]
    }
    grids = [piece.grid for _, piece in pieces for _ in piece.t]
    act_on(monitors, t_save, grids, float(outflow[-1]), config["wall_tol"], feature_width)
    data |= monitors
    coords = {"t": t_save, "threshold": prepared.thresholds}
    if len(names) > 1:
        coords |= {"dim": list(names), "dim2": list(names)}
    for name, axis in zip(names, axes_of(output)):
        coords[name] = (name, axis.centres, {"bounds": f"{name}_bounds"})
        coords[f"{name}_bounds"] = ((name, "nv"), axis.bounds)
    where = "" if len(names) == 1 else f" in {len(names)}-D"
    ds = xr.Dataset(
        data,
        coords=coords,
        attrs=global_attrs(
            f"fpguide {dyn.sampler} solution{where}, CFG w={dyn.model.w}",
            config,
            run,
            obs.omitted_observables(dyn.model),
        ),
    )
    return attach(ds)


def _observables(result, prepared, t_observe, direction) -> dict:
    """The observables of the densities of an engine run (or of the saved times of one stage) on
    their own grid, as Dataset variables (dims, values) with a ``t`` dimension."""
    grid, dyn, q = result.grid, prepared.dyn, result.q
    model = dyn.model
    where = (grid, q, t_observe, model, dyn.process)
    options = {"scheme": result.scheme, "delta": prepared.delta, "thresholds": prepared.thresholds}
    if dyn.model.ndim == 1:
        series = obs.time_series(*where, **options)
        data = {
            name: (("t", "threshold") if name == "tail_probability" else ("t",), values)
            for name, values in series.items()
        }
    else:
        data = obs_nd.time_series(*where, **options, direction=direction)
        data["direction"] = (("dim",), direction)
    if model.has_errors:
        data |= {
            name: (("t",), values)
            for name, values in error_norms(model, dyn.process, t_observe, grid).items()
        }
    return data


def _output_grid(pieces: list[EvolveResult]) -> Grid | GradedGrid | TensorGrid:
    """The grid the saved densities of the runs ``pieces`` are stored on: their one grid, or an
    adaptive run's :func:`~fpguide.grids.adaptive.output_grid` (each stage's cells where its
    densities hold all but OUTPUT_TAIL)."""
    if len(pieces) == 1:
        return pieces[0].grid
    ranges = [held_range(piece.q, piece.grid, OUTPUT_TAIL) for piece in pieces]
    return output_grid([piece.grid for piece in pieces], ranges)


def _on_grid(pieces, output, scheme: str) -> np.ndarray:
    """The saved densities of every piece moved onto the grid ``output``, one at a time into one
    array (a piece's densities at once, then joined, had doubled the peak memory: 3-D boxes at t_min
    = 1e-3, output 5.1 GB, peak 10.3 GB, now 5.7 GB)."""
    # a uniform run's densities, as they are (no copy)
    if len(pieces) == 1 and pieces[0][1].grid is output:
        return pieces[0][1].q
    code = scheme_code(scheme)
    out = np.empty(
        (sum(piece.q.shape[0] for _, piece in pieces), *(axis.n for axis in axes_of(output)))
    )
    k = 0
    for _, piece in pieces:
        for q in piece.q:
            out[k] = (
                q if piece.grid is output else transfer(q[None], piece.grid, output, code)[0][0]
            )
            k += 1
    return out
