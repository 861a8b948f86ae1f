"""SDE step control: the error of the 1-D reverse-SDE solve against a refined solve, per trace order
and L·dt bound.

For the papers' Gaussian and uniform mixtures (CFG w = 3 and 15, OU, T = 10, t_min = 1e-3) on the
default solve's grid: the output's L1 distance and entropy difference to a refined solve (log-SNR
step 0.0125, L·dt ≤ 0.1, 8 cells per width), for the departure trace of order 4 and 3 (the engine's
choice with diffusion) and for L·dt ≤ 0.5 and 1 (the default). Shows that the SDE's error is its
O(dt²) splitting error, not the trace's. Usage: python benchmarks/sde_step_control.py
"""

import json
import time

import numpy as np

import fpguide as fg
from fpguide.engine import evolve
from fpguide.models.dynamics import prepare_run, start_law

GAUSSIAN = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1])
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[-1, 1])
T, T_MIN, LOG_SNR_STEP = 10.0, 1e-3, 0.05


def run(target, guide, grid, lipschitz, order):
    """The SDE solve of :func:`fpguide.solve` on ``grid``, with the trace order given; output
    density and steps."""
    dyn = prepare_run(target, guide, "sde", T, T_MIN, None, "prior", 2, None, 0.1, None).dyn
    log_start, _ = start_law(dyn, "prior")
    result = evolve(
        grid.cell_averages(log_start),
        dyn.drift,
        grid=grid,
        t_span=(0.0, T - T_MIN),
        diffusion=dyn.engine_diffusion,
        time_grid=dyn.tau_grid(T_MIN, LOG_SNR_STEP),
        lipschitz=lipschitz,
        trace_order=order,
    )
    return result.q[-1], result.n_steps


def main() -> None:
    print(
        f"fpguide {fg.__version__}: 1-D SDE, OU, T={T}, t_min={T_MIN}, error against a refined "
        "solve"
    )
    print(
        f"{'target':<10}{'w':>4}{'L*dt':>6}{'order':>6}{'steps':>7}{'L1':>10}{'|dH|':>10}"
        f"{'seconds':>9}"
    )
    for name, target in (("gaussian", GAUSSIAN), ("uniform", UNIFORM)):
        for w in (3.0, 15.0):
            guide = fg.CFG(label=1, w=w)
            ref = fg.solve(
                target,
                guide,
                "sde",
                log_snr_step=0.0125,
                lipschitz=0.1,
                cells_per_width=8,
                n_save=2,
            )
            grid = fg.Grid(**json.loads(ref.attrs["config"])["grid"])
            q_ref = ref.density.values[-1]
            h_ref = -np.sum(q_ref[q_ref > 0] * np.log(q_ref[q_ref > 0])) * grid.dx
            for lipschitz in (0.5, 1.0):
                for order in (4, 3):
                    start = time.perf_counter()
                    q, steps = run(target, guide, grid, lipschitz, order)
                    seconds = time.perf_counter() - start
                    entropy = -np.sum(q[q > 0] * np.log(q[q > 0])) * grid.dx
                    print(
                        f"{name:<10}{w:>4g}{lipschitz:>6g}{order:>6}{steps:>7}"
                        f"{np.abs(q - q_ref).sum() * grid.dx:>10.2e}"
                        f"{abs(entropy - h_ref):>10.2e}{seconds:>9.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
