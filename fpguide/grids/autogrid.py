"""Automatic grid: extent and resolution chosen from the dynamics, not only from the target.

A pilot pushes quantiles of the start law (levels Φ(z), z ∈ [−7.4, 7.4], i.e. tails down to 1e-13;
in d dimensions a lattice of such levels per coordinate) through the probability-flow map with RK4.
The extent along each axis is the range they visit at any time (guided trajectories overshoot far
past the support before they come back), padded. The narrowest density feature is, for the ODE, the
smaller of what the pilot shows (along each axis, the spacing of neighbouring central quantiles,
``|z| ≤ 5``, gives the local density, width = 1/(√(2π)·max density)) and the target's own narrowest
feature at t_min; for the SDE, whose noise smooths what the deterministic flow would compress, the
target's feature divided by sqrt(1 + w) (the guided Fokker–Planck equilibrium at an edge is that
much narrower; see :func:`feature_width` for the samplers in between). The cell width is that
feature over ``cells_per_width``; in 2-D and 3-D the total number of cells is capped (the cap is
recorded, and :func:`~fpguide.solve` warns when the grid is then too coarse).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from scipy.special import ndtr

from ..models.dynamics import GuidedDynamics, WeightBatch
from ..tools.errors import NumericalError, WallMassError
from .grid import Grid, TensorGrid, axes_of

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "CELLS_PER_WIDTH",
    "MAX_CELLS",
    "MIN_CELLS",
    "ROUND_TO",
    "WIDEN_FACTOR",
    "WIDEN_TRIES",
    "choose_grid",
    "covering_grid",
    "feature_width",
    "pilot",
    "tilted_width",
    "widening",
]

PILOT_LEVELS = {1: 97, 2: 33, 3: 17}  # quantile levels per coordinate
PILOT_LOG_SNR_STEP = 0.25
PILOT_LIPSCHITZ = 1.0
MIN_CELLS = {1: 256, 2: 64, 3: 32}  # per axis
MAX_CELLS = {1: 1 << 16, 2: 1 << 19, 3: 1 << 21}  # in total (2-D: about 724², 3-D: 128³)
ROUND_TO = {1: 64, 2: 16, 3: 8}
CELLS_PER_WIDTH = 4.0  # default resolution (measured: errors ≤ 2e-5 on the standard cases)
TILT_REACH = 3  # see tilted_width
# an automatic grid that loses mass at its walls is chosen again this much wider
WIDEN_FACTOR, WIDEN_TRIES = 1.5, 3


def pilot(
    dyn: GuidedDynamics | WeightBatch,
    t_min: float,
    quantile: Callable[[np.ndarray], ArrayLike],
    keep_points: bool = False,
) -> dict:
    """Trace a lattice of start quantiles through the probability-flow ODE.

    The lattice holds the levels Φ(z), z on PILOT_LEVELS (1-D: 97, 2-D: 33, 3-D: 17) evenly spaced
    points of [−7.4, 7.4] per coordinate (tails down to 1e-13), mapped through ``quantile``. They
    are carried with RK4 over the reverse times of ``dyn.tau_grid(t_min, 0.25)`` (steps uniform in
    log-SNR), each of those segments in substeps dτ ≤ PILOT_LIPSCHITZ / L (L the velocity's
    Lipschitz constant on the lattice: the largest |v(x_i) − v(x_j)| / |x_i − x_j| over lattice
    neighbours). The narrowest width seen at a time is, in 1-D, 1/(√(2π)·max density), the density
    from the spacing of neighbouring central quantiles (|z| ≤ 5); in d-D, the smallest singular
    value of the flow map's Jacobian ∂x/∂z over the bulk (|z_a| ≤ 3).

    Parameters
    ----------
    dyn : GuidedDynamics or WeightBatch
        The dynamics of the run (every member of a batch).
    t_min : float
        The diffusion time the run ends at (reverse time T − t_min).
    quantile : callable
        The start law's quantile function per coordinate: maps levels u ∈ (0, 1), shape (N, d), to
        points of the same shape (see :func:`~fpguide.models.dynamics.start_law`).
    keep_points : bool, optional
        Whether to return the bulk of the lattice at each time too (``points_at``); default False.

    Returns
    -------
    dict
        Per member of a batch (one for a single dynamics) and axis, the range visited and the
        narrowest width seen: ``lower``, ``upper``, ``width`` (arrays (B, d)); the reverse times of
        the pilot's own steps, ``times`` (K,); the same at each of those times, ``lower_at``,
        ``upper_at``, ``width_at`` (arrays (K, B, d); the width at τ = 0 is inf: the start law's
        own width is the target's); and ``points_at``: with ``keep_points``, the bulk of the
        lattice (the points whose levels lie within 5 standard deviations) at each of those times
        (K arrays (B, N, d)), else None.

    Raises
    ------
    NumericalError
        If a substep no longer advances the reverse time (the velocity varies too fast between
        neighbouring points of the lattice): give a grid.
    """
    members = dyn.members if isinstance(dyn, WeightBatch) else (dyn,)
    common = members[0]
    d, n_members = common.model.ndim, len(members)
    z = np.linspace(-7.4, 7.4, PILOT_LEVELS[d])
    lattice = np.stack(np.meshgrid(*[z] * d, indexing="ij"), axis=-1)
    start = np.asarray(quantile(ndtr(lattice.reshape(-1, d))), dtype=float).reshape(-1, d)
    x = np.broadcast_to(start, (n_members, *start.shape)).copy()  # (B, N, d)
    velocity = _flow_velocity(common, np.array([member.model.w for member in members]))

    taus = common.tau_grid(t_min, PILOT_LOG_SNR_STEP)
    lower_at, upper_at, width_at = (
        [x.min(axis=1)],
        [x.max(axis=1)],
        [np.full((n_members, d), math.inf)],
    )
    bulk = np.all(np.abs(lattice.reshape(-1, d)) <= 5.0, axis=1)
    points_at = [x[:, bulk]] if keep_points else None
    for tau0, tau1 in zip(taus[:-1], taus[1:]):
        x = _rk4_segment(velocity, x, tau0, tau1, lattice.shape)
        lower_at.append(x.min(axis=1))
        upper_at.append(x.max(axis=1))
        if keep_points:
            points_at.append(x[:, bulk])
        width_at.append(_lattice_widths(x, z, lattice.shape))
    lower_at, upper_at, width_at = np.array(lower_at), np.array(upper_at), np.array(width_at)
    return {
        "lower": lower_at.min(axis=0),
        "upper": upper_at.max(axis=0),
        "width": width_at.min(axis=0),
        "times": taus,
        "lower_at": lower_at,
        "upper_at": upper_at,
        "width_at": width_at,
        "points_at": points_at,
    }


def _flow_velocity(
    common: GuidedDynamics, weights: np.ndarray
) -> Callable[[np.ndarray, float], np.ndarray]:
    """The probability-flow velocity of every member (guidance weights ``weights``) at the points
    (B, N, d) of the pilot's lattice, at reverse time τ."""
    d = common.model.ndim

    def velocity(points, tau):
        if d == 1:
            return common.ode_drift(points[..., 0], tau, weights[:, None])[..., None]
        w = np.repeat(weights, points.shape[1])[:, None]
        return common.ode_drift(points.reshape(-1, d), tau, w).reshape(points.shape)

    return velocity


def _rk4_segment(
    velocity: Callable[[np.ndarray, float], np.ndarray],
    x: np.ndarray,
    tau0: float,
    tau1: float,
    shape: tuple[int, ...],
) -> np.ndarray:
    """The lattice points ``x`` (B, N, d) carried by RK4 from τ0 to τ1, in steps that keep the
    velocity's Lipschitz constant on the lattice times the step at PILOT_LIPSCHITZ; a
    NumericalError where the step no longer advances τ."""
    tau = tau0
    while tau < tau1:
        v = velocity(x, tau)
        rate = _lipschitz(x, v, shape)
        dt = min(tau1 - tau, PILOT_LIPSCHITZ / max(rate, 1e-300))
        if not tau + dt > tau:
            raise NumericalError(
                f"the pilot of the flow stalled at reverse time {tau:.6g}: "
                "the velocity varies "
                f"at a rate {rate:.3g} between neighbouring points of its "
                "lattice; give a grid",
                time=tau,
            )
        k2 = velocity(x + 0.5 * dt * v, tau + 0.5 * dt)
        k3 = velocity(x + 0.5 * dt * k2, tau + 0.5 * dt)
        k4 = velocity(x + dt * k3, tau + dt)
        x = x + dt / 6.0 * (v + 2.0 * (k2 + k3) + k4)
        tau = tau + dt if tau + dt < tau1 else tau1
    return x


def _lattice_widths(x: np.ndarray, z: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per member and axis (B, d), the narrowest width of the density the lattice points ``x``
    (B, N, d) carry: in 1-D 1/(√(2π)·max density), the density from the spacing of neighbouring
    central quantiles (|z| ≤ 5); in d-D :func:`_narrowest`."""
    n_members, d = x.shape[0], x.shape[-1]
    du = np.diff(ndtr(z))
    central = np.abs(0.5 * (z[1:] + z[:-1])) <= 5.0
    widths = np.empty((n_members, d))
    for b in range(n_members):
        if d == 1:
            density = du[central] / np.maximum(np.diff(x[b, :, 0])[central], 1e-300)
            widths[b] = 1.0 / (math.sqrt(2 * math.pi) * float(np.max(density)))
        else:
            widths[b] = _narrowest(x[b].reshape(shape), z)
    return widths


def _narrowest(x: np.ndarray, z: np.ndarray) -> float:
    """The smallest singular value of the flow map's Jacobian ∂x/∂z over the bulk of the lattice
    (|z_a| ≤ 3): the narrowest width of the pushed density in any direction (the standard deviation
    along it, for a linear map)."""
    d = x.shape[-1]
    inner = slice(1, -1)
    keep = np.abs(z[1:-1]) <= 3.0
    jac = np.stack(
        [
            ((np.roll(x, -1, axis=a) - np.roll(x, 1, axis=a)) / (2 * (z[1] - z[0])))[(inner,) * d]
            for a in range(d)
        ],
        axis=-1,
    )[np.ix_(*[keep] * d)]
    return float(np.linalg.svd(jac.reshape(-1, d, d), compute_uv=False).min())


def _lipschitz(x, v, shape) -> float:
    """max |v(x_i) − v(x_j)| / |x_i − x_j| over lattice neighbours i, j along every axis and all
    members (x, v: (B, N, d)): a Lipschitz constant of the velocity on the lattice, whatever the
    flow has done to its directions. (The ratio of the a-th components along lattice axis a alone
    blows up where a sheared flow has lined neighbours up across that axis: on a 2-D mixture of
    correlated Gaussians at w = 4 it reached 1e299 and stalled the pilot.)"""
    d = x.shape[-1]
    batched = (x.shape[0], *shape)
    xs, vs = x.reshape(batched), v.reshape(batched)
    rates = [
        np.linalg.norm(np.diff(vs, axis=a + 1), axis=-1)
        / np.maximum(np.linalg.norm(np.diff(xs, axis=a + 1), axis=-1), 1e-300)
        for a in range(d)
    ]
    return float(max(rate.max() for rate in rates))


def feature_width(
    dyn: GuidedDynamics,
    t_min: float,
    pilot_width: float | np.ndarray = math.inf,
    tilted: float | np.ndarray | None = None,
) -> float | np.ndarray:
    """The narrowest density feature to resolve at t_min.

    It starts from the target's own, ℓ = ``dyn.model.length_scale(t_min)`` (component width or edge
    width σ). ODE: that, or the narrower width the pilot of the flow saw. Reverse SDE (η = 1): the
    noise smooths what the flow would compress; the guided Fokker–Planck equilibrium at an edge, ∝
    exp(2Φ_w), is sqrt(1 + w) narrower than the target's feature (Φ_w the log-density of the tilted
    law p_t p_t(c|·)^{1 + w}, whose score is s_w). Given the tilted law's own narrowest width where
    the density is (``tilted``, from :func:`tilted_width`), that instead, kept within the two: where
    the classes overlap or guidance does not act (early in a run, or inside one class's support) the
    edge's sqrt(1 + w) is not there. With stochasticity η the equilibrium is ∝ exp((1 + η²)/η² Φ_w),
    a factor η sqrt(2/(1 + η²)) narrower again, but weak noise may not reach it: nothing narrower
    than that and nothing coarser than what both limits (the ODE's feature and the SDE's) need.

    In formulas, with ode = min(pilot_width, ℓ) and sde = ℓ/sqrt(1 + max(w, 0)) (replaced by
    ``tilted`` clipped to [sde, ℓ] where given): the ODE's feature is ode, a stochastic sampler's
    max(η sqrt(2/(1 + η²))·sde, min(ode, sde)).

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics (one member).
    t_min : float
        The diffusion time t.
    pilot_width : float or numpy.ndarray, optional
        The narrowest width the pilot of the flow saw (per axis); default inf (none).
    tilted : float or numpy.ndarray or None, optional
        The tilted law's own narrowest width where the density is (per axis, from
        :func:`tilted_width`); default None (not used).

    Returns
    -------
    float or numpy.ndarray
        The feature width (per axis where ``pilot_width`` or ``tilted`` is an array).
    """
    width = dyn.model.length_scale(t_min, dyn.process)
    ode = np.minimum(pilot_width, width)
    if not dyn.stochastic:
        return ode
    sde = width / math.sqrt(1.0 + max(dyn.model.w, 0.0))
    if tilted is not None:
        sde = np.clip(tilted, sde, width)
    eta = dyn.eta
    return np.maximum(sde * eta * math.sqrt(2.0 / (1.0 + eta * eta)), np.minimum(ode, sde))


def tilted_width(dyn: GuidedDynamics, t: float, points: np.ndarray) -> np.ndarray:
    """Per axis, the narrowest width of the tilted law at diffusion time t near ``points``.

    Along axis a, 1/sqrt(max −∂_a s_w,a): where its log-density Φ_w (whose gradient is the guided
    score s_w) curves down the most; inf along an axis where it nowhere does. Taken over the points
    and their shifts along the axis by up to TILT_REACH (3) of the target's own feature ℓ_t (the
    noise carries the density that far past where the flow's quantiles go: at an edge the tilted
    law falls off over ℓ_t/sqrt(1 + w) outside it), by central differences of s_w with steps 1e-3
    of ℓ_t/sqrt(1 + w) (truncation ~1e-6 relative; round-off far below it).

    Parameters
    ----------
    dyn : GuidedDynamics
        The dynamics (one member).
    t : float
        The diffusion time.
    points : numpy.ndarray
        The points (N, d) near which to look (the pilot's, ``points_at``).

    Returns
    -------
    numpy.ndarray
        The width per axis, (d,).
    """
    d = dyn.model.ndim
    feature = dyn.model.length_scale(t, dyn.process)
    h = 1e-3 * feature / math.sqrt(1.0 + max(dyn.model.w, 0.0))

    def score(x):
        s = dyn.model.guided_score(x[:, 0] if d == 1 else x, t, dyn.process)
        return s.reshape(x.shape)

    shifts = np.linspace(-TILT_REACH, TILT_REACH, 2 * TILT_REACH + 1) * feature
    curvature = np.empty(d)
    for a in range(d):
        step = np.zeros(d)
        step[a] = h
        probes = np.repeat(points[None], shifts.size, axis=0)
        probes[..., a] += shifts[:, None]
        probes = probes.reshape(-1, d)
        curvature[a] = np.max((score(probes - step)[:, a] - score(probes + step)[:, a]) / (2.0 * h))
    with np.errstate(divide="ignore"):
        return 1.0 / np.sqrt(np.maximum(curvature, 0.0))


def choose_grid(
    dyn: GuidedDynamics | WeightBatch,
    t_min: float,
    quantile: Callable[[np.ndarray], ArrayLike],
    *,
    cells_per_width: float = 4.0,
    widen: float = 1.0,
    max_cells: int | None = None,
) -> tuple[Grid | TensorGrid, dict]:
    """A grid for this run, and a record of how it was chosen (stored in the Dataset).

    Per member, the :func:`pilot` gives the range [lower, upper] visited along each axis and the
    narrowest width seen; the feature f is :func:`feature_width` with that width. The member's grid
    is centred on the range with half-width widen·(½(upper − lower)·1.15 + 4f), about
    ``cells_per_width`` cells per f along each axis, rounded up to ROUND_TO (1-D: 64, 2-D: 16,
    3-D: 8) cells per axis, at least MIN_CELLS (256, 64, 32) per axis, and coarsened evenly when
    the total would exceed ``max_cells``. For a :class:`WeightBatch`, one grid spanning what every
    member needs, with the cells of the member that needs the finest (:func:`covering_grid`).

    Parameters
    ----------
    dyn : GuidedDynamics or WeightBatch
        The dynamics of the run (every member of a batch).
    t_min : float
        The diffusion time the run ends at.
    quantile : callable
        The start law's quantile function per coordinate: maps levels u ∈ (0, 1), shape (N, d), to
        points of the same shape (see :func:`~fpguide.models.dynamics.start_law`).
    cells_per_width : float, optional
        Cells per narrowest feature; default 4.0 (CELLS_PER_WIDTH, measured: errors ≤ 2e-5 on the
        standard cases).
    widen : float, optional
        Factor on every half-width (see :func:`widening`); default 1.0.
    max_cells : int or None, optional
        The cap on the total number of cells; None (default) takes MAX_CELLS (1-D: 2¹⁶, 2-D: 2¹⁹,
        3-D: 2²¹).

    Returns
    -------
    grid : Grid or TensorGrid
        A :class:`Grid` in 1-D, a :class:`TensorGrid` otherwise.
    record : dict
        ``pilot_lower``, ``pilot_upper``, ``pilot_width`` (per axis, the pilot's range and
        narrowest width over the members), ``target_width`` (:func:`feature_width` without the
        pilot's width, the narrowest over the members), ``feature_width`` (per axis, the narrowest
        feature over the members), ``cells_per_width``, ``cells_wanted`` (per axis, the most cells
        a member asked for, at most ``max_cells``, before rounding and coarsening), ``widen`` and
        ``capped`` (whether a member's grid was coarsened by the cap, or asked for more than
        ``max_cells`` along an axis); per-axis arrays are numbers in 1-D.

    Raises
    ------
    NumericalError
        If the pilot stalls (see :func:`pilot`).
    """
    members = dyn.members if isinstance(dyn, WeightBatch) else (dyn,)
    d = members[0].model.ndim
    max_cells = MAX_CELLS[d] if max_cells is None else max_cells
    seen = pilot(dyn, t_min, quantile)
    intrinsic = min(float(feature_width(member, t_min)) for member in members)
    feature = np.array(
        [feature_width(member, t_min, width) for member, width in zip(members, seen["width"])]
    )
    centre = 0.5 * (seen["lower"] + seen["upper"])
    half = widen * (0.5 * (seen["upper"] - seen["lower"]) * 1.15 + 4.0 * feature)
    # each member's own grid (what its single solve would take), then one covering them all at the
    # finest spacing
    own = [
        _span(c - h, c + h, f, cells_per_width, max_cells) for c, h, f in zip(centre, half, feature)
    ]
    grid = own[0][0] if len(own) == 1 else covering_grid([g for g, _, _ in own])
    wanted, capped = np.max([w for _, w, _ in own], axis=0), any(c for _, _, c in own)
    record = {
        "pilot_lower": seen["lower"].min(axis=0),
        "pilot_upper": seen["upper"].max(axis=0),
        "pilot_width": seen["width"].min(axis=0),
        "target_width": intrinsic,
        "feature_width": feature.min(axis=0),
        "cells_per_width": cells_per_width,
        "cells_wanted": wanted.astype(int),
        "widen": widen,
        "capped": capped,
    }
    if d == 1:
        record = {
            key: value[0] if isinstance(value, np.ndarray) else value
            for key, value in record.items()
        }
    return grid, record


Result = TypeVar("Result")


def widening(
    run: Callable[[float], Result], *, retry: bool = True, failed: list[str] | None = None
) -> Result:
    """Run with automatic grids widened until no mass leaves through their walls.

    ``run(widen)`` for widen = 1, WIDEN_FACTOR, WIDEN_FACTOR², … (WIDEN_FACTOR = 1.5): its result,
    once no :class:`WallMassError` says that mass left through the walls of the automatic grid (or
    grids) ``run`` chose ``widen`` times wider than its pilot asked for; at most WIDEN_TRIES (3)
    retries, none when not ``retry`` (a grid the user gave).

    Parameters
    ----------
    run : callable
        ``run(widen) -> result``, raising :class:`WallMassError` where mass left its grid.
    retry : bool, optional
        Whether to retry wider at all; default True.
    failed : list of str or None, optional
        Where the messages of the failed tries are appended; default None (not kept).

    Returns
    -------
    object
        The result of the first try that raised no :class:`WallMassError`.

    Raises
    ------
    WallMassError
        That of the last try, when every try lost mass (or the first, when not ``retry``).
    """
    for attempt in itertools.count():
        try:
            return run(WIDEN_FACTOR**attempt)
        except WallMassError as err:
            if not retry or attempt == WIDEN_TRIES:
                raise
            if failed is not None:
                failed.append(str(err))


def covering_grid(grids: Sequence[Grid | TensorGrid]) -> Grid | TensorGrid:
    """One grid spanning every grid of ``grids``, as fine as the finest along each axis.

    The common grid of a sweep: along each axis, from the lowest ``lower`` to the highest ``upper``
    of the grids, with cells at most as wide as the finest's (the number of cells rounded up to
    ROUND_TO, at least MIN_CELLS, and coarsened evenly above MAX_CELLS in total).

    Parameters
    ----------
    grids : sequence of Grid or TensorGrid
        Uniform grids, all 1-D or all with the same number of axes.

    Returns
    -------
    Grid or TensorGrid
        A :class:`Grid` in 1-D, a :class:`TensorGrid` otherwise.
    """
    axes = [axes_of(grid) for grid in grids]
    lower = np.array([[axis.lower for axis in each] for each in axes]).min(axis=0)
    upper = np.array([[axis.upper for axis in each] for each in axes]).max(axis=0)
    dx = np.array([[axis.dx for axis in each] for each in axes]).min(axis=0)
    return _span(lower, upper, dx, 1.0, MAX_CELLS[lower.size])[0]


def _span(lower, upper, feature, cells_per_width: float, max_cells: int):
    """The grid on [lower, upper] (per axis) with about ``cells_per_width`` cells per ``feature``,
    rounded up to ROUND_TO cells per axis, at least MIN_CELLS, and coarsened evenly when the total
    would exceed ``max_cells``; returns (grid, cells wanted per axis, whether it was capped)."""
    d = lower.size
    # a pilot width that underflows asks for infinitely many cells
    with np.errstate(over="ignore", divide="ignore"):
        needed = np.ceil((upper - lower) * cells_per_width / feature * (1 - 1e-12))
    wanted = np.minimum(needed, float(max_cells))
    scale = max(1.0, (float(np.prod(wanted)) / max_cells) ** (1.0 / d))
    n = [int(max(ROUND_TO[d] * math.ceil(k / scale / ROUND_TO[d]), MIN_CELLS[d])) for k in wanted]
    axes = tuple(Grid(float(lo), float(hi), k) for lo, hi, k in zip(lower, upper, n))
    return (
        (axes[0] if d == 1 else TensorGrid(axes)),
        wanted,
        bool(scale > 1.0 or np.any(needed > max_cells)),
    )
