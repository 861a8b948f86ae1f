"""Linear Fokker–Planck cases with exact solutions: fpguide against PDE packages (py-pde, FiPy,
fplanck).

Every case is an Ornstein–Uhlenbeck density on the box [−8, 8]^d, d = 1 or 2::

    ∂_t q = ∇·(k x q) + D Δq,    q(·, 0) = ∏_a N(m_a, s_a²),

whose solution stays Gaussian with independent axes, mean m_a e^{−kt} and variance s_a² e^{−2kt} +
D(1 − e^{−2kt})/k (for D = 0 the continuity equation, q(x, t) = e^{dkt} q_0(x e^{kt})). The density
at the walls stays below 1e-13 (the mass beyond them below 1e-14), so the walls do not matter. Every
solver starts from the exact cell averages of q(·, 0) on the same cells and is scored by the L1
error Σ|q − q̄| |cell| against the exact cell averages q̄ at t_end.

* ``smooth_ou``: k = 1, D = 1, to t = 1, q_0 = N(2, 0.5²); judged by speed at equal or better error;
* ``steep_ou``: k = 1000, D = 1, to t = 0.002: the drift reaches 8000 at the walls and the cell
  Péclet number k|x|dx/D is 32 (N = 1000) or 8 (N = 4000) where the mass starts, 4 times that at the
  walls; the density ends with a standard deviation of 0.075; judged by accuracy at equal or less
  time;
* ``continuity``: k = 1, D = 0, to t = 1 (the density contracts to a standard deviation of 0.18); by
  accuracy;
* ``ou_2d``: k = 1, D = 1, to t = 1 in 2-D, q_0 = N(2, 0.5²) × N(−1, 0.5²); by speed.

fpguide runs :func:`fpguide.evolve` (its defaults: PPM remap, L·dt ≤ 0.25, so at least 8 steps for
the steep OU) at a sweep of step counts, ``max_step = t_end/steps``; the peers' configurations come
from :mod:`.peers`. Configurations whose first run takes over a second are timed by that run alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

import fpguide as fg

from .mode import Mode
from .peers import peer_configs
from .record import FPGUIDE, Case, Config, measure

ERROR = "L1"
# seconds: a configuration whose first run takes longer is timed by that run alone, not repeated
SLOW = 1.0


@dataclass(frozen=True)
class Problem:
    """∂_t q = ∇·(k x q) + D Δq on [lower, upper]^d from independent Gaussians N(mean0_a, sd0_a²),
    to t_end."""

    name: str
    title: str
    target: str
    k: float
    diffusion: float
    t_end: float
    mean0: tuple[float, ...]  # one entry per axis
    sd0: tuple[float, ...]
    sizes: tuple[int, ...]  # cells per axis, one problem size each
    steps: tuple[int, ...]  # fpguide's step counts
    lower: float = -8.0
    upper: float = 8.0

    @property
    def ndim(self) -> int:
        return len(self.mean0)

    def mean(self, t: float) -> np.ndarray:
        return np.asarray(self.mean0) * np.exp(-self.k * t)

    def sd(self, t: float) -> np.ndarray:
        decay = np.exp(-2 * self.k * t)
        return np.sqrt(np.asarray(self.sd0) ** 2 * decay + self.diffusion * (1 - decay) / self.k)

    def drift(self, x: np.ndarray, t: float) -> np.ndarray:
        """The velocity −k x: at points (N,) in 1-D, (N, d) in d-D."""
        return -self.k * x

    def at(self, n: int) -> Discrete:
        """The problem on n cells per axis."""
        if self.ndim == 1:
            grid = fg.Grid(self.lower, self.upper, n)
            size = f"N={n}"
        else:
            grid = fg.TensorGrid.from_bounds([self.lower] * self.ndim, [self.upper] * self.ndim, n)
            size = "x".join([str(n)] * self.ndim)
        return Discrete(
            self, grid, size, self.cell_averages(grid, 0.0), self.cell_averages(grid, self.t_end)
        )

    def cell_averages(self, grid: fg.Grid | fg.TensorGrid, t: float) -> np.ndarray:
        """The exact cell averages of q(·, t)."""
        mean, sd = self.mean(t), self.sd(t)
        if self.ndim == 1:
            return grid.cell_averages(lambda x: norm.logpdf(x, mean[0], sd[0]))
        return grid.cell_averages(lambda x: norm.logpdf(x, mean, sd).sum(axis=-1))


@dataclass(frozen=True)
class Discrete:
    """A problem on a grid: the start and the exact end as cell averages, and the scoring of a
    solution."""

    problem: Problem
    grid: fg.Grid | fg.TensorGrid
    size: str
    q0: np.ndarray
    exact: np.ndarray

    @property
    def centres(self) -> list[np.ndarray]:
        """Cell centres per axis (the peers' cells must be these)."""
        axes = self.grid.axes if isinstance(self.grid, fg.TensorGrid) else (self.grid,)
        return [axis.centres for axis in axes]

    @property
    def points(self) -> np.ndarray:
        """Cell centres, shape (*shape, d)."""
        return np.stack(np.meshgrid(*self.centres, indexing="ij"), axis=-1)

    @property
    def dx(self) -> float:
        """The (common) cell width."""
        return float(self.centres[0][1] - self.centres[0][0])

    def errors(self, q: np.ndarray) -> dict[str, float]:
        return {
            ERROR: float(
                np.abs(np.reshape(q, self.exact.shape) - self.exact).sum() * self.grid.cell_volume
            )
        }


def fpguide_config(d: Discrete, steps: int) -> Config:
    p = d.problem

    def run() -> tuple[dict[str, float], int]:
        res = fg.evolve(
            d.q0,
            p.drift,
            grid=d.grid,
            t_span=(0.0, p.t_end),
            diffusion=p.diffusion,
            max_step=p.t_end / steps,
        )
        return d.errors(res.q[-1]), int(res.n_steps)

    return Config(FPGUIDE, "evolve", f"{steps} steps", run, size=d.size)


def run_problem(p: Problem, mode: Mode) -> Case:
    """fpguide's step sweep and every peer on each size of ``p``, measured."""
    case = Case(p.name, p.title, ERROR, p.target)
    # numba compilation (or cache loading) before measure
    fpguide_config(p.at(min(p.sizes)), min(p.steps)).run()
    reasons: dict[str, dict[str, str]] = {}
    for n in p.sizes:
        d = p.at(n)
        case.configs += [fpguide_config(d, steps) for steps in p.steps]
        configs, unavailable = peer_configs(d, mode.smoke)
        case.configs += configs
        for peer, why in unavailable.items():
            reasons.setdefault(peer, {})[d.size] = why
    for peer, by_size in reasons.items():
        if len(by_size) == len(p.sizes) and len(set(by_size.values())) == 1:
            case.unavailable[peer] = next(iter(by_size.values()))
        else:
            case.unavailable[peer] = "; ".join(f"{size}: {why}" for size, why in by_size.items())
    measure(case.configs, mode.repeats, slow=SLOW)
    case.notes += [f"{c.size} {c.label} {c.setting}: {c.note}" for c in case.configs if c.note]
    once = [f"{c.size} {c.label} {c.setting}" for c in case.configs if not c.timed]
    if once and mode.repeats > 1:
        case.notes.append(
            f"Timed by their one (warm-up) run, which took over {SLOW:g} s: "
            "" + "; ".join(once) + "."
        )
    return case


def smooth_ou(mode: Mode) -> Case:
    return run_problem(
        Problem(
            "smooth_ou",
            "OU ∂_t q = ∂_x(xq) + ∂_xx q, N(2, 0.5²) to t = 1",
            "faster",
            k=1.0,
            diffusion=1.0,
            t_end=1.0,
            mean0=(2.0,),
            sd0=(0.5,),
            sizes=mode.pick((1000, 4000), (200,)),
            steps=mode.pick((4, 10, 20, 40, 80, 160, 320), (10, 40)),
        ),
        mode,
    )


def steep_ou(mode: Mode) -> Case:
    return run_problem(
        Problem(
            "steep_ou",
            "steep OU ∂_t q = ∂_x(1000xq) + ∂_xx q, N(2, 0.5²) to t = 0.002",
            "more accurate",
            k=1000.0,
            diffusion=1.0,
            t_end=0.002,
            mean0=(2.0,),
            sd0=(0.5,),
            sizes=mode.pick((1000, 4000), (200,)),
            steps=mode.pick((8, 16, 32, 64, 128), (8, 32)),
        ),
        mode,
    )


def continuity(mode: Mode) -> Case:
    return run_problem(
        Problem(
            "continuity",
            "continuity ∂_t q = ∂_x(xq), N(2, 0.5²) to t = 1",
            "more accurate",
            k=1.0,
            diffusion=0.0,
            t_end=1.0,
            mean0=(2.0,),
            sd0=(0.5,),
            sizes=mode.pick((1000, 4000), (200,)),
            steps=mode.pick((4, 8, 16, 32, 64), (4, 16)),
        ),
        mode,
    )


def ou_2d(mode: Mode) -> Case:
    return run_problem(
        Problem(
            "ou_2d",
            "2-D OU ∂_t q = ∇·(xq) + Δq, N(2, 0.5²)×N(−1, 0.5²) to t = 1",
            "faster",
            k=1.0,
            diffusion=1.0,
            t_end=1.0,
            mean0=(2.0, -1.0),
            sd0=(0.5, 0.5),
            sizes=mode.pick((128, 256), (32,)),
            steps=mode.pick((5, 10, 20, 40, 80), (5, 20)),
        ),
        mode,
    )
