"""evolve(): a density on a 1-D grid under ∂_t q = −∂_x(v(x, t) q) + D(t) ∂_xx q.

Advection is the flux-form semi-Lagrangian remap (:mod:`.remap`) with face departure points traced by classical RK4
through the drift; diffusion is an exact-in-time positive kernel (:mod:`.heat`). With D > 0 the two are Strang-split
as A(dt/2) H(dt) A(dt/2), the second half advection of one step and the first half of the next merged into one remap
(the flow map composes), so a step costs one trace, one remap and one convolution. Steps are limited so that
L·dt ≤ ``lipschitz``, L = max |∂_x v| on the faces traced around the mass (this keeps the departure map monotone and
the splitting error small), and land on every time in ``t_eval`` and ``time_grid``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import as_finite_array, check_positive_real
from ..errors import WallMassError
from ..grid import Grid
from .heat import heat_kernel, heat_step
from .remap import reconstruct, remap, scheme_code
from .steps import assemble_departures, flow_rates, flush_below, significant_range

FLUSH = 1e-300  # densities below this are set to zero: subnormal arithmetic made contracting flows 7-11x slower
SIGNIFICANT = 1e-13  # relative density below which cells do not steer the step size (their mass is < 1e-10)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(3)


@dataclass
class EvolveResult:
    """What :func:`evolve` returns; ``q[k]`` is the density (cell averages) at ``t[k]``."""

    t: np.ndarray
    q: np.ndarray
    outflow_lower: np.ndarray  # cumulative mass through the lower wall at each saved time
    outflow_upper: np.ndarray
    grid: Grid
    scheme: str
    n_steps: int = 0
    n_rejected: int = 0
    n_drift_evals: int = 0
    max_lipschitz_dt: float = 0.0  # largest L·dt taken
    flushed_mass: float = 0.0  # total mass of the sub-1e-300 densities set to zero

    @property
    def mass(self) -> np.ndarray:
        return self.q.sum(axis=1) * self.grid.dx


class _Diffusion:
    """D(t) as a constant or a callable, with ∫D dt over a step (3-point Gauss–Legendre for callables)."""

    def __init__(self, diffusion):
        self.func = diffusion if callable(diffusion) else None
        if self.func is None:
            self.const = float(diffusion)
            if not (math.isfinite(self.const) and self.const >= 0):
                raise ValueError(f"diffusion must be a finite number >= 0 or a callable, got {diffusion!r}")

    @property
    def active(self) -> bool:
        return self.func is not None or self.const > 0

    def integral(self, a: float, b: float) -> float:
        if self.func is None:
            return self.const * (b - a)
        mid, half = 0.5 * (a + b), 0.5 * (b - a)
        values = np.array([float(self.func(mid + half * node)) for node in _GL_NODES])
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"diffusion(t) must be finite and >= 0, got {values.tolist()} on [{a}, {b}]")
        return half * float(values @ _GL_WEIGHTS)


def evolve(q0, drift: Callable[[np.ndarray, float], np.ndarray], *, grid: Grid, t_span: tuple[float, float],
           diffusion: float | Callable[[float], float] = 0.0, t_eval=None, time_grid=None, scheme: str = "ppm",
           lipschitz: float = 0.25, max_step: float = math.inf, wall_tol: float = 1e-9) -> EvolveResult:
    """Evolve the density ``q0`` (cell averages on ``grid``) from t_span[0] to t_span[1].

    ``drift(x, t)`` is the velocity v at points x (vectorised); ``diffusion`` is D ≥ 0, a number or a callable of t
    (0: the continuity equation). Densities are saved at ``t_eval`` (default: the two ends); ``time_grid`` adds step
    boundaries (e.g. refined where the drift is steep). Raises :class:`~fpguide.errors.WallMassError` when more than
    ``wall_tol`` of the mass has left through the walls, and ``FloatingPointError`` when the drift is not finite.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a fpguide.Grid, got {type(grid).__name__}")
    q = as_finite_array("q0", q0, ndim=1).copy()
    if q.size != grid.n:
        raise ValueError(f"q0 must have one value per grid cell ({grid.n}), got {q.size}")
    if np.any(q < 0):
        raise ValueError(f"q0 must be non-negative, got minimum {q.min()}")
    t0, t1 = (float(v) for v in as_finite_array("t_span", t_span, ndim=1))
    if not t1 > t0:
        raise ValueError(f"t_span must be increasing, got {t_span}")
    code = scheme_code(scheme)
    check_positive_real("lipschitz", lipschitz)
    check_positive_real("wall_tol", wall_tol)
    diff = _Diffusion(diffusion)
    saves = _time_points("t_eval", t_eval, t0, t1, default=(t0, t1))
    breaks = np.union1d(saves, _time_points("time_grid", time_grid, t0, t1, default=(t1,)))
    breaks = breaks[breaks > t0]

    faces, dx, n = grid.faces, grid.dx, grid.n
    d_left, d_right, q_new = np.empty(n), np.empty(n), np.empty(n)
    out = EvolveResult(saves, np.empty((saves.size, n)), np.zeros(saves.size), np.zeros(saves.size), grid, scheme)
    outflow = [0.0, 0.0]  # cumulative mass through the (lower, upper) wall

    def velocity(x, t):
        out.n_drift_evals += 1
        v = np.asarray(drift(x, t), dtype=float)
        if v.shape != x.shape:
            raise ValueError(f"drift(x, t) must return an array shaped like x {x.shape}, got shape {v.shape}")
        return v  # non-finite values propagate into the departure points, checked once per step

    def diffuse(amount):
        nonlocal q, q_new
        if amount > 0:
            lo, hi = heat_step(q, heat_kernel(amount / dx**2), q_new)
            outflow[0] += lo * dx
            outflow[1] += hi * dx
            q, q_new = q_new, q

    def save(k, t):
        out.q[k] = q
        out.outflow_lower[k], out.outflow_upper[k] = outflow
        escaped = outflow[0] + outflow[1]
        if escaped > wall_tol:
            side = "lower" if outflow[0] >= outflow[1] else "upper"
            raise WallMassError(
                f"mass {escaped:.3g} left the grid [{grid.lower}, {grid.upper}] through the walls by t={t:.6g} "
                f"(mostly the {side} wall; tolerance wall_tol={wall_tol:g}): widen the grid on the {side} side")

    k_save = 0
    if saves[0] == t0:
        save(0, t0)
        k_save = 1

    def advect(ta, tb):
        """Remap q from ta to tb; split the interval when trajectories cross where there is mass."""
        nonlocal q, q_new
        xi, v_end = _departures(velocity, q, faces, tb, tb - ta, speed, grid)
        if xi is None:
            if tb - ta <= 1e-12 * max(1.0, abs(tb)):
                raise FloatingPointError(f"trajectories of the drift cross at t={tb:.6g} however short the step: "
                                         "the drift is not Lipschitz where the mass is")
            out.n_rejected += 1
            advect(ta, 0.5 * (ta + tb))
            return advect(0.5 * (ta + tb), tb)
        reconstruct(q, code, d_left, d_right)
        lo, hi = remap(q, d_left, d_right, dx, xi, q_new)
        outflow[0] += lo
        outflow[1] += hi
        q, q_new = q_new, q
        return v_end

    def rates(v_faces, t):
        lip, speed = flow_rates(v_faces, dx)
        if not math.isfinite(lip + speed):
            raise FloatingPointError(f"drift(x, t) returned non-finite values at t={t:.6g}")
        return lip, speed

    # Strang splitting A(dt/2) H(dt) A(dt/2); the second half advection of a step and the first half of the next are
    # one remap (the flow composes), so each step costs one trace, one remap and one heat step.
    t, advected = t0, t0
    lip, speed = rates(velocity(faces, t), t)
    for t_next in breaks:
        while t < t_next:
            remaining = t_next - t
            dt = min(remaining, max_step, lipschitz / lip if lip > 0 else math.inf)
            dt = remaining / math.ceil(remaining / dt * (1 - 1e-12))
            t_end = t + dt if t + dt < t_next else t_next
            if diff.active:
                v_end = advect(advected, t + 0.5 * dt)
                advected = t + 0.5 * dt
                diffuse(diff.integral(t, t_end))
            else:
                v_end = advect(t, t_end)
                advected = t_end
            out.max_lipschitz_dt = max(out.max_lipschitz_dt, lip * dt)
            out.n_steps += 1
            t = t_end
            lip, speed = rates(v_end, t)
            out.flushed_mass += flush_below(q, FLUSH) * dx
        if k_save < saves.size and t == saves[k_save]:
            if advected < t:
                advect(advected, t)
                advected = t
            save(k_save, t)
            k_save += 1
    return out


def _departures(velocity, q, faces, t_end, dt, speed, grid):
    """Departure points (index units, non-decreasing) of all faces over [t_end − dt, t_end], and v at the traced faces;
    (None, None) when trajectories cross where there is mass (the step is too long for the flow's contraction).

    Only faces whose departure points can reach the cells with significant mass (q > SIGNIFICANT·max q) are traced
    (RK4): a window around that mass, widened by the distance the flow can travel in dt until its outermost departure
    points bracket it. Faces outside move rigidly with the window's end faces: the cells beyond, whose mass is
    negligible, are carried along approximately, with mass still conserved exactly and positive.
    """
    n = q.size
    first, last = significant_range(q, SIGNIFICANT)
    if first < 0:
        return np.arange(n + 1, dtype=float), velocity(faces, t_end)
    reach = int(math.ceil(1.5 * speed * dt / grid.dx)) + 2
    while True:
        lo, hi = max(first - reach, 0), min(last + reach, n)
        x, v_end = _rk4_back(velocity, faces[lo:hi + 1], t_end, dt)
        xi = (x - grid.lower) / grid.dx
        if not np.isfinite(xi.sum()):  # a non-finite drift at any RK stage reaches the departure points
            where = faces[lo:hi + 1][~np.isfinite(xi)]
            raise FloatingPointError(f"drift(x, t) returned non-finite values between t={t_end - dt:.6g} and "
                                     f"t={t_end:.6g}, tracing the faces x in [{where.min():.6g}, {where.max():.6g}]")
        if (lo == 0 or xi[0] <= first) and (hi == n or xi[-1] >= last):
            break
        reach *= 2
    full = np.empty(n + 1)
    if not assemble_departures(xi, lo, n, first, last, full):
        return None, None
    return full, v_end


def _rk4_back(velocity, x0, t_end, dt):
    """Classical RK4 for dX/dt = v(X, t) backwards from (x0, t_end) over dt; returns (X(t_end − dt), v(x0, t_end))."""
    k1 = velocity(x0, t_end)
    k2 = velocity(x0 - 0.5 * dt * k1, t_end - 0.5 * dt)
    k3 = velocity(x0 - 0.5 * dt * k2, t_end - 0.5 * dt)
    k4 = velocity(x0 - dt * k3, t_end - dt)
    return x0 - dt / 6.0 * (k1 + 2.0 * (k2 + k3) + k4), k1


def _time_points(name, values, t0, t1, default):
    if values is None:
        return np.asarray(default, dtype=float)
    values = np.unique(as_finite_array(name, values, ndim=1))
    if values.size and (values[0] < t0 or values[-1] > t1):
        raise ValueError(f"{name} must lie within t_span [{t0}, {t1}], got [{values[0]}, {values[-1]}]")
    return values
