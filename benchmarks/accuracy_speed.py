"""Accuracy and speed of fpguide's grid solver at its default settings.

What is measured, and against what (OU process, T = 10, t_min = 1e-3, prior start N(0, 1), CFG
towards label +1):

1. Gaussian mixture ½N(−1, 1) + ½N(1, 1), w ∈ {0, 1, 3, 7, 15}. ODE: L1 distance of the output cell
   masses, and the error of the output entropy, against the exact method of characteristics
   (``fpguide.results.exact``) driven by a drift written here independently of fpguide's score code
   (the noised components stay N(±m, 1), m = e^{−t}; it is checked against ``GuidedDynamics.drift``
   first). SDE: the output entropy against a refined grid solution (no closed form for the reverse
   SDE).
2. Uniform mixture ½U[−2, −1] + ½U[1, 2], same w: the output support mass (mass in the class-(+1)
   support [1, 2]) of the ODE and SDE against refined grid solutions. The refined ODE is also
   checked against characteristics (with fpguide's own drift, so that row validates the reference
   rather than being independent).
3. Speed: wall time of one full default solve (median of ``--repeats`` runs after a warm-up run),
   for the Gaussian mixture at w = 3 and 15 with both samplers (targeted), and the uniform mixture
   (for information).
4. Particles vs grid on the support mass (uniform mixture, w = 3): with e_grid the grid's
   support-mass error, a particle estimate of p has standard error sqrt(p(1 − p)/n), so it needs n*
   = p(1 − p)/e_grid² particles to be as accurate; t_particles(n*) = n* × (measured time per
   particle at n = 20000) is compared with the grid solve time. (This ignores the particle sampler's
   own time-discretisation bias, which only favours the grid further.)

Run from the repository root:  python benchmarks/accuracy_speed.py [--quick] [--repeats N]
``--quick`` runs w ∈ {0, 3} only (speed at w = 3 only), for smoke-testing. Timings are wall-clock
and noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import ndtr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fpguide as fg  # noqa: E402
from fpguide.models.dynamics import GuidedDynamics  # noqa: E402
from fpguide.results.exact import characteristic_entropy, characteristic_masses  # noqa: E402
from fpguide.runs.particles import sample  # noqa: E402

T, T_MIN, LABEL = 10.0, 1e-3, 1
GAUSSIAN = fg.GaussianMixture(
    means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
)
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
SUPPORT = (1.0, 2.0)  # support of the class-(+1) component of UNIFORM

# Refined references: 4x the cells per feature width, 4x smaller log-SNR steps, 5x tighter Lipschitz
# step control than the defaults (cells_per_width=4; ODE log_snr_step=0.2, SDE 0.05; lipschitz=0.5).
# For the uniform SDE that costs ~40-70 s per solve at w >= 3, so its reference is the lighter
# refinement below (2x cells, 2x smaller steps, 2x tighter Lipschitz); at w = 3 and 15 it agrees
# with the strong one to ~2e-6 in support mass.
REFINED = {
    "ode": {"cells_per_width": 16, "log_snr_step": 0.05, "lipschitz": 0.1},
    "sde": {"cells_per_width": 16, "log_snr_step": 0.0125, "lipschitz": 0.1},
}
REFINED_UNIFORM_SDE = {"cells_per_width": 8, "log_snr_step": 0.025, "lipschitz": 0.25}

TARGET_ACCURACY = 1e-3
TARGET_TIME = {"ode": 0.1, "sde": 0.2}
TARGET_RATIO = 100.0
N_PARTICLES = 20_000

coarse_warnings: list[str] = []
tables: list[Table] = []


# ------------------------------------------------------------------------------------------------
# helpers


def solve(target, w: float, sampler: str, **kwargs):
    """fg.solve with CoarseGridWarning recorded (and reported at the end) instead of printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fg.CoarseGridWarning)
        ds = fg.solve(target, fg.CFG(label=LABEL, w=w), sampler=sampler, T=T, t_min=T_MIN, **kwargs)
    for item in caught:
        if issubclass(item.category, fg.CoarseGridWarning):
            coarse_warnings.append(
                f"{type(target).__name__} {sampler} w={w} {kwargs or 'default'}: {item.message}"
            )
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
    return ds


def grid_of(ds) -> fg.Grid:
    return fg.Grid(**json.loads(ds.attrs["config"])["grid"])


def last(ds, name: str) -> float:
    return float(ds[name].values[-1])


def timings(fn, repeats: int, warmup: bool = True) -> tuple[float, float, float]:
    """(median wall, min wall, median process CPU) seconds of ``repeats`` calls of fn, after one
    warm-up call. The CPU time is less sensitive to other processes competing for the cores."""
    if warmup:
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), min(wall), statistics.median(cpu)


class Table:
    """Rows of (case, measured, target, PASS/FAIL); a target of None marks an informational row."""

    def __init__(self, title: str):
        self.title, self.rows = title, []
        tables.append(self)

    def add(
        self,
        case: str,
        value: float,
        target: float | None = None,
        *,
        fmt: str = ".2e",
        below: bool = True,
        unit: str = "",
    ):
        if target is None:
            status, target_text = "info", "-"
        else:
            ok = value <= target if below else value >= target
            status = "PASS" if ok else "FAIL"
            target_text = f"{'<=' if below else '>='} {target:{fmt}}{unit}"
        self.rows.append((case, f"{value:{fmt}}{unit}", target_text, status))
        print(f"  {case:<48} {self.rows[-1][1]:>12}  {target_text:>14}  {status}", flush=True)

    def header(self):
        print(f"\n{self.title}")
        print(f"  {'case':<48} {'measured':>12}  {'target':>14}  status")
        print(f"  {'-' * 48} {'-' * 12}  {'-' * 14}  ------")


# ------------------------------------------------------------------------ independent
# Gaussian-mixture drift


def gaussian_drift(w: float, sampler: str):
    """Reverse-time drift of CFG towards +1 for ½N(−1, 1) + ½N(1, 1) under OU, written from scratch.

    With m = e^{−t}, σ² = 1 − e^{−2t}, the noised components are N(±m, m² + σ²) = N(±m, 1), so ∇log
    p_t(x|+1) = m − x and ∇log p_t(x) = m tanh(m x) − x, and s_w = (1 + w)(m − x) − w(m tanh(m x) −
    x). OU has f = −1, g² = 2: v = x + s_w (probability-flow ODE) or v = x + 2 s_w (reverse SDE), τ
    = T − t.
    """
    c = 1.0 if sampler == "ode" else 2.0

    def drift(x, tau):
        m = np.exp(-(T - tau))
        score = (1.0 + w) * (m - x) - w * (m * np.tanh(m * x) - x)
        return x + c * score

    return drift


def check_drift(w: float) -> float:
    """Largest relative difference between the independent drift and fpguide's, over x and τ, both
    samplers."""
    x = np.linspace(-12.0, 12.0, 2001)
    worst = 0.0
    for sampler in ("ode", "sde"):
        ours = gaussian_drift(w, sampler)
        dyn = GuidedDynamics(fg.CFG(label=LABEL, w=w).bind(GAUSSIAN), fg.OU(), sampler, T)
        for tau in np.linspace(0.0, T - T_MIN, 23):
            a, b = ours(x, tau), dyn.drift(x, tau)
            worst = max(worst, float(np.max(np.abs(a - b) / (1.0 + np.abs(a)))))
    return worst


def exact_gaussian_ode(w: float, faces: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact output cell masses (between ``faces``) and entropy of the ODE, by characteristics."""
    drift = gaussian_drift(w, "ode")
    masses = characteristic_masses(drift, ndtr, faces, (0.0, T - T_MIN))
    entropy = characteristic_entropy(
        drift, lambda z: z, lambda x: -0.5 * x * x - 0.5 * np.log(2 * np.pi), (0.0, T - T_MIN)
    )
    return masses, entropy


# ------------------------------------------------------------------------------------------------
# sections


def section_gaussian(ws) -> None:
    table = Table(
        "1. Gaussian mixture, default settings: ODE vs characteristics, SDE vs refined "
        "grid "
        f"(SDE refinement {REFINED['sde']})"
    )
    table.header()
    for w in ws:
        table.add(f"drift check w={w:g} (independent vs fpguide)", check_drift(w), 1e-12)
        ode = solve(GAUSSIAN, w, "ode")
        grid = grid_of(ode)
        masses, entropy = exact_gaussian_ode(w, grid.faces)
        l1 = float(np.sum(np.abs(ode.density.values[-1] * grid.dx - masses)))
        table.add(f"ODE w={w:g} L1 cell masses vs exact (n={grid.n})", l1, TARGET_ACCURACY)
        table.add(
            f"ODE w={w:g} |H - H_exact| (H_exact={entropy:.5f})",
            abs(last(ode, "entropy") - entropy),
            TARGET_ACCURACY,
        )
        sde, ref = solve(GAUSSIAN, w, "sde"), solve(GAUSSIAN, w, "sde", **REFINED["sde"])
        table.add(
            f"SDE w={w:g} |H - H_refined| (H_ref={last(ref, 'entropy'):.5f})",
            abs(last(sde, "entropy") - last(ref, "entropy")),
            TARGET_ACCURACY,
        )


def section_uniform(ws) -> dict:
    """Support-mass errors of the default solves; returns {(sampler, w): (default, refined)} for
    section 4."""
    table = Table(
        "2. Uniform mixture, default settings: support mass vs refined grid (ODE "
        f"refinement {REFINED['ode']}; "
        f"SDE refinement {REFINED_UNIFORM_SDE})"
    )
    table.header()
    results = {}
    for w in ws:
        for sampler in ("ode", "sde"):
            refinement = REFINED["ode"] if sampler == "ode" else REFINED_UNIFORM_SDE
            ds, ref = solve(UNIFORM, w, sampler), solve(UNIFORM, w, sampler, **refinement)
            p, p_ref = last(ds, "support_mass"), last(ref, "support_mass")
            results[sampler, w] = (p, p_ref)
            table.add(
                f"{sampler.upper()} w={w:g} |P - P_refined| (P_ref={p_ref:.5g})",
                abs(p - p_ref),
                TARGET_ACCURACY,
            )
            if sampler == "ode":
                dyn = GuidedDynamics(fg.CFG(label=LABEL, w=w).bind(UNIFORM), fg.OU(), "ode", T)
                p_char = float(
                    np.sum(
                        characteristic_masses(dyn.drift, ndtr, np.array(SUPPORT), (0.0, T - T_MIN))
                    )
                )
                table.add(f"  (info) ODE w={w:g} |P_refined - P_charact.|", abs(p_ref - p_char))
    return results


def section_speed(ws, repeats: int) -> dict:
    """Median default-solve times; returns {(target name, sampler, w): seconds}."""
    table = Table(
        f"3. Speed: one full default solve, median wall time of {repeats} runs after a "
        "warm-up "
        "[min wall, median CPU] (seconds)"
    )
    table.header()
    times = {}
    for name, target, targeted in (("gaussian", GAUSSIAN, True), ("uniform", UNIFORM, False)):
        for w in ws:
            for sampler in ("ode", "sde"):
                seconds, fastest, cpu = timings(lambda: solve(target, w, sampler), repeats)
                times[name, sampler, w] = seconds
                table.add(
                    f"{name} {sampler.upper()} w={w:g} [{fastest:.3f}, {cpu:.3f}]",
                    seconds,
                    TARGET_TIME[sampler] if targeted else None,
                    fmt=".3f",
                    unit=" s",
                )
    return times


def section_particles(uniform: dict, times: dict, w: float = 3.0) -> None:
    table = Table(
        f"4. Particles vs grid on the support mass (uniform mixture, w={w:g}; time per "
        "particle at "
        f"n={N_PARTICLES}, median of 3)"
    )
    table.header()
    for sampler in ("ode", "sde"):
        p, p_ref = uniform[sampler, w]
        e_grid = abs(p - p_ref)
        n_star = p_ref * (1.0 - p_ref) / max(e_grid, 1e-300) ** 2
        runs = []

        def run():
            runs.append(
                sample(
                    UNIFORM,
                    fg.CFG(label=LABEL, w=w),
                    sampler=sampler,
                    n=N_PARTICLES,
                    seed=0,
                    T=T,
                    t_min=T_MIN,
                )
            )

        per_particle = timings(run, 3, warmup=False)[0] / N_PARTICLES
        t_grid = times["uniform", sampler, w]
        t_particles = n_star * per_particle
        particles = runs[-1]
        p_part, se = last(particles, "support_mass"), last(particles, "support_mass_se")
        table.add(f"{sampler.upper()} e_grid = |P - P_refined|", e_grid)
        table.add(f"{sampler.upper()} n* = p(1-p)/e_grid^2", n_star)
        table.add(f"{sampler.upper()} time per particle", per_particle, fmt=".2e", unit=" s")
        table.add(f"{sampler.upper()} t_particles(n*)", t_particles, fmt=".3g", unit=" s")
        table.add(f"{sampler.upper()} t_grid (section 3)", t_grid, fmt=".3f", unit=" s")
        table.add(
            f"{sampler.upper()} t_particles(n*) / t_grid",
            t_particles / t_grid,
            TARGET_RATIO,
            fmt=".3g",
            below=False,
        )
        table.add(
            f"  (info) {sampler.upper()} |P_part. - P_ref|/se, se={se:.1e}",
            abs(p_part - p_ref) / se,
            fmt=".2f",
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="w in {0, 3} only (speed at w = 3 only)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per speed case (after one warm-up)"
    )
    args = parser.parse_args(argv)
    ws = (0.0, 3.0) if args.quick else (0.0, 1.0, 3.0, 7.0, 15.0)
    speed_ws = (3.0,) if args.quick else (3.0, 15.0)

    print(f"fpguide {fg.__version__} accuracy/speed benchmark{' (--quick)' if args.quick else ''}")
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.platform()}; {platform.processor() or platform.machine()}; "
        f"cpu count {os.cpu_count()}; python {platform.python_version()}; numpy {np.__version__}"
    )
    print(f"setup: OU, T={T:g}, t_min={T_MIN:g}, prior start, CFG label={LABEL}")
    started = time.perf_counter()

    section_gaussian(ws)
    uniform = section_uniform(ws)
    times = section_speed(speed_ws, args.repeats)
    section_particles(uniform, times)

    print(f"\nCoarseGridWarning: {len(coarse_warnings)} raised" + (":" if coarse_warnings else ""))
    for message in coarse_warnings:
        print(f"  {message}")
    failed = [
        f"{table.title.split(':')[0]}: {case} = {value} (target {target})"
        for table in tables
        for case, value, target, status in table.rows
        if status == "FAIL"
    ]
    print(
        f"FAIL: {len(failed)} of "
        f"{sum(row[3] != 'info' for table in tables for row in table.rows)} checked rows"
    )
    for line in failed:
        print(f"  {line}")
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
