"""solve(): target + guidance + process + sampler → drift → engine → observables → Dataset."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from . import observables as obs
from . import observables_nd as obs_nd
from ._validation import check_flag, check_positive_real
from .adaptive import OUTPUT_TAIL, Stage, StageGrids, held_range, output_grid, plan_stages
from .autogrid import CELLS_PER_WIDTH, WIDEN_FACTOR, WIDEN_TRIES, choose_grid, covering_grid, feature_width
from .dataset import attach, config_of, frame_variables, global_attrs
from .dynamics import WeightBatch, prepare, start_law
from .engine import EvolveResult, StagedResult, evolve, evolve_in_stages
from .engine.remap import scheme_code
from .engine.transfer import transfer
from .error_estimate import with_error_estimates
from .errors import WallMassError, in_diffusion_time
from .grid import ADAPTIVE, AXIS_NAMES, MAX_GRID_DIM, UNIFORM, GradedGrid, Grid, TensorGrid, axes_of, is_adaptive
from .guidance import CFG
from .monitors import act_on, monitor_variables
from .reduction import find_reduction
from .resources import check_memory
from .score_errors import error_norms
from .sweep import PREPARE_ARGS, sweepable

START_MASS_TOL = 1e-6  # the start law's cell averages must carry its mass to this accuracy
SETTINGS = ("scheme", "log_snr_step", "lipschitz", "cells_per_width", "wall_tol")  # the engine settings of a solve
BATCH_STEP_RATIO = 2.0  # weights of a sweep whose steps would differ by more run in separate batches
# Step control per sampler. The ODE's remap has no time-splitting error (only the RK4 trace), so long steps are
# better (fewer remaps); the SDE's Strang splitting error is O(dt²) and needs steps ~4x shorter in log-SNR, which then
# set its error: L·dt ≤ 1 instead of 0.5 leaves it within 1.5x on the standard cases (1-D, w = 3 and 15, against a
# refined solve: L1 ≤ 4e-5) and takes 20-35 % fewer steps where the guided edge layer is steep.
STEP_DEFAULTS = {"ode": {"log_snr_step": 0.2, "lipschitz": 0.5}, "sde": {"log_snr_step": 0.05, "lipschitz": 1.0}}


def _plan_sweep(groups: list[list[dict]], widen: float) -> list[list[dict]]:
    """The sweep's items on one grid: the grid given, or every group's automatic grid (one pilot per group of
    weights) covered by one (see :func:`~fpguide.autogrid.covering_grid`); refused up front when the sweep's saved
    densities would not fit in memory. Reduced items and items on adaptive grids (``"adaptive"``, or None in 2-D and
    3-D) keep their own grids (the latter are put on one grid when the sweep's Dataset is assembled, see
    :func:`~fpguide.resample.on_common_grid`)."""
    if any(reduces(call) for group in groups for call in group):
        return groups
    grid = check_grid(groups[0][0]["grid"], groups[0][0]["target"].ndim, adaptive=True)
    if is_adaptive(grid):
        return [[call | {"grid": grid} for call in group] for group in groups]
    if grid is None:
        grids = []
        for group in groups:
            run_ins = [_prepared(call) for call in group]
            dyn = run_ins[0].dyn
            _, quantile = start_law(dyn.model, dyn.process, dyn.T, group[0]["start"])
            grids.append(choose_grid(WeightBatch(tuple(run_in.dyn for run_in in run_ins)), run_ins[0].t_min,
                                     quantile, cells_per_width=group[0]["cells_per_width"], widen=widen)[0])
        grid = covering_grid(grids)
    planned = [[call | {"grid": grid} for call in group] for group in groups]
    saved = sum(_prepared(call).t_save.size for group in planned for call in group)
    check_memory(saved, grid.size, f"this sweep of {sum(len(group) for group in planned)} items")
    return planned


def _solve_group(solve_one, calls: list[dict]) -> list[xr.Dataset]:
    """Solves that differ only in w: on a 1-D grid, in batched engine runs that share the score evaluations (see
    :func:`_evolve_batches`); one after another otherwise."""
    run_ins = [_prepared(call) for call in calls]
    first, dyn = calls[0], run_ins[0].dyn
    own_grids = first["grid"] is None or is_adaptive(first["grid"])  # reduced, or adaptive
    if len(calls) == 1 or dyn.model.ndim > 1 or reduces(first) or own_grids:
        return [solve_one(**call) for call in calls]
    settings = checked_settings(dyn.stochastic, first)
    grid = check_grid(first["grid"], 1)
    results, sizes = _evolve_batches(run_ins, grid, settings)
    datasets = [_finish(result, run_in, settings, {"grid_choice": None, "batch_sizes": size}, None)
                for result, run_in, size in zip(results, run_ins, sizes)]
    if not first["error_estimate"]:
        return datasets
    return with_error_estimates(datasets, calls, lambda companions: _solve_group(solve_one, companions))


def _evolve_batches(run_ins: list, grid: Grid, settings: dict):
    """The engine runs of weights that agree in everything else, batched: from one saved time to the next, every
    batch advances in one run (common steps, shared score evaluations), and a batch whose members need steps that
    differ by more than BATCH_STEP_RATIO (their own rates L where their own mass is, or the log-SNR grid) is split
    for the next interval — a batch steps at the rate of its strongest member. Returns every member's result, as if
    evolved alone, and the sizes of the batches it was in."""
    dyn, t_min = run_ins[0].dyn, run_ins[0].t_min
    taus = dyn.T - run_ins[0].t_save
    log_start, _ = start_law(dyn.model, dyn.process, dyn.T, run_ins[0].start)
    n = len(run_ins)
    q = np.repeat(start_density(grid, log_start)[None], n, axis=0)
    saved, outflow = np.empty((taus.size, n, grid.n)), np.zeros((taus.size, n, 2))
    saved[0] = q
    monitors = {"min_density": q.min(axis=1)[None].repeat(taus.size, axis=0), "cfl": np.zeros((taus.size, n)),
                "peclet": np.zeros((taus.size, n))}
    counts = {name: np.zeros(n) for name in ("n_steps", "n_rejected", "n_drift_evals", "max_lipschitz_dt",
                                             "flushed_mass")}
    sizes = [[] for _ in range(n)]
    time_grid = dyn.tau_grid(t_min, settings["log_snr_step"], quiet=True)
    jumps = dyn.schedule_taus("jumps", t_min)
    batches = [np.arange(n)]
    for k in range(1, taus.size):
        span = (taus[k - 1], taus[k])
        inside = time_grid[(time_grid > span[0]) & (time_grid < span[1])]
        floor_rate = settings["lipschitz"] * (inside.size + 1) / (span[1] - span[0])
        split = []
        for members in batches:
            escaped = outflow[k - 1, members].sum(axis=1).max()
            with in_diffusion_time(dyn.T):
                result = evolve(q[members], WeightBatch(tuple(run_ins[b].dyn for b in members)), grid=grid,
                                t_span=span, diffusion=dyn.engine_diffusion, ou_drift=True, time_grid=inside,
                                drift_jumps=jumps[(jumps > span[0]) & (jumps < span[1])], scheme=settings["scheme"],
                                lipschitz=settings["lipschitz"], wall_tol=max(settings["wall_tol"] - escaped, 1e-300),
                                batch=True, progress=False)
            q[members] = saved[k, members] = result.q[-1]
            outflow[k, members] = outflow[k - 1, members] + np.stack([result.outflow_lower[-1],
                                                                       result.outflow_upper[-1]], axis=1)
            for name in ("n_steps", "n_rejected", "n_drift_evals"):
                counts[name][members] += getattr(result, name)
            counts["max_lipschitz_dt"][members] = np.maximum(counts["max_lipschitz_dt"][members],
                                                             result.max_lipschitz_dt)
            counts["flushed_mass"][members] += result.flushed_mass
            for name, values in monitors.items():
                values[k, members] = getattr(result, name)[-1]
            for b in members:
                sizes[b].append(len(members))
            split += _split_by_rate(members, np.maximum(result.member_rate, floor_rate))
        batches = split
    results = [EvolveResult(taus, saved[:, b], outflow[:, b, 0], outflow[:, b, 1], grid, settings["scheme"],
                            n_steps=int(counts["n_steps"][b]), n_rejected=int(counts["n_rejected"][b]),
                            n_drift_evals=int(counts["n_drift_evals"][b]),
                            max_lipschitz_dt=float(counts["max_lipschitz_dt"][b]),
                            flushed_mass=float(counts["flushed_mass"][b]), min_density=monitors["min_density"][:, b],
                            cfl=monitors["cfl"][:, b], peclet=monitors["peclet"][:, b]) for b in range(n)]
    return results, sizes


def _split_by_rate(members: np.ndarray, rates: np.ndarray) -> list[np.ndarray]:
    """``members`` in batches of rates within BATCH_STEP_RATIO of the batch's smallest (in increasing order)."""
    order = np.argsort(rates, kind="stable")
    batches, start = [[members[order[0]]]], rates[order[0]]
    for j in order[1:]:
        if rates[j] > BATCH_STEP_RATIO * start:
            batches.append([])
            start = rates[j]
        batches[-1].append(members[j])
    return [np.array(sorted(batch)) for batch in batches]


def _prepared(call: dict):
    return prepare(*(call[name] for name in PREPARE_ARGS))


def reduces(call: dict) -> bool:
    """Whether a solve call runs through a reduction (d > 3, or reduce=True in d > 1)."""
    d = call["target"].ndim
    return d > MAX_GRID_DIM or (call["reduce"] is True and d > 1)


def checked_settings(stochastic: bool, call: dict) -> dict:
    """The engine settings (:data:`SETTINGS`) of a solve call, checked, with the sampler's step defaults filled in
    (``fpguide run`` checks a configuration with it before running)."""
    defaults = STEP_DEFAULTS["sde" if stochastic else "ode"]
    settings = {name: call[name] for name in SETTINGS}
    scheme_code(settings["scheme"])
    for name in ("log_snr_step", "lipschitz"):
        settings[name] = defaults[name] if settings[name] is None else settings[name]
    for name in ("log_snr_step", "lipschitz", "cells_per_width", "wall_tol"):
        check_positive_real(name, settings[name])
    return settings


@sweepable(plan=_plan_sweep, run_group=_solve_group)
def solve(target, guidance: CFG, sampler: str = "ode", *, eta: float | None = None, T: float = 10.0,
          t_min: float = 1e-3, grid: Grid | TensorGrid | str | None = None, process=None, start: str = "prior",
          n_save: int = 41, t_eval=None, scheme: str = "ppm", delta: float = 0.1, thresholds=None,
          log_snr_step: float | None = None, lipschitz: float | None = None, cells_per_width: float = CELLS_PER_WIDTH,
          wall_tol: float = 1e-9, direction=None, reduce: bool | None = None, error_estimate: bool = False,
          progress: bool | None = None) -> xr.Dataset:
    """The density of a guided sampler's output, on a grid, with its observables.

    Parameters
    ----------
    target, guidance : the (unconditional) target mixture and a :class:`CFG` guidance.
    sampler : ``"ode"`` (probability flow, DDIM) or ``"sde"`` (reverse SDE, DDPM).
    eta : stochasticity η ∈ [0, 1] of ``"sde"``: drift −f x + ½(1 + η²) g² s_w, diffusion ½ η² g² (default 1, the
        reverse SDE; 0 is the probability-flow ODE).
    T, t_min : the sampler runs in diffusion time from T down to t_min > 0 (early stopping).
    grid : a :class:`Grid` (1-D) or :class:`TensorGrid` (2-D, 3-D) — with a reduction, the grid of the solved
        coordinates; ``"uniform"`` chooses one grid's extent and resolution from a pilot of the dynamics (recorded
        in ``run["grid_choice"]``); ``"adaptive"`` runs in stages, each on a uniform grid that fits the density at
        that time, and stores the densities on one graded grid, fine where a stage held mass with fine cells
        (:class:`GradedGrid` axes; see :mod:`fpguide.adaptive`; ``run["grid_choice"]``, ``run["stages"]`` and
        ``run["trimmed_mass"]`` record it; a sweep's items run one after another and share the union of their
        grids); None (default): ``"uniform"`` in 1-D, ``"adaptive"`` in 2-D and 3-D.
    process : :class:`OU` (default), :class:`VP`, :class:`VE` or :class:`EDM`, or their names. VE and EDM are solved in
        the frame y = x/sqrt(1 + σ(t)²) (densities and observables of y; ``frame_scale`` holds s(t), x = s y).
    start : ``"prior"`` (N(0, 1), what samplers use) or ``"exact"`` (the noised conditional p_T(·|c)).
    n_save, t_eval : saved diffusion times: ``t_eval`` explicitly, else ``n_save`` times uniform in log-SNR.
    scheme : reconstruction of the advection (``"ppm"``, ``"plm"``, ``"pcm"``).
    delta : half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : tail thresholds a of P(x ≥ a); default √max(w, 0).
    log_snr_step, lipschitz : step control: steps at most ``log_snr_step`` in log-SNR and L·dt ≤ ``lipschitz``
        (L = max |∂_x v| where the mass is); for ``"sde"`` with exact scores the log-SNR step is stretched by
        SNR^(−η²/4) where SNR < 1 (see :meth:`~fpguide.dynamics.GuidedDynamics.tau_grid`); defaults per sampler in
        ``STEP_DEFAULTS``, measured to keep the entropy and support-mass errors of the standard cases below 2e-4.
    cells_per_width : resolution of the automatic grid (cells across the narrowest density feature).
    wall_tol : the mass allowed to leave through the walls before the run fails.
    direction : (d-D) the direction u of the projected observables (``projected_mean`` = ⟨mean, u⟩, tail
        probabilities of ⟨x, u⟩); default the unit vector from the other classes' mean to the class mean (in a
        reduced solve it must lie in the solved span; the default falls back to the first basis vector).
    reduce : solve exactly on at most three coordinates times a closed-form or 1-D part (isotropic Gaussian
        mixtures, or product targets whose classes differ along at most three coordinates; see
        :mod:`fpguide.reduction`). None (default): only when d > 3; True: always (error if impossible); False: never.
    error_estimate : also solve two companions, one with half the cells per axis and one with steps twice as long, and
        store the differences as estimated errors: ``l1_error(t)`` of the density and ``<name>_error`` of every
        observable (see :mod:`fpguide.error_estimate`); 2-3x the time of the solve alone in 1-D.
    progress : a progress bar over the simulated time (over the items, for a sweep): None (default) on a terminal
        once the run has lasted 2 s, True always, False never.

    Sweeps: a sequence for ``sampler``, the guidance weight (``CFG(label, w=[...])``), ``T``, ``t_min``, ``eta``,
    ``delta``, ``log_snr_step``, ``lipschitz`` or ``cells_per_width``, or a :class:`~fpguide.sweep.Family` of
    targets, gives one Dataset with those parameters as leading dimensions (see :mod:`fpguide.sweep`); ``client``
    and ``store`` run it on Dask and write it to zarr as it goes (see :mod:`fpguide.distributed`).

    Returns an ``xarray.Dataset`` with dims ``t`` (from T down to t_min) and ``x`` (``x``, ``y``, ``z`` in d-D).
    A reduced solve holds the density of the solved coordinates y = basis·x on ``x`` (``y``, ``z``), the observables
    of the full d-dimensional law (``mean`` and marginal ``variance`` along ``dim``), and no total variations.
    """
    if check_flag("error_estimate", error_estimate):
        call = {name: value for name, value in locals().items() if name != "error_estimate"}
        return with_error_estimates([solve(**call)], [call], lambda companions: [solve(**companions[0])])[0]
    run_in = prepare(target, guidance, sampler, T, t_min, process, start, n_save, t_eval, delta, thresholds, eta)
    dyn, t_min = run_in.dyn, run_in.t_min
    settings = checked_settings(dyn.stochastic, {"scheme": scheme, "log_snr_step": log_snr_step,
                                                  "lipschitz": lipschitz, "cells_per_width": cells_per_width,
                                                  "wall_tol": wall_tol})
    d = dyn.model.ndim
    reduce = check_flag("reduce", reduce, allow_none=True)
    if d > MAX_GRID_DIM and reduce is False:
        raise ValueError(f"the target has d={d} dimensions but a grid holds at most {MAX_GRID_DIM}: use reduce=None "
                         "or True (targets that reduce exactly to <= 3 solved coordinates)")
    given = direction is not None
    direction = obs_nd.check_direction(direction, dyn.model)
    if d > MAX_GRID_DIM or (reduce and d > 1):
        reduction = find_reduction(dyn.model, run_in.guidance)
        return _solve_reduced(*reduction.oriented(direction, given), run_in, settings | {"grid": grid})
    grid = check_grid(grid, d, adaptive=True)
    log_start, quantile = start_law(dyn.model, dyn.process, dyn.T, start)

    def run_on(use):
        drift = dyn.drift if d == 1 else dyn
        if isinstance(use, list):  # adaptive: the stages of the run
            return _evolve_staged(start_density(use[0].grid, log_start), drift, run_in, use, settings, progress)
        return _evolve(start_density(use, log_start), drift, run_in, use, settings, progress=progress)

    result, grid, run = on_automatic_grid(run_on, grid, dyn, t_min, quantile, cells_per_width)
    return _finish(result, run_in, settings, run, direction)


def start_density(grid: Grid | TensorGrid, log_start) -> np.ndarray:
    """The start law's cell averages on ``grid``; a :class:`WallMassError` when they do not carry its mass to
    START_MASS_TOL (an extent that cuts its bulk, or cells far wider than it): the run would evolve another law."""
    q0 = grid.cell_averages(log_start)
    mass = float(q0.sum() * grid.cell_volume)
    if not abs(mass - 1.0) <= START_MASS_TOL:
        extent = " x ".join(f"[{axis.lower:.6g}, {axis.upper:.6g}] ({axis.n} cells of {axis.dx:.3g})"
                            for axis in axes_of(grid))
        raise WallMassError(f"the start law has mass {mass:.6g} on the grid {extent}, not 1: widen the grid to cover "
                            "its bulk, with cells narrower than its width (a grid chosen automatically this wide "
                            "means the sampler's flow runs away, e.g. a score error amplified by w: give a grid and "
                            "a wall_tol instead, and the escaping mass is counted as outflow)")
    return q0


def _evolve(q0, drift, run_in, grid, settings: dict, progress: bool | None = None):
    """The engine run of a prepared solve."""
    dyn, t_min = run_in.dyn, run_in.t_min
    check_memory(run_in.t_save.size, q0.size, "this solve")
    with in_diffusion_time(dyn.T):
        return evolve(q0, drift, grid=grid, t_span=(0.0, dyn.T - t_min), diffusion=dyn.engine_diffusion,
                      ou_drift=True, t_eval=dyn.T - run_in.t_save,
                      time_grid=dyn.tau_grid(t_min, settings["log_snr_step"], quiet=True),
                      drift_jumps=dyn.schedule_taus("jumps", t_min), scheme=settings["scheme"],
                      lipschitz=settings["lipschitz"], wall_tol=settings["wall_tol"], progress=progress)


def _evolve_staged(q0, drift, run_in, stages: list[Stage], settings: dict, progress: bool | None = None):
    """The engine run of a prepared solve on adaptive grids (the ``stages`` of :func:`~fpguide.adaptive.plan_stages`;
    at each stage's start its grid is widened to hold the density, see :func:`~fpguide.adaptive.regrid`); refused
    when its saved densities would not fit in memory on the output grid the pilot's ranges give
    (:func:`~fpguide.adaptive.output_grid`)."""
    dyn, t_min = run_in.dyn, run_in.t_min
    output = output_grid([stage.grid for stage in stages], [stage.seen for stage in stages])
    check_memory(run_in.t_save.size, output.size, "this solve")
    callbacks = StageGrids(stages, settings["wall_tol"])
    with in_diffusion_time(dyn.T):
        return evolve_in_stages(q0, drift, starts=[stage.start for stage in stages],
                                grids=[stage.grid for stage in stages], regrid=callbacks.regrid,
                                widen=callbacks.widen, t_span=(0.0, dyn.T - t_min),
                                diffusion=dyn.engine_diffusion, ou_drift=True,
                                t_eval=dyn.T - run_in.t_save,
                                time_grid=dyn.tau_grid(t_min, settings["log_snr_step"], quiet=True),
                                drift_jumps=dyn.schedule_taus("jumps", t_min), scheme=settings["scheme"],
                                lipschitz=settings["lipschitz"], wall_tol=settings["wall_tol"], progress=progress)


def _finish(result, run_in, settings: dict, run: dict, direction) -> xr.Dataset:
    """The Dataset of an engine run: configuration, run record, observables and monitors (acted on)."""
    dyn = run_in.dyn
    staged = isinstance(result, StagedResult)
    grid = ADAPTIVE if staged else result.grid.to_dict()
    config = run_in.config() | {"function": "solve", "grid": grid} | settings
    if dyn.model.ndim > 1:
        config["direction"] = direction.tolist()
    run.update(n_steps=result.n_steps, n_rejected=result.n_rejected, n_drift_evals=result.n_drift_evals,
               max_lipschitz_dt=result.max_lipschitz_dt, flushed_mass=result.flushed_mass,
               initial_mass=float(result.mass[0]))
    if staged:
        run.update(stages=result.stages, trimmed_mass=float(result.trimmed[-1]))
    # an adaptive run's last grid is judged per axis against the features its plan resolved (a guided axis can need
    # cells sqrt(1 + w) narrower than the others: against the narrowest of all, a 2-D Gaussian mixture guided along
    # x was warned as 1.14 cells across its feature on its y-axis' 4.6)
    width = run["grid_choice"]["feature"] if staged else float(feature_width(dyn, run_in.t_min))
    return grid_dataset(result, run_in, config, run, direction, width)


def on_automatic_grid(run_on, grid, dyn, t_min: float, quantile, cells_per_width: float):
    """``run_on(grid)`` on the given ``grid``, or with None on the grid :func:`choose_grid` picks from a pilot of
    ``dyn``, or with ``"adaptive"`` on the stages :func:`~fpguide.adaptive.plan_stages` picks (a list of
    :class:`~fpguide.adaptive.Stage`), picked again 1.5x wider (at most WIDEN_TRIES times) while mass leaves through
    its walls. Returns
    (result, the grid used, the run record: ``grid_choice`` and, after widening, the errors in ``widened_after``)."""
    run = {"grid_choice": None}
    adaptive = is_adaptive(grid)
    for attempt in itertools.count():
        if adaptive:
            grid, run["grid_choice"] = plan_stages(dyn, t_min, quantile, cells_per_width=cells_per_width,
                                                   widen=WIDEN_FACTOR**attempt)
        elif grid is None or run["grid_choice"] is not None:
            grid, run["grid_choice"] = choose_grid(dyn, t_min, quantile, cells_per_width=cells_per_width,
                                                   widen=WIDEN_FACTOR**attempt)
        try:
            return run_on(grid), grid, run
        except WallMassError as err:
            if run["grid_choice"] is None or attempt == WIDEN_TRIES:
                raise
            run.setdefault("widened_after", []).append(str(err))


def _solve_reduced(reduction, direction: np.ndarray, solved_direction: np.ndarray | None, run_in,
                   settings: dict) -> xr.Dataset:
    """Solve the solved coordinates of an oriented ``reduction`` (and its unguided 1-D factors) and assemble the full
    law; ``direction`` and ``solved_direction`` are the projection direction in full and solved coordinates."""
    dyn = run_in.dyn
    common = {"sampler": dyn.sampler, "eta": dyn.eta, "T": dyn.T, "t_min": run_in.t_min, "process": dyn.process,
              "start": run_in.start, "t_eval": run_in.t_save, "delta": run_in.delta} | settings
    red = solve(reduction.target, reduction.guidance, thresholds=run_in.thresholds, direction=solved_direction,
                **common)
    factors = [solve(law, guidance, **(common | {"grid": None})) for law, guidance in reduction.factor_problems()]
    rest = reduction.rest(dyn, run_in.t_save, run_in.start, factors)
    config = config_of(red) | run_in.config() | {"direction": direction.tolist(), "reduce": True}
    return reduction.assemble(red, rest, config, direction)


def check_grid(grid, d: int, adaptive: bool = False):
    """The grid a run of a d-dimensional target uses: a Grid (1-D) or a TensorGrid (a sequence of Grids is made one)
    with one axis per dimension, as given; None for one uniform grid chosen automatically (``"uniform"``, or None
    in 1-D); or, where ``adaptive`` (solve's grid), ``"adaptive"`` for stages of their own (``"adaptive"``, or None
    in 2-D and 3-D: there the stages cost 3-16x less than one uniform grid at the same accuracy, see
    :mod:`fpguide.adaptive`; in 1-D one grid costs at most seconds and the stages' planning is a fixed cost)."""
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
            raise ValueError(f"grid must have one axis per dimension of the target ({d}), got {grid.ndim}")
        return grid
    wanted = "a fpguide.Grid" if d == 1 else f"a fpguide.TensorGrid with {d} axes"
    if is_adaptive(grid):
        raise ValueError(f"grid={ADAPTIVE!r} is for fpguide.solve (and its sweeps) only, for now: give {wanted}, "
                         f"{UNIFORM!r} or None here")
    choices = f"{wanted}, {UNIFORM!r}, {ADAPTIVE!r} or None" if adaptive else f"{wanted}, {UNIFORM!r} or None"
    raise TypeError(f"grid must be {choices}, got " + (repr(grid) if isinstance(grid, str) else type(grid).__name__))


def grid_dataset(result, run_in, config, run, direction, feature_width: float | list[float],
                 t_observe=None) -> xr.Dataset:
    """The Dataset of a grid run, its monitors acted on (see :mod:`fpguide.monitors`; ``feature_width``: the narrowest
    feature its dynamics can make, one or one per axis); p_t enters the observables at ``t_observe`` (default: the
    saved times).

    ``result`` is an :class:`~fpguide.engine.EvolveResult`, or a :class:`~fpguide.engine.StagedResult` whose saved
    densities live on the grids of their stages: the observables are then computed on each density's own grid
    (exact cell integrals of the run's representation), and the densities are stored on one graded grid
    (:func:`_output_grid`) by exact cell integrals of their reconstruction: where a stage's densities hold their
    mass its cells are subdivided, beyond that (less than OUTPUT_TAIL per side and axis) they are summed into coarser
    cells; no mass is lost either way."""
    dyn, t_save = run_in.dyn, run_in.t_save
    t_observe = t_save if t_observe is None else t_observe
    pieces = result.pieces() if isinstance(result, StagedResult) else [(slice(None), result)]
    parts = [_observables(piece, run_in, t_observe[part], direction) for part, piece in pieces]
    data = {name: (dims, np.concatenate([part[name][1] for part in parts], axis=dims.index("t")) if "t" in dims
                   else values) for name, (dims, values) in parts[0].items()}
    final = pieces[-1][1]
    output = _output_grid([piece for _, piece in pieces])
    names = AXIS_NAMES[:len(axes_of(output))]
    data["density"] = (("t", *names), _on_grid(pieces, output, result.scheme))
    data["outflow"] = (("t",), result.outflow_lower + result.outflow_upper)
    data |= frame_variables(dyn.process, t_save)
    refs = obs.reference_densities(final.grid, dyn.model, float(t_observe[-1]), dyn.process)
    for name in ("conditional", "tilted"):
        data[f"kl_{name}"], data[f"tv_{name}"] = obs.divergences(final.q[-1].ravel(), refs[name].ravel(),
                                                                 final.grid.cell_volume)
    mass, outflow = data["mass"][1], data["outflow"][1]
    run["mass_error"] = float(np.max(np.abs(mass + outflow - mass[0])))
    monitors = [monitor_variables(piece, mass[part], outflow[part], initial=mass[0]) for part, piece in pieces]
    monitors = {name: (("t",), np.concatenate([part[name][1] for part in monitors])) for name in monitors[0]}
    grids = [piece.grid for _, piece in pieces for _ in piece.t]
    act_on(monitors, t_save, grids, float(outflow[-1]), config["wall_tol"], feature_width)
    data |= monitors
    coords = {"t": t_save, "threshold": run_in.thresholds}
    if len(names) > 1:
        coords |= {"dim": list(names), "dim2": list(names)}
    for name, axis in zip(names, axes_of(output)):
        coords[name] = (name, axis.centres, {"bounds": f"{name}_bounds"})
        coords[f"{name}_bounds"] = ((name, "nv"), axis.bounds)
    where = "" if len(names) == 1 else f" in {len(names)}-D"
    ds = xr.Dataset(data, coords=coords,
                    attrs=global_attrs(f"fpguide {dyn.sampler} solution{where}, CFG w={dyn.model.w}", config, run))
    return attach(ds)


def _observables(result, run_in, t_observe, direction) -> dict:
    """The observables of the densities of an engine run (or of the saved times of one stage) on their own grid, as
    Dataset variables (dims, values) with a ``t`` dimension."""
    grid, dyn, q = result.grid, run_in.dyn, result.q
    model = dyn.model
    if dyn.model.ndim == 1:
        series = obs.time_series(grid, q, t_observe, model, dyn.process, scheme=result.scheme, delta=run_in.delta,
                                 thresholds=run_in.thresholds)
        data = {name: (("t", "threshold") if name == "tail_probability" else ("t",), values)
                for name, values in series.items()}
    else:
        data = obs_nd.time_series(grid, q, t_observe, model, dyn.process, scheme=result.scheme, delta=run_in.delta,
                                  thresholds=run_in.thresholds, direction=direction)
        data["direction"] = (("dim",), direction)
    if model.has_errors:
        data |= {name: (("t",), values) for name, values in error_norms(model, dyn.process, t_observe, grid).items()}
    return data


def _output_grid(pieces: list[EvolveResult]) -> Grid | GradedGrid | TensorGrid:
    """The grid the saved densities of the runs ``pieces`` are stored on: their one grid, or an adaptive run's
    :func:`~fpguide.adaptive.output_grid` (each stage's cells where its densities hold all but OUTPUT_TAIL)."""
    if len(pieces) == 1:
        return pieces[0].grid
    ranges = [held_range(piece.q, piece.grid, OUTPUT_TAIL) for piece in pieces]
    return output_grid([piece.grid for piece in pieces], ranges)


def _on_grid(pieces, output, scheme: str) -> np.ndarray:
    """The saved densities of every piece moved onto the grid ``output``, one at a time into one array (a piece's
    densities at once, then joined, had doubled the peak memory: 3-D boxes at t_min = 1e-3, output 5.1 GB, peak
    10.3 GB, now 5.7 GB)."""
    if len(pieces) == 1 and pieces[0][1].grid is output:  # a uniform run's densities, as they are (no copy)
        return pieces[0][1].q
    code = scheme_code(scheme)
    out = np.empty((sum(piece.q.shape[0] for _, piece in pieces), *(axis.n for axis in axes_of(output))))
    k = 0
    for _, piece in pieces:
        for q in piece.q:
            out[k] = q if piece.grid is output else transfer(q[None], piece.grid, output, code)[0][0]
            k += 1
    return out
