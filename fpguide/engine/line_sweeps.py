"""The d-dimensional engine (d = 2, 3): dimension splitting of the 1-D schemes over the lines of a
tensor grid.

∂_t q = −Σ_a ∂_a(v_a q) + D Δq is split into sweeps along each axis a, where every grid line (the
other coordinates fixed at cell centres) is a 1-D continuity equation ∂_t q = −∂_a(v_a q), advanced
by the same flux-form semi-Lagrangian remap as in 1-D (conservative, positive, no CFL limit); the
heat step factorises exactly, exp(DΔ) = ∏_a exp(D∂_a²), into the 1-D positive kernels along each
axis. The sweeps are composed symmetrically (Strang), A_0(h/2) [A_1(h/2) … H(h) … A_1(h/2)]
A_0(h/2), with the outer half sweeps of consecutive steps merged, so the scheme is second order in
time. Lines are processed in parallel (numba ``prange``); memory is a few copies of q.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np

from ..grids.grid import TensorGrid
from .coefficients import Coefficient
from .heat import heat_kernel, heat_step
from .remap import reconstruct, remap
from .steps import assemble_departures, significant_faces, significant_window, steepest

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["STAGE_INSIDE", "line_drift", "LineSweeper"]

# Runge–Kutta stages at the ends of a step are evaluated this fraction of the step inside it: a
# drift that jumps at a step boundary (a guidance interval switching on or off) is then sampled on
# the step's own side, and a continuous one changes by far less than the trace's truncation error.
STAGE_INSIDE = 1e-7


@nb.njit(cache=True)
def _departures_of_line(q, xi, lo, floor, full):
    """Departure points ``full`` (index units) of all faces of the line q from its traced window
    ``xi`` of faces lo … lo + m − 1; False when trajectories cross where the line has significant
    mass."""
    first, last = significant_faces(q, floor)
    if first < 0:
        first, last = 0, 0
    return assemble_departures(xi, lo, q.size, first, last, full)


@nb.njit(cache=True, parallel=True)
def _departures_of_lines(lines, active, xi, lo, floor, full):
    """:func:`_departures_of_line` for every active line; False when any line's trajectories
    cross."""
    ok = np.ones(active.size, dtype=np.bool_)
    for a in nb.prange(active.size):
        ok[a] = _departures_of_line(lines[active[a]], xi[a], lo, floor, full[a])
    return ok.all()


@nb.njit(cache=True)
def _remap_line(q, full, code, dx):
    """Remap the line q in place onto the departure points ``full``; returns the mass (per unit
    cross-section) that left through its (lower, upper) walls."""
    n = q.size
    d_left, d_right, new = np.empty(n), np.empty(n), np.empty(n)
    reconstruct(q, code, d_left, d_right)
    lower, upper = remap(q, d_left, d_right, dx, full, new)
    q[:] = new
    return lower, upper


@nb.njit(cache=True, parallel=True)
def _remap_lines(lines, active, full, code, dx, lower, upper):
    """:func:`_remap_line` for every active line; ``lower``/``upper`` receive each line's wall
    losses."""
    for a in nb.prange(active.size):
        lower[a], upper[a] = _remap_line(lines[active[a]], full[a], code, dx)


@nb.njit(cache=True, parallel=True)
def _heat_lines(lines, kernel, out, lower, upper):
    """out = K * line for every line; ``lower``/``upper`` receive the mass (per unit dx and
    cross-section) each line carried past its walls."""
    for row in nb.prange(lines.shape[0]):
        lower[row], upper[row] = heat_step(lines[row], kernel, out[row])


class LineSweeper:
    """Sweeps of a batch of densities on a :class:`TensorGrid`: advection along an axis over [ta,
    tb], diffusion along all.

    The densities have shape (B, *grid.shape): B independent members (B = 1 for a single density)
    whose lines are processed together.

    Frames: along each axis a the densities may be held as the law of c_a·X_a instead of X_a
    (``frame[a]`` = c_a, 1 at the start; each :meth:`advect` says the frame its axis ends in, and
    :meth:`diffuse` spreads by c_a² times the amount). The drift is evaluated at the true positions.
    With a linear part, :func:`~.evolve.evolve` holds the densities contracted by the second half
    step's linear part while it diffuses, so that between the half sweeps they are no wider than at
    the step's end.

    Parameters
    ----------
    grid : TensorGrid
        The grid (a 1-D grid as a TensorGrid of one axis).
    along : callable
        ``along(axis, x, points, t, members)`` gives the velocity component v_axis at positions x
        (L, M) on the lines through ``points`` (L, d) of the members ``members`` (L,) (see
        :func:`line_drift`).
    code : int
        The reconstruction of the remap (:func:`~.remap.scheme_code`).
    significant : float
        The relative density below which cells neither steer the traced window nor are remapped
        (lines whose every cell is below it stay put: their mass is negligible and still
        conserved).
    order : {3, 4}, optional
        The order of the Runge–Kutta trace of the departure points (default 4).
    batch : int, optional
        The number B of members (default 1).
    linear : Coefficient or None, optional
        The rate a(t) of a part −a(t)·x of the drift that the trace integrates exactly (default
        None: none; an inactive coefficient counts as none).

    Attributes
    ----------
    outflow : numpy.ndarray
        The cumulative mass through the (lower, upper) walls per member and axis, shape (B, d, 2).
    lip, speed : numpy.ndarray
        The latest max |∂_a v_a| and max |v_a| per axis (over all members).
    member_lip, member_speed : numpy.ndarray
        The same per member, where its own mass is, shape (B, d).
    frame : numpy.ndarray
        The frame c_a each axis is held in.
    spacing : numpy.ndarray
        Per axis, the cells' width in the true positions where the latest rates were measured
        (dx / frame).
    n_drift_evals, n_rejected : int
        The drift evaluations and the rejected (halved) sweeps so far.

    Raises
    ------
    ValueError
        When ``order`` is not 3 or 4.
    """

    def __init__(
        self,
        grid: TensorGrid,
        along: Callable[..., np.ndarray],
        code: int,
        significant: float,
        order: int = 4,
        batch: int = 1,
        linear: Coefficient | None = None,
    ) -> None:
        if order not in (3, 4):
            raise ValueError(f"trace_order must be 3 or 4, got {order!r}")
        self.grid, self.along, self.code, self.significant, self.order = (
            grid,
            along,
            code,
            significant,
            order,
        )
        self.linear = linear if linear is not None and linear.active else None
        # cumulative mass through the (lower, upper) walls per axis
        self.outflow = np.zeros((batch, grid.ndim, 2))
        self.lip = np.zeros(grid.ndim)  # latest max |∂_a v_a| per axis (over all members)
        self.member_lip = np.zeros((batch, grid.ndim))  # the same per member, where its own mass is
        self.speed = np.zeros(grid.ndim)  # latest max |v_a| per axis
        # the same per member, where its own mass is
        self.member_speed = np.zeros((batch, grid.ndim))
        self.n_drift_evals = 0
        self.n_rejected = 0
        self.frame = np.ones(grid.ndim)
        # per axis, the cells' width in the true positions where the latest rates were measured (dx
        # / frame)
        self.spacing = np.array([axis.dx for axis in grid.axes])

    @staticmethod
    def _lines(q, axis):
        """The lines of q (B, *grid.shape) along ``axis`` as rows, member-major, and their shape (B,
        ..., n)."""
        if axis + 2 == q.ndim:  # the last axis: the rows are q's own (no copy)
            return q.reshape(-1, q.shape[-1]), q.shape
        moved = np.moveaxis(q, axis + 1, -1)
        return np.ascontiguousarray(moved).reshape(-1, moved.shape[-1]), moved.shape

    @staticmethod
    def _restore(lines, shape, axis):
        if axis + 2 == len(shape):
            return lines.reshape(shape)
        return np.ascontiguousarray(np.moveaxis(lines.reshape(shape), -1, axis + 1))

    def _count_outflow(self, axis, members, lower, upper, factor):
        batch = self.outflow.shape[0]
        self.outflow[:, axis, 0] += np.bincount(members, weights=lower, minlength=batch) * factor
        self.outflow[:, axis, 1] += np.bincount(members, weights=upper, minlength=batch) * factor

    def advect(
        self, q: np.ndarray, axis: int, ta: float, tb: float, frame: float = 1.0
    ) -> np.ndarray:
        """q advanced by ∂_t q = −∂_a(v_a q) from ta to tb, ending in the ``frame`` c_a along
        ``axis`` (see the class); halves the interval while trajectories cross.

        Parameters
        ----------
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).
        axis : int
            The axis to advect along.
        ta, tb : float
            The interval.
        frame : float, optional
            The frame c_a the axis ends in (default 1.0: the true positions).

        Returns
        -------
        numpy.ndarray
            The advected densities (the lines remapped in place where q's rows are its own).

        Raises
        ------
        FloatingPointError
            When trajectories cross however short the interval (the drift is not Lipschitz where
            the mass is), or the drift is not finite.
        """
        lines, shape = self._lines(q, axis)
        if self._remap(lines, shape, axis, ta, tb, frame):
            self.frame[axis] = frame
            return self._restore(lines, shape, axis)
        if tb - ta <= 1e-12 * max(1.0, abs(tb)):
            raise FloatingPointError(
                f"trajectories of the drift cross at t={tb:.6g} however short "
                "the step: "
                "the drift is not Lipschitz where the mass is"
            )
        self.n_rejected += 1
        mid = 0.5 * (ta + tb)
        return self.advect(self.advect(q, axis, ta, mid, self.frame[axis]), axis, mid, tb, frame)

    def _window(self, lines, shape, axis):
        """The lines with significant mass, the faces enclosing it along ``axis``, the points the
        lines pass through and their members; None when q is zero."""
        floor, active, first, last = significant_window(lines, self.significant)
        if floor == 0.0:
            return None
        members, *others = np.unravel_index(active, shape[:-1])
        points = np.zeros((active.size, self.grid.ndim))
        for index, b in zip(others, [b for b in range(self.grid.ndim) if b != axis]):
            points[:, b] = self.grid.axes[b].centres[index] / self.frame[b]
        return floor, active, first, last, points, members

    def rates(self, q: np.ndarray, axis: int, t: float) -> float:
        """Measure max |∂_a v_a| and max |v_a| at time t on the faces around the mass.

        Both are stored per axis and per member (:attr:`lip`, :attr:`speed`,
        :attr:`member_lip`, :attr:`member_speed`); nothing is measured when q is zero.

        Parameters
        ----------
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).
        axis : int
            The axis along which to measure.
        t : float
            The time.

        Returns
        -------
        float
            The latest max |∂_a v_a| along ``axis``.

        Raises
        ------
        FloatingPointError
            When the drift is not finite there.
        """
        lines, shape = self._lines(q, axis)
        window = self._window(lines, shape, axis)
        if window is not None:
            floor, active, first, last, points, members = window
            g = self.grid.axes[axis]
            x = np.repeat(g.faces[None, first : last + 1] / self.frame[axis], active.size, axis=0)
            own = self._own_faces(lines, active, members, floor, first, last, first, last)
            self._record_rates(
                axis, self._velocity(axis, x, points, t, members), t, own, members, self.frame[axis]
            )
        return float(self.lip[axis])

    def _own_faces(self, lines, active, members, floor, lo, hi, first, last):
        """Which of the faces lo … hi each line's member traces for itself: the hull of that
        member's significant cells, widened by the margins the window has around the hull of all
        (first … last), and the hull alone; for a single density None (all) and the hull as a slice
        of the faces. A batch is then stepped by the largest rate any member has where its own mass
        is."""
        if self.outflow.shape[0] == 1:
            cells = (lines[active] > floor).any(axis=0)
            return None, slice(
                int(np.argmax(cells)) - lo, cells.size - int(np.argmax(cells[::-1])) - lo + 1
            )
        starts = np.flatnonzero(np.diff(members, prepend=-1))  # the lines come member by member
        # (members present, cells)
        any_line = np.logical_or.reduceat(lines[active] > floor, starts, axis=0)
        counts = np.diff(starts, append=members.size)
        lower = np.repeat(np.argmax(any_line, axis=1), counts)[:, None]
        upper = np.repeat(any_line.shape[1] - np.argmax(any_line[:, ::-1], axis=1), counts)[:, None]
        faces = np.arange(lo, hi + 1)
        return (faces >= lower - (first - lo)) & (faces <= upper + (hi - last)), (
            faces >= lower
        ) & (faces <= upper)

    def _record_rates(self, axis, v, t, faces, members, frame):
        """max |∂_a v_a| and max |v_a| over the faces traced (each member's own, see
        :meth:`_own_faces`), at the true positions of faces held in ``frame``, and the largest speed
        where each member's mass is."""
        dx = self.spacing[axis] = self.grid.axes[axis].dx / frame
        own, inside = faces
        if own is None:
            jump, self.speed[axis] = steepest(v)
            self.lip[axis] = jump / dx
            self.member_lip[:, axis] = self.lip[axis]
            self.member_speed[:, axis] = np.abs(v[:, inside]).max(initial=0.0)
        else:
            speeds = np.where(inside, np.abs(v), 0.0).max(axis=1)
            rates = (
                np.where(own[:, 1:] & own[:, :-1], np.abs(np.diff(v, axis=1)), 0.0).max(axis=1) / dx
            )
            self.member_lip[:, axis] = self.member_speed[:, axis] = 0.0
            np.maximum.at(self.member_lip[:, axis], members, rates)
            np.maximum.at(self.member_speed[:, axis], members, speeds)
            self.lip[axis] = float(self.member_lip[:, axis].max())
            self.speed[axis] = float(np.abs(v[own]).max(initial=0.0))
        if not math.isfinite(self.lip[axis] + self.speed[axis]):
            raise FloatingPointError(
                f"drift returned non-finite values along axis {axis} at t={t:.6g}"
            )

    def _remap(self, lines, shape, axis, ta, tb, frame) -> bool:
        window = self._window(lines, shape, axis)
        if window is None:
            return True
        floor, active, first, last, points, members = window
        g, dt = self.grid.axes[axis], tb - ta
        n = g.n
        reach = int(math.ceil(1.5 * self.speed[axis] * dt / g.dx)) + 2
        while True:
            lo, hi = max(first - reach, 0), min(last + reach, n)
            # the faces' true positions
            x0 = np.repeat(g.faces[None, lo : hi + 1] / frame, active.size, axis=0)
            x, v_end = self._trace_back(axis, x0, points, members, tb, dt)
            x *= self.frame[axis]  # the departures in the frame the line is held in
            xi = (x - g.lower) / g.dx
            if not np.isfinite(xi.sum()):
                raise FloatingPointError(
                    f"drift returned non-finite values along axis {axis} "
                    "between "
                    f"t={ta:.6g} and t={tb:.6g}"
                )
            if (lo == 0 or xi[:, 0].max() <= first) and (hi == n or xi[:, -1].min() >= last):
                break
            reach *= 2
        full = np.empty((active.size, n + 1))
        lower, upper = np.empty(active.size), np.empty(active.size)
        # a single line (a 1-D density) runs the line kernels directly: a parallel region has
        # nothing to share there, and waking the other threads costs more than the line (several
        # times more on a loaded machine)
        if active.size == 1:
            if not _departures_of_line(
                lines[active[0]], np.ascontiguousarray(xi[0]), lo, floor, full[0]
            ):
                return False
            lower[0], upper[0] = _remap_line(lines[active[0]], full[0], self.code, g.dx)
        else:
            if not _departures_of_lines(lines, active, np.ascontiguousarray(xi), lo, floor, full):
                return False
            _remap_lines(lines, active, full, self.code, g.dx, lower, upper)
        self._count_outflow(axis, members, lower, upper, self.grid.cell_volume / g.dx)
        self._record_rates(
            axis,
            v_end,
            tb,
            self._own_faces(lines, active, members, floor, lo, hi, first, last),
            members,
            frame,
        )
        return True

    def _velocity(self, axis, x, points, t, members):
        self.n_drift_evals += 1
        out = _velocities(self.along(axis, np.ascontiguousarray(x), points, t, members))
        if out.shape != x.shape:
            raise ValueError(
                f"drift must return values shaped like its points, got shape {out.shape}"
            )
        return out

    def _trace_back(self, axis, x0, points, members, t_end, dt):
        """dX/dt = v_a(X, t) integrated backwards from (x0, t_end) over dt by classical RK4
        (``order`` 4) or Kutta's third-order method (``order`` 3); returns X(t_end − dt) and v_a(x0,
        t_end). The end stages are taken ``STAGE_INSIDE``·dt inside the step (see there). With a
        linear part −a(t)·x of the drift, the method runs on Y = X·exp(−∫_t^{t_end} a), whose
        velocity (v_a + a X)·exp(−∫_t^{t_end} a) is the rest of the drift: exact for the linear part
        at any step (with :func:`~.evolve.evolve`'s ``ou_drift`` heat step, a law the linear drift
        and the diffusion keep is kept however long the step)."""
        inside = STAGE_INSIDE * dt
        rate = self._linear_rate(t_end, dt)

        def velocity(y, t):
            """The traced variable's velocity at y (X's or Y's) and v_a there."""
            if rate is None:
                v = self._velocity(axis, y, points, t, members)
                return v, v
            a, exponent = rate((t_end - t) / dt)
            scale = math.exp(exponent)  # X = scale·Y
            x = scale * y
            v = self._velocity(axis, x, points, t, members)
            return (v + a * x) / scale, v

        k1, v_end = velocity(x0, t_end - inside)
        k2 = velocity(x0 - 0.5 * dt * k1, t_end - 0.5 * dt)[0]
        if self.order == 3:
            k3 = velocity(x0 + dt * (k1 - 2.0 * k2), t_end - dt + inside)[0]
            y = x0 - dt / 6.0 * (k1 + 4.0 * k2 + k3)
        else:
            k3 = velocity(x0 - 0.5 * dt * k2, t_end - 0.5 * dt)[0]
            k4 = velocity(x0 - dt * k3, t_end - dt + inside)[0]
            y = x0 - dt / 6.0 * (k1 + 2.0 * (k2 + k3) + k4)
        return (y if rate is None else math.exp(rate(1.0)[1]) * y), v_end

    def _linear_rate(self, t_end: float, dt: float):
        """None without a linear part; else the function θ ↦ (a, ∫_{t_end − θ dt}^{t_end} a) for θ ∈
        [0, 1], exact for an :class:`~fpguide.engine.coefficients.Integrable`, else from the
        quadratic through a at the step's ends and middle (Simpson's rule at θ = 1; O(dt⁵), beyond
        the trace's order)."""
        if self.linear is None:
            return None
        quad = self.linear.piece(t_end - dt, t_end)
        total = quad.integral(1.0)

        def rate(theta: float) -> tuple[float, float]:
            return quad.value(1.0 - theta), total - quad.integral(1.0 - theta)

        return rate

    def diffuse(self, q: np.ndarray, amount: float) -> np.ndarray:
        """The exact heat step exp(amount·Δ) of the true positions, one 1-D kernel per axis
        (amount·c_a² in the axis's frame c_a).

        The mass carried past the walls is added to :attr:`outflow`.

        Parameters
        ----------
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).
        amount : float
            ∫D over the step (≤ 0: q is returned as it is).

        Returns
        -------
        numpy.ndarray
            The diffused densities.
        """
        if amount <= 0:
            return q
        for axis, g in enumerate(self.grid.axes):
            lines, shape = self._lines(q, axis)
            out = np.empty_like(lines)
            lower, upper = np.empty(lines.shape[0]), np.empty(lines.shape[0])
            kernel = heat_kernel(amount * self.frame[axis] ** 2 / g.dx**2)
            if lines.shape[0] == 1:  # one line: directly, as in _remap
                lower[0], upper[0] = heat_step(lines[0], kernel, out[0])
            else:
                _heat_lines(lines, kernel, out, lower, upper)
            members = np.arange(lines.shape[0]) // (lines.shape[0] // shape[0])
            self._count_outflow(axis, members, lower, upper, self.grid.cell_volume)
            q = self._restore(out, shape, axis)
        return q


def _velocities(values) -> np.ndarray:
    """What a drift returned, as floats; a TypeError saying what it returned when they are not
    numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"drift(x, t) must return real numbers, got {type(values).__name__} {str(values)[:80]}"
        ) from err


def line_drift(
    drift: Callable[..., ArrayLike] | Any, ndim: int, batch: bool
) -> Callable[..., np.ndarray]:
    """The line form along(axis, x (L, M), points (L, d), t, members (L,)) the sweeper calls.

    Parameters
    ----------
    drift : callable or object with a method ``along``
        The drift given as (1-D) v(x, t) on flat arrays, (d-D) v(points (N, d), t) → (N, d), or
        an object with a method ``along(axis, x, points, t)``. With ``batch`` each takes the
        members as a last argument: one per point (flat or (N,)) for the point forms, one per
        line for ``along``.
    ndim : int
        The grid's dimension d.
    batch : bool
        Whether the drift takes the members as a last argument.

    Returns
    -------
    callable
        ``along(axis, x, points, t, members)``: v_axis at the positions x (L, M) on the lines
        through ``points`` (L, d), shaped like x. For the point forms it raises ValueError when
        the drift's values are not shaped like its points, and TypeError when they are not real
        numbers.
    """
    if hasattr(drift, "along"):
        if batch:
            return drift.along
        return lambda axis, x, points, t, members: drift.along(axis, x, points, t)

    def along(axis, x, points, t, members):
        args = (np.repeat(members, x.shape[1]),) if batch else ()
        if ndim == 1:
            v = _velocities(drift(x.ravel(), t, *args))
            if v.shape != (x.size,):
                raise ValueError(
                    f"drift(x, t) must return an array shaped like x {(x.size,)}, got "
                    f"shape {v.shape}"
                )
            return v.reshape(x.shape)
        full = np.repeat(points[:, None, :], x.shape[1], axis=1)
        full[:, :, axis] = x
        v = _velocities(drift(full.reshape(-1, ndim), t, *args))
        if v.shape != (x.size, ndim):
            raise ValueError(
                f"drift(x, t) must return an array shaped like x {(x.size, ndim)}, "
                f"got shape {v.shape}"
            )
        return v[:, axis].reshape(x.shape)

    return along
