"""Accuracy of the sampler variants against independent references (the numbers quoted in the code
and README).

1. Discrete chains (solve_discrete): the default grid against a 3x finer grid on the same extent (L1
   of the output, entropy difference), with the number of steps whose map folds.
2. Predictor-corrector (solve_pc): the relative variance error of a linear-Gaussian chain against
   its exact moments, for the corrector's step control L·dt (CORRECTOR_LIPSCHITZ).
3. VE and EDM (solve in the frame x/sqrt(1 + σ²)): the largest CDF error of the ODE output at 25
   quantiles pushed through the plain-frame probability flow by DOP853 (rtol 1e-10), with and
   without the frame scale.
Run: python benchmarks/variants_accuracy.py
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np

import fpguide as fg
import fpguide.runs.predictor_corrector as pcm
from fpguide.results.exact import plain_frame_quantiles, predictor_corrector_gaussian_moments

GM = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1])
UM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])


def discrete_refinement() -> None:
    print(
        "| target | sampler | w | cells | L1 vs 3x grid | entropy diff | steps with folds | time "
        "(s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, target in (("Gaussian", GM), ("uniform", UM)):
        for sampler in (fg.DDIM(10), fg.DDPM(10), fg.DDIM(50, eta=0.3)):
            for w in (3.0, 15.0):
                guide = fg.CFG(label=1, w=w)
                start = time.perf_counter()
                ds = fg.solve_discrete(target, guide, sampler, compare=False)
                elapsed = time.perf_counter() - start
                grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
                fine = fg.solve_discrete(
                    target,
                    guide,
                    sampler,
                    compare=False,
                    wall_tol=1e-6,
                    grid=fg.Grid(grid.lower, grid.upper, 3 * grid.n),
                )
                coarse = fine.density.values[-1].reshape(-1, 3).mean(axis=1)
                l1 = np.abs(ds.density.values[-1] - coarse).sum() * grid.dx
                folds = json.loads(ds.attrs["run"])["steps_with_folds"]
                print(
                    f"| {name} | {sampler.kind}({sampler.steps}, eta={sampler.eta}) | {w:g} | "
                    f"{grid.n} | {l1:.1e} | "
                    f"{float(ds.entropy[-1] - fine.entropy[-1]):+.1e} | {folds} | {elapsed:.2f} "
                    "|"
                )


def corrector_step_control() -> None:
    mu_c, a, b, gamma, rho, T = 1.0, 0.5, 2.0, 2.5, 0.7, 3.0
    guide = fg.CFG(gamma=gamma, cond=fg.GaussianMixture(means=[mu_c], covariances=a))
    print("| corrector L·dt | relative variance error | time (s) |")
    print("|---|---|---|")
    default = pcm.CORRECTOR_LIPSCHITZ
    for lipschitz in (0.2, 0.05, 0.02, 0.01, 0.0025):
        pcm.CORRECTOR_LIPSCHITZ = lipschitz
        start = time.perf_counter()
        ds = fg.solve_pc(
            fg.GaussianMixture(means=[0.0], covariances=b),
            guide,
            fg.PredictorCorrector(6, rho),
            T=T,
            t_min=1e-2,
        )
        elapsed = time.perf_counter() - start
        _, variance = predictor_corrector_gaussian_moments(ds.t.values, mu_c, a, b, gamma, rho, T)
        print(
            f"| {lipschitz:g}{' (default)' if lipschitz == default else ''} | "
            f"{np.abs(ds.variance.values / variance - 1).max():.1e} | {elapsed:.2f} |"
        )
    pcm.CORRECTOR_LIPSCHITZ = default


def variance_exploding_frame() -> None:
    print("| process | cells | CDF error (frame scaled) | CDF error (not scaled) | time (s) |")
    print("|---|---|---|---|---|")
    w, levels = 3.0, np.linspace(0.02, 0.98, 25)
    for process, T, t_min in ((fg.VE(), 1.0, 1e-3), (fg.EDM(), 80.0, 0.002)):
        y_out = plain_frame_quantiles(fg.CFG(label=1, w=w).bind(UM), process, T, t_min, levels)
        start = time.perf_counter()
        ds = fg.solve(
            UM, fg.CFG(label=1, w=w), sampler="ode", process=process, T=T, t_min=t_min, n_save=2
        )
        elapsed = time.perf_counter() - start
        grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
        cdf = np.concatenate([[0.0], np.cumsum(ds.density.values[-1]) * grid.dx])
        errors = [
            np.max(np.abs(np.interp(y_out * scale, grid.faces, cdf) - levels))
            for scale in (1.0, float(process.frame_scale(t_min)))
        ]
        print(f"| {process.name} | {grid.n} | {errors[0]:.1e} | {errors[1]:.1e} | {elapsed:.2f} |")


if __name__ == "__main__":
    warnings.simplefilter("ignore", fg.CoarseGridWarning)
    fg.solve_discrete(GM, fg.CFG(label=1, w=1.0), fg.DDIM(3), compare=False)  # compile
    print(f"# {time.strftime('%Y-%m-%d')}")
    discrete_refinement()
    print()
    corrector_step_control()
    print()
    variance_exploding_frame()
