"""solve(): target + guidance + process + sampler → drift → engine → observables → Dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..engine import StagedResult, evolve, evolve_in_stages
from ..grids.adaptive import Stage, StageGrids, output_grid
from ..grids.autogrid import CELLS_PER_WIDTH, choose_grid, covering_grid, feature_width
from ..grids.grid import ADAPTIVE, MAX_GRID_DIM, Grid, TensorGrid, is_adaptive
from ..models.dynamics import PreparedRun, WeightBatch, start_law
from ..models.guidance import CFG
from ..results import observables_nd as obs_nd
from ..results.dataset import config_of
from ..sweeps.calls import SolveCall
from ..sweeps.sweepable import sweepable
from ..tools.errors import in_diffusion_time
from ..tools.resources import check_memory
from ..tools.validation import check_flag
from .batched import evolve_batches
from .error_estimate import with_error_estimates
from .grid_run import (
    check_grid,
    checked_settings,
    grid_dataset,
    on_automatic_grid,
    reduces,
    start_density,
)
from .reduction import find_reduction

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..engine import Scheme
    from ..grids.grid import GridChoice
    from ..models.dynamics import Sampler, Start
    from ..models.processes import Process
    from ..models.targets import Mixture
    from ..sweeps.family import Family

__all__ = ["CheckedSolve", "check_solve", "solve", "solve_from_density"]


def _plan_sweep(groups: list[list[SolveCall]], widen: float) -> list[list[SolveCall]]:
    """The sweep's items on one grid: the grid given, or every group's automatic grid (one pilot per
    group of weights) covered by one (see :func:`~fpguide.grids.autogrid.covering_grid`); refused up
    front when the sweep's saved densities would not fit in memory. Reduced items and items on
    adaptive grids (``"adaptive"``, or None in 2-D and 3-D) keep their own grids (the latter are put
    on one grid when the sweep's Dataset is assembled, see
    :func:`~fpguide.results.resample.on_common_grid`)."""
    if any(reduces(call) for group in groups for call in group):
        return groups
    grid = check_grid(groups[0][0].grid, groups[0][0].target.ndim, adaptive=True)
    if is_adaptive(grid):
        return [[call.replace(grid=grid) for call in group] for group in groups]
    if grid is None:
        grids = []
        for group in groups:
            prepared_calls = [call.prepared() for call in group]
            dyn = prepared_calls[0].dyn
            _, quantile = start_law(dyn, group[0].start)
            batch = WeightBatch(tuple(prepared.dyn for prepared in prepared_calls))
            grids.append(
                choose_grid(
                    batch,
                    prepared_calls[0].t_min,
                    quantile,
                    cells_per_width=group[0].cells_per_width,
                    widen=widen,
                )[0]
            )
        grid = covering_grid(grids)
    planned = [[call.replace(grid=grid) for call in group] for group in groups]
    saved = sum(call.prepared().t_save.size for group in planned for call in group)
    check_memory(saved, grid.size, f"this sweep of {sum(len(group) for group in planned)} items")
    return planned


def _solve_group(solve_one, calls: list[SolveCall]) -> list[xr.Dataset]:
    """Solves that differ only in w: on a 1-D grid, in batched engine runs that share the score
    evaluations (see :func:`evolve_batches`); one after another otherwise."""
    prepared_calls = [call.prepared() for call in calls]
    first, dyn = calls[0], prepared_calls[0].dyn
    own_grids = first.grid is None or is_adaptive(first.grid)  # reduced, or adaptive
    if len(calls) == 1 or dyn.model.ndim > 1 or reduces(first) or own_grids:
        return [solve_one(**call.arguments()) for call in calls]
    settings = checked_settings(dyn.stochastic, first)
    grid = check_grid(first.grid, 1)
    results, sizes = evolve_batches(prepared_calls, grid, settings)
    datasets = [
        _finish(result, prepared, settings, {"grid_choice": None, "batch_sizes": size}, None)
        for result, prepared, size in zip(results, prepared_calls, sizes)
    ]
    if not first.error_estimate:
        return datasets
    return with_error_estimates(
        datasets, calls, lambda companions: _solve_group(solve_one, companions)
    )


@sweepable(SolveCall, plan=_plan_sweep, run_group=_solve_group)
def solve(
    target: Mixture | Family,
    guidance: CFG,
    sampler: Sampler | Sequence[Sampler] = "ode",
    *,
    eta: float | Sequence[float] | None = None,
    T: float | Sequence[float] = 10.0,
    t_min: float | Sequence[float] = 1e-3,
    grid: Grid | TensorGrid | Sequence[Grid] | GridChoice | None = None,
    process: Process | str | None = None,
    start: Start = "prior",
    n_save: int = 41,
    t_eval: ArrayLike | None = None,
    scheme: Scheme = "ppm",
    delta: float | Sequence[float] = 0.1,
    thresholds: ArrayLike | None = None,
    log_snr_step: float | Sequence[float] | None = None,
    lipschitz: float | Sequence[float] | None = None,
    cells_per_width: float | Sequence[float] = CELLS_PER_WIDTH,
    wall_tol: float = 1e-9,
    direction: ArrayLike | None = None,
    reduce: bool | None = None,
    error_estimate: bool = False,
    progress: bool | None = None,
) -> xr.Dataset:
    """The density of a guided sampler's output, on a grid, with its observables.

    The sampler's density q(x, t) is evolved by its Fokker–Planck equation from T down to t_min,
    ∂_τ q = −∇·(q v) + D Δq in reverse time τ = T − t, with the guided drift v = −f x + κ g² s_w
    (κ = ½ for the probability-flow ODE, ½(1 + η²) for the η-sampler) and the diffusion D = ½ η²
    g² (η = 1: the reverse SDE; D = 0 for the ODE), s_w the CFG score of ``guidance``. The
    observables of the density are computed at every saved time.

    Sweeps: a sequence for ``sampler``, the guidance weight (``CFG(label, w=[...])``), ``T``,
    ``t_min``, ``eta``, ``delta``, ``log_snr_step``, ``lipschitz`` or ``cells_per_width``, or a
    :class:`~fpguide.Family` of targets, gives one Dataset with those parameters as
    leading dimensions (see :mod:`fpguide.sweeps.sweep`); ``client`` and ``store`` run it on Dask
    and write it to zarr as it goes (see :mod:`fpguide.sweeps.distributed`).

    Parameters
    ----------
    target : Mixture, ScoreModel or Family
        The (unconditional) target: a mixture, e.g. a :class:`~fpguide.GaussianMixture` or
        :class:`~fpguide.UniformMixture`, or a :class:`~fpguide.ScoreModel` (1-D to 3-D, not
        reduced); a :class:`~fpguide.Family` sweeps it.
    guidance : CFG
        The classifier-free guidance (its weight w may be a sequence: a sweep).
    sampler : {"ode", "sde"} or sequence of them, default "ode"
        ``"ode"`` (probability flow, DDIM) or ``"sde"`` (reverse SDE, DDPM).
    eta : float or sequence of float, optional
        Stochasticity η ∈ [0, 1] of ``"sde"``: drift −f x + ½(1 + η²) g² s_w, diffusion ½ η² g²
        (default 1, the reverse SDE; 0 is the probability-flow ODE).
    T, t_min : float or sequence of float, default 10.0 and 1e-3
        The sampler runs in diffusion time from T down to t_min > 0 (early stopping).
    grid : Grid, TensorGrid, sequence of Grid, {"uniform", "adaptive"} or None, default None
        A :class:`Grid` (1-D) or :class:`TensorGrid` (2-D, 3-D; a sequence of Grids is made one) —
        with a reduction, the grid of the solved coordinates; ``"uniform"`` chooses one grid's
        extent and resolution from a pilot of the dynamics (recorded in ``run["grid_choice"]``);
        ``"adaptive"`` runs in stages, each on a uniform grid that fits the density at that time,
        and stores the densities on one graded grid, fine where a stage held mass with fine cells
        (:class:`GradedGrid` axes; see :mod:`fpguide.grids.adaptive`; ``run["grid_choice"]``,
        ``run["stages"]`` and ``run["trimmed_mass"]`` record it; a sweep's items run one after
        another and share the union of their grids); None (default): ``"uniform"`` in 1-D,
        ``"adaptive"`` in 2-D and 3-D.
    process : Process, str or None, default None
        :class:`OU` (default), :class:`VP`, :class:`VE`, :class:`EDM` or :class:`FlowMatching`, or
        their names. VE and EDM are solved in the frame y = x/sqrt(1 + σ(t)²), flow matching in
        y = x/sqrt(α(t)² + σ(t)²) (densities and observables of y; ``frame_scale`` holds s(t),
        x = s y).
    start : {"prior", "exact"}, default "prior"
        ``"prior"`` (N(0, 1), what samplers use) or ``"exact"`` (the noised conditional
        ``p_T(·|c)``).
    n_save : int, default 41
        The number of saved diffusion times, uniform in log-SNR (when ``t_eval`` is None).
    t_eval : array_like, optional
        The saved diffusion times, explicitly.
    scheme : {"ppm", "plm", "pcm"}, default "ppm"
        Reconstruction of the advection (piecewise parabolic, linear, constant).
    delta : float or sequence of float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).
    log_snr_step, lipschitz : float or sequence of float, optional
        Step control: steps at most ``log_snr_step`` in log-SNR and L·dt ≤ ``lipschitz`` (L = ``max
        |∂_x v|`` where the mass is); for ``"sde"`` with exact scores the log-SNR step is stretched
        by SNR^(−η²/4) where SNR < 1 (see :meth:`~fpguide.models.dynamics.GuidedDynamics.tau_grid`);
        defaults per sampler in ``STEP_DEFAULTS``, measured to keep the entropy and support-mass
        errors of the standard cases below 2e-4.
    cells_per_width : float or sequence of float, default CELLS_PER_WIDTH
        Resolution of the automatic grid (cells across the narrowest density feature).
    wall_tol : float, default 1e-9
        The mass allowed to leave through the walls before the run fails.
    direction : array_like, optional
        (d-D) the direction u of the projected observables (``projected_mean`` = ⟨mean, u⟩, tail
        probabilities of ⟨x, u⟩); default the unit vector from the other classes' mean to the class
        mean (in a reduced solve it must lie in the solved span; the default falls back to the first
        basis vector).
    reduce : bool or None, default None
        Solve exactly on at most three coordinates times a closed-form or 1-D part (isotropic
        Gaussian mixtures, or product targets whose classes differ along at most three coordinates;
        see :mod:`fpguide.runs.reduction`). None (default): only when d > 3; True: always (error if
        impossible); False: never.
    error_estimate : bool, default False
        Also solve two companions, one with half the cells per axis and one with steps twice as
        long, and store the differences as estimated errors: ``l1_error(t)`` of the density and
        ``<name>_error`` of every observable (see :mod:`fpguide.runs.error_estimate`); 2-3x the time
        of the solve alone in 1-D.
    progress : bool or None, default None
        A progress bar over the simulated time (over the items, for a sweep): None (default) on a
        terminal once the run has lasted 2 s, True always, False never.
    client : dask.distributed.Client or str, optional
        (Sweeps) run the sweep's groups of items as Dask tasks: a Client, a scheduler address
        (``"tcp://host:8786"``) or a scheduler name (``"threads"``, ``"processes"``,
        ``"synchronous"``).
    store : str or os.PathLike, optional
        (Sweeps) a zarr path: every group of items is written there as it completes, and a rerun
        with the same store skips the groups already written.

    Returns
    -------
    xarray.Dataset
        With dims ``t`` (from T down to t_min) and ``x`` (``x``, ``y``, ``z`` in d-D). A reduced
        solve holds the density of the solved coordinates y = basis·x on ``x`` (``y``, ``z``), the
        observables of the full d-dimensional law (``mean`` and marginal ``variance`` along
        ``dim``), and no total variations.

    Raises
    ------
    ValueError
        For a target of d > 3 dimensions with ``reduce=False``; for ``reduce=True`` (or d > 3) when
        the target has no exact reduction; for ``client`` or ``store`` in a call that sweeps
        nothing; and for arguments out of their ranges (the message names the argument).
    TypeError
        For an argument of the wrong type, e.g. a ``grid`` that is neither a grid nor a choice.
    WallMassError
        When more than ``wall_tol`` of the mass leaves through the walls of a given grid (an
        automatic grid is widened and tried again first).

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    >>> ds = fg.solve(target, fg.CFG(label=1, w=2.0), grid=fg.Grid(-8.0, 8.0, 160), n_save=5)
    >>> ds.sizes["t"], ds.sizes["x"]
    (5, 160)
    >>> round(float(ds["mass"].isel(t=-1)), 6)
    1.0
    """
    call = SolveCall(**locals())
    if check_flag("error_estimate", error_estimate):  # the solves it runs check the rest
        call = call.replace(error_estimate=False)
        return with_error_estimates(
            [solve(**call.arguments())],
            [call],
            lambda companions: [solve(**companions[0].arguments())],
        )[0]
    checked = check_solve(call)
    prepared, settings, direction = checked.prepared, checked.settings, checked.direction
    dyn, t_min = prepared.dyn, prepared.t_min
    d = dyn.model.ndim
    if checked.reduction is not None:
        return _solve_reduced(*checked.reduction, prepared, settings | {"grid": grid})
    grid = checked.grid
    log_start, quantile = start_law(dyn, start)

    def run_on(use):
        drift = dyn.drift if d == 1 else dyn
        if isinstance(use, list):  # adaptive: the stages of the run
            return _evolve_staged(
                start_density(use[0].grid, log_start), drift, prepared, use, settings, progress
            )
        return _evolve(
            start_density(use, log_start), drift, prepared, use, settings, progress=progress
        )

    result, grid, run = on_automatic_grid(run_on, grid, dyn, t_min, quantile, cells_per_width)
    return _finish(result, prepared, settings, run, direction)


def solve_from_density(call: SolveCall, q0: np.ndarray) -> xr.Dataset:
    """A 1-D :func:`solve` call on its given grid, started at T from the cell averages ``q0``
    instead of its start law: the continuous sampler a discrete chain is compared with, from the
    chain's own first state (diffusers' Euler pipelines start from N(0, s_0²) in the VE scale, not
    from the process's prior).

    Parameters
    ----------
    call : SolveCall
        The solve: a 1-D target, a :class:`~fpguide.Grid` and no error estimate.
    q0 : numpy.ndarray
        The density at T, cell averages on the call's grid.

    Returns
    -------
    xarray.Dataset
        What :func:`solve` returns for the call, its run record marking the given start
        (``start_density``).

    Raises
    ------
    ValueError
        If the call has no 1-D grid, ``q0`` does not fit it, or as :func:`solve`.
    """
    checked = check_solve(call)
    grid = checked.grid
    if not isinstance(grid, Grid) or call.error_estimate:
        raise ValueError("solve_from_density needs a 1-D fpguide.Grid and no error estimate")
    q0 = np.asarray(q0, dtype=float)
    if q0.shape != (grid.n,):
        raise ValueError(f"q0 must hold the {grid.n} cells of the grid, got shape {q0.shape}")
    prepared, settings = checked.prepared, checked.settings
    result = _evolve(q0, prepared.dyn.drift, prepared, grid, settings)
    run = {"grid_choice": None, "start_density": "given"}
    return _finish(result, prepared, settings, run, checked.direction)


@dataclass(frozen=True)
class CheckedSolve:
    """A :func:`solve` call with every argument checked, what :func:`check_solve` returns.

    Attributes
    ----------
    prepared : PreparedRun
        The target, guidance, process and sampler bound into their dynamics, with the saved times.
    settings : dict
        The engine settings (``SETTINGS`` of :mod:`fpguide.runs.grid_run`), defaults filled in.
    direction : numpy.ndarray
        The direction of the projected observables (d-D).
    reduction : tuple or None
        For a reduced solve, the oriented reduction, the direction and the direction in the solved
        coordinates (see :meth:`~fpguide.runs.reduction.Reduction.oriented`); else None.
    grid : Grid, TensorGrid, str or None
        The grid as :func:`~fpguide.runs.grid_run.check_grid` returns it (the grid as given for a
        reduced solve, whose solved coordinates check it).
    """

    prepared: PreparedRun
    settings: dict
    direction: np.ndarray
    reduction: tuple | None
    grid: Grid | TensorGrid | str | None


def check_solve(call: SolveCall) -> CheckedSolve:
    """Every check :func:`solve` makes before it runs anything, on the call's arguments.

    ``fpguide run`` checks each item of a configuration with it before running any: a bad value
    stops the run before a solve starts, with the same error the solve would raise.

    Parameters
    ----------
    call : SolveCall
        Every argument of :func:`solve`.

    Returns
    -------
    CheckedSolve
        The checked call.

    Raises
    ------
    TypeError, ValueError
        The errors of :func:`solve` for a bad argument, naming it, its value and what is allowed.
    """
    check_flag("error_estimate", call.error_estimate)
    prepared = call.prepared()
    dyn = prepared.dyn
    settings = checked_settings(dyn.stochastic, call)
    d = dyn.model.ndim
    reduce = check_flag("reduce", call.reduce, allow_none=True)
    if d > MAX_GRID_DIM and reduce is False:
        raise ValueError(
            f"the target has d={d} dimensions but a grid holds at most "
            f"{MAX_GRID_DIM}: use reduce=None "
            "or True (targets that reduce exactly to <= 3 solved coordinates)"
        )
    given = call.direction is not None
    direction = obs_nd.check_direction(call.direction, dyn.model)
    if d > MAX_GRID_DIM or (reduce and d > 1):
        reduction = find_reduction(dyn.model, prepared.guidance)
        oriented = reduction.oriented(direction, given)
        return CheckedSolve(prepared, settings, direction, oriented, call.grid)
    grid = check_grid(call.grid, d, adaptive=True)
    return CheckedSolve(prepared, settings, direction, None, grid)


def _engine_options(prepared, settings: dict, progress: bool | None) -> dict:
    """The engine arguments both kinds of solve run share: the span in reverse time τ = T − t, the
    diffusion with the drift's Ornstein–Uhlenbeck part treated exactly, the saved times, the step
    boundaries (uniform in log-SNR, longer where SNR < 1 for exact scores), the drift's jumps, and
    the settings."""
    dyn, t_min = prepared.dyn, prepared.t_min
    return {
        "t_span": (0.0, dyn.T - t_min),
        "diffusion": dyn.engine_diffusion,
        "ou_drift": True,
        "t_eval": dyn.T - prepared.t_save,
        "time_grid": dyn.tau_grid(t_min, settings["log_snr_step"], quiet=True),
        "drift_jumps": dyn.schedule_taus("jumps", t_min),
        "scheme": settings["scheme"],
        "lipschitz": settings["lipschitz"],
        "wall_tol": settings["wall_tol"],
        "progress": progress,
    }


def _evolve(q0, drift, prepared, grid, settings: dict, progress: bool | None = None):
    """The engine run of a prepared solve."""
    check_memory(prepared.t_save.size, q0.size, "this solve")
    with in_diffusion_time(prepared.dyn.T):
        return evolve(
            q0,
            drift,
            grid=grid,
            **_engine_options(prepared, settings, progress),
        )


def _evolve_staged(
    q0, drift, prepared, stages: list[Stage], settings: dict, progress: bool | None = None
):
    """The engine run of a prepared solve on adaptive grids (the ``stages`` of
    :func:`~fpguide.grids.adaptive.plan_stages`; at each stage's start its grid is widened to hold
    the density, see :func:`~fpguide.grids.adaptive.regrid`); refused when its saved densities would
    not fit in memory on the output grid the pilot's ranges give
    (:func:`~fpguide.grids.adaptive.output_grid`)."""
    output = output_grid([stage.grid for stage in stages], [stage.seen for stage in stages])
    check_memory(prepared.t_save.size, output.size, "this solve")
    callbacks = StageGrids(stages, settings["wall_tol"])
    with in_diffusion_time(prepared.dyn.T):
        return evolve_in_stages(
            q0,
            drift,
            starts=[stage.start for stage in stages],
            grids=[stage.grid for stage in stages],
            regrid=callbacks.regrid,
            widen=callbacks.widen,
            **_engine_options(prepared, settings, progress),
        )


def _finish(result, prepared, settings: dict, run: dict, direction) -> xr.Dataset:
    """The Dataset of an engine run: configuration, run record, observables and monitors (acted
    on)."""
    dyn = prepared.dyn
    staged = isinstance(result, StagedResult)
    grid = ADAPTIVE if staged else result.grid.to_dict()
    config = prepared.config() | {"function": "solve", "grid": grid} | settings
    if dyn.model.ndim > 1:
        config["direction"] = direction.tolist()
    run.update(
        n_steps=result.n_steps,
        n_rejected=result.n_rejected,
        n_drift_evals=result.n_drift_evals,
        max_lipschitz_dt=result.max_lipschitz_dt,
        flushed_mass=result.flushed_mass,
        initial_mass=float(result.mass[0]),
    )
    if staged:
        run.update(stages=result.stages, trimmed_mass=float(result.trimmed[-1]))
    # an adaptive run's last grid is judged per axis against the features its plan resolved (a
    # guided axis can need cells sqrt(1 + w) narrower than the others: against the narrowest of all,
    # a 2-D Gaussian mixture guided along x was warned as 1.14 cells across its feature on its
    # y-axis' 4.6)
    width = run["grid_choice"]["feature"] if staged else float(feature_width(dyn, prepared.t_min))
    return grid_dataset(result, prepared, config, run, direction, width)


def _solve_reduced(
    reduction, direction: np.ndarray, solved_direction: np.ndarray | None, prepared, settings: dict
) -> xr.Dataset:
    """Solve the solved coordinates of an oriented ``reduction`` (and its unguided 1-D factors) and
    assemble the full law; ``direction`` and ``solved_direction`` are the projection direction in
    full and solved coordinates."""
    dyn = prepared.dyn
    common = {
        "sampler": dyn.sampler,
        "eta": dyn.eta,
        "T": dyn.T,
        "t_min": prepared.t_min,
        "process": dyn.process,
        "start": prepared.start,
        "t_eval": prepared.t_save,
        "delta": prepared.delta,
    } | settings
    red = solve(
        reduction.target,
        reduction.guidance,
        thresholds=prepared.thresholds,
        direction=solved_direction,
        **common,
    )
    factors = [
        solve(law, guidance, **(common | {"grid": None}))
        for law, guidance in reduction.factor_problems()
    ]
    rest = reduction.rest(dyn, prepared.t_save, prepared.start, factors)
    config = config_of(red) | prepared.config() | {"direction": direction.tolist(), "reduce": True}
    return reduction.assemble(red, rest, config, direction)
