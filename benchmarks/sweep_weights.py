"""32 guidance weights in 1-D, both samplers: the batched sweep against loops of single solves.

The batched sweep is ``solve(target, CFG(label=1, w=weights), sampler)``: one pilot for all weights,
one grid, one time loop whose drift evaluates p_t(x|c) and p_t(x) once per point and stage and
combines them per weight. It is compared, in the same run, with the loop a user would write
(``[solve(target, CFG(label=1, w=w), sampler) for w in weights]``, each on its own automatic grid)
and with the loop of the sweep's own items (the same grid, saved times and thresholds, one solve
each). Prints wall times (median of ``repeats``), ratios, and the largest difference between the
batched items and the same-grid single solves (the batch steps at the rate of its strongest weight).
Usage: python benchmarks/sweep_weights.py [repeats] [targets...]   (targets: gaussian uniform)
"""

import json
import statistics
import sys
import time

import numpy as np

import fpguide as fg

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
TARGETS = {
    "gaussian": fg.GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    ),
    "uniform": fg.UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    ),
}
CHOSEN = sys.argv[2:] or ["gaussian"]
WEIGHTS = np.arange(32.0)  # w = 0, 1, ..., 31


def timed(run):
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def grid_of(ds):
    return fg.Grid(float(ds.x_bounds[0, 0]), float(ds.x_bounds[-1, 1]), ds.sizes["x"])


print(
    f"fpguide {fg.__version__}: {WEIGHTS.size} weights w = {WEIGHTS[0]:g} ... {WEIGHTS[-1]:g}, "
    "OU, T = 10, "
    f"t_min = 1e-3, median of {REPEATS}"
)
print(
    f"{'target':<9}{'sampler':<8}{'batched s':>10}{'loop s':>9}{'ratio':>7}"
    f"{'same-grid loop s':>17}{'ratio':>7}"
    f"{'cells':>7}{'steps':>7}{'max |dH|':>10}{'max L1':>9}"
)
for name in CHOSEN:
    target = TARGETS[name]
    for sampler in ("ode", "sde"):
        fg.solve(target, fg.CFG(label=1, w=WEIGHTS[:2]), sampler, n_save=3)  # JIT warm-up
        batched, ds = timed(
            lambda: fg.solve(target, fg.CFG(label=1, w=WEIGHTS), sampler, progress=False)
        )
        loop, _ = timed(lambda: [fg.solve(target, fg.CFG(label=1, w=w), sampler) for w in WEIGHTS])
        grid, t_eval, thresholds = grid_of(ds), ds.t.values, ds.threshold.values
        same, singles = timed(
            lambda: [
                fg.solve(
                    target,
                    fg.CFG(label=1, w=w),
                    sampler,
                    grid=grid,
                    t_eval=t_eval,
                    thresholds=thresholds,
                )
                for w in WEIGHTS
            ]
        )
        dx = float(ds.x[1] - ds.x[0])
        entropy = max(
            abs(float(one.entropy[-1] - ds.entropy.sel(w=w)[-1]))
            for w, one in zip(WEIGHTS, singles)
        )
        l1 = max(
            float(np.abs(one.density[-1] - ds.density.sel(w=w)[-1]).sum()) * dx
            for w, one in zip(WEIGHTS, singles)
        )
        steps = json.loads(ds.attrs["run"])["items"][0]["n_steps"]
        print(
            f"{name:<9}{sampler:<8}{batched:>10.2f}{loop:>9.2f}{loop / batched:>7.1f}"
            f"{same:>17.2f}"
            f"{same / batched:>7.1f}{ds.sizes['x']:>7}{steps:>7}{entropy:>10.1e}"
            f"{l1:>9.1e}",
            flush=True,
        )
