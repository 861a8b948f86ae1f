"""Where a default solve spends its time: per decade of diffusion time, the steps, their wall time
and share, and the share of the grid's cells that hold density (above 1e-13 of the peak) at the
decade's end.

The 2-D boxes of issue 19 ([1,2]×[−1,1] against [−2,−1]×[−1,1], w = 3, T = 10). The per-step times
come from the engine's progress bar, replaced by one that records the wall clock at each update.
Usage: python benchmarks/cost_breakdown.py [ode|sde] [t_min] [grid]
(default: ode 1e-2, the automatic grid; grid "adaptive" breaks down an adaptive run)
"""

import importlib
import sys
import time
import warnings

import numpy as np

import fpguide as fg

evolve_module = importlib.import_module("fpguide.engine.evolve")
BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
SAMPLER = sys.argv[1] if len(sys.argv) > 1 else "ode"
T_MIN = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-2
GRID = sys.argv[3] if len(sys.argv) > 3 else None
T = 10.0
records = []  # (wall clock, reverse time reached) after every step


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.tau = None

    def update(self, dt):
        self.tau = (records[-1][1] if records else 0.0) + dt
        records.append((time.perf_counter(), self.tau))

    def close(self):
        pass


evolve_module.progress_bar = _Recorder
warnings.simplefilter("ignore", fg.CoarseGridWarning)
fg.solve(
    BOX,
    fg.CFG(label=1, w=3.0),
    SAMPLER,
    grid=fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], 32),
    n_save=2,
    wall_tol=1.0,
)  # compile
records.clear()
edges = np.array([10, 3, 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001])
edges = edges[edges >= T_MIN * (1 - 1e-12)]
start = time.perf_counter()
records.append((start, 0.0))
ds = fg.solve(BOX, fg.CFG(label=1, w=3.0), SAMPLER, t_min=T_MIN, t_eval=edges, grid=GRID)
total = time.perf_counter() - start
clock, tau = np.array(records).T
t = T - tau
print(
    f"{SAMPLER} t_min={T_MIN} grid={GRID}: {total:.1f} s, output "
    f"{ds.sizes['x']}x{ds.sizes['y']}, "
    f"{len(records) - 1} steps"
)
print(
    f"{'t from':>8}{'t to':>8}{'steps':>7}{'seconds':>9}{'share':>7}{'cells holding density':>23}"
)
for k in range(edges.size - 1):
    steps = np.flatnonzero((t < edges[k]) & (t >= edges[k + 1] * (1 - 1e-12)))
    seconds = float(np.sum(clock[steps] - clock[steps - 1]))
    q = ds.density.values[k + 1]
    print(
        f"{edges[k]:>8.3g}{edges[k + 1]:>8.3g}{steps.size:>7}{seconds:>9.2f}"
        f"{seconds / total:>7.2f}"
        f"{np.mean(q > 1e-13 * q.max()):>23.3f}"
    )
