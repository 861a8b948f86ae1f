"""Peer benchmark: ``fpguide.evolve`` against py-pde on the smooth 1-D Fokker–Planck anchor.

Anchor problem (Ornstein–Uhlenbeck density, drift v = −x, diffusion D = 1)::

    ∂_t q = ∂_x(x q) + ∂_xx q   on [−8, 8],   q(x, 0) = N(2, 0.25),   t ∈ [0, 1].

The exact solution stays Gaussian with mean 2e^{−1} and variance 0.25 e^{−2} + 1 − e^{−2}; the density is
below 1e-18 at ±8, so the walls do not matter. Every solver starts from the same exact cell averages of
q(·, 0) on the same N cells and is scored by the L1 error Σ|q − q̄_exact| dx against the exact cell averages
at t = 1 (py-pde's ``CartesianGrid([[-8, 8]], N)`` is cell-centred on exactly these cells).

py-pde (package ``pde``) is run two ways, both compiled with numba:

* ``expr``: the user-facing ``pde.PDE({"c": "d_dx(x*c) + laplace(c)"})`` with Dirichlet 0 walls;
* ``fv``:   a custom :class:`pde.PDEBase` with a conservative finite-volume right-hand side (central
  advective flux, two-point diffusive flux, zero flux through the walls).

and with two solvers: forward Euler at the largest comfortably stable fixed step (0.45 dx²), and scipy's
``solve_ivp`` through py-pde's ``solver="scipy"`` with ``method="BDF"`` and the tridiagonal Jacobian sparsity
(at scipy's default tolerances and at rtol=1e-5). Other py-pde solvers (scipy's default RK45, LSODA, py-pde's
adaptive Runge–Kutta) were 10–300× slower here, because the problem is stiff, and are left out.

Timing is favourable to py-pde: its stepping function is built (and numba-compiled) once, outside the timed
region, so only the time stepping is timed; ``fpguide.evolve`` is timed as a whole call after a warm-up call.
All configurations are timed round-robin (one run of each per round) so that machine noise spreads evenly;
the table shows the median over the rounds.

fpguide is swept over fixed step counts (``max_step = 1/steps``). For each py-pde row the summary reports the
cheapest fpguide step count whose L1 error is at most that row's, and the time ratio. The project target is
met when, against py-pde's fastest configuration, fpguide has at most its L1 error in at most 1/5 of its time.

Run from the repository root: ``python benchmarks/peer_pypde.py`` (about a minute).
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import pde
from scipy import sparse
from scipy.stats import norm

import fpguide as fg

LOWER, UPPER = -8.0, 8.0
T_END = 1.0
MEAN0, SD0 = 2.0, 0.5
MEAN_T = MEAN0 * np.exp(-T_END)
SD_T = float(np.sqrt(SD0**2 * np.exp(-2 * T_END) + 1.0 - np.exp(-2 * T_END)))

SIZES = (1000, 4000)
FPGUIDE_STEPS = (20, 30, 40, 50, 60, 80, 120, 160, 240, 320)
FIXED_STEPS = 80
EULER_SAFETY = 0.45  # forward Euler dt = T / ceil(T / (0.45 dx²)); explicit diffusion is stable up to 0.5 dx²
BDF_RTOLS: tuple[float | None, ...] = (None, 1e-5)  # None: scipy's defaults (rtol 1e-3, atol 1e-6)
ROUNDS = 11
TARGET_SPEEDUP = 5.0


@numba.njit(cache=True)
def _fv_rate(c: np.ndarray, faces: np.ndarray, dx: float) -> np.ndarray:
    """Conservative rate −(F_{i+1/2} − F_{i−1/2})/dx with F = −x c − ∂_x c, and F = 0 at both walls."""
    n = c.size
    out = np.empty(n)
    inv_dx = 1.0 / dx
    flux_left = 0.0
    for i in range(n - 1):
        flux_right = -(faces[i + 1] * 0.5 * (c[i] + c[i + 1]) + (c[i + 1] - c[i]) * inv_dx)
        out[i] = (flux_left - flux_right) * inv_dx
        flux_left = flux_right
    out[n - 1] = flux_left * inv_dx
    return out


class FiniteVolumeFokkerPlanck(pde.PDEBase):
    """∂_t c = ∂_x(x c) + ∂_xx c as a conservative finite-volume scheme with zero-flux walls."""

    def __init__(self, grid: pde.CartesianGrid) -> None:
        super().__init__()
        lo, hi = grid.axes_bounds[0]
        self.faces = np.linspace(lo, hi, grid.shape[0] + 1)
        self.dx = float(grid.discretization[0])

    def evolution_rate(self, state: pde.ScalarField, t: float = 0.0) -> pde.ScalarField:  # type: ignore[override]
        return pde.ScalarField(state.grid, _fv_rate(state.data, self.faces, self.dx))

    def make_evolution_rate(self, state: pde.ScalarField, backend: object) -> Callable[..., np.ndarray]:  # type: ignore[override]
        faces, dx = self.faces, self.dx

        def rate(c: np.ndarray, t: float = 0.0) -> np.ndarray:
            return _fv_rate(c, faces, dx)

        return rate


@dataclass
class Config:
    """One timed configuration: ``run()`` returns (density at T_END, steps or RHS evaluations)."""

    solver: str
    n: int
    run: Callable[[], tuple[np.ndarray, int]]
    is_fpguide: bool
    times: list[float] = field(default_factory=list)
    l1: float = float("nan")
    steps: int = 0

    @property
    def time(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


def l1_error(q: np.ndarray, exact: np.ndarray, dx: float) -> float:
    return float(np.abs(q - exact).sum() * dx)


def fpguide_config(grid: fg.Grid, q0: np.ndarray, steps: int) -> Config:
    def run() -> tuple[np.ndarray, int]:
        res = fg.evolve(q0, lambda x, t: -x, grid=grid, t_span=(0.0, T_END), diffusion=1.0, max_step=T_END / steps)
        return res.q[-1], int(res.n_steps)

    label = f"fpguide {steps} steps" + (" (fixed)" if steps == FIXED_STEPS else "")
    return Config(label, q0.size, run, is_fpguide=True)


def pypde_config(
    name: str, eq: pde.PDEBase, grid: pde.CartesianGrid, q0: np.ndarray, solver: str, dt: float | None, **kwargs: object
) -> Config:
    """Build py-pde's stepper once (this compiles it) so that only the time stepping is timed."""
    state = pde.ScalarField(grid, q0.copy())
    solver_obj = pde.solvers.SolverBase.from_name(solver, pde=eq, backend="numba", **kwargs)
    stepper = solver_obj.make_stepper(state, dt)

    def run() -> tuple[np.ndarray, int]:
        work = pde.ScalarField(grid, q0.copy())
        before = int(solver_obj.info.get("steps", 0))
        t_reached = stepper(work, 0.0, T_END)
        if abs(t_reached - T_END) > 1e-9:
            raise RuntimeError(f"py-pde {name} stopped at t={t_reached}")
        return work.data.copy(), int(solver_obj.info.get("steps", 0)) - before

    return Config(f"py-pde {name}", q0.size, run, is_fpguide=False)


def build_configs(n: int) -> tuple[list[Config], np.ndarray, float]:
    g = fg.Grid(LOWER, UPPER, n)
    q0 = g.cell_averages(lambda x: norm.logpdf(x, MEAN0, SD0))
    exact = g.cell_averages(lambda x: norm.logpdf(x, MEAN_T, SD_T))
    dx = float(g.dx)

    grid = pde.CartesianGrid([[LOWER, UPPER]], n)
    if not np.allclose(grid.axes_coords[0], g.centres, rtol=0.0, atol=1e-12):
        raise RuntimeError("py-pde and fpguide cells differ")
    equations: dict[str, pde.PDEBase] = {
        "expr": pde.PDE({"c": "d_dx(x*c) + laplace(c)"}, bc={"value": 0}),
        "fv": FiniteVolumeFokkerPlanck(grid),
    }
    euler_steps = int(np.ceil(T_END / (EULER_SAFETY * dx**2)))
    jac = sparse.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")

    configs = [fpguide_config(g, q0, s) for s in FPGUIDE_STEPS]
    for name, eq in equations.items():
        configs.append(pypde_config(f"{name} euler", eq, grid, q0, "euler", T_END / euler_steps, adaptive=False))
        for rtol in BDF_RTOLS:
            tol: dict[str, object] = {} if rtol is None else {"rtol": rtol, "atol": rtol * 1e-4}
            label = f"{name} scipy-BDF " + ("default tol" if rtol is None else f"rtol={rtol:g}")
            configs.append(pypde_config(label, eq, grid, q0, "scipy", None, method="BDF", jac_sparsity=jac, **tol))
    return configs, exact, dx


def measure(configs: list[Config], exact: np.ndarray, dx: float) -> None:
    for c in configs:  # warm-up (numba JIT, caches) and accuracy
        q, c.steps = c.run()
        c.l1 = l1_error(q, exact, dx)
    for _ in range(ROUNDS):
        for c in configs:
            t0 = time.perf_counter()
            c.run()
            c.times.append(time.perf_counter() - t0)


def cheapest_fpguide(configs: list[Config], l1_max: float) -> Config | None:
    ok = [c for c in configs if c.is_fpguide and c.l1 <= l1_max]
    return min(ok, key=lambda c: c.steps) if ok else None


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    print("Peer benchmark: fpguide.evolve vs py-pde, dq/dt = d/dx(x q) + d2q/dx2 on [-8, 8], N(2, 0.25) -> t = 1")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, cpus={os.cpu_count()}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"py-pde {pde.__version__}, fpguide {getattr(fg, '__version__', '?')}"
    )
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; median (and min) of {ROUNDS} round-robin runs; ratios use medians")
    print("steps: time steps (fpguide, euler) or right-hand-side evaluations (scipy-BDF)\n")

    summaries: list[str] = []
    for n in SIZES:
        configs, exact, dx = build_configs(n)
        measure(configs, exact, dx)
        print(f"{'solver':<38} {'N':>5} {'steps':>7} {'median [s]':>10} {'min [s]':>9} {'L1':>10}")
        for c in configs:
            print(f"{c.solver:<38} {c.n:>5} {c.steps:>7} {c.time:>10.4f} {c.best:>9.4f} {c.l1:>10.2e}")
        print()

        print(f"N={n}: cheapest fpguide with L1 <= each py-pde row")
        print(f"  {'py-pde row':<36} {'fpguide':>16} {'t_pypde/t_fpguide':>18}")
        for p in (c for c in configs if not c.is_fpguide):
            m = cheapest_fpguide(configs, p.l1)
            match = "none" if m is None else f"{m.steps} steps"
            ratio = "-" if m is None else f"{p.time / m.time:.2f}"
            print(f"  {p.solver:<36} {match:>16} {ratio:>18}")
        print()

        fastest = min((c for c in configs if not c.is_fpguide), key=lambda c: c.time)
        fixed = next(c for c in configs if c.is_fpguide and c.steps == FIXED_STEPS)
        matched = cheapest_fpguide(configs, fastest.l1)
        line = f"N={n}: py-pde fastest = {fastest.solver} ({fastest.time:.4f} s, L1 {fastest.l1:.2e})"
        for label, f in (("matched", matched), ("fixed 80", fixed)):
            if f is None:
                line += f"\n  fpguide {label}: no step count reaches L1 <= {fastest.l1:.2e}"
                continue
            ratio = fastest.time / f.time
            line += (
                f"\n  fpguide {label} ({f.steps} steps): time ratio py-pde/fpguide = {ratio:.2f}, "
                f"L1 {f.l1:.2e} <= {fastest.l1:.2e}: {f.l1 <= fastest.l1}"
            )
        met = matched is not None and fastest.time / matched.time >= TARGET_SPEEDUP
        line += f"\n  target (L1 <= py-pde fastest, time <= 1/{TARGET_SPEEDUP:g} of it): {'MET' if met else 'NOT MET'}"
        summaries.append(line)

    print("\n".join(summaries))


if __name__ == "__main__":
    main()
