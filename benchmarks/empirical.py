"""An EmpiricalMixture of n points in 2-D against the GaussianMixture of n components it stands for
(covariances 1e-12) and one with wider components (covariances 0.05², a kernel density estimate):
the guided score at the cells of a 256² grid (milliseconds, median of R) and the whole guided solve
(w = 2, default adaptive grid; seconds, one run each, interleaved R times, median). With
``kernels`` instead: the guided velocity along grid lines of the data set, the general kernel
(``line_velocity``) against the one for Gaussians (``line_velocity_gaussian``: vectorised, pruned
per chunk of points), at four diffusion times (ns per point and component, median of R).

    python benchmarks/empirical.py [N] [R] [T_MIN]      (defaults 1000 points, 3 repeats, 0.1)
    python benchmarks/empirical.py kernels [N] [R]

The data: two noisy half-moons of N/2 points each, labels 0 and 1, guided to class 1.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

import numpy as np

import fpguide as fg
from fpguide.models.targets import (
    gaussian_layout,
    line_tables,
    line_velocity,
    line_velocity_gaussian,
)


def moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Two interleaved half-moons of n/2 points each (noise 0.05), labels 0 and 1."""
    half = n // 2
    theta = rng.uniform(0.0, np.pi, n)
    upper = np.c_[np.cos(theta), np.sin(theta)]
    lower = np.c_[1.0 - np.cos(theta), 0.5 - np.sin(theta)]
    points = np.where(np.arange(n)[:, None] < half, upper, lower)
    return points + 0.05 * rng.normal(size=(n, 2)), [0] * half + [1] * (n - half)


def main(n: int, repeats: int, t_min: float) -> None:
    points, labels = moons(n, np.random.default_rng(0))
    targets = {
        "EmpiricalMixture": fg.EmpiricalMixture(points, labels=labels),
        "GaussianMixture 1e-12": fg.GaussianMixture(points, 1e-12, labels=labels),
        "GaussianMixture 0.05²": fg.GaussianMixture(points, 0.05**2, labels=labels),
    }
    guide = fg.CFG(label=1, w=2.0)
    axis = np.linspace(-2.0, 3.0, 256)
    cells = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    print(f"{n} points in 2-D; guided score at {cells.shape[0]} points (ms, median of {repeats})")
    for name, target in targets.items():
        model = guide.bind(target)
        model.guided_score(cells[:10], 0.1, fg.OU())  # compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.guided_score(cells, 0.1, fg.OU())
            times.append(time.perf_counter() - start)
        print(f"  {name:24s} {1e3 * statistics.median(times):8.1f}")
    print(f"guided solve, w = 2, t_min = {t_min:g} (s, median of the interleaved runs)")
    runs: dict[str, list[float]] = {name: [] for name in targets}
    shapes: dict[str, tuple] = {}
    for _ in range(repeats):
        for name, target in targets.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = fg.solve(target, guide, t_min=t_min, n_save=3)
            runs[name].append(time.perf_counter() - start)
            stages = json.loads(ds.attrs["run"])["stages"]
            shapes[name] = (
                [stage["shape"] for stage in stages],
                sum(stage["n_steps"] for stage in stages),
                float(ds.entropy[-1]),
            )
    for name in targets:
        stages, steps, entropy = shapes[name]
        print(
            f"  {name:24s} {statistics.median(runs[name]):7.1f}  steps {steps}  stages {stages}  "
            f"entropy {entropy:.10f}"
        )


def kernels(n: int, repeats: int) -> None:
    """The two line kernels on lines σ/4 apart (at most 0.02, the grid's spacing there) over
    [-2, 3]², at most 300 of them, each line's points moved by up to 0.3 of a spacing."""
    points, labels = moons(n, np.random.default_rng(0))
    model = fg.CFG(label=1, w=2.0).bind(fg.EmpiricalMixture(points, labels=labels))
    table, logw = model.table, (model.logw_u, model.logw_c)
    layout = gaussian_layout(table.kinds, *logw)
    print(f"{n} points in 2-D: guided velocity along lines (ns per point and component)")
    print("       t   sigma   lines x points   general   Gaussians   ratio   max difference")
    for t in (0.3, 0.1, 0.01, 1e-3):
        m, sigma = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
        spacing = min(sigma / 4, 0.02)
        along = np.arange(-2.0, 3.0, spacing)
        n_lines = min(along.size, 300)
        lines = np.zeros((n_lines, 2))
        lines[:, 1] = np.linspace(-2.0, 3.0, n_lines)
        x = along + 0.3 * spacing * np.sin(np.arange(n_lines))[:, None]
        p1, p2, offset = (np.empty((n_lines, n)) for _ in range(3))
        line_tables(0, lines, m, sigma, *table, p1, p2, offset)
        general, gaussian = np.empty_like(x), np.empty_like(x)
        times: dict[str, list[float]] = {"general": [], "gaussian": []}
        for _ in range(repeats + 1):  # the first compiles
            start = time.perf_counter()
            line_velocity(x, sigma, table.kinds, p1, p2, offset, *logw, 2.0, -1.0, 1.0, general)
            middle = time.perf_counter()
            line_velocity_gaussian(x, p1, p2, offset, *logw, layout, 2.0, -1.0, 1.0, gaussian)
            times["general"].append(middle - start)
            times["gaussian"].append(time.perf_counter() - middle)
        ns = {key: 1e9 * statistics.median(v[1:]) / (x.size * n) for key, v in times.items()}
        difference = np.abs(gaussian - general).max() / np.abs(general).max()
        print(
            f"  {t:6g}  {sigma:6.3f}  {n_lines:5d} x {x.shape[1]:5d}  {ns['general']:8.2f}"
            f"  {ns['gaussian']:10.2f}  {ns['general'] / ns['gaussian']:6.2f}   {difference:.1e}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "kernels":
        kernels(
            int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
            int(sys.argv[3]) if len(sys.argv) > 3 else 3,
        )
        sys.exit()
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        float(sys.argv[3]) if len(sys.argv) > 3 else 0.1,
    )
