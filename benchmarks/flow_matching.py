"""Guided rectified flow against OU: wall time of the continuous samplers in 1-D, and the distance
between their outputs at the same log-SNR.

For the papers' Gaussian and uniform mixtures at w = 3, ODE and SDE: OU as the papers run it
(T = 10, t_min = 1e-3); rectified flow (``fg.FlowMatching()``) from pure noise at T = 1 to the t_min
of the same log-SNR (0.0428: the same noise level at the output, hence the same law), and to t_min =
1e-3 (σ = 1e-3 at the output instead of OU's 0.045: a sharper law that needs finer cells). Times are
the median of R runs after one untimed run (compilation), on the default automatic grids. "L1 to
OU(T=20)" compares the rectified-flow output with OU from T = 20 (whose N(0, 1) start is e^−20 from
its law), both on one given grid; "L1 OU(T=10) to OU(T=20)" shows what OU's own start at T = 10
costs. Then the 28-step chains: FlowMatchEuler (shift 3) against DDIM on the default schedule,
each with its gap to its continuous sampler (``solve_discrete``'s default).
Usage: python benchmarks/flow_matching.py [R]
"""

import json
import statistics
import sys
import time

import numpy as np
import xarray as xr

import fpguide as fg

GAUSSIAN = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1])
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[-1, 1])
GUIDE = fg.CFG(label=1, w=3.0)
FLOW = fg.FlowMatching()
MATCHED = float(FLOW.t_of_log_snr(fg.OU().log_snr(1e-3)))


def timed(repeats: int, run, *args, **kwargs) -> tuple[float, xr.Dataset]:
    """The median wall time of ``run(*args, **kwargs)`` over ``repeats`` runs after an untimed one
    (compilation), and its last Dataset."""
    run(*args, **kwargs)
    times, ds = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        ds = run(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), ds


def l1(a: xr.Dataset, b: xr.Dataset, dx: float) -> float:
    return float(np.abs(a.density.values[-1] - b.density.values[-1]).sum() * dx)


def main(repeats: int) -> None:
    print(f"matched t_min of rectified flow: {MATCHED:.6f}")
    head = "target    sampler  OU s    RF s    ratio  RF(1e-3) s  steps OU/RF  cells OU/RF/RF(1e-3)"
    print(head + "  L1 to OU(T=20)  L1 OU(T=10) to OU(T=20)")
    for name, target in (("gaussian", GAUSSIAN), ("uniform", UNIFORM)):
        for sampler in ("ode", "sde"):
            base = {"target": target, "guidance": GUIDE, "sampler": sampler}
            ou_s, ou = timed(repeats, fg.solve, **base, T=10.0, t_min=1e-3)
            rf_s, rf = timed(repeats, fg.solve, **base, process=FLOW, T=1.0, t_min=MATCHED)
            sharp_s, sharp = timed(1, fg.solve, **base, process=FLOW, T=1.0, t_min=1e-3)
            grid = fg.Grid(**json.loads(ou.attrs["config"])["grid"])
            on_grid = {**base, "grid": grid, "n_save": 2}
            rf_g = fg.solve(**on_grid, process=FLOW, T=1.0, t_min=MATCHED)
            ou20 = fg.solve(**on_grid, T=20.0, t_min=1e-3)
            ou10 = fg.solve(**on_grid, T=10.0, t_min=1e-3)
            steps = [json.loads(ds.attrs["run"])["n_steps"] for ds in (ou, rf)]
            cells = [json.loads(ds.attrs["config"])["grid"]["n"] for ds in (ou, rf, sharp)]
            print(
                f"{name:9s} {sampler:8s} {ou_s:6.3f}  {rf_s:6.3f}  {rf_s / ou_s:5.2f}  "
                f"{sharp_s:10.2f}  {steps[0]:4d}/{steps[1]:<4d}   "
                f"{cells[0]}/{cells[1]}/{cells[2]:<14d}  {l1(rf_g, ou20, grid.dx):14.2e}  "
                f"{l1(ou10, ou20, grid.dx):10.2e}"
            )
    print(
        "\n28 steps (solve_discrete with its gap to the continuous sampler): target  DDIM s  "
        "FlowMatchEuler s  ratio  (shift 3)"
    )
    for name, target in (("gaussian", GAUSSIAN), ("uniform", UNIFORM)):
        ddim_s, _ = timed(repeats, fg.solve_discrete, target, GUIDE, fg.DDIM(28))
        euler_s, _ = timed(repeats, fg.solve_discrete, target, GUIDE, fg.FlowMatchEuler(28, 3.0))
        print(f"{name:9s} {ddim_s:6.3f}  {euler_s:6.3f}  {euler_s / ddim_s:5.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
