"""Throughput and scaling of fpguide's engine, against rooflines of this machine measured in the
same run.

``throughput`` (:func:`roofline`) sets fpguide's cell-steps per second (cells × time steps / wall
time) next to bare numba loops timed in the same round-robin rounds, all on one numba thread:

* a conservative upwind flux stencil q_i ← q_i − c (F_{i+1/2} − F_{i−1/2}), F_{i+1/2} = q_i (in 2-D
  along both axes in one pass) on an array of the same shape: cell updates per second, the roofline
  of DESIGN §4;
* a convolution loop with the heat step's kernel length: taps per second (fpguide's exact heat step
  is one);
* a loop of ``math.exp`` and numpy's ``np.exp``: exponentials per second (the cost unit of a
  closed-form score).

The problems are the smooth OU Fokker–Planck equation ∂_t q = ∇·(x q) + Δq and its continuity
version (D = 0) of :mod:`.linear`, 80 steps to t = 1 on [−8, 8]^d, and one guided solve (the 1-D
uniform mixture, CFG w = 3, ODE) where the closed-form drift dominates. Per run it reports the plain
percentage of the stencil roofline (what the issue's target is about), the work a step does per cell
(drift points, remaps, heat taps; counted, not assumed), the percentage of the time that work would
take at the measured roofline rates, and where the time goes (cProfile of one run).

``scaling`` (:func:`scaling`) times the same OU problems against N (1-D) and cells (2-D) at a fixed
80 steps, and the guided 2-D boxes (ODE) against cells, and fits time ∝ cells^p in log–log over the
sizes past the fixed costs.
"""

from __future__ import annotations

import cProfile
import json
import math
import pstats
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

import fpguide as fg
import fpguide.engine
from fpguide.engine.heat import heat_kernel

from .linear import Problem
from .mode import Mode
from .record import FPGUIDE, Case, Config, measure

TARGET = 25.0  # % of the stencil roofline, on 1-D and 2-D (issue 6)
# fixed steps of the OU runs (max_step = t_end / STEPS; the Lipschitz limit allows 4 times longer)
STEPS = 80
EXTENT = 8.0  # the OU grids are [−EXTENT, EXTENT]^d, where |v| = |x| reaches EXTENT
# bare-stencil passes a remap needs at the least: a reconstruction and an integral per cell
REMAP_PASSES = 2
# updates, taps or exponentials per timed call of a roofline loop (by smoke)
ROOF_WORK = {False: 3e7, True: 3e6}
ENGINE_DIR = str(Path(fpguide.engine.__file__).parent)
# the engine's functions whose time the profile reports (cumulative: a kernel's own time; the drift
# with its wrappers): the line-parallel kernels of d-D grids and the single-line ones of 1-D (to be
# kept in step with fpguide/engine)
ENGINE_PARTS = {
    "heat": ("_heat_lines", "heat_step"),
    "remap": ("_remap_lines", "_remap_line"),
    "departures": ("_departures_of_lines", "_departures_of_line"),
    "drift": ("_velocity",),
}
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
GUIDE = fg.CFG(label=1, w=3.0)


def _ou(ndim: int, diffusion: float) -> Problem:
    """The smooth OU problem of :mod:`.linear` (k = 1, to t = 1 from N(2, 0.5²) [× N(−1, 0.5²)]), D
    = ``diffusion``."""
    name = f"{ndim}-D {'Fokker–Planck' if diffusion else 'continuity'}"
    return Problem(
        name,
        name,
        "",
        k=1.0,
        diffusion=diffusion,
        t_end=1.0,
        mean0=(2.0, -1.0)[:ndim],
        sd0=(0.5,) * ndim,
        sizes=(),
        steps=(),
        lower=-EXTENT,
        upper=EXTENT,
    )


# ------------------------------------------------------------------------------------------------
# rooflines


@numba.njit(cache=True, inline="always")
def _upwind_1d(q, out, c):
    """out = q − c (F_{i+1/2} − F_{i−1/2}) with the upwind flux F_{i+1/2} = q_i (the first cell
    stays)."""
    for i in range(1, q.size):
        out[i] = q[i] - c * (q[i] - q[i - 1])


@numba.njit(cache=True, inline="always")
def _upwind_2d(q, out, c):
    """:func:`_upwind_1d` on an n × n array, the flux differences of both axes in one pass."""
    n, m = q.shape
    for i in range(1, n):
        for j in range(1, m):
            out[i, j] = q[i, j] - c * (q[i, j] - q[i - 1, j]) - c * (q[i, j] - q[i, j - 1])


# ``sweeps`` stencil updates, q → out → q …: two calls per round (swapping the arrays in a loop
# instead stops LLVM from vectorising the update: measured 5× slower)
@numba.njit(cache=True)
def _stencil_1d(q, out, c, sweeps):
    for _ in range(sweeps // 2):
        _upwind_1d(q, out, c)
        _upwind_1d(out, q, c)


@numba.njit(cache=True)
def _stencil_2d(q, out, c, sweeps):
    for _ in range(sweeps // 2):
        _upwind_2d(q, out, c)
        _upwind_2d(out, q, c)


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _convolve(padded, kernel, out, sweeps):
    """``sweeps`` times out = kernel * padded (valid part): the loop of fpguide's heat step,
    compiled the same way."""
    for _ in range(sweeps):
        for j in range(out.size):
            acc = 0.0
            for k in range(kernel.size):
                acc += kernel[k] * padded[j + k]
            out[j] = acc


@numba.njit(cache=True)
def _exp_loop(x, out, sweeps):
    for _ in range(sweeps):
        for i in range(x.size):
            out[i] = math.exp(x[i])


def _loop(
    kind: str, size: str, unit: str, per_sweep: int, call: Callable[[int], object], smoke: bool
) -> Config:
    """A roofline loop as a timed configuration: ``call(sweeps)`` does ``per_sweep`` ``unit`` per
    sweep."""
    # even, for the stencil's round trips
    sweeps = 2 * max(1, round(ROOF_WORK[smoke] / per_sweep / 2))

    def run() -> tuple[dict, int]:
        call(sweeps)
        return {}, sweeps * per_sweep

    return Config("bare loop", kind, unit, run, size=size)


def stencil_loop(shape: tuple[int, ...], smoke: bool) -> Config:
    q = np.random.default_rng(0).random(shape)
    out = q.copy()
    kernel = _stencil_1d if len(shape) == 1 else _stencil_2d
    return _loop(
        "numba flux stencil",
        _size(shape),
        "cell updates",
        q.size,
        lambda sweeps: kernel(q, out, 0.3, sweeps),
        smoke,
    )


def convolution_loop(cells: int, taps: int, smoke: bool) -> Config:
    kernel = np.random.default_rng(1).random(taps)
    kernel /= kernel.sum()
    padded, out = np.random.default_rng(2).random(cells + taps - 1), np.empty(cells)
    return _loop(
        "numba convolution",
        f"{cells} cells, {taps} taps",
        "taps",
        cells * taps,
        lambda sweeps: _convolve(padded, kernel, out, sweeps),
        smoke,
    )


def exp_loops(smoke: bool) -> list[Config]:
    x = np.random.default_rng(3).uniform(-30.0, 0.0, 100_000)
    out = np.empty_like(x)

    def numpy_exp(sweeps: int) -> None:
        for _ in range(sweeps):
            np.exp(x, out=out)

    return [
        _loop(
            "numba math.exp loop",
            "100000",
            "exps",
            x.size,
            lambda sweeps: _exp_loop(x, out, sweeps),
            smoke,
        ),
        _loop("numpy np.exp", "100000", "exps", x.size, numpy_exp, smoke),
    ]


def rate(loop: Config) -> float:
    """Units of work per second of a measured loop (median time)."""
    return loop.work / loop.median


# ------------------------------------------------------------------------------------------------
# fpguide runs


@dataclass
class Work:
    """What one fpguide run did."""

    steps: int
    drift_evals: int
    # points the drift was evaluated at (None: not counted, inside fpguide.solve)
    drift_points: int | None = None
    heat_taps: int = 0  # taps of the heat step's 1-D kernel (one axis); 0 without diffusion


@dataclass(eq=False)
class Run:
    """An fpguide run whose cell-steps per second are measured; calling it solves once (the run of
    ``config``)."""

    problem: str
    shape: tuple[int, ...]
    solve: Callable[[], Work]
    diffusion: float | None = None  # D of an OU run (None: a guided solve)
    taps: int = 0  # its heat kernel's taps at STEPS steps (what the convolution roofline loop uses)
    work: Work | None = None  # of the latest call
    config: Config = field(init=False)

    def __post_init__(self):
        self.config = Config(FPGUIDE, self.problem, "", self, size=_size(self.shape))

    @property
    def cells(self) -> int:
        return math.prod(self.shape)

    @property
    def cell_steps(self) -> int:
        return self.cells * self.work.steps

    def __call__(self) -> tuple[dict, int]:
        self.work = self.solve()
        return {}, self.cell_steps


class _Counted:
    """A drift that counts the points it is evaluated at."""

    def __init__(self, drift: Callable[[np.ndarray, float], np.ndarray]):
        self.drift, self.points = drift, 0

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        self.points += len(x)
        return self.drift(x, t)


def _heat_taps(diffusion: float, dt: float, dx: float) -> int:
    """Taps of the heat step's kernel along one axis (:func:`fpguide.engine.heat.heat_kernel` is
    one-sided)."""
    r = diffusion * dt / dx**2
    return 2 * heat_kernel(r).size - 1 if r > 0 else 0


def ou_run(p: Problem, n: int) -> Run:
    """``fg.evolve`` on the OU problem ``p`` with n cells per axis and STEPS steps."""
    d = p.at(n)
    drift = _Counted(p.drift)

    def solve() -> Work:
        drift.points = 0
        res = fg.evolve(
            d.q0,
            drift,
            grid=d.grid,
            t_span=(0.0, p.t_end),
            diffusion=p.diffusion,
            # the coarse smoke grids lose ~1e-8 at the walls
            max_step=p.t_end / STEPS,
            wall_tol=1.0,
        )
        return Work(
            res.n_steps,
            res.n_drift_evals,
            drift.points,
            _heat_taps(p.diffusion, p.t_end / res.n_steps, d.dx),
        )

    return Run(
        p.name, (n,) * p.ndim, solve, p.diffusion, _heat_taps(p.diffusion, p.t_end / STEPS, d.dx)
    )


def guided_run(
    problem: str, target: fg.UniformMixture, grid: fg.Grid | fg.TensorGrid, **options
) -> Run:
    """``fg.solve`` of ``target`` under GUIDE with the ODE sampler on ``grid`` (the whole solve is
    timed)."""

    def solve() -> Work:
        run = json.loads(fg.solve(target, GUIDE, "ode", grid=grid, **options).attrs["run"])
        return Work(run["n_steps"], run["n_drift_evals"])

    return Run(problem, grid.shape if isinstance(grid, fg.TensorGrid) else (grid.n,), solve)


def guided_1d(n: int) -> Run:
    """The 1-D uniform mixture on about the extent fpguide's automatic grid takes ([−8.72, 9.14]
    with 1600 cells)."""
    return guided_run("1-D guided ODE (uniform mixture, w=3)", UNIFORM, fg.Grid(-8.75, 9.25, n))


def guided_boxes(n: int) -> Run:
    """The 2-D boxes of benchmarks/box_2d.py on an n × n grid, 5 saved times."""
    return guided_run(
        "2-D guided boxes ODE (w=3)",
        BOX,
        fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], n),
        n_save=5,
        wall_tol=1e-6,
    )


def _size(shape: tuple[int, ...]) -> str:
    return f"N={shape[0]}" if len(shape) == 1 else "x".join(map(str, shape))


@contextmanager
def one_thread() -> Iterator[None]:
    """Numba on one thread (restored afterwards); the coarse-grid warnings of the smoke sizes
    silenced."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fg.CoarseGridWarning)
            yield
    finally:
        numba.set_num_threads(previous)


# ------------------------------------------------------------------------------------------------
# profile


@dataclass
class Profile:
    """cProfile of one run: seconds in the ENGINE_PARTS and their calls, and the largest other
    items."""

    total: float
    parts: dict[str, float]
    calls: dict[str, int]
    others: list[tuple[str, float]]  # (function, own seconds), largest first

    @property
    def other(self) -> float:
        return self.total - sum(self.parts.values())

    def split(self) -> str:
        shares = {**self.parts, "other": self.other}
        return ", ".join(f"{name} {100 * s / self.total:.0f} %" for name, s in shares.items())


def profile(run: Run) -> Profile:
    profiler = cProfile.Profile()
    profiler.runcall(run.solve)
    summary = pstats.Stats(profiler)
    stats = summary.stats  # (file, line, name) -> (calls, ncalls, own, cumulative, callers)
    labels = {name: label for label, names in ENGINE_PARTS.items() for name in names}
    parts = {
        func: labels[func[2]]
        for func in stats
        if func[0].startswith(ENGINE_DIR) and func[2] in labels
    }
    seconds, calls = dict.fromkeys(ENGINE_PARTS, 0.0), dict.fromkeys(ENGINE_PARTS, 0)
    for func, label in parts.items():
        seconds[label] += stats[func][3]
        calls[label] += stats[func][1]
    others = [(func[2], stats[func][2]) for func in stats if not _inside(func, parts, stats, {})]
    return Profile(summary.total_tt, seconds, calls, sorted(others, key=lambda item: -item[1])[:4])


def _inside(func: tuple, parts: dict, stats: dict, seen: dict) -> bool:
    """Whether ``func`` is one of ``parts`` or only ever called from within them (its time is
    theirs)."""
    if func not in seen:
        seen[func] = False  # a cycle does not make it inside
        callers = stats[func][4]
        seen[func] = (
            func in parts or bool(callers) and all(_inside(c, parts, stats, seen) for c in callers)
        )
    return seen[func]


# ------------------------------------------------------------------------------------------------
# throughput


def explicit_steps(shape: tuple[int, ...], diffusion: float) -> int:
    """Steps to t = 1 of an explicit upwind stencil at its stability limit dt Σ_a (2D/dx² +
    max|v_a|/dx) ≤ 1."""
    dx = 2 * EXTENT / shape[0]
    return math.ceil(len(shape) * (2 * diffusion / dx**2 + EXTENT / dx))


def _or_dash(value: float | None) -> float | str:
    return "–" if value is None else float(value)


def throughput_row(run: Run, prof: Profile, stencil: float, taps: float | None) -> dict:
    """A run's cell-steps per second, its work per cell-step and the time that work takes at
    roofline rates."""
    work, seconds = run.work, run.config.median
    remaps = prof.calls["remap"] / work.steps
    heat_taps = prof.calls["heat"] / work.steps * work.heat_taps
    points = None if work.drift_points is None else work.drift_points / run.cell_steps
    # the time of the counted work at the roofline rates, in % of the measured time
    work_percent = None
    if points is not None:
        at_roofline = (REMAP_PASSES * remaps + points) / stencil + (
            heat_taps / taps if heat_taps else 0.0
        )
        work_percent = 100 * at_roofline * run.cell_steps / seconds
    explicit = None if run.diffusion is None else explicit_steps(run.shape, run.diffusion)
    explicit_share = None if explicit is None else run.cells * explicit / stencil / seconds
    return {
        "problem": run.problem,
        "size": run.config.size,
        "cells": run.cells,
        "steps": work.steps,
        "seconds": seconds,
        "cell-steps/s": run.cell_steps / seconds,
        "% of stencil": 100 * run.cell_steps / seconds / stencil,
        "drift evals/step": f"{work.drift_evals / work.steps:.2f}",
        "drift points/cell-step": _or_dash(points),
        "remaps/step": f"{remaps:.2f}",
        "heat taps/cell-step": f"{heat_taps:.0f}",
        "% of work at roofline": _or_dash(work_percent),
        "explicit steps": explicit or "–",
        "explicit stencil time / time": _or_dash(explicit_share),
        "time split (cProfile)": prof.split(),
    }


def target_rows(rows: list[dict], runs: list[Run]) -> list[dict]:
    """The issue's target per dimension: every run of it at TARGET % of the stencil roofline or
    more."""
    out = []
    for ndim in (1, 2):
        own = [row for row, run in zip(rows, runs) if len(run.shape) == ndim]
        best, worst = (f(own, key=lambda row: row["% of stencil"]) for f in (max, min))
        out.append(
            {
                "target": f"{TARGET:g} % of the stencil roofline",
                "dimension": f"{ndim}-D",
                "best": f"{best['% of stencil']:.2f} % ({best['problem']} {best['size']})",
                "worst": f"{worst['% of stencil']:.2f} % ({worst['problem']} {worst['size']})",
                "met": "yes" if worst["% of stencil"] >= TARGET else "no",
            }
        )
    return out


def profile_notes(runs: list[Run], profiles: list[Profile], exp_rate: float) -> list[str]:
    """Where the time goes: the OU runs at the issue's sizes (N = 4000, 256²) and the guided run."""
    notes = []
    for run, prof in zip(runs, profiles):
        per_step = 1e6 * prof.total / run.work.steps
        if run.config.size in ("N=4000", "256x256"):
            others = ", ".join(f"{name} {100 * s / prof.total:.0f} %" for name, s in prof.others)
            notes.append(
                f"Where the time goes, {run.problem} {run.config.size} (cProfile of one "
                "run, "
                f"{per_step:.0f} µs per step): {prof.split()}; the largest items of "
                "'other' (own time): "
                f"{others}."
            )
        elif run.diffusion is None:
            exps = (
                prof.parts["drift"]
                / run.cell_steps
                * exp_rate
                / (run.work.drift_evals / run.work.steps)
            )
            notes.append(
                f"Where the time goes, {run.problem} {run.config.size} (cProfile of one "
                "run, "
                f"{per_step:.0f} µs per step): {prof.split()}. Per evaluation and cell "
                "the closed-form drift "
                f"takes as long as {exps:.0f} exponentials at the numpy rate (an "
                "evaluation covers at most "
                "the cells + 1 faces of the traced window, so per point it is at least "
                "that)."
            )
    return notes


THROUGHPUT_NOTES = [
    "All loops and runs on one numba thread, timed round-robin in the same rounds (medians). A "
    "cell-step is one cell "
    "advanced by one time step (cells × steps / wall time). '% of stencil' is fpguide's "
    "cell-steps/s over the bare "
    "flux stencil's cell updates/s on the same shape — the issue's measure; it compares one of "
    "fpguide's steps with "
    "one 3-flop explicit update.",
    "Work per cell-step, counted: 'drift evals/step' (res.n_drift_evals / steps: a sweep traces "
    "its faces with RK3 "
    "with diffusion, RK4 without); 'drift points/cell-step' (points the drift was called at, "
    "counted by a wrapper); "
    "'remaps/step' (calls of the remap kernel: 1 per step in 1-D, 2-D: 2 sweeps per step for the "
    "continuity equation, "
    "3 with diffusion — plus the closing half sweep); 'heat taps/cell-step' (the exact heat step "
    "convolves each axis "
    "with heat_kernel(D dt/dx²), 2·size − 1 taps; its length grows as sqrt(D dt)/dx).",
    "'% of work at roofline' is the time that counted work would take at the bare-loop rates of "
    "this run over the "
    f"measured time: {REMAP_PASSES} stencil passes per cell per remap (a reconstruction and an "
    "integral; the real PPM "
    "remap has several times the stencil's flops), one stencil pass per drift point (the −x drift "
    "and its RK stage "
    "arithmetic), heat taps at the bare convolution's tap rate (not the stencil's: a tap is one "
    "fused multiply-add "
    "and vectorises, several times the stencil's rate, see the first table). The OU drift −x has "
    "no exponentials; "
    "the guided row has no count of drift points (its drift runs inside fg.solve), so no value. "
    "Near 100 % "
    "(this machine's noise is ±30 %) a run does its counted work at bare-loop speed; far below, "
    "the time goes to "
    "what the count leaves out (the remap's and trace's real flops, per-step Python and numpy "
    "glue).",
    "'explicit steps': steps of an explicit upwind stencil to t = 1 at its stability limit "
    "dt·Σ_a(2D/dx² + max|v_a|/dx) ≤ 1 with max|v| = 8 on [−8, 8]; 'explicit stencil time / time' "
    "is that many "
    "bare-stencil sweeps at the measured roofline over fpguide's time (above 1: fpguide is faster "
    "than the fastest "
    "possible explicit scheme at its largest stable step, which would moreover be only first-order "
    "accurate).",
    "The guided row times the whole fg.solve (engine, observables) on a given grid, without the "
    "pilot that chooses a "
    "grid; its cell-steps use the run record's n_steps.",
]


def roofline(mode: Mode) -> Case:
    """Issue 6, item 4: fpguide's cell-steps per second against bare loops measured in the same
    run."""
    case = Case(
        "throughput",
        "Throughput against the roofline (one numba thread)",
        "",
        f"{TARGET:g} % of the stencil roofline",
    )
    problems = [_ou(1, 1.0), _ou(1, 0.0), _ou(2, 1.0), _ou(2, 0.0)]
    runs = [
        ou_run(p, n)
        for p in problems
        for n in mode.pick({1: (4000, 16000), 2: (256, 512)}, {1: (400,), 2: (32,)})[p.ndim]
    ]
    runs.append(guided_1d(mode.pick(1600, 400)))
    stencils = {run.shape: stencil_loop(run.shape, mode.smoke) for run in runs}
    convolutions = {
        run: convolution_loop(run.cells, run.taps, mode.smoke) for run in runs if run.taps
    }
    exps = exp_loops(mode.smoke)
    with one_thread():
        measure(
            [*stencils.values(), *convolutions.values(), *exps, *(run.config for run in runs)],
            mode.repeats,
        )
        profiles = [profile(run) for run in runs]
    rows = [
        throughput_row(
            run, prof, rate(stencils[run.shape]), rate(convolutions[run]) if run.taps else None
        )
        for run, prof in zip(runs, profiles)
    ]
    loops = [*stencils.values(), *convolutions.values(), *exps]
    case.summary = (
        [
            {"roofline loop": c.solver, "size": c.size, "rate [/s]": rate(c), "unit": c.setting}
            for c in loops
        ]
        + rows
        + target_rows(rows, runs)
    )
    case.notes = THROUGHPUT_NOTES + profile_notes(runs, profiles, max(rate(c) for c in exps))
    return case


# ------------------------------------------------------------------------------------------------
# scaling


@dataclass
class Series:
    """Runs of one problem at increasing sizes; time ∝ cells^p is fitted over the runs from
    ``fit_from`` on."""

    name: str
    runs: list[Run]
    # index of the first run in the fit (the smaller ones are dominated by fixed per-step costs)
    fit_from: int

    @property
    def fitted(self) -> list[Run]:
        return self.runs[self.fit_from :]

    def exponent(self) -> tuple[float, float]:
        """(p, log c) of the least-squares line log t = p log cells + log c over the fitted runs."""
        cells, seconds = zip(*((run.cells, run.config.median) for run in self.fitted))
        p, log_c = np.polyfit(np.log(cells), np.log(seconds), 1)
        return float(p), float(log_c)


def scaling_rows(series: Series) -> list[dict]:
    rows, previous = [], None
    for run in series.runs:
        local = (
            "–"
            if previous is None
            else math.log(run.config.median / previous.config.median)
            / math.log(run.cells / previous.cells)
        )
        rows.append(
            {
                "series": series.name,
                "size": run.config.size,
                "cells": run.cells,
                "steps": run.work.steps,
                "seconds": run.config.median,
                "ns/cell-step": 1e9 * run.config.median / run.cell_steps,
                "local exponent": local,
                "heat taps/cell-step": run.taps * len(run.shape),
            }
        )
        previous = run
    return rows


def scaling_figure(series: list[Series], path: Path) -> None:
    """Median time against cells, log–log, with the fitted lines over their fitted ranges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for s in series:
        p, log_c = s.exponent()
        (line,) = ax.loglog(
            [r.cells for r in s.runs],
            [r.config.median for r in s.runs],
            "o-",
            lw=1,
            label=f"{s.name}: p = {p:.2f}",
        )
        cells = np.array([s.fitted[0].cells, s.fitted[-1].cells], dtype=float)
        ax.loglog(cells, np.exp(log_c) * cells**p, "--", lw=2.5, alpha=0.5, color=line.get_color())
    ax.set(
        xlabel="cells",
        ylabel="median wall time [s]",
        title="time ∝ cells^p (dashed: fit, one numba thread)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SCALING_NOTES = [
    "Medians of round-robin repeats, one numba thread; the OU runs take a fixed 80 steps, the "
    "guided boxes the steps "
    "fpguide's step control chooses (see 'steps'). p is the least-squares slope of log time "
    "against log cells over "
    "the sizes named in 'fitted over' (the smallest sizes are left out: there the per-step Python "
    "and numpy overhead "
    "of a sweep, independent of the cells, dominates); 'local exponent' is the slope from the size "
    "before.",
    "The heat step is a direct convolution with heat_kernel(D dt/dx²), whose length grows as "
    "sqrt(D dt)/dx: at a "
    "fixed dt its taps per cell grow ∝ N, so the 1-D Fokker–Planck time tends to N² and the 2-D "
    "one to "
    "cells^1.5 once the convolution dominates; the continuity equation (no heat step) and the "
    "guided ODE show the "
    "advection's own scaling.",
]


def scaling(mode: Mode) -> Case:
    """Issue 6, item 5: time against N (1-D) and cells (2-D), with the fitted exponent, one numba
    thread."""
    # fit N ≥ 4000
    sizes_1d, fit_1d = mode.pick((1000, 2000, 4000, 8000, 16000), (200, 400)), mode.pick(2, 0)
    sizes_2d, fit_2d = mode.pick((64, 128, 256, 512), (16, 32)), mode.pick(1, 0)  # fit n ≥ 128
    series = [
        Series(p.name, [ou_run(p, n) for n in sizes_1d], fit_1d) for p in (_ou(1, 1.0), _ou(1, 0.0))
    ]
    series += [
        Series(p.name, [ou_run(p, n) for n in sizes_2d], fit_2d) for p in (_ou(2, 1.0), _ou(2, 0.0))
    ]
    series.append(Series("2-D guided boxes ODE", [guided_boxes(n) for n in sizes_2d[:3]], fit_2d))
    with one_thread():
        measure([run.config for s in series for run in s.runs], mode.repeats)
    fits = [
        {
            "series": s.name,
            "fitted exponent p": s.exponent()[0],
            "fitted over": ", ".join(run.config.size for run in s.fitted),
        }
        for s in series
    ]
    case = Case("scaling", "Scaling: time against cells (one numba thread)", "", "fitted exponent")
    case.summary = [row for s in series for row in scaling_rows(s)] + fits
    case.plot = lambda path: scaling_figure(series, path)
    case.notes = SCALING_NOTES + [fixed_costs(series)]
    return case


def fixed_costs(series: list[Series]) -> str:
    """The time per step at each series' smallest size: an upper bound on the per-step costs that do
    not scale."""
    parts = []
    for s in series:
        smallest, largest = s.runs[0], s.runs[-1]
        per_step = smallest.config.median / smallest.work.steps
        share = per_step * largest.work.steps / largest.config.median
        parts.append(
            f"{s.name} {1e6 * per_step:.0f} µs ({100 * share:.0f} % of the time at "
            f"{largest.config.size})"
        )
    return (
        "Time per step at the smallest size, an upper bound on the fixed per-step cost (and "
        "its share of the time "
        "at the largest size; where it is large, p is below the asymptotic exponent): "
        "" + "; ".join(parts) + "."
    )
