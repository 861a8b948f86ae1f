"""Exact reduction in high dimension: an isotropic two-component mixture in d = 1 … 1000 dimensions.

p_0 = ½N(−u, I) + ½N(u, I) (u a random unit vector, plus an offset orthogonal to it), CFG towards
the second component with w = 3, T = 10, t_min = 1e-3. For every d the reduced solve is one 1-D grid
solve plus the closed-form Gaussian law across u, so its cost should not depend on d beyond a
constant. Prints per sampler and d the median wall time of ``REPEATS`` solves, the entropy and
confidence of the d-dimensional output, and the change in the entropy when the 1-D grid is refined
twice over (cells_per_width 8 instead of 4): the digits the d = 1000 entropy can be trusted to.
Usage: python benchmarks/high_d.py [repeats]
"""

import statistics
import sys
import time

import numpy as np

import fpguide as fg

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
DIMS = (1, 10, 100, 1000)


def mixture(d: int, rng: np.random.Generator) -> fg.GaussianMixture:
    if d == 1:
        return fg.GaussianMixture([-1.0, 1.0], 1.0, labels=[0, 1])
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    offset = rng.standard_normal(d)
    offset -= (offset @ u) * u
    return fg.GaussianMixture(np.array([offset - u, offset + u]), 1.0, labels=[0, 1])


def main() -> None:
    guide = fg.CFG(label=1, w=3.0)
    print(
        f"fpguide {fg.__version__}: isotropic two-component mixture, w=3, T=10, t_min=1e-3, "
        f"median of {REPEATS}"
    )
    print(
        f"{'sampler':<8}{'d':>6}{'seconds':>10}{'entropy':>16}{'refined - entropy':>19}"
        f"{'confidence':>12}"
    )
    # JIT warm-up
    fg.solve(mixture(3, np.random.default_rng(0)), guide, "sde", reduce=True, n_save=2)
    for sampler in ("ode", "sde"):
        for d in DIMS:
            target = mixture(d, np.random.default_rng(d))
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                ds = fg.solve(target, guide, sampler)
                times.append(time.perf_counter() - start)
            refined = fg.solve(target, guide, sampler, cells_per_width=8.0)
            entropy = float(ds["entropy"][-1])
            print(
                f"{sampler:<8}{d:>6}{statistics.median(times):>10.3f}{entropy:>16.8f}"
                f"{float(refined['entropy'][-1]) - entropy:>19.2e}"
                f"{float(ds['confidence'][-1]):>12.6f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
