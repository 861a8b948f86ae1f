"""evolve(): a density on a 1-D, 2-D or 3-D grid under ∂_t q = −∇·(v(x, t) q) + D(t) Δq.

Advection is the flux-form semi-Lagrangian remap (:mod:`.remap`) along grid lines, with face
departure points traced through the drift, one axis at a time (:mod:`.line_sweeps`), by classical
RK4 (continuity equation) or, with diffusion, where the splitting error is O(dt²) anyway, by Kutta's
third-order method; diffusion is an exact-in-time positive kernel (:mod:`.heat`), which factorises
over the axes. The sweeps are Strang-split, A_0(h/2) A_1(h/2) … H(h) … A_1(h/2) A_0(h/2) (without
diffusion, the last axis takes one full sweep in the middle), with the closing half sweep of axis 0
of one step and the opening one of the next merged (the flow map composes): in 1-D a step costs one
trace, one remap and one convolution; in 2-D two sweeps (continuity) or three sweeps and a
convolution (Fokker–Planck). Steps are limited so that L·dt ≤ ``lipschitz``, L = ``max_a |∂_a v_a|``
on the faces traced around the mass (this keeps the departure maps monotone and the splitting error
small), and land on every time in ``t_eval``, ``time_grid`` and ``drift_jumps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grids.grid import Grid, TensorGrid
from ..tools.progress import progress_bar
from ..tools.validation import as_finite_array, check_flag, check_positive_real
from .coefficients import Coefficient
from .line_sweeps import LineSweeper, line_drift
from .remap import scheme_code
from .result import EvolveResult, Recorder
from .strang import StrangStep

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .remap import Scheme

__all__ = ["evolve", "time_points"]

# relative density below which cells do not steer the step size (their mass is < 1e-10)
SIGNIFICANT = 1e-13


def evolve(
    q0: ArrayLike,
    drift: Callable[..., ArrayLike] | Any,
    *,
    grid: Grid | TensorGrid,
    t_span: tuple[float, float],
    diffusion: float | Callable[[float], float] = 0.0,
    t_eval: ArrayLike | None = None,
    time_grid: ArrayLike | None = None,
    drift_jumps: ArrayLike | None = None,
    scheme: Scheme = "ppm",
    lipschitz: float = 0.25,
    max_step: float = math.inf,
    wall_tol: float = 1e-9,
    trace_order: int | None = None,
    ou_drift: bool = False,
    batch: bool = False,
    progress: bool | None = None,
) -> EvolveResult:
    """Evolve the density ``q0`` (cell averages on ``grid``) from t_span[0] to t_span[1].

    Solves ∂_t q = −∇·(v(x, t) q) + D(t) Δq by Strang-split, dimension-split sweeps (see the module
    docstring). With ``batch``, ``q0`` holds B independent densities along a leading axis, evolved
    together with common steps (controlled by the largest rate of any member), and a sweep shares
    its drift evaluations among them.

    Steps are limited so that L·dt ≤ ``lipschitz``, L = ``max_a |∂_a v_a|`` on the faces traced
    around the mass, and dt ≤ ``max_step``; they land on every time in ``t_eval``, ``time_grid``
    and ``drift_jumps``.

    With ``ou_drift`` the steps treat the Ornstein–Uhlenbeck part −D(t)·x of the drift exactly,
    however long they are: the trace runs on X·exp(∫D) (see :class:`~.line_sweeps.LineSweeper`)
    and each heat step spreads by (e^{2A₂} − e^{−2A₁})/2 instead of ∫D (A₁, A₂ = ∫D over the
    step's halves), which makes A(h/2) H A(h/2) exact for v = −D x; any other step changes at
    O(h³). Between the half sweeps the densities are held contracted by e^{−A₂} (the sweeper's
    frames), where that spread is (1 − e^{−2A})/2: never wider than at the step's end, so that
    walls placed for the law hold it during long steps.

    Parameters
    ----------
    q0 : array_like
        The initial density as non-negative cell averages, shape ``grid.shape`` (``(n,)`` in 1-D),
        or ``(B, *grid.shape)`` with ``batch`` (B ≥ 1 members).
    drift : callable or object with a method ``along``
        The velocity v. On a 1-D :class:`Grid`, ``drift(x, t)`` is v at the points x (a flat
        array). On a :class:`TensorGrid` (d = 2, 3), ``drift(x, t)`` maps points of shape (N, d)
        to velocities (N, d). Or an object with a method ``along(axis, x, points, t)`` giving
        v_axis at positions x (L, M) on the grid lines through ``points`` (L, d) (what
        :func:`fpguide.solve` uses: a line costs one closed-form restriction per component; such
        an object is accepted in 1-D too). With ``batch`` the drift takes the members as a last
        argument: ``drift(x, t, members)`` with one member index per point, ``along(axis, x,
        points, t, members)`` with one per line.
    grid : Grid or TensorGrid
        The grid the densities live on.
    t_span : tuple of float
        (t0, t1), increasing: the interval to evolve over.
    diffusion : float, callable or Integrable, optional
        D ≥ 0, a finite number, a callable of t, or a callable with its antiderivative
        (:class:`~fpguide.engine.Integrable`: its integrals over steps are then exact) (default 0:
        the continuity equation).
    t_eval : array_like or None, optional
        The times (within ``t_span``) at which the densities are saved (default None: the two
        ends).
    time_grid : array_like or None, optional
        Additional step boundaries within ``t_span`` (e.g. refined where the drift is steep).
    drift_jumps : array_like or None, optional
        Times where the drift may jump (a guidance interval): steps land on them and no sweep
        straddles them (the Strang half sweeps are not merged across them).
    scheme : {"ppm", "plm", "pcm"}, optional
        The positive reconstruction of the remap (see :mod:`.remap`; default "ppm").
    lipschitz : float, optional
        The largest L·dt of a step (> 0, default 0.25): this keeps the departure maps monotone
        and the splitting error small.
    max_step : float, optional
        The largest step (> 0, default inf: no limit).
    wall_tol : float, optional
        The mass (> 0, default 1e-9) that may leave through the walls before the run stops.
    trace_order : {3, 4} or None, optional
        The Runge–Kutta order of the departure trace: classical RK4 or Kutta's third-order
        method. None (default): 4 for the continuity equation, 3 with diffusion, where the O(dt²)
        Strang splitting error dominates the trace's (measured by
        benchmarks/sde_step_control.py: the SDE errors of the standard cases are the same to 1 %
        with RK3 and RK4) and a quarter of the drift calls is saved.
    ou_drift : bool, optional
        Whether the drift holds the Ornstein–Uhlenbeck part −D(t)·x, which with the diffusion
        keeps N(0, I) (a guided sampler's drift near its prior); see above. Default False.
    batch : bool, optional
        Whether ``q0`` holds B densities along a leading axis (default False).
    progress : bool or None, optional
        Whether to show a bar over the simulated time (None, the default: on a terminal once the
        run has lasted 2 s).

    Returns
    -------
    EvolveResult
        The densities at the saved times, the outflows through the walls and the run monitors
        (per member with ``batch``).

    Raises
    ------
    TypeError
        When ``drift`` is neither callable nor has a method ``along``, ``grid`` is not a
        :class:`Grid` or :class:`TensorGrid`, ``batch`` is not a bool, ``diffusion`` is neither a
        number nor callable, or the drift returns something that is not real numbers.
    ValueError
        When ``q0`` has the wrong shape, is negative or (with ``batch``) has no member,
        ``t_span`` is not two increasing finite numbers, the times of ``t_eval``, ``time_grid``
        or ``drift_jumps`` lie outside ``t_span``, ``scheme`` is unknown, ``lipschitz``,
        ``max_step`` or ``wall_tol`` is not positive, ``diffusion`` is negative or not finite,
        ``trace_order`` is not 3 or 4, or the drift's values are not shaped like its points.
    ~fpguide.WallMassError
        When more than ``wall_tol`` of the mass has left through the walls.
    FloatingPointError
        When the drift is not finite, or its trajectories cross however short the step.
    ~fpguide.NumericalError
        When the density becomes non-finite or negative (saying when and where).

    Examples
    --------
    Pure diffusion (D = 1) of a narrow Gaussian (variance 0.01) over half a unit of time adds the
    variance 2·D·t = 1:

    >>> import numpy as np
    >>> import fpguide as fg
    >>> grid = fg.Grid(-8.0, 8.0, 160)
    >>> q0 = np.exp(-0.5 * grid.centres**2 / 0.01) / np.sqrt(2 * np.pi * 0.01)
    >>> res = fg.evolve(q0, lambda x, t: 0.0 * x, grid=grid, t_span=(0.0, 0.5), diffusion=1.0)
    >>> res.q.shape, round(float(res.mass[-1]), 6)
    ((2, 160), 1.0)
    >>> round(float(np.sum(res.q[-1] * grid.centres**2) * grid.dx), 4)
    1.01
    """
    run = _checked(
        q0,
        drift,
        grid,
        t_span,
        diffusion,
        t_eval,
        time_grid,
        drift_jumps,
        scheme,
        lipschitz,
        max_step,
        wall_tol,
        ou_drift,
        batch,
    )
    # with diffusion the O(dt²) Strang splitting error dominates the trace's: third order is enough
    # (measured by benchmarks/sde_step_control.py: the SDE errors of the standard cases are the same
    # to 1 % with RK3 and RK4) and saves a quarter of the drift calls
    order = (3 if run.diff.active else 4) if trace_order is None else trace_order
    q, tensor, diff = run.q, run.tensor, run.diff
    sweeper = LineSweeper(
        tensor,
        line_drift(drift, tensor.ndim, batch),
        run.code,
        SIGNIFICANT,
        order=order,
        batch=q.shape[0],
        linear=diff if run.ou_drift else None,
    )
    step = StrangStep(sweeper, diff, run.ou_drift, tensor.ndim)
    recorder = Recorder(grid, tensor, scheme, run.saves, q, sweeper, wall_tol, batch)
    bar = progress_bar(
        progress,
        total=run.t1 - run.t0,
        unit="t",
        desc="evolve",
        bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} [{elapsed}<{remaining}]",
    )
    member_rate = _step_through(run, sweeper, step, recorder, lipschitz, max_step, bar)
    bar.close()
    return recorder.result(member_rate)


def _step_through(
    run: _Inputs,
    sweeper: LineSweeper,
    step: StrangStep,
    recorder: Recorder,
    lipschitz: float,
    max_step: float,
    bar,
) -> np.ndarray:
    """The stepping loop of :func:`evolve`: the steps from run.t0 to every break, the pending half
    sweeps closed and the densities saved where asked; returns each member's largest rate."""
    q, diff = run.q, run.diff
    saves, t0 = run.saves, run.t0
    k_save = 0
    if saves[0] == t0:
        recorder.save(0, t0, q)
        k_save = 1
    t, advected = t0, t0
    lip = max(sweeper.rates(q, axis, t0) for axis in range(run.tensor.ndim))
    member_rate = sweeper.member_lip.max(axis=1)
    for t_next in run.breaks:
        while t < t_next:
            remaining = t_next - t
            dt = min(remaining, max_step, lipschitz / lip if lip > 0 else math.inf)
            dt = remaining / math.ceil(remaining / dt * (1 - 1e-12))
            t_end = t + dt if t + dt < t_next else t_next
            q, advected = step.advance(q, t, dt, t_end, advected)
            recorder.step(
                lip * dt, dt, diff.integral(t, t_end) / (t_end - t) if diff.active else 0.0
            )
            lip = float(sweeper.lip.max())
            member_rate = np.maximum(member_rate, sweeper.member_lip.max(axis=1))
            bar.update(t_end - t)
            t = t_end
            recorder.scan(q, t)
        # close the pending half sweep of axis 0 (at saves and drift jumps)
        if advected < t and t in run.closes:
            q = step.close(q, advected, t)
            advected = t
            recorder.scan(q, t)
        if k_save < saves.size and t == saves[k_save]:
            recorder.save(k_save, t, q)
            k_save += 1
    return member_rate


@dataclass(frozen=True)
class _Inputs:
    """The checked inputs of :func:`evolve`: the densities (B, *shape) on the grid as a TensorGrid,
    the time span, the reconstruction's code, the diffusion, and the saved times, the times a step
    must close its half sweeps at (saves and drift jumps) and every step boundary after t0."""

    q: np.ndarray
    tensor: TensorGrid
    t0: float
    t1: float
    code: int
    diff: Coefficient
    ou_drift: bool
    saves: np.ndarray
    closes: np.ndarray
    breaks: np.ndarray


def _checked(
    q0,
    drift,
    grid,
    t_span,
    diffusion,
    t_eval,
    time_grid,
    drift_jumps,
    scheme,
    lipschitz,
    max_step,
    wall_tol,
    ou_drift,
    batch,
) -> _Inputs:
    """:func:`evolve`'s arguments checked (a clear error for each), as :class:`_Inputs`."""
    if not (callable(drift) or hasattr(drift, "along")):
        raise TypeError(
            f"drift must be callable or have a method along(axis, x, points, t), got "
            f"{type(drift).__name__}"
        )
    if isinstance(grid, Grid):
        tensor, shape = TensorGrid((grid,)), (grid.n,)
    elif isinstance(grid, TensorGrid):
        tensor, shape = grid, grid.shape
    else:
        raise TypeError(
            f"grid must be a fpguide.Grid or fpguide.TensorGrid, got {type(grid).__name__}"
        )
    if batch not in (True, False):
        raise TypeError(f"batch must be True or False, got {batch!r}")
    q = as_finite_array("q0", q0).copy()
    if q.shape[batch:] != shape or q.ndim != len(shape) + batch:
        wanted = "(B, " + ", ".join(map(str, shape)) + ")" if batch else str(shape)
        raise ValueError(
            f"q0 must have one value per grid cell{' per member' if batch else ''}, "
            f"shape {wanted}, "
            f"got shape {q.shape}"
        )
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
    return _Inputs(q, tensor, t0, t1, code, diff, ou_drift, saves, closes, breaks[breaks > t0])


def time_points(
    name: str, values: ArrayLike | None, t0: float, t1: float, default: ArrayLike
) -> np.ndarray:
    """The times ``values`` (sorted, unique) checked to lie within [t0, t1]; ``default`` when None.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    values : array_like or None
        The times, a flat array of finite numbers.
    t0, t1 : float
        The interval the times must lie within.
    default : array_like
        The times returned when ``values`` is None.

    Returns
    -------
    numpy.ndarray
        The sorted unique times (``default`` as a float array when ``values`` is None).

    Raises
    ------
    ValueError
        When ``values`` is not a flat array of finite numbers, or a time lies outside [t0, t1].
    """
    if values is None:
        return np.asarray(default, dtype=float)
    values = np.unique(as_finite_array(name, values, ndim=1))
    if values.size and (values[0] < t0 or values[-1] > t1):
        raise ValueError(
            f"{name} must lie within t_span [{t0}, {t1}], got [{values[0]}, {values[-1]}]"
        )
    return values
