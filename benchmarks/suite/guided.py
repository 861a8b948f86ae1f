"""Guided reverse processes against particles of the same dynamics, and a 32-weight sweep against
loops.

:func:`reverse_processes` — the papers' standard cases: ½N(−1, 1) + ½N(1, 1) and ½U[−2, −1] + ½U[1,
2], CFG towards class +1 with w ∈ {0, 3, 15}, probability-flow ODE and reverse SDE (OU, T = 10,
t_min = 1e-3, prior start). Each of the 12 sub-problems is solved by fpguide at three resolutions
(half, default and twice the default's cells per width and steps) and sampled by ``fg.sample`` at a
few particle counts. Both are measured against a refined fpguide solve (:data:`REFERENCE`; the
change of its last doubling, printed and recorded, bounds its own error) on one output observable
that needs no density: the mass inside the class support [1, 2] for the uniform mixture, the
confidence E_q[p_t(c|x)] for the Gaussian mixture. Entropy errors are recorded too (for particles,
that of their m-spacing estimate).

What decides is what particles would need to match the default grid, by their standard error alone
(their bias from the time discretisation is ignored, which favours them): the observable is the mean
of a per-sample quantity f (the support's indicator, the class posterior), so n* = Var_q[f]/e²
particles reach the grid's error e, in n* times the measured time per particle. For the entropy even
an estimator that knew log q exactly would average log q(X_i), with standard deviation
sqrt(Var_q[log q]/n), so it needs n_H = Var_q[log q]/e_H² particles; real estimators (kNN, spacings,
histograms) do worse. Both variances are taken from the reference density.

:func:`weight_sweep` — 32 weights w = 0 … 31 on the Gaussian mixture, both samplers: the batched
sweep ``solve(target, CFG(label=1, w=weights), sampler)`` against the loop of single solves at
default settings and against particles of every weight; errors are the largest over the weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

import fpguide as fg
from fpguide.grids.autogrid import CELLS_PER_WIDTH
from fpguide.runs.grid_run import STEP_DEFAULTS

from .mode import Mode
from .record import FPGUIDE, Case, Config, measure

LABEL, T_MIN = 1, 1e-3  # the class guided towards; solve's and sample's default output time
TARGETS = {
    "gaussian": fg.GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    ),
    "uniform": fg.UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    ),
}
OBSERVABLE = {"gaussian": "confidence", "uniform": "support_mass"}
INTEGRATOR = {"ode": "RK4", "sde": "Euler–Maruyama"}
# seconds: the entropy claim is that particles cannot match the grid within this time
TIME_LIMIT = 600.0
TIME_RATIO = 100.0  # the observable claim: particles need at least this multiple of the grid's time


@dataclass(frozen=True)
class Resolution:
    """A multiple of the default resolution: ``space`` times the cells per feature width, ``time``
    times shorter steps (the log-SNR step and the bound on L·dt both divided by it)."""

    space: float
    time: float

    def settings(self, sampler: str) -> dict[str, float]:
        steps = STEP_DEFAULTS[sampler]
        return {
            "cells_per_width": CELLS_PER_WIDTH * self.space,
            "log_snr_step": steps["log_snr_step"] / self.time,
            "lipschitz": steps["lipschitz"] / self.time,
        }

    def halved(self) -> Resolution:
        return Resolution(self.space / 2, self.time / 2)

    def __str__(self) -> str:
        return "default" if self == DEFAULT else f"cells ×{self.space:g}, steps ×{self.time:g}"


DEFAULT = Resolution(1.0, 1.0)
LADDER = (Resolution(0.5, 0.5), DEFAULT, Resolution(2.0, 2.0))
# References, by (target, sampler), measured so that their last doubling changes the observables by
# well under the default's error. The Gaussian mixture's confidence is a midpoint sum over cells
# (second order in dx) on grids of at least 256 cells: 16x the cells. The SDE's error is mostly its
# O(dt²) splitting error: 8x shorter steps — with 2x or more the cells, since each remap adds an
# interpolation error (the uniform SDE at w = 0 with default cells and 4x shorter steps is 3e-5 off
# in support mass). The uniform mixture's support mass integrates the reconstruction exactly; its
# ODE error is the cells'.
REFERENCE = {
    ("gaussian", "ode"): Resolution(16.0, 4.0),
    ("gaussian", "sde"): Resolution(16.0, 8.0),
    ("uniform", "ode"): Resolution(4.0, 4.0),
    ("uniform", "sde"): Resolution(4.0, 8.0),
}
# A 32-weight sweep's grid already has the strongest weight's cells (640 for the SDE); 4x is what
# fits in the time.
SWEEP_REFERENCE = Resolution(4.0, 4.0)
SMOKE_REFERENCE = Resolution(2.0, 2.0)  # smoke mode checks the plumbing, not the numbers
# Particle counts of a sub-problem. From about 3000 particles the time per particle no longer falls
# (measured on 2 cores, 2026-12-02: 244, 226 and 226 µs at n = 3e3, 1e4 and 3e4 for the Gaussian
# ODE; the points are evaluated on all threads from 2048 on), so larger n would add minutes and
# change nothing.
PARTICLES = (1_000, 3_000, 10_000)
SMOKE_PARTICLES = (200,)
SWEEP_PARTICLES = 3_000  # particles per weight in the sweep
SMOKE_SWEEP_PARTICLES = 100


@dataclass(frozen=True)
class GuidedProblem:
    """One guided sampler on one target: a single weight, or a tuple of weights solved as one
    sweep."""

    target: str  # a key of TARGETS
    sampler: str
    w: float | tuple[float, ...]

    @property
    def size(self) -> str:
        weights = f"w={self.w:g}" if np.ndim(self.w) == 0 else f"{len(self.w)} weights"
        return f"{self.target} {self.sampler} {weights}"

    @property
    def observable(self) -> str:
        return OBSERVABLE[self.target]

    def guidance(self) -> fg.CFG:
        return fg.CFG(label=LABEL, w=self.w if np.ndim(self.w) == 0 else list(self.w))

    def solve(self, resolution: Resolution) -> xr.Dataset:
        return fg.solve(
            TARGETS[self.target],
            self.guidance(),
            self.sampler,
            progress=False,
            **resolution.settings(self.sampler),
        )

    def sample(self, n: int) -> xr.Dataset:
        return fg.sample(
            TARGETS[self.target], self.guidance(), self.sampler, n=n, seed=0, progress=False
        )

    def singles(self) -> list[GuidedProblem]:
        return [GuidedProblem(self.target, self.sampler, w) for w in self.w]


def largest_difference(a, b) -> float:
    """max |a − b| over the weights (or the one value)."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def grid_errors(problem: GuidedProblem, out, reference: xr.Dataset) -> dict[str, float]:
    """Errors of a solve's outputs (a Dataset, or lists of values by weight) against the
    reference's."""
    return {
        "observable error": largest_difference(
            out[problem.observable], reference[problem.observable]
        ),
        "entropy error": largest_difference(out["entropy"], reference["entropy"]),
    }


def time_steps(ds: xr.Dataset) -> int:
    """Time steps of a solve, summed over a sweep's items."""
    run = json.loads(ds.attrs["run"])
    return sum(item["n_steps"] for item in run.get("items", [run]))


def cells_note(ds: xr.Dataset) -> str:
    return f"{ds.sizes['x']} cells, {time_steps(ds)} steps"


def grid_config(problem: GuidedProblem, resolution: Resolution, reference: xr.Dataset) -> Config:
    """fpguide at one resolution; finer than the default it runs once (its time is that run's)."""

    def run() -> tuple[dict[str, float], int]:
        ds = problem.solve(resolution)
        config.note = cells_note(ds)
        return grid_errors(problem, fg.outputs(ds), reference), time_steps(ds)

    config = Config(
        FPGUIDE,
        "solve",
        str(resolution),
        run,
        size=problem.size,
        timed=resolution.space * resolution.time <= 1.0,
    )
    return config


def loop_config(problem: GuidedProblem, reference: xr.Dataset) -> Config:
    """The loop a user would write: one default solve per weight, each on its own automatic grid."""

    def run() -> tuple[dict[str, float], int]:
        runs = [single.solve(DEFAULT) for single in problem.singles()]
        out = {
            name: [float(fg.outputs(ds)[name]) for ds in runs]
            for name in (problem.observable, "entropy")
        }
        return grid_errors(problem, out, reference), sum(time_steps(ds) for ds in runs)

    return Config("loop of single solves", "", "default", run, size=problem.size)


def particle_config(problem: GuidedProblem, n: int, reference: xr.Dataset, timed: bool) -> Config:
    """``fg.sample`` with n particles (per weight): the observable's measured error and standard
    error, and the error of the particles' own entropy estimate (m-spacings)."""

    def run() -> tuple[dict[str, float], int]:
        out = fg.outputs(problem.sample(n))
        name = problem.observable
        return {
            "observable error": largest_difference(out[name], reference[name]),
            "observable standard error": float(np.max(out[f"{name}_se"])),
            "entropy error": largest_difference(out.entropy, reference.entropy),
        }, n * np.size(problem.w)

    return Config(
        "particles", INTEGRATOR[problem.sampler], f"n={n:g}", run, size=problem.size, timed=timed
    )


def cell_masses(out: xr.Dataset) -> np.ndarray:
    return out.density.values * np.diff(out.x_bounds.values, axis=-1)[:, 0]


def log_density_variance(out: xr.Dataset) -> np.ndarray:
    """Var_q[log q(X)] of each output density, from cell masses and the log of the cell averages (0
    log 0 = 0)."""
    mass = cell_masses(out)
    log_q = np.log(np.where(mass > 0, out.density.values, 1.0))
    return np.sum(mass * log_q**2, axis=-1) - np.sum(mass * log_q, axis=-1) ** 2


def observable_variance(problem: GuidedProblem, out: xr.Dataset) -> np.ndarray:
    """Var_q[f] of the per-sample quantity whose mean is the observable: the support's indicator,
    p(1 − p), or the class posterior p_t(c|x) at t_min (the same for every weight) over the
    cells."""
    mean = out[problem.observable].values
    if problem.observable == "support_mass":
        return mean * (1.0 - mean)
    model = fg.CFG(label=LABEL, w=0.0).bind(TARGETS[problem.target])
    posterior = np.exp(model.log_class_posterior(out.x.values, T_MIN, fg.OU()))
    return cell_masses(out) @ posterior**2 - mean**2


def particles_needed(variance: float, error: float) -> float:
    return variance / error**2 if error > 0 else math.inf


def claims(
    problem: GuidedProblem, reference: xr.Dataset, default: Config, particles: list[Config]
) -> dict:
    """The particles' cost of the default grid's accuracy, at their lowest measured time per
    particle. With several weights the particles must reach the grid's largest error at every
    weight: the counts add up over the weights (Σ Var / e²)."""
    per_particle = min(c.median / c.work for c in particles)
    n_star = particles_needed(
        float(np.sum(observable_variance(problem, reference))), default.errors["observable error"]
    )
    entropy_variance = float(np.sum(log_density_variance(reference)))
    n_entropy = particles_needed(entropy_variance, default.errors["entropy error"])
    ratio = n_star * per_particle / default.median
    return {
        "grid error": default.errors["observable error"],
        "grid time [s]": default.median,
        "time/particle [s]": per_particle,
        "n*": n_star,
        "particle time [s]": n_star * per_particle,
        "ratio": ratio,
        f"≥ {TIME_RATIO:g}×": "yes" if ratio >= TIME_RATIO else "NO",
        "grid H error": default.errors["entropy error"],
        "Var log q": entropy_variance,
        "n_H": n_entropy,
        "particle time H [s]": n_entropy * per_particle,
        f"H error in {TIME_LIMIT:g} s": math.sqrt(entropy_variance * per_particle / TIME_LIMIT),
        f"> {TIME_LIMIT:g} s": "yes" if n_entropy * per_particle > TIME_LIMIT else "NO",
    }


def reference_check(
    problem: GuidedProblem,
    resolution: Resolution,
    reference: xr.Dataset,
    default: Config,
    ladder: dict[Resolution, Config],
) -> dict[str, float]:
    """The change of the reference's last doubling of resolution, relative to the default's error:
    for convergence of order ≥ 1 that change bounds the reference's own error. Reuses a ladder run
    at the halved resolution."""
    half = resolution.halved()
    if half in ladder:
        change = ladder[half].errors
    else:
        change = grid_errors(problem, fg.outputs(problem.solve(half)), reference)
    row = {
        f"ref change / error ({name.split()[0]})": change[name] / default.errors[name]
        if default.errors[name] > 0
        else math.inf
        for name in ("observable error", "entropy error")
    }
    print(
        f"  {problem.size}: reference {resolution} against {half}: observable changes by "
        f"{change['observable error']:.2e}, entropy by {change['entropy error']:.2e}; default "
        "errors "
        f"{default.errors['observable error']:.2e}, "
        f"{default.errors['entropy error']:.2e}",
        flush=True,
    )
    return row


def reference_and_ladder(
    problem: GuidedProblem, resolution: Resolution, mode: Mode
) -> tuple[Resolution, xr.Dataset, dict[Resolution, Config]]:
    """The reference's resolution (smoke: a light one) and output, and fpguide at the ladder's
    resolutions."""
    resolution = mode.pick(resolution, SMOKE_REFERENCE)
    out = fg.outputs(problem.solve(resolution))
    return (
        resolution,
        out,
        {res: grid_config(problem, res, out) for res in mode.pick(LADDER, (DEFAULT,))},
    )


def reverse_process(problem: GuidedProblem, mode: Mode) -> tuple[list[Config], dict]:
    """One sub-problem: its configurations, measured, and its summary row."""
    resolution, out, ladder = reference_and_ladder(
        problem, REFERENCE[problem.target, problem.sampler], mode
    )
    counts = mode.pick(PARTICLES, SMOKE_PARTICLES)
    particles = [particle_config(problem, n, out, timed=n <= 1_000) for n in counts]
    configs = [*ladder.values(), *particles]
    measure(configs, mode.repeats)
    default = ladder[DEFAULT]
    row = {
        "sub-problem": problem.size,
        "observable": problem.observable,
        "reference": float(out[problem.observable]),
        **reference_check(problem, resolution, out, default, ladder),
        **claims(problem, out, default, particles),
    }
    return configs, row


def reference_note(references: dict[str, Resolution], mode: Mode) -> str:
    where = "; ".join(
        f"{name}: {mode.pick(resolution, SMOKE_REFERENCE)}"
        for name, resolution in references.items()
    )
    return (
        f"Reference: a refined fpguide solve ({where}). `ref change / error`: the change of "
        "the reference's last "
        "doubling of resolution, which bounds its error for convergence of order ≥ 1, as a "
        "fraction of the "
        "default's error. Work: time steps (summed over the weights of a sweep), or particles."
    )


PER_PARTICLE_NOTE = (
    "Time per particle: the lowest over the particle runs of time / particles — on a quiet machine "
    "that of the "
    "largest n (from about 3000 particles it no longer falls); on a loaded one the multithreaded "
    "evaluation of "
    "large runs can stall, and a smaller run may be cheaper per particle. Either way the choice "
    "favours particles."
)
CLAIMS_NOTE = (
    "Claim (a): n* = Var_q[f]/e² particles reach the default grid's error e on the observable (f "
    "the class support's "
    "indicator, Var = p(1 − p), or the class posterior p_t(c|x), Var over the reference density); "
    "`ratio` = n* × time "
    f"per particle / grid time must be ≥ {TIME_RATIO:g}. Claim (b): a particle estimate of the "
    "entropy has at least "
    "the standard deviation sqrt(Var_q[log q]/n) of the mean of log q(X_i) with the exact density "
    "— a lower bound that "
    "favours particles; real estimators (kNN, spacings, histograms) do worse — so it needs n_H = "
    "Var_q[log q]/e_H² "
    f"particles for the grid's entropy error e_H, which must take more than {TIME_LIMIT:g} s; `H "
    "error in "
    f"{TIME_LIMIT:g} s` is what that ideal estimator reaches in that time. Both ignore the "
    "particles' "
    "time-discretisation bias, which favours them further."
)


def reverse_processes(mode: Mode) -> Case:
    """The papers' guided reverse processes: fpguide's grid against particles (12 sub-problems;
    smoke: one)."""
    counts = mode.pick(PARTICLES, SMOKE_PARTICLES)
    case = Case(
        "guided",
        "Guided reverse process",
        error="observable error",
        target="particles",
        notes=[
            "Observable: the mass inside the class support [1, 2] (uniform mixture) or the "
            "confidence "
            "E_q[p_t(c|x)] "
            "(Gaussian mixture), at t_min. "
            + reference_note(
                {" ".join(key): resolution for key, resolution in REFERENCE.items()}, mode
            ),
            "Particles: `fg.sample` (RK4 for the ODE, Euler–Maruyama for the SDE, at its default "
            "log-SNR steps 0.05 and "
            f"0.01) with n = {', '.join(f'{n:g}' for n in counts)}; observable error measured "
            "against "
            "the reference, "
            "with its standard error. Runs with more than 1000 particles are timed once. "
            "" + PER_PARTICLE_NOTE,
            CLAIMS_NOTE,
        ],
    )
    for target in mode.pick(("gaussian", "uniform"), ("gaussian",)):
        for sampler in mode.pick(("ode", "sde"), ("ode",)):
            for w in mode.pick((0.0, 3.0, 15.0), (3.0,)):
                configs, row = reverse_process(GuidedProblem(target, sampler, w), mode)
                case.configs += configs
                case.summary.append(row)
    return case


def sweep(problem: GuidedProblem, mode: Mode) -> tuple[list[Config], dict]:
    """The batched sweep at the ladder's resolutions, the loop of single solves and particles of
    every weight; the summary row compares the default batched sweep with the loop and with
    particles."""
    resolution, out, ladder = reference_and_ladder(problem, SWEEP_REFERENCE, mode)
    loop = loop_config(problem, out)
    n = mode.pick(SWEEP_PARTICLES, SMOKE_SWEEP_PARTICLES)
    particles = particle_config(problem, n, out, timed=False)
    configs = [*ladder.values(), loop, particles]
    measure(configs, mode.repeats)
    default = ladder[DEFAULT]
    row = {
        "sampler": problem.sampler,
        "weights": len(problem.w),
        "loop [s]": loop.median,
        "loop / batched": loop.median / default.median,
        "loop H error": loop.errors["entropy error"],
        **reference_check(problem, resolution, out, default, ladder),
        **claims(problem, out, default, [particles]),
    }
    return configs, row


def weight_sweep(mode: Mode) -> Case:
    """32 weights on the Gaussian mixture, both samplers (smoke: 3 weights, the ODE)."""
    weights = tuple(float(w) for w in range(mode.pick(32, 3)))
    n = mode.pick(SWEEP_PARTICLES, SMOKE_SWEEP_PARTICLES)
    case = Case(
        "sweep",
        "Weight sweep",
        error="entropy error",
        target="faster",
        notes=[
            "fpguide: one batched `solve(target, CFG(label=1, w=weights), sampler)` (one grid; the "
            "weights advance in one "
            "engine run that shares the score evaluations) at the ladder's resolutions; peer: the "
            "loop "
            "of default single "
            "solves, each on its own grid. Errors: the largest over the weights. "
            + reference_note({"sweep": SWEEP_REFERENCE}, mode),
            f"Particles: `fg.sample` of every weight with {n} particles each, run once; time per "
            "particle = its time / "
            "(weights × n). The particle counts n* and n_H add up over the weights (Σ_w Var_w / "
            "e², e "
            "the grid's largest "
            "error over the weights).",
            CLAIMS_NOTE,
        ],
    )
    for sampler in mode.pick(("ode", "sde"), ("ode",)):
        configs, row = sweep(GuidedProblem("gaussian", sampler, weights), mode)
        case.configs += configs
        case.summary.append(row)
    return case
