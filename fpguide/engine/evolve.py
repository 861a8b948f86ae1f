"""evolve(): a density on a 1-D, 2-D or 3-D grid under ∂_t q = −∇·(v(x, t) q) + D(t) Δq.

Advection is the flux-form semi-Lagrangian remap (:mod:`.remap`) along grid lines, with face departure points traced
through the drift, one axis at a time (:mod:`.split`), by classical RK4 (continuity equation) or, with diffusion,
where the splitting error is O(dt²) anyway, by Kutta's third-order method; diffusion is an exact-in-time positive
kernel (:mod:`.heat`), which factorises over the axes. The sweeps are Strang-split,
A_0(h/2) A_1(h/2) … H(h) … A_1(h/2) A_0(h/2) (without diffusion, the last axis takes one full sweep in the middle),
with the closing half sweep of axis 0 of one step and the opening one of the next merged (the flow map composes):
in 1-D a step costs one trace, one remap and one convolution; in 2-D two sweeps (continuity) or three sweeps and a
convolution (Fokker–Planck). Steps are limited so that L·dt ≤ ``lipschitz``, L = ``max_a |∂_a v_a|`` on the faces traced
around the mass (this keeps the departure maps monotone and the splitting error small), and land on every time in
``t_eval``, ``time_grid`` and ``drift_jumps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..grids.grid import Grid, TensorGrid
from ..tools.errors import NumericalError, WallMassError
from ..tools.progress import progress_bar
from ..tools.validation import as_finite_array, check_flag, check_positive_real
from .coefficients import Coefficient
from .remap import scheme_code
from .split import LineSweeper, line_drift
from .steps import flush_below

FLUSH = 1e-300  # densities below this are set to zero: subnormal arithmetic made contracting flows 7-11x slower
SIGNIFICANT = 1e-13  # relative density below which cells do not steer the step size (their mass is < 1e-10)


@dataclass
class EvolveResult:
    """What :func:`evolve` returns; ``q[k]`` is the density (cell averages) at ``t[k]`` (with ``batch``, ``q[k, b]``
    that of member b, and the outflows and flushed mass are per member)."""

    t: np.ndarray
    q: np.ndarray
    outflow_lower: np.ndarray  # cumulative mass through the lower walls at each saved time
    outflow_upper: np.ndarray
    grid: Grid | TensorGrid
    scheme: str
    n_steps: int = 0
    n_rejected: int = 0
    n_drift_evals: int = 0
    max_lipschitz_dt: float = 0.0  # largest L·dt taken
    flushed_mass: float | np.ndarray = 0.0  # total mass of the sub-1e-300 densities set to zero
    batch: bool = False
    member_rate: np.ndarray | None = None  # with batch: the largest L of each member where its own mass is
    # monitors per saved time (with batch, per member), over the steps since the previous one: lowest density, CFL
    # number max_a |v_a| dt/dx_a, cell Péclet number max_a |v_a| dx_a / D (inf without diffusion), with the speeds
    # where the mass is; neither number limits this scheme (see fpguide.runs.monitors)
    min_density: np.ndarray | None = None
    cfl: np.ndarray | None = None
    peclet: np.ndarray | None = None

    @property
    def mass(self) -> np.ndarray:
        return self.q.reshape(*self.q.shape[:1 + self.batch], -1).sum(axis=-1) * self.grid.cell_volume

    def member(self, b: int) -> EvolveResult:
        """The result of member b of a batch, as if it had been evolved alone (same steps)."""
        if not self.batch:
            raise ValueError("member() needs a batched result (evolve(..., batch=True))")
        return replace(self, q=self.q[:, b], outflow_lower=self.outflow_lower[:, b],
                       outflow_upper=self.outflow_upper[:, b], flushed_mass=float(self.flushed_mass[b]), batch=False,
                       member_rate=None, min_density=self.min_density[:, b], cfl=self.cfl[:, b],
                       peclet=self.peclet[:, b])


def evolve(q0, drift, *, grid: Grid | TensorGrid, t_span: tuple[float, float],
           diffusion: float | Callable[[float], float] = 0.0, t_eval=None, time_grid=None, drift_jumps=None,
           scheme: str = "ppm", lipschitz: float = 0.25, max_step: float = math.inf, wall_tol: float = 1e-9,
           trace_order: int | None = None, ou_drift: bool = False, batch: bool = False,
           progress: bool | None = None) -> EvolveResult:
    """Evolve the density ``q0`` (cell averages on ``grid``) from t_span[0] to t_span[1].

    On a 1-D :class:`Grid`, ``drift(x, t)`` is the velocity v at the points x (a flat array). On a
    :class:`TensorGrid` (d = 2, 3), ``drift(x, t)`` maps points of shape (N, d) to velocities (N, d), or ``drift`` is
    an object with a method ``along(axis, x, points, t)`` giving v_axis at positions x (L, M) on the grid lines through
    ``points`` (L, d) (what :func:`fpguide.solve` uses: a line costs one closed-form restriction per component; such an
    object is accepted in 1-D too). With ``batch``, ``q0`` holds B independent densities along a leading axis, evolved
    together with common steps (controlled by the largest rate of any member), and the drift takes the members as a
    last argument: ``drift(x, t, members)`` with one member index per point, ``along(axis, x, points, t, members)``
    with one per line; a sweep shares its drift evaluations this way.
    ``diffusion`` is D ≥ 0, a number or a callable of t (0: the continuity equation). Densities are saved at
    ``t_eval`` (default: the two ends); ``time_grid`` adds step boundaries (e.g. refined where the drift is steep);
    ``drift_jumps`` are times where the drift may jump (a guidance interval): steps land on them and no sweep
    straddles them (the Strang half sweeps are not merged across them). ``trace_order`` is the Runge–Kutta order of the
    departure trace, 3 or 4; None: 4 for the continuity equation, 3 with diffusion (see below). ``ou_drift`` says
    that the drift holds the Ornstein–Uhlenbeck part −D(t)·x, which with the diffusion keeps N(0, I) (a guided
    sampler's drift near its prior): the steps then treat that part exactly, however long they are — the trace
    runs on X·exp(∫D) (see :class:`~.split.LineSweeper`) and each heat step spreads by (e^{2A₂} − e^{−2A₁})/2
    instead of ∫D (A₁, A₂ = ∫D over the step's halves), which makes A(h/2) H A(h/2) exact for v = −D x; any other
    step changes at O(h³). Between the half sweeps the densities are held contracted by e^{−A₂} (the sweeper's
    frames), where that spread is (1 − e^{−2A})/2: never wider than at the step's end, so that walls placed for the
    law hold it during long steps.
    ``progress`` shows a bar over the simulated time (None: on a terminal once the run has lasted 2 s).
    Raises :class:`~fpguide.WallMassError` when more than ``wall_tol`` of the mass has left through the walls,
    ``FloatingPointError`` when the drift is not finite, and :class:`~fpguide.NumericalError` when the density
    becomes non-finite or negative (saying when and where).
    """
    if not (callable(drift) or hasattr(drift, "along")):
        raise TypeError(f"drift must be callable or have a method along(axis, x, points, t), got "
                        f"{type(drift).__name__}")
    if isinstance(grid, Grid):
        tensor, shape = TensorGrid((grid,)), (grid.n,)
    elif isinstance(grid, TensorGrid):
        tensor, shape = grid, grid.shape
    else:
        raise TypeError(f"grid must be a fpguide.Grid or fpguide.TensorGrid, got {type(grid).__name__}")
    if batch not in (True, False):
        raise TypeError(f"batch must be True or False, got {batch!r}")
    q = as_finite_array("q0", q0).copy()
    if q.shape[batch:] != shape or q.ndim != len(shape) + batch:
        wanted = "(B, " + ", ".join(map(str, shape)) + ")" if batch else str(shape)
        raise ValueError(f"q0 must have one value per grid cell{' per member' if batch else ''}, shape {wanted}, "
                         f"got shape {q.shape}")
    if batch and q.shape[0] == 0:
        raise ValueError("q0 must hold at least one member with batch=True, got none")
    q = q if batch else q[None]
    if np.any(q < 0):
        raise ValueError(f"q0 must be non-negative, got minimum {q.min()}")
    span = as_finite_array("t_span", t_span, ndim=1)
    if span.size != 2:
        raise ValueError(f"t_span must be two numbers (t0, t1), got {t_span!r}")
    t0, t1 = float(span[0]), float(span[1])
    if not t1 > t0:
        raise ValueError(f"t_span must be increasing, got {t_span}")
    code = scheme_code(scheme)
    check_positive_real("lipschitz", lipschitz)
    if max_step != math.inf:
        check_positive_real("max_step", max_step)
    check_positive_real("wall_tol", wall_tol)
    diff = Coefficient("diffusion", diffusion)
    ou_drift = check_flag("ou_drift", ou_drift)
    saves = time_points("t_eval", t_eval, t0, t1, default=(t0, t1))
    closes = np.union1d(saves, time_points("drift_jumps", drift_jumps, t0, t1, default=()))
    breaks = np.union1d(closes, time_points("time_grid", time_grid, t0, t1, default=(t1,)))
    breaks = breaks[breaks > t0]

    # with diffusion the O(dt²) Strang splitting error dominates the trace's: third order is enough (measured by
    # benchmarks/sde_step_control.py: the SDE errors of the standard cases are the same to 1 % with RK3 and RK4) and
    # saves a quarter of the drift calls
    order = (3 if diff.active else 4) if trace_order is None else trace_order
    members = q.shape[0]
    sweeper = LineSweeper(tensor, line_drift(drift, tensor.ndim, batch), code, SIGNIFICANT, order=order,
                          batch=members, linear=diff if ou_drift else None)
    out = EvolveResult(saves, np.empty((saves.size, *q.shape)), np.zeros((saves.size, members)),
                       np.zeros((saves.size, members)), grid, scheme, flushed_mass=np.zeros(members),
                       min_density=np.empty((saves.size, members)), cfl=np.zeros((saves.size, members)),
                       peclet=np.zeros((saves.size, members)))
    since = {"lowest": q.reshape(members, -1).min(axis=1), "cfl": np.zeros(members), "peclet": np.zeros(members)}

    def save(k, t):
        out.q[k] = q
        out.min_density[k], out.cfl[k], out.peclet[k] = since["lowest"], since["cfl"], since["peclet"]
        since.update(lowest=np.full(members, np.inf), cfl=np.zeros(members), peclet=np.zeros(members))
        out.outflow_lower[k], out.outflow_upper[k] = sweeper.outflow.sum(axis=1).T
        escaped = sweeper.outflow.sum(axis=(1, 2))
        if escaped.max() > wall_tol:
            b = int(np.argmax(escaped))
            axis, side = np.unravel_index(np.argmax(sweeper.outflow[b]), sweeper.outflow[b].shape)
            where = f"{('lower', 'upper')[side]} side" + (f" of axis {axis}" if tensor.ndim > 1 else "")
            raise WallMassError(
                f"mass {escaped[b]:.3g} left the grid {_extent(tensor)} through the walls by t={t:.6g} "
                f"{f'in member {b} ' if batch else ''}(mostly on the {where}; tolerance wall_tol={wall_tol:g}): "
                f"widen the grid on the {where}", time=t)

    def scan(q, t):
        """Flush the sub-FLUSH densities of q (after a step to t) and note their mass and q's lowest value."""
        flushed, lowest = flush_checked(q.reshape(members, *shape), tensor, t, batch, sweeper.frame)
        out.flushed_mass += flushed * tensor.cell_volume
        since["lowest"] = np.minimum(since["lowest"], lowest)

    def halves(ta, tb):
        """(A₁, A₂): ∫D over the first and the second half of the step [ta, tb], from one quadratic."""
        quad = diff.quadratic(ta, tb)
        first = quad.integral(0.5)
        return first, quad.integral(1.0) - first

    def apply(q, op, ta, tb, frame=1.0):
        if op == "heat":
            if not ou_drift:
                return sweeper.diffuse(q, diff.integral(ta, tb))
            first, second = halves(ta, tb)
            return sweeper.diffuse(q, 0.5 * (math.exp(2.0 * second) - math.exp(-2.0 * first)))
        return sweeper.advect(q, op, ta, tb, frame)

    def contracted(ta, tb):
        """The frame the first half sweeps of the step [ta, tb] end in: with the linear part, contracted by that part
        over the second half, e^{−A₂}, so that the heat step spreads them by (1 − e^{−2A})/2 ≤ ½ (A = ∫D over the
        step) and the density is never wider than at the step's end (in the true positions, the heat step's
        (e^{2A₂} − e^{−2A₁})/2 would leave it e^{A₂} as wide: 2.9x for a step of A = 2.1); 1 without."""
        if not (ou_drift and diff.active):
            return 1.0
        return math.exp(-halves(ta, tb)[1])

    def inner(q, ops, ta, tb):
        """Symmetric composition O_1(h/2) … O_n(h) … O_1(h/2) of the inner operators over [ta, tb]."""
        if len(ops) == 1:
            return apply(q, ops[0], ta, tb)
        mid = 0.5 * (ta + tb)
        return apply(inner(apply(q, ops[0], ta, mid, contracted(ta, tb)), ops[1:], ta, tb), ops[0], mid, tb)

    # the innermost operator takes one full step: the heat step (one exact kernel per step: halves would not compose
    # exactly), or, for the continuity equation, the last axis, so that a 2-D step is two sweeps
    ops = list(range(1, tensor.ndim)) + (["heat"] if diff.active else [])
    k_save = 0
    if saves[0] == t0:
        save(0, t0)
        k_save = 1
    # Strang splitting; the closing half sweep of axis 0 of a step and the opening one of the next are one sweep
    # (the flow composes), so a step costs one sweep of axis 0 and the inner composition.
    t, advected = t0, t0
    lip = max(sweeper.rates(q, axis, t0) for axis in range(tensor.ndim))
    member_rate = sweeper.member_lip.max(axis=1)
    bar = progress_bar(progress, total=t1 - t0, unit="t", desc="evolve",
                       bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} [{elapsed}<{remaining}]")
    for t_next in breaks:
        while t < t_next:
            remaining = t_next - t
            dt = min(remaining, max_step, lipschitz / lip if lip > 0 else math.inf)
            dt = remaining / math.ceil(remaining / dt * (1 - 1e-12))
            t_end = t + dt if t + dt < t_next else t_next
            if ops:
                q = sweeper.advect(q, 0, advected, t + 0.5 * dt, contracted(t, t_end))
                advected = t + 0.5 * dt
                q = inner(q, ops, t, t_end)
            else:
                q = sweeper.advect(q, 0, t, t_end)
                advected = t_end
            out.max_lipschitz_dt = max(out.max_lipschitz_dt, lip * dt)
            since["cfl"] = np.maximum(since["cfl"], np.max(sweeper.member_speed * dt / sweeper.spacing, axis=1))
            mean_d = diff.integral(t, t_end) / (t_end - t) if diff.active else 0.0
            peclet = np.max(sweeper.member_speed * sweeper.spacing, axis=1) / mean_d if mean_d > 0 else np.inf
            since["peclet"] = np.maximum(since["peclet"], peclet)
            lip = float(sweeper.lip.max())
            member_rate = np.maximum(member_rate, sweeper.member_lip.max(axis=1))
            out.n_steps += 1
            bar.update(t_end - t)
            t = t_end
            scan(q, t)
        if advected < t and t in closes:  # close the pending half sweep of axis 0 (at saves and drift jumps)
            q = sweeper.advect(q, 0, advected, t)
            advected = t
            scan(q, t)
        if k_save < saves.size and t == saves[k_save]:
            save(k_save, t)
            k_save += 1
    bar.close()
    out.n_rejected, out.n_drift_evals = sweeper.n_rejected, sweeper.n_drift_evals
    if batch:
        out.batch, out.member_rate = True, member_rate
        return out
    return replace(out, q=out.q[:, 0], outflow_lower=out.outflow_lower[:, 0], outflow_upper=out.outflow_upper[:, 0],
                   flushed_mass=float(out.flushed_mass[0]), min_density=out.min_density[:, 0], cfl=out.cfl[:, 0],
                   peclet=out.peclet[:, 0])


def flush_checked(q: np.ndarray, grid: TensorGrid, t: float, batch: bool = True, frame=None):
    """:func:`~.steps.flush_below` on the densities q (B, *grid.shape), in place: the mass flushed (per unit cell
    volume) and the lowest value of each; a :class:`NumericalError` saying when and where when one is not finite or
    negative (which the positive schemes never make), at the true position of a density held in ``frame`` (per axis,
    see :class:`~.split.LineSweeper`; None: the grid's own)."""
    flushed, lowest, broken = flush_below(q.reshape(q.shape[0], -1), FLUSH)
    if np.any(broken >= 0):
        b = int(np.argmax(broken >= 0))
        cell = np.unravel_index(broken[b], grid.shape)
        scale = np.ones(grid.ndim) if frame is None else frame
        x = ", ".join(f"{axis.centres[i] / c:.6g}" for axis, i, c in zip(grid.axes, cell, scale))
        member = f" in member {b}" if batch else ""
        value = q[b][cell]
        raise NumericalError(f"the density became {value} at t={t:.6g}, x=({x}){member}: reduce the step "
                             "(lipschitz, max_step) or refine the grid where the drift is steep there", time=t)
    return flushed, lowest


def _extent(grid: TensorGrid) -> str:
    return " x ".join(f"[{axis.lower}, {axis.upper}]" for axis in grid.axes)


def time_points(name, values, t0, t1, default):
    """The times ``values`` (sorted, unique) checked to lie within [t0, t1]; ``default`` when None."""
    if values is None:
        return np.asarray(default, dtype=float)
    values = np.unique(as_finite_array(name, values, ndim=1))
    if values.size and (values[0] < t0 or values[-1] > t1):
        raise ValueError(f"{name} must lie within t_span [{t0}, {t1}], got [{values[0]}, {values[-1]}]")
    return values
