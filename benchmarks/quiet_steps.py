"""The stochastic samplers' step rule on adaptive grids, measured on 1-D uniform grids: entropy
error and steps for uniform log-SNR steps with and without the exact linear part, and for steps
uniform in ∫ min(1, SNR^(η²/4)) dλ.

For the papers' Gaussian and uniform mixtures (OU, T = 10, t_min = 1e-3), on the grid of the default
solve: the output's entropy against a refined solve (16 cells per width, log-SNR step 0.0125, L·dt ≤
0.25). The variants: "before", uniform log-SNR steps (``tau_grid(quiet=False)``) without the exact
linear part (``ou_drift=False``); "linear", the same steps with it (what the uniform-grid default
runs); "quiet", the rule with it (what adaptive grids run). Entropies are the solves' own
(piecewise-parabolic) estimates. Usage: python benchmarks/quiet_steps.py
"""

import json
import time

import fpguide as fg
from fpguide.engine import evolve
from fpguide.models.dynamics import prepare_run, start_law
from fpguide.results.observables import Reconstruction

GAUSSIAN = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1])
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[-1, 1])
T, T_MIN, LOG_SNR_STEP = 10.0, 1e-3, 0.05
CASES = [
    ("gaussian", 1.0, 0.0),
    ("gaussian", 1.0, 3.0),
    ("gaussian", 1.0, 15.0),
    ("uniform", 1.0, 0.0),
    ("uniform", 1.0, 3.0),
    ("uniform", 1.0, 15.0),
    ("gaussian", 0.5, 15.0),
    ("uniform", 0.5, 15.0),
]
# the default grids are chosen for the default variant: without the linear part the uniforms at w =
# 0 lose 2.2e-9 through the walls, far below the entropy errors compared
WALL_TOL = 1e-6
# (ou_drift, quiet)
VARIANTS = {"before": (False, False), "linear": (True, False), "quiet": (True, True)}


def run(target, guide, eta, grid, ou_drift, quiet):
    """The SDE solve of :func:`fpguide.solve` on ``grid`` with the linear part and the step rule
    given: the output's entropy and the steps taken."""
    dyn = prepare_run(
        target, guide, "sde", T, T_MIN, None, "prior", 2, None, 0.1, None, eta=eta
    ).dyn
    log_start, _ = start_law(dyn, "prior")
    result = evolve(
        grid.cell_averages(log_start),
        dyn.drift,
        grid=grid,
        t_span=(0.0, T - T_MIN),
        diffusion=dyn.engine_diffusion,
        ou_drift=ou_drift,
        time_grid=dyn.tau_grid(T_MIN, LOG_SNR_STEP, quiet=quiet),
        lipschitz=1.0,
        wall_tol=WALL_TOL,
    )
    return float(Reconstruction(grid, result.q[-1:], "ppm").entropy()[0]), result.n_steps


def main() -> None:
    print(
        f"fpguide {fg.__version__}: 1-D SDE, OU, T={T}, t_min={T_MIN}, entropy error against a "
        "refined solve"
    )
    print(
        f"{'target':<10}{'eta':>5}{'w':>4}"
        + "".join(f"{name + ' steps':>14}{'|dH|':>9}{'s':>6}" for name in VARIANTS)
    )
    targets = {"gaussian": GAUSSIAN, "uniform": UNIFORM}
    for name, eta, w in CASES:
        guide = fg.CFG(label=1, w=w)
        ref = fg.solve(
            targets[name],
            guide,
            "sde",
            eta=eta,
            log_snr_step=0.0125,
            lipschitz=0.25,
            cells_per_width=16,
            n_save=2,
        )
        grid = fg.Grid(
            **json.loads(fg.solve(targets[name], guide, "sde", eta=eta, n_save=2).attrs["config"])[
                "grid"
            ]
        )
        row = f"{name:<10}{eta:>5g}{w:>4g}"
        for ou_drift, quiet in VARIANTS.values():
            start = time.perf_counter()
            entropy, steps = run(targets[name], guide, eta, grid, ou_drift, quiet)
            seconds = time.perf_counter() - start
            row += f"{steps:>14}{abs(entropy - float(ref.entropy[-1])):>9.1e}{seconds:>6.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
