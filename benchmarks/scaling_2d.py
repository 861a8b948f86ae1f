"""Scaling of the 2-D solver: the box mixture of box_2d.py (w = 3, T = 10, t_min = 1e-3) on n × n grids.

Prints per sampler, grid and numba thread count the wall time, the steps, the cost per cell-step and the throughput
in cell-steps per second next to the roofline measured in the same run: a bare numba flux-stencil update
q_i ← q_i − c (F_{i+1/2} − F_{i−1/2}) over the same n × n array (DESIGN §4). A cell-step of the solver is d
advection sweeps (each an RK4 trace through the closed-form guided velocity and a conservative remap) plus, for
the SDE, the heat convolutions; the ratio says how far the closed-form drift keeps it from a bare stencil.
Usage: python benchmarks/scaling_2d.py [max_n_ode] [max_n_sde] [threads ...]
"""

import json
import statistics
import sys
import time
import warnings

import numba
import numpy as np

import fpguide as fg

MAX_N = {"ode": int(sys.argv[1]) if len(sys.argv) > 1 else 1024, "sde": int(sys.argv[2]) if len(sys.argv) > 2 else 512}
THREADS = [int(v) for v in sys.argv[3:]] or [numba.get_num_threads()]
BOX = fg.UniformMixture(lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1])
GUIDE = fg.CFG(label=1, w=3.0)


@numba.njit(parallel=True, cache=True)
def _flux_stencil(q, out, c):
    """One upwind flux-difference update per cell, lines in parallel: the roofline of a conservative stencil."""
    n, m = q.shape
    for i in numba.prange(n):
        for j in range(1, m - 1):
            out[i, j] = q[i, j] - c * (q[i, j] - q[i, j - 1])
    return out


def roofline(n: int) -> float:
    """Cell updates per second of the bare stencil on an n × n array (median of 5 timings of 20 sweeps)."""
    q, out = np.random.default_rng(0).random((n, n)), np.empty((n, n))
    _flux_stencil(q, out, 0.3)
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            _flux_stencil(q, out, 0.3)
        rates.append(20 * n * n / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    warnings.simplefilter("ignore", fg.CoarseGridWarning)
    print(f"fpguide {fg.__version__}: 2-D boxes, w=3, T=10, t_min=1e-3; roofline = bare numba flux stencil")
    print(f"{'sampler':<8}{'n':>6}{'threads':>8}{'seconds':>10}{'steps':>7}{'ns/cell-step':>14}"
          f"{'cell-steps/s':>14}{'roofline':>11}{'% roof':>8}")
    fg.solve(BOX, GUIDE, "sde", grid=fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], 32), n_save=2,
             wall_tol=1.0)  # JIT warm-up
    for sampler in ("ode", "sde"):
        n = 64
        while n <= MAX_N[sampler]:
            grid = fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], n)
            for threads in THREADS:
                numba.set_num_threads(threads)
                roof = roofline(n)
                start = time.perf_counter()
                ds = fg.solve(BOX, GUIDE, sampler, grid=grid, n_save=5, wall_tol=1e-6)
                seconds = time.perf_counter() - start
                steps = json.loads(ds.attrs["run"])["n_steps"]
                rate = grid.size * steps / seconds
                print(f"{sampler:<8}{n:>6}{threads:>8}{seconds:>10.2f}{steps:>7}{1e9 / rate:>14.1f}{rate:>14.3g}"
                      f"{roof:>11.3g}{100 * rate / roof:>8.2f}", flush=True)
            n *= 2


if __name__ == "__main__":
    main()
