"""solve_discrete() and sample_discrete(): the density (and particles) of an N-step chain of one of
diffusers' schedulers (:mod:`fpguide.models.samplers`: DDIM, DDPM, FlowMatchEuler, Euler, Euler
ancestral, Heun, DPM-Solver, UniPC).

Each step, a deterministic map of the state followed for stochastic steps by N(0, c²) noise (x' = a
x + b s_w(x, t) + c Z for most; Heun's map takes two scores), is applied to the density exactly: the
push-forward through the map (:mod:`fpguide.engine.pushforward`), then the convolution with N(0, c²)
(the exact positive heat kernel of :mod:`fpguide.engine.heat`). A multistep chain (DPM-Solver of
order 2 or 3, UniPC), whose steps use earlier states of the trajectory, has each state pushed
forward from the first state through the chain's map of it. The result is the law of the discrete
chain itself, not of the continuous sampler it approximates; the gap between the two — the
discretisation error users pay for using N steps — is reported next to it, against the continuous
η-sampler of the sampler's process solved on the same grid from the chain's first state (and, for
the clean output, followed by the same last step).

States are labelled by diffusion time: t = (k + 1)/K for training timestep k (the time of the noise
level of each sigma for the sigma-based schedulers), and 0 for the clean data. Observables that need
p_t (confidence, the KL/TV references) take the clean output at the noise level σ = ``CLEAN_SIGMA``
(p_t → p_0 as σ → 0; at σ = 0 the class posterior of compact supports is undefined off the
supports).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr
from scipy.special import ndtr

from ..engine import EvolveResult, flush_checked, heat_kernel, heat_step, push_forward, scheme_code
from ..grids.autogrid import (
    CELLS_PER_WIDTH,
    MAX_CELLS,
    ROUND_TO,
    WIDEN_TRIES,
    choose_grid,
    feature_width,
)
from ..grids.grid import Grid, TensorGrid
from ..models.discrete import ChainSampler, Steps
from ..models.dynamics import (
    GuidedDynamics,
    gaussian_law,
    prepare_run,
    prior_moments,
    start_law,
)
from ..models.rules import CFGPlusPlus
from ..results.dataset import attach, global_attrs
from ..results.exact import characteristic_masses
from ..results.observables import Reconstruction, omitted_observables
from ..sweeps.calls import SolveCall
from ..tools.errors import CollapsedMassWarning, WallMassError
from ..tools.validation import as_rng, check_flag, check_int, check_positive_real
from .grid_run import check_grid, grid_dataset, start_density
from .particle_run import particle_observables, seed_record, start_points, with_observables
from .solve import solve_from_density

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..engine import Scheme
    from ..models.dynamics import Start
    from ..models.guidance import CFG
    from ..models.targets import Mixture

__all__ = ["sample_discrete", "solve_discrete"]

CLEAN_SIGMA = 1e-6
TAIL = 1e-13  # mass left out on either side when measuring how far the chain carries the density
NOISE_SDS = 8.5


def _prepare_chain(target, guidance, sampler, start, delta, thresholds):
    """The continuous counterpart's validated inputs (its dynamics give the guided score and size
    the grid), the plan of steps, and the diffusion times of the states (T first, the output
    last)."""
    if not isinstance(sampler, ChainSampler):
        raise TypeError(
            "sampler must be a fpguide.DDIM, DDPM, FlowMatchEuler, Euler, EulerAncestral, Heun, "
            f"DPMSolverMultistep or UniPCMultistep, got {type(sampler).__name__}"
        )
    plan = sampler.plan()
    states = np.concatenate([[plan.t[0]], plan.t_next])
    positive = np.unique(states[states > 0])[::-1]
    if positive.size < 2:
        raise ValueError(f"{sampler!r} visits fewer than two noise levels: use more steps")
    prepared = prepare_run(
        target,
        guidance,
        "sde" if sampler.eta > 0 else "ode",
        float(positive[0]),
        float(positive[-1]),
        sampler.process(),
        start,
        None,
        positive,
        delta,
        thresholds,
        eta=sampler.eta,
        chain=True,
    )
    if prepared.dyn.model.ndim != 1:
        raise ValueError(
            "discrete-step samplers are solved in 1-D only; the target has "
            f"d={prepared.dyn.model.ndim}"
        )
    rule = prepared.dyn.model.rule
    if rule is not None and rule.chain_only not in (None, sampler.kind):
        raise ValueError(
            f"{rule.kind} is defined on {rule.chain_only} chains only, got {sampler!r}"
        )
    if isinstance(rule, CFGPlusPlus) and guidance.schedule is not None:
        raise ValueError(
            f"CFGPlusPlus sets each step's weight itself: schedule must be None, got "
            f"{guidance.schedule!r}"
        )
    if rule is not None and (sampler.pure_noise_start or sampler.model_calls_per_step != 1):
        why = (
            "its first step, from pure noise, is taken in closed form"
            if sampler.pure_noise_start
            else f"it calls the network {sampler.model_calls_per_step} times a step"
        )
        raise ValueError(
            f"{sampler.kind} does not take guidance rules ({rule!r}): {why}, and diffusers' "
            "guiders count their steps (zero_init_steps, start, stop) by the network's calls"
        )
    if sampler.pure_noise_start and prepared.dyn.model.has_errors:
        raise ValueError(
            f"{sampler.kind} starts from pure noise, where the denoiser of a model with score "
            "errors is infinite: drop cond_error and uncond_error"
        )
    return prepared, plan, states


def _chain_start(sampler, dyn, start):
    """The law the chain's first state holds: p_T(·|c) for ``start="exact"``, else the sampler's
    own start from the pipeline's noise (:meth:`prior_law`; both are N(0, 1) at pure noise)."""
    if start == "exact" and not sampler.pure_noise_start:
        return start_law(dyn, start)
    return gaussian_law(*sampler.prior_law(dyn.model, dyn.process), 1)


def _chain_start_points(sampler, dyn, start, n, rng):
    """``n`` particles of the chain's first state (see :func:`_chain_start`)."""
    if start == "exact" and not sampler.pure_noise_start:
        return start_points(dyn, start, n, rng)
    loc, scale = sampler.prior_law(dyn.model, dyn.process)
    return loc + scale * rng.standard_normal(n)


def _observation_times(prepared, states: np.ndarray) -> np.ndarray:
    """The times at which p_t enters the observables: the states' own, the clean state's at σ =
    CLEAN_SIGMA."""
    process = prepared.dyn.process
    clean = float(
        process.t_of_log_snr(-2.0 * math.log(CLEAN_SIGMA) + math.log1p(-(CLEAN_SIGMA**2)))
    )
    return np.where(states > 0, states, clean)


def _config(prepared, sampler: ChainSampler, states: np.ndarray) -> dict:
    return prepared.config() | {
        "sampler": sampler.to_dict(),
        "eta": sampler.eta,
        "T": float(states[0]),
        "t_min": float(states[-1]),
        "t_eval": states.tolist(),
        "clean_sigma": CLEAN_SIGMA,
    }


@dataclass
class Chain:
    """The densities after each step of a run (``q``, one row per step taken), the wall outflow
    (lower, upper) of each state (the mass the chain has lost through the walls by then; for a
    multistep chain, whose states are pushed from the start, the mass that state lost), the number
    of steps whose map folds where there is mass, and ``reach``: the smallest interval holding the
    images of all but ``TAIL`` of the mass on either side, widened by 8.5 noise standard deviations,
    over the steps. ``escaped``: more than the tolerance left through the walls, at some state.
    ``collapsed``: the largest mass a step mapped onto (near) single points (see
    :class:`~fpguide.engine.pushforward.Pushed`)."""

    q: np.ndarray
    outflow: np.ndarray
    folded: int
    reach: tuple[float, float]
    escaped: bool
    collapsed: float  # the largest mass one step put on (near) single points


def chain_score(model, process, plan: Steps, state: dict | None = None):
    """The guided score s_w(x, t) a chain's steps call, at the times of its steps: for a guidance
    rule, with the step i whose time t is (diffusers' guiders count their steps: the zeroed first
    steps and the window of :meth:`~fpguide.models.rules.GuidanceRule.step_mode`), for CFG++ at
    its weight of that step (:meth:`~fpguide.models.rules.CFGPlusPlus.step_gamma`), and for a
    path-dependent rule with its ``state`` along one run's particles."""
    steps = {float(t): i for i, t in enumerate(plan.t)}
    per_step = isinstance(model.rule, CFGPlusPlus)

    def score(x, t):
        i = steps.get(float(t))
        w = CFGPlusPlus.step_gamma(1.0 + model.w, plan, i) - 1.0 if per_step else None
        return model.guided_score(x, t, process, w, step=i, n_steps=len(plan), state=state)

    return score


def run_steps(
    q: np.ndarray,
    grid: Grid,
    sampler: ChainSampler,
    plan: Steps,
    model,
    process,
    *,
    steps=None,
    scheme: str = "ppm",
    wall_tol: float = 1e-9,
) -> Chain:
    """Apply the steps ``steps`` (indices into ``plan``; default all) to the density q; ``escaped``
    when more than ``wall_tol`` of the mass has left through the walls (the run goes on, so that
    ``reach`` covers every step). A multistep sampler's chain (``steps`` None) pushes q, its first
    state, through the map to each state (:meth:`path_map`); a step given alone must then be a map
    of its own state."""
    code = scheme_code(scheme)
    score = chain_score(model, process, plan)

    # a multistep chain's states are maps of its first state (its steps use earlier states)
    from_start = sampler.multistep and steps is None
    start = q
    rows, outflow, folded, collapsed = [], [], 0, 0.0
    lower = upper = 0.0
    reach = [math.inf, -math.inf]
    for j in range(len(plan)) if steps is None else steps:
        t, c = float(plan.t[j]), float(plan.c[j])
        source = start if from_start else q
        bulk = np.cumsum(source) * grid.dx
        first, last = np.searchsorted(bulk, TAIL), np.searchsorted(bulk, bulk[-1] - TAIL)

        def step(x, j=j):
            if from_start:
                return sampler.path_map(x, score, plan, j)
            return sampler.step_map(x, score, plan, j)

        pushed = push_forward(source, grid, step, code)
        q, below, above, image = pushed.q, pushed.lower, pushed.upper, pushed.image
        collapsed = max(collapsed, pushed.collapsed)
        if first <= last:  # some mass is left on the grid
            moved = image[first : min(last, grid.n - 1) + 2]
            reach = [
                min(reach[0], moved.min() - NOISE_SDS * c),
                max(reach[1], moved.max() + NOISE_SDS * c),
            ]
        if from_start:  # each state's push from the start loses its own mass
            lower, upper = below, above
        else:
            lower, upper = lower + below, upper + above
        folded += pushed.turns > 0
        if c > 0:
            new = np.empty_like(q)
            below, above = heat_step(q, heat_kernel(0.5 * (c / grid.dx) ** 2), new)
            q, lower, upper = new, lower + below * grid.dx, upper + above * grid.dx
        flush_checked(q[None], TensorGrid((grid,)), t, batch=False)
        rows.append(q)
        outflow.append((lower, upper))
    outflow = np.array(outflow).reshape(-1, 2)
    lost = float(np.max(outflow.sum(axis=1), initial=0.0))
    return Chain(np.array(rows), outflow, folded, tuple(reach), lost > wall_tol, collapsed)


def _refined(grid: Grid, q: np.ndarray, cells_per_width: float) -> Grid | None:
    """A finer grid on the same extent when the chain's densities are narrower (width 1/(√(2π) max
    q)) than ``cells_per_width`` cells — a coarse step can compress the law far more than the
    continuous pilot foresaw — or None when the grid is fine enough (or already at the cap of
    MAX_CELLS)."""
    width = float(np.min(1.0 / (math.sqrt(2 * math.pi) * np.max(q, axis=1))))
    wanted = min(
        math.ceil(grid.n * cells_per_width * grid.dx / width / ROUND_TO[1]) * ROUND_TO[1],
        MAX_CELLS[1],
    )
    return Grid(grid.lower, grid.upper, wanted) if wanted > grid.n else None


def _widened(grid: Grid, reach: tuple[float, float]) -> Grid:
    """The grid extended to cover ``reach`` with a margin of a tenth of its span, at the same cell
    width up to MAX_CELLS cells (coarser beyond: the coarse-grid warning then says so)."""
    margin = 0.1 * (reach[1] - reach[0])
    lower, upper = min(grid.lower, reach[0] - margin), max(grid.upper, reach[1] + margin)
    n = int(math.ceil((upper - lower) / grid.dx))
    if n > MAX_CELLS[1]:
        return Grid(lower, upper, MAX_CELLS[1])
    return Grid(lower, lower + n * grid.dx, n)


def solve_discrete(
    target: Mixture,
    guidance: CFG,
    sampler: ChainSampler,
    *,
    start: Start = "prior",
    grid: Grid | Literal["uniform"] | None = None,
    scheme: Scheme = "ppm",
    delta: float = 0.1,
    thresholds: ArrayLike | None = None,
    cells_per_width: float = CELLS_PER_WIDTH,
    wall_tol: float = 1e-9,
    compare: bool = True,
) -> xr.Dataset:
    """The density after every step of an N-step chain of diffusers' schedulers (1-D):
    :class:`~fpguide.DDIM`, :class:`~fpguide.DDPM`, :class:`~fpguide.FlowMatchEuler`,
    :class:`~fpguide.Euler`, :class:`~fpguide.EulerAncestral`, :class:`~fpguide.Heun`,
    :class:`~fpguide.DPMSolverMultistep` or :class:`~fpguide.UniPCMultistep`.

    Each step is applied to the density exactly: the push-forward through its deterministic map (x'
    = a x + b s_w(x, t) for most; through two scores for Heun), then, for stochastic steps (c > 0),
    the convolution with N(0, c²); a multistep chain's states are pushed forward from the first
    state through the chain's map of it. The result is the law of the discrete chain itself, not of
    the continuous sampler it approximates (see the module docstring). States are labelled by
    diffusion time: t = (k + 1)/K for training timestep k, and 0 for the clean data, whose
    observables that need p_t take it at the noise level σ = ``CLEAN_SIGMA``.

    Parameters
    ----------
    target : Mixture or ScoreModel
        The (unconditional) 1-D target: a mixture, or a :class:`~fpguide.ScoreModel`.
    guidance : CFG
        The classifier-free guidance.
    sampler : ChainSampler
        The discrete sampler (one of the above): its steps, noise levels, η and prediction type
        (FlowMatchEuler: its states start after its exact first step from pure noise, and the
        continuous sampler of ``compare`` is the rectified-flow ODE from pure noise).
    start : {"prior", "exact"}, default "prior"
        ``"prior"`` (what the pipeline starts from: N(0, 1), or N(0, s_0²) in the VE scale for
        Euler, Euler ancestral and Heun, :meth:`prior_law`) or ``"exact"`` (``p_T(·|c)`` at the
        first noise level).
    grid : Grid, "uniform" or None, default None
        A :class:`~fpguide.Grid`, or None (``"uniform"``) to choose it from a pilot of the
        continuous counterpart (widened when mass reaches the walls, refined when the chain's
        densities are narrower than ``cells_per_width`` cells).
    scheme : {"ppm", "plm", "pcm"}, default "ppm"
        Reconstruction of the density in the push-forward.
    delta : float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).
    cells_per_width : float, default CELLS_PER_WIDTH
        Resolution of the automatic grid (cells across the narrowest density feature).
    wall_tol : float, default 1e-9
        The mass allowed to leave through the walls before the run fails.
    compare : bool, default True
        Also solve the continuous sampler the chain approximates (the η-sampler of
        ``sampler.process()`` with η = ``sampler.eta``, from the chain's first state — for a chain
        from pure noise, the ODE from pure noise, traced by characteristics to the chain's first
        state — on the same grid; the clean output compared after the chain's own last step) and
        report the discretisation gap: ``gap_l1`` = ``∫|q − q_cont|`` and ``gap_entropy`` = H(q) −
        H(q_cont) at every state (the configuration of its grid run, from the first state on, in
        the attribute ``continuous_config``, and where that run's start came from in
        ``continuous_start``).

    Returns
    -------
    xarray.Dataset
        A Dataset like :func:`~fpguide.solve`'s, with dims ``t`` (the N + 1 states: the start, then
        after each step) and ``x``, and the coordinate ``timestep`` (the training timestep of each
        state, −1 for the clean data).

    Raises
    ------
    TypeError
        When ``sampler`` is not one of the samplers above.
    ValueError
        When the sampler visits fewer than two noise levels, for a target of d > 1 dimensions, or
        for other arguments out of their ranges.
    WallMassError
        When more than ``wall_tol`` of the mass leaves through the walls of a given grid (or of the
        automatic grid after it was widened).

    Warns
    -----
    CollapsedMassWarning
        When a step maps more than ``wall_tol`` of the mass onto single points (e.g. with
        ``clip_sample``): the grid holds such point masses as one-cell spikes.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1])
    >>> guidance, grid = fg.CFG(label=1, w=1.0), fg.Grid(-8.0, 8.0, 400)
    >>> ds = fg.solve_discrete(target, guidance, fg.DDPM(steps=4), grid=grid, compare=False)
    >>> ds.sizes["t"], ds["timestep"].values.tolist()
    (5, [750, 500, 250, 0, -1])
    """
    prepared, plan, states = _prepare_chain(target, guidance, sampler, start, delta, thresholds)
    dyn = prepared.dyn
    grid = check_grid(grid, 1)
    scheme_code(scheme)
    cells_per_width = check_positive_real("cells_per_width", cells_per_width)
    wall_tol = check_positive_real("wall_tol", wall_tol)
    check_flag("compare", compare)
    rule = getattr(guidance, "rule", None)
    if rule is not None and rule.path_dependent:
        raise ValueError(
            f"solve_discrete cannot take {rule!r}: its momentum averages along each sample's path, "
            "which a density does not follow; run its particles with fpguide.sample_discrete"
        )
    if rule is not None and rule.sharp_in_1d is not None:
        # measured: MAMBO-G (alpha = 1, w = 3, DDIM(12)) folds the first steps' maps within 0.01 of
        # x = 0; the push-forward missed the fold and its output was 0.008 from 2e5 particles in KS
        raise ValueError(
            f"solve_discrete cannot take {rule.kind} in 1-D: its prediction changes "
            f"{rule.sharp_in_1d}, which folds a step's map below the grid's cells; run its "
            "particles with fpguide.sample_discrete"
        )
    if compare and rule is not None and rule.chain_only is not None:
        raise ValueError(
            f"compare=True needs the continuous sampler the chain tends to; {rule.kind} has none "
            "(its weights grow without bound as the steps shrink): pass compare=False"
        )
    if compare and rule is not None and rule.windowed:
        raise ValueError(
            f"compare=True needs the continuous sampler the chain tends to, which a step window "
            f"(start={rule.start}, stop={rule.stop}) does not define: pass compare=False, or give "
            "the window in diffusion time as CFG(schedule=fpguide.schedules.Interval(t_lo, t_hi))"
        )
    log_start, quantile = _chain_start(sampler, dyn, start)
    given = grid is not None
    grid, record = (
        (grid, None)
        if given
        else choose_grid(dyn, prepared.t_min, quantile, cells_per_width=cells_per_width)
    )
    grid, record, q0, chain = _chain_on_grid(
        grid, given, record, log_start, sampler, plan, dyn, scheme, wall_tol, cells_per_width
    )
    q = np.concatenate([q0[None], chain.q])
    outflow = np.concatenate([[(0.0, 0.0)], chain.outflow])
    t_obs = _observation_times(prepared, states)
    result = EvolveResult(states, q, outflow[:, 0], outflow[:, 1], grid, scheme, n_steps=len(plan))
    config = _config(prepared, sampler, states) | {
        "function": "solve_discrete",
        "compare": compare,
        "grid": grid.to_dict(),
        "scheme": scheme,
        "cells_per_width": cells_per_width,
        "wall_tol": wall_tol,
    }
    if chain.collapsed > wall_tol:
        warnings.warn(
            f"{sampler!r} maps mass {chain.collapsed:.3g} onto single points (with "
            "clip_sample, every x̂0 "
            "beyond the range lands on it): the grid holds such point masses as "
            "one-cell spikes, so the "
            "entropy, KL and cross_check's KS test do not describe a density "
            "there",
            CollapsedMassWarning,
            stacklevel=2,
        )
    ds = _chain_dataset(result, prepared, states, plan, config, record, chain, t_obs)
    if compare:
        ds = _with_gap(
            ds, target, guidance, sampler, prepared, plan, states, grid, scheme, wall_tol
        )
    return attach(ds)


def _chain_on_grid(
    grid, given, record, log_start, sampler, plan, dyn, scheme, wall_tol, cells_per_width
):
    """The chain run on ``grid``; an automatic grid (not ``given``) is widened while mass escapes
    and refined while the chain's densities are too narrow for it (up to WIDEN_TRIES times), both
    recorded in ``record``. Returns (the grid, the record, the start density, the chain)."""
    for attempt in range(WIDEN_TRIES + 1):
        q0 = start_density(grid, log_start)
        chain = run_steps(
            q0, grid, sampler, plan, dyn.model, dyn.process, scheme=scheme, wall_tol=wall_tol
        )
        last = given or attempt == WIDEN_TRIES
        if chain.escaped and last:
            lost = float(chain.outflow.sum(axis=1).max())
            raise WallMassError(
                f"mass {lost:.3g} left the grid [{grid.lower:.6g}, "
                f"{grid.upper:.6g}] through the walls "
                f"(tolerance wall_tol={wall_tol:g}); the chain reaches "
                f"[{chain.reach[0]:.6g}, "
                f"{chain.reach[1]:.6g}]: use a grid that covers it"
            )
        if chain.escaped:
            grid = _widened(grid, chain.reach)
            record.setdefault("widened_to", []).append([grid.lower, grid.upper])
            continue
        # point masses (chain.collapsed) are narrower than any grid: no refinement for them
        finer = (
            None if last or chain.collapsed > wall_tol else _refined(grid, chain.q, cells_per_width)
        )
        if finer is None:
            break
        grid = finer
        record.setdefault("refined_to", []).append(grid.n)
    return grid, record, q0, chain


def _chain_dataset(result, prepared, states, plan, config, record, chain, t_obs) -> xr.Dataset:
    """The Dataset of a finished chain, with its run record and the ``timestep`` coordinate."""
    dyn, grid, q = prepared.dyn, result.grid, result.q
    run = {
        "grid_choice": record,
        "n_steps": len(plan),
        "steps_with_folds": chain.folded,
        "collapsed_mass": chain.collapsed,
        "initial_mass": float(q[0].sum() * grid.dx),
    }
    ds = grid_dataset(
        result,
        replace(prepared, t_save=states),
        config,
        run,
        None,
        float(feature_width(dyn, prepared.t_min)),
        t_observe=t_obs,
    )
    return ds.assign_coords(timestep=("t", np.concatenate([[plan.timestep[0]], plan.previous])))


def _with_gap(
    ds, target, guidance, sampler, prepared, plan, states, grid, scheme, wall_tol
) -> xr.Dataset:
    """Add the discretisation gap: the continuous sampler from the chain's first state (a chain from
    pure noise: from pure noise, see :func:`_ode_from_pure_noise`) at the positive states' times on
    the same grid, and at the clean output its density at the last positive time pushed through the
    chain's last step."""
    positive = np.unique(states[states > 0])[::-1]
    call = SolveCall(
        target=target,
        guidance=guidance,
        sampler="sde" if sampler.eta > 0 else "ode",
        eta=sampler.eta,
        T=float(positive[0]),
        t_min=float(positive[-1]),
        process=prepared.dyn.process,
        start=prepared.start,
        grid=grid,
        t_eval=positive,
        scheme=scheme,
        delta=prepared.delta,
        thresholds=prepared.thresholds,
        wall_tol=wall_tol,
    )
    if sampler.pure_noise_start:
        cont = solve_from_density(call, _ode_from_pure_noise(prepared.dyn, call.T, grid, wall_tol))
    else:
        cont = solve_from_density(call, ds.density.values[0])
    q_cont = np.empty_like(ds.density.values)
    for k, t in enumerate(states):
        if t > 0:
            q_cont[k] = cont.density.sel(t=t, method="nearest").values
        else:
            last = cont.density.isel(t=-1).values
            q_cont[k] = run_steps(
                last,
                grid,
                sampler,
                plan,
                prepared.dyn.model,
                prepared.dyn.process,
                steps=[len(plan) - 1],
                scheme=scheme,
                wall_tol=wall_tol,
            ).q[0]
    entropy_cont = Reconstruction(grid, q_cont, scheme).entropy()
    ds["gap_l1"] = ("t", np.abs(ds.density.values - q_cont).sum(axis=1) * grid.dx)
    ds["gap_entropy"] = ("t", ds.entropy.values - entropy_cont)
    ds.attrs["continuous_config"] = cont.attrs["config"]
    ds.attrs["continuous_start"] = (
        "pure noise at t = 1, traced by characteristics to the first state"
        if sampler.pure_noise_start
        else "the chain's first state"
    )
    return ds


def _ode_from_pure_noise(dyn: GuidedDynamics, t: float, grid: Grid, wall_tol: float) -> np.ndarray:
    """The cell averages at t of the probability-flow ODE of ``dyn``'s model and flow-matching
    process started from pure noise at t = 1, by characteristics.

    The run from pure noise starts at the time t_a of log-SNR ``NOISE_END_LOG_SNR`` from the start
    carried there, N(m c, 1) + O(m²) (see :func:`~fpguide.models.dynamics.start_law`). Below
    SNR ≈ 1e-4 the flow is the translation m c to within O(m²), so a grid run would spend a third of
    its steps (from log-SNR −20 to a flow-matching chain's first state near −9) moving an almost
    Gaussian density. In 1-D the ODE's flow map is monotone, so each face of the grid is traced back
    to t_a instead, and the mass between two faces is the start law's mass between their departure
    points (:func:`~fpguide.results.exact.characteristic_masses`, rtol 1e-11). For t above t_a the
    carried start is the law itself.

    Raises
    ------
    WallMassError
        If more than ``wall_tol`` of the law lies outside the grid at t.
    """
    ode = replace(
        dyn, sampler="ode", eta=None, T=max(dyn.process.run_start(1.0), t), noise_start=True
    )
    loc, scale = prior_moments(ode)

    def start_cdf(z):
        return ndtr((z - loc) / scale)

    if t < ode.T:
        # (the chain's run refuses a schedule that changes above its first state: none here)
        masses = characteristic_masses(ode.drift, start_cdf, grid.faces, (0.0, ode.T - t))
    else:
        masses = np.diff(start_cdf(grid.faces))
    outside = 1.0 - masses.sum()
    if outside > wall_tol:
        raise WallMassError(
            f"{outside:.3g} of the ODE's law from pure noise lies outside the grid "
            f"[{grid.faces[0]}, {grid.faces[-1]}] at t={t} (wall_tol={wall_tol}): widen the grid",
            time=t,
        )
    return masses / grid.dx


def sample_discrete(
    target: Mixture,
    guidance: CFG,
    sampler: ChainSampler,
    *,
    n: int = 100_000,
    seed: int | Sequence[int] | np.random.Generator | np.random.SeedSequence | None = None,
    start: Start = "prior",
    delta: float = 0.1,
    thresholds: ArrayLike | None = None,
) -> xr.Dataset:
    """Particles of the N-step sampler that :func:`solve_discrete` solves (1-D).

    The particles are stepped with diffusers' own arithmetic for the sampler's prediction type
    (network output → x̂0, ε̂ → update), the network output being the exact guided score's.

    Parameters
    ----------
    target : Mixture or ScoreModel
        The (unconditional) 1-D target: a mixture, or a :class:`~fpguide.ScoreModel`.
    guidance : CFG
        The classifier-free guidance.
    sampler : ChainSampler
        The discrete sampler, as in :func:`solve_discrete` (a multistep one runs whole
        trajectories, with diffusers' arithmetic).
    n : int, default 100_000
        The number of particles (at least 2).
    seed : int, sequence of int, numpy.random.Generator, SeedSequence or None, default None
        The seed of ``numpy.random.default_rng`` (or a generator), as in :func:`~fpguide.sample`.
    start : {"prior", "exact"}, default "prior"
        The start law, as in :func:`solve_discrete`.
    delta : float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).

    Returns
    -------
    xarray.Dataset
        A Dataset like :func:`~fpguide.sample`'s (``position`` with dims (t, particle), the
        observables with standard errors), states as in :func:`solve_discrete` (with the
        coordinate ``timestep``).

    Raises
    ------
    TypeError
        When ``sampler`` is not one of :func:`solve_discrete`'s samplers.
    ValueError
        For ``n`` < 2, a sampler that visits fewer than two noise levels, a target of d > 1
        dimensions, or other arguments out of their ranges.
    FloatingPointError
        When the particles become non-finite.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    >>> ds = fg.sample_discrete(target, fg.CFG(label=1, w=2.0), fg.DDPM(steps=4), n=1000, seed=0)
    >>> ds["position"].shape
    (5, 1000)
    """
    n = check_int("n", n, 2)
    rng = as_rng("seed", seed)
    prepared, plan, states = _prepare_chain(target, guidance, sampler, start, delta, thresholds)
    dyn = prepared.dyn
    x = _chain_start_points(sampler, dyn, start, n, rng)
    positions = np.empty((states.size, n))
    positions[0] = x

    # a path-dependent rule (APG's momentum) keeps its running average of the particles here
    score = chain_score(dyn.model, dyn.process, plan, state={})
    if sampler.multistep:  # deterministic: the whole trajectories at once
        positions[1:] = sampler.literal_path(x, score, plan)[1:]
    for j in range(0 if sampler.multistep else len(plan)):
        noise = rng.standard_normal(n) if plan.c[j] > 0 else np.zeros(n)
        positions[j + 1] = x = sampler.literal_step(x, score, plan, j, noise)
    bad = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
    if bad.size:
        raise FloatingPointError(
            f"particles became non-finite at step {bad[0] - 1} (t={states[bad[0]]:.6g})"
        )
    config = _config(prepared, sampler, states) | {
        "function": "sample_discrete",
        "n": n,
        "seed": seed_record(seed),
        "n_steps": len(plan),
    }
    ds = xr.Dataset(
        {"position": (("t", "particle"), positions)},
        coords={
            "t": states,
            "threshold": prepared.thresholds,
            "timestep": ("t", np.concatenate([[plan.timestep[0]], plan.previous])),
        },
        attrs=global_attrs(
            f"fpguide {sampler.kind} particles, CFG w={dyn.model.w}",
            config,
            {},
            omitted_observables(dyn.model),
        ),
    )
    t_obs = _observation_times(prepared, states)
    return with_observables(
        ds, particle_observables(positions, t_obs, dyn, prepared.delta, prepared.thresholds)
    )
