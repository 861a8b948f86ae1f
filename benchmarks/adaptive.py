"""Adaptive grids (solve(grid="adaptive")) against the automatic uniform grid (grid=None), in the same process.

Per case and sampler: wall time of each, their ratio, the stages and the output's cells, and the entropy of each
against a reference (the exact product reduction for the 2-D boxes, a uniform solve with 4x the cells per width and
shorter steps in 1-D).
Usage: python benchmarks/adaptive.py [1d] [2d-ode] [2d-sde] [--t-min T]   (default: 1d, t_min = 1e-3)
"""

import argparse
import json
import time
import warnings

import fpguide as fg

UM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
GM = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1])
BOX = fg.UniformMixture(lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1])
parser = argparse.ArgumentParser(description="adaptive against uniform automatic grids")
parser.add_argument("cases", nargs="*", choices=["1d", "2d-ode", "2d-sde"], default=["1d"])
parser.add_argument("--t-min", type=float, default=1e-3)
options = parser.parse_args()
T_MIN = options.t_min


def timed(**kwargs):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = fg.solve(**kwargs)
    return time.perf_counter() - start, ds, sorted({type(w.message).__name__ for w in caught})


def reference(target, sampler, w):
    if target.ndim > 1:
        return fg.solve(target, fg.CFG(label=1, w=w), sampler, t_min=T_MIN, reduce=True)
    steps = {"log_snr_step": 0.0125 if sampler == "sde" else 0.05, "lipschitz": 0.25}
    return fg.solve(target, fg.CFG(label=1, w=w), sampler, t_min=T_MIN, cells_per_width=16, **steps)


runs = {"1d": [(name, target, sampler, w) for name, target in (("gaussian", GM), ("uniform", UM))
               for sampler, w in (("ode", 3.0), ("sde", 3.0), ("ode", 15.0), ("sde", 15.0))],
        "2d-ode": [("2-D boxes", BOX, "ode", 3.0)], "2d-sde": [("2-D boxes", BOX, "sde", 3.0)]}
fg.solve(UM, fg.CFG(label=1, w=3.0), "sde", grid="adaptive", t_min=0.1)  # compile
print(f"fpguide {fg.__version__}, t_min={T_MIN}, T=10")
print(f"{'case':<10}{'sampler':>8}{'w':>5}{'uniform s':>11}{'adaptive s':>11}{'speed-up':>9}{'stages':>7}"
      f"{'output cells':>14}{'uniform cells':>15}{'|dH| unif':>11}{'|dH| adapt':>11}  warnings")
for case in options.cases:
    for name, target, sampler, w in runs[case]:
        ref = float(reference(target, sampler, w).entropy[-1])
        t_u, uni, warn_u = timed(target=target, guidance=fg.CFG(label=1, w=w), sampler=sampler, t_min=T_MIN)
        t_a, ada, warn_a = timed(target=target, guidance=fg.CFG(label=1, w=w), sampler=sampler, t_min=T_MIN,
                                 grid="adaptive")
        stages = json.loads(ada.attrs["run"])["stages"]
        cells = lambda ds: int(ds.density.isel(t=0).size)  # noqa: E731
        print(f"{name:<10}{sampler:>8}{w:>5g}{t_u:>11.2f}{t_a:>11.2f}{t_u / t_a:>9.2f}{len(stages):>7}"
              f"{cells(ada):>14}{cells(uni):>15}{abs(float(uni.entropy[-1]) - ref):>11.2e}"
              f"{abs(float(ada.entropy[-1]) - ref):>11.2e}  {warn_u} {warn_a}", flush=True)
