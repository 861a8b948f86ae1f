"""The PDE packages fpguide is compared with on the linear cases of :mod:`.linear`, as
:class:`~.record.Config`\\ s.

Each adapter takes a :class:`~.linear.Discrete` problem, ∂_t q = ∇·(k x q) + D Δq on its cells,
builds the peer's solver on exactly these cells (checked against fpguide's cell centres) and returns
timed configurations whose ``run()`` steps the peer from the exact start to t_end and scores the
result on the same cells. Set-up (meshes, matrices, py-pde's numba compilation) happens before,
outside the timed region. A peer that is not installed raises ImportError, one that cannot solve a
problem raises :class:`Unavailable`; :func:`peer_configs` reports both. A run that fails or blows up
is recorded with error nan and a note, not dropped.

* py-pde (package ``pde``, compiled with numba), two right-hand sides:

  - ``expr``: the user-facing ``pde.PDE`` expression ``k·(d_dx(x*c) + d_dy(y*c)) + D·laplace(c)``
    (central differences) with Dirichlet 0 walls;
  - ``fv``: a hand-written conservative finite-volume right-hand side (central advective face flux k
    x_f c̄_f, two-point diffusive flux, zero flux through the walls), applied axis by axis;

  each with forward Euler at a fixed stable step and scipy's BDF (``ScipySolver``, ``method="BDF"``)
  with the stencil's Jacobian sparsity, at scipy's default tolerances (rtol 1e-3, atol 1e-6) and, in
  1-D, at rtol 1e-5, atol 1e-9 (tighter ones gain nothing: the spatial error dominates; in 2-D,
  where a BDF run takes 2–18 s, rtol 1e-5 changed the error by less than a factor 2); the expression
  also with py-pde's adaptive Euler (step doubling; its ``tolerance`` 1e-4 bounds the local error in
  the max norm). Work: time steps (Euler; accepted ones when adaptive) or right-hand side
  evaluations (BDF). Forward Euler with central differences is stable (frozen coefficients, von
  Neumann) for dt ≤ dx²/(2dD) and dt ≤ 2D/(d v²), v = k max|x|, and never without diffusion: it runs
  at 0.9 of the bound, and at 0.9 dx/(d v) (the advective CFL step) when D = 0, where it is expected
  to blow up.
* FiPy (``FIPY_SOLVERS=scipy``): ``TransientTerm() == DiffusionTerm(D) −
  ExponentialConvectionTerm(u)`` with the face velocity u = −k x (FiPy's convection term is +∇·(u φ)
  on the left-hand side), cell-centred on the same cells, no-flux walls, implicit Euler at 10, 30,
  100 fixed steps (10, 30 in 2-D), each a sparse LU solve (FiPy rebuilds the matrix every step: ~20
  µs per cell). The exponential (Scharfetter–Gummel) scheme is upwind where the cell Péclet number
  is large, and for D = 0.
* fplanck: the square-root approximation (SQRA) master equation on the grid points, with rates D/dx²
  · exp(±F̄ dx/(2 k_B T)) to the neighbours, drag 1 and temperature D/k_B (so that D and the drift F
  = −k x come out right), reflecting walls, propagated exactly in time by
  ``scipy.sparse.linalg.expm_multiply`` (which does not report its matrix–vector products: work 0).
  Its points (i − (n − 1)/2)·dx are the cell centres; it conserves the sum of the point values, so
  cell averages in give cell averages out. It needs D > 0, and expm_multiply's cost grows with ‖A
  t‖₁, which the exponential rates make astronomical for a steep drift.

With ``smoke``, py-pde runs the ``fv`` right-hand side only (Euler, and BDF at scipy's tolerances:
compiling the expression takes about a minute) and FiPy one step size.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numba
import numpy as np
from scipy import sparse

from .record import Config

if TYPE_CHECKING:
    import pde

    from .linear import Discrete, Problem

Solve = Callable[[], tuple[np.ndarray, int]]  # one solve: (density on the problem's cells, work)

EULER_SAFETY = 0.9  # forward Euler at 0.9 of its stability bound
ADAPTIVE_TOLERANCE = 1e-4  # py-pde's default local error tolerance
# by dimension; None: scipy's
BDF_RTOLS: dict[int, tuple[float | None, ...]] = {1: (None, 1e-5), 2: (None,)}
# defaults (rtol 1e-3, atol 1e-6)
BLOW_UP = 2.0  # an L1 error above this means a blown-up solution
FIPY_STEPS = {1: (10, 30, 100), 2: (10, 30)}  # implicit Euler steps over [0, t_end] by dimension
# ‖A t‖₁ above which expm_multiply would take too long (its cost is about 5 ‖A t‖₁ products)
FPLANCK_NORM_LIMIT = 1e6


class Unavailable(Exception):
    """A peer that is installed but cannot solve the problem; the message says why."""


def peer_configs(d: Discrete, smoke: bool) -> tuple[list[Config], dict[str, str]]:
    """Every peer's configurations on ``d`` (a few cheap ones with ``smoke``), and why the others
    did not run."""
    configs: list[Config] = []
    unavailable: dict[str, str] = {}
    for package, adapter in PEERS.items():
        try:
            configs += adapter(d, smoke)
        except ImportError as err:
            unavailable[package] = f"not installed ({err})"
        except Unavailable as err:
            unavailable[package] = str(err)
    return configs, unavailable


def scored(d: Discrete, package: str, solver: str, setting: str, solve: Solve) -> Config:
    """A configuration scoring ``solve()`` on ``d``. A solve that fails, or blows up (non-finite
    densities, or an L1 error above 2, which no solution of mass 1 has: both densities have mass 1),
    is recorded as error nan, noted."""
    config = Config(package, solver, setting, run=lambda: ({}, 0), size=d.size)
    failed = d.errors(np.full(d.exact.shape, np.nan))

    def run() -> tuple[dict[str, float], int]:
        try:
            q, work = solve()
        except (RuntimeError, ArithmeticError) as err:
            config.note = f"failed: {type(err).__name__}: {err}"
            return failed, 0
        errors = d.errors(q)
        if not all(math.isfinite(e) and e <= BLOW_UP for e in errors.values()):
            measured = ", ".join(f"{name} {e:.3g}" for name, e in errors.items())
            config.note = f"blew up: {measured} (recorded as nan)"
            return failed, work
        return errors, work

    config.run = run
    return config


def check_cells(d: Discrete, points: np.ndarray, peer: str) -> None:
    """Raise when the peer's cell centres ``points`` (*shape, d) are not ``d``'s."""
    if points.shape != d.points.shape or not np.allclose(
        points, d.points, rtol=0.0, atol=1e-9 * d.dx
    ):
        raise RuntimeError(f"{peer}'s cells differ from fpguide's on {d.size}")


# --- py-pde
# --------------------------------------------------------------------------------------------------


def pypde(d: Discrete, smoke: bool) -> list[Config]:
    import pde

    p = d.problem
    grid = pde.CartesianGrid([[p.lower, p.upper]] * p.ndim, list(d.exact.shape))
    check_cells(d, grid.cell_coords, "py-pde")
    equations = {"fv": finite_volume_pde(grid, p.k, p.diffusion)}
    if not smoke:  # the expression's numba compilation alone takes a minute
        equations = {"expr": pde.PDE({"c": expression(p)}, bc={"value": 0}), **equations}
    dt = p.t_end / math.ceil(p.t_end / euler_step(p, d.dx))
    configs = []
    for name, eq in equations.items():
        euler = pde.solvers.EulerSolver(eq, backend="numba")
        configs.append(
            scored(d, "py-pde", f"{name} Euler", f"dt={dt:.2g}", pypde_solve(d, grid, euler, dt))
        )
        if name == "expr":  # the user-facing way (each adaptive stepper takes 10-20 s to compile)
            adaptive = pde.solvers.EulerSolver(
                eq, backend="numba", adaptive=True, tolerance=ADAPTIVE_TOLERANCE
            )
            configs.append(
                scored(
                    d,
                    "py-pde",
                    f"{name} adaptive Euler",
                    f"tol={ADAPTIVE_TOLERANCE:g}",
                    pypde_solve(d, grid, adaptive),
                )
            )
        configs += bdf_configs(d, grid, eq, name, BDF_RTOLS[p.ndim][: 1 if smoke else None])
    return configs


def bdf_configs(
    d: Discrete,
    grid: pde.CartesianGrid,
    eq: pde.PDEBase,
    name: str,
    rtols: tuple[float | None, ...],
) -> list[Config]:
    """scipy's BDF through py-pde, one configuration per rtol; they share one stepper (one
    compilation of the right-hand side), each setting its tolerances in the solver's
    ``solver_params`` before it runs."""
    import pde

    solver = pde.solvers.ScipySolver(
        eq, backend="numba", method="BDF", jac_sparsity=stencil_sparsity(grid.shape)
    )
    solve = pypde_solve(d, grid, solver)
    base = dict(solver.solver_params)

    def with_tolerance(rtol: float | None) -> Solve:
        def run() -> tuple[np.ndarray, int]:
            solver.solver_params = (
                base if rtol is None else {**base, "rtol": rtol, "atol": 1e-4 * rtol}
            )
            return solve()

        return run

    return [
        scored(
            d,
            "py-pde",
            f"{name} scipy-BDF",
            "default tol" if rtol is None else f"rtol={rtol:g}",
            with_tolerance(rtol),
        )
        for rtol in rtols
    ]


def expression(p: Problem) -> str:
    """py-pde's expression of ∇·(k x c) + D Δc."""
    advection = " + ".join(f"d_d{axis}({axis}*c)" for axis in "xyz"[: p.ndim])
    terms = [f"{p.k:g}*({advection})"] + (
        [f"{p.diffusion:g}*laplace(c)"] if p.diffusion > 0 else []
    )
    return " + ".join(terms)


def euler_step(p: Problem, dx: float) -> float:
    """The largest stable forward Euler step with central differences, times EULER_SAFETY (see the
    module doc)."""
    speed = p.k * max(abs(p.lower), abs(p.upper))  # the largest speed along an axis
    if p.diffusion == 0:
        return EULER_SAFETY * dx / (p.ndim * speed)
    return EULER_SAFETY * min(
        dx**2 / (2 * p.ndim * p.diffusion), 2 * p.diffusion / (p.ndim * speed**2)
    )


def stencil_sparsity(shape: tuple[int, ...]) -> sparse.csr_matrix:
    """Which cells' rates depend on which: the 3-point stencil along every axis."""
    eye = [sparse.identity(n, format="csr") for n in shape]
    out = sparse.csr_matrix((math.prod(shape),) * 2)
    for axis, n in enumerate(shape):
        tri = sparse.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")
        factors = eye[:axis] + [tri] + eye[axis + 1 :]
        term = factors[0]
        for f in factors[1:]:
            term = sparse.kron(term, f, format="csr")
        out = out + term
    return (out != 0).astype(float).tocsr()


def pypde_solve(
    d: Discrete, grid: pde.CartesianGrid, solver: pde.solvers.SolverBase, dt: float | None = None
) -> Solve:
    """A solve with py-pde's stepper of ``solver`` (fixed step ``dt``, or None), built and compiled
    here, once."""
    import pde

    t_end = d.problem.t_end
    stepper = solver.make_stepper(pde.ScalarField(grid, d.q0.copy()), dt)
    # compiles what is left to the first call (scipy)
    stepper(pde.ScalarField(grid, d.q0.copy()), 0.0, 1e-6 * t_end)

    def solve() -> tuple[np.ndarray, int]:
        state = pde.ScalarField(grid, d.q0.copy())
        before = int(solver.info.get("steps", 0))
        t_reached = stepper(state, 0.0, t_end)
        if abs(t_reached - t_end) > 1e-9 * t_end:
            raise RuntimeError(f"py-pde stopped at t={t_reached}")
        return state.data.copy(), int(solver.info.get("steps", 0)) - before

    return solve


@numba.njit(cache=True)
def fv_rate_line(
    c: np.ndarray, faces: np.ndarray, dx: float, k: float, diffusion: float, out: np.ndarray
) -> None:
    """Add −(F_{i+1/2} − F_{i−1/2})/dx to ``out`` along one grid line ``c``, F = −k x c̄ − D ∂_x c
    at the faces (c̄ the mean of the two neighbours), F = 0 at the walls."""
    inv_dx = 1.0 / dx
    flux_left = 0.0
    for i in range(c.size - 1):
        flux_right = -(
            k * faces[i + 1] * 0.5 * (c[i] + c[i + 1]) + diffusion * (c[i + 1] - c[i]) * inv_dx
        )
        out[i] += (flux_left - flux_right) * inv_dx
        flux_left = flux_right
    out[c.size - 1] += flux_left * inv_dx


def finite_volume_pde(grid: pde.CartesianGrid, k: float, diffusion: float) -> pde.PDEBase:
    """∂_t c = ∇·(k x c) + D Δc as a py-pde equation with the conservative right-hand side
    :func:`fv_rate_line`, applied to every grid line of every axis."""
    import pde

    # numba closures take arrays and numbers, not lists of them
    faces = [np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(grid.axes_bounds, grid.shape)]
    dx = [float(h) for h in grid.discretization]
    if grid.num_axes == 1:
        faces0, dx0 = faces[0], dx[0]

        def rate(c: np.ndarray, t: float = 0.0) -> np.ndarray:
            out = np.zeros_like(c)
            fv_rate_line(c, faces0, dx0, k, diffusion, out)
            return out
    else:
        (faces0, faces1), (dx0, dx1) = faces, dx

        def rate(c: np.ndarray, t: float = 0.0) -> np.ndarray:
            out = np.zeros_like(c)
            for i in range(c.shape[0]):
                fv_rate_line(c[i], faces1, dx1, k, diffusion, out[i])
            for j in range(c.shape[1]):
                fv_rate_line(c[:, j], faces0, dx0, k, diffusion, out[:, j])
            return out

    class FiniteVolumeOU(pde.PDEBase):
        def evolution_rate(self, state, t: float = 0.0):
            return pde.ScalarField(state.grid, rate(state.data, t))

        def make_evolution_rate(self, state, backend):
            return rate

    return FiniteVolumeOU()


# --- FiPy
# --------------------------------------------------------------------------------------------------


def fipy(d: Discrete, smoke: bool) -> list[Config]:
    os.environ.setdefault("FIPY_SOLVERS", "scipy")
    import fipy

    p = d.problem
    shape = d.exact.shape
    if p.ndim == 1:
        mesh = fipy.Grid1D(nx=shape[0], dx=d.dx) + ((p.lower,),)
    else:
        mesh = fipy.Grid2D(nx=shape[0], ny=shape[1], dx=d.dx, dy=d.dx) + ((p.lower,), (p.lower,))

    # FiPy numbers cells with axis 0 fastest: its vector is the Fortran-order ravel of an fpguide
    # array
    def from_fipy(values: np.ndarray) -> np.ndarray:
        return np.reshape(values, shape, order="F")

    check_cells(d, np.stack([from_fipy(x) for x in mesh.cellCenters.value], axis=-1), "FiPy")
    phi = fipy.CellVariable(mesh=mesh)
    velocity = fipy.FaceVariable(mesh=mesh, rank=1, value=-p.k * mesh.faceCenters.value)
    convection = fipy.ExponentialConvectionTerm(coeff=velocity)
    eq = fipy.TransientTerm() == (
        fipy.DiffusionTerm(coeff=p.diffusion) - convection if p.diffusion > 0 else -convection
    )

    def stepper(steps: int) -> Solve:
        def solve() -> tuple[np.ndarray, int]:
            phi.setValue(np.ravel(d.q0, order="F"))
            for _ in range(steps):
                eq.solve(var=phi, dt=p.t_end / steps)
            return from_fipy(phi.value).copy(), steps

        return solve

    return [
        scored(
            d, "FiPy", "exponential + implicit Euler", f"dt={p.t_end / steps:.2g}", stepper(steps)
        )
        for steps in FIPY_STEPS[p.ndim][: 1 if smoke else None]
    ]


# --- fplanck
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def numpy_product() -> Iterator[None]:
    """fplanck 0.2 builds its matrix with ``np.product``, which numpy 2 removed (it was
    ``np.prod``)."""
    missing = not hasattr(np, "product")
    if missing:
        np.product = np.prod
    try:
        yield
    finally:
        if missing:
            del np.product


def fplanck(d: Discrete, smoke: bool) -> list[Config]:
    import fplanck
    from scipy import constants

    p = d.problem
    if p.diffusion == 0:
        raise Unavailable("needs D > 0: its SQRA rates divide by the temperature k_B T = D·drag")
    with numpy_product():
        model = fplanck.fokker_planck(
            temperature=p.diffusion / constants.k,
            drag=1.0,
            extent=[p.upper - p.lower] * p.ndim,
            resolution=d.dx,
            force=lambda *x: np.stack([-p.k * xa for xa in x]),
            boundary=fplanck.boundary.reflecting,
        )
    check_cells(
        d,
        np.stack(np.meshgrid(*model.axes, indexing="ij"), axis=-1) + 0.5 * (p.lower + p.upper),
        "fplanck",
    )
    norm = float(abs(model.master_matrix).sum(axis=0).max()) * p.t_end
    if norm > FPLANCK_NORM_LIMIT:
        raise Unavailable(
            f"its rate matrix has ‖A t‖₁ = {norm:.2g} (rates up to "
            f"D/dx²·e^{p.k * p.upper * d.dx / (2 * p.diffusion):.3g}): expm_multiply "
            "would need about "
            f"as many matrix–vector products"
        )

    def solve() -> tuple[np.ndarray, int]:
        return model.propagate(lambda *grid: d.q0.copy(), p.t_end, normalize=False), 0

    return [scored(d, "fplanck", "SQRA expm_multiply", "exact in time", solve)]


PEERS: dict[str, Callable[[Discrete, bool], list[Config]]] = {
    "py-pde": pypde,
    "FiPy": fipy,
    "fplanck": fplanck,
}
