"""2-D box mixture of the issue: classes [1,2]×[−1,1] and [−2,−1]×[−1,1], w = 3, T = 10, t_min =
1e-3, 512×512 grid.

Prints, per sampler and numba thread count: wall time, steps, cell-steps per second, and the output
entropy against the exact product reduction (the classes differ along x only, so q = q_x q_y and H =
H_x + H_y: ``reduce=True`` solves both factors in 1-D on fine grids). Usage: python
benchmarks/box_2d.py [n_cells_per_axis] [threads ...]
"""

import json
import sys
import time
import warnings

import numba

import fpguide as fg

N = int(sys.argv[1]) if len(sys.argv) > 1 else 512
THREADS = [int(v) for v in sys.argv[2:]] or [numba.get_num_threads()]
BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
GUIDE = fg.CFG(label=1, w=3.0)
GRID = fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], N)

print(f"fpguide {fg.__version__}: 2-D boxes, w=3, T=10, t_min=1e-3, grid {N}x{N}")
print(
    f"{'sampler':<8}{'threads':>8}{'seconds':>10}{'steps':>7}{'cell-steps/s':>14}{'entropy':>11}"
    f"{'1-D sum':>11}"
    f"{'|diff|':>10}"
)
warnings.simplefilter("ignore", fg.CoarseGridWarning)
# JIT warm-up
fg.solve(
    BOX,
    GUIDE,
    "sde",
    grid=fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], 32),
    n_save=2,
    wall_tol=1.0,
)
for sampler in ("ode", "sde"):
    # exact product reduction
    reference = float(fg.solve(BOX, GUIDE, sampler, reduce=True)["entropy"][-1])
    for threads in THREADS:
        numba.set_num_threads(threads)
        start = time.perf_counter()
        ds = fg.solve(BOX, GUIDE, sampler, grid=GRID, n_save=5)
        seconds = time.perf_counter() - start
        steps = json.loads(ds.attrs["run"])["n_steps"]
        entropy = float(ds["entropy"][-1])
        print(
            f"{sampler:<8}{threads:>8}{seconds:>10.1f}{steps:>7}"
            f"{GRID.size * steps / seconds:>14.3g}"
            f"{entropy:>11.5f}{reference:>11.5f}{abs(entropy - reference):>10.2e}",
            flush=True,
        )
