"""fpguide's exact chains against diffusers' own schedulers on particles.

diffusers' scheduler (CPU torch, float32, its own ``set_timesteps`` and ``step``) runs 10^6
particles whose network output is the exact guided one (classifier-free guidance with w = 3 on the
papers' two standard targets, computed from fpguide's closed-form scores in float64); the output's
mean and variance and the Kolmogorov–Smirnov distance of its empirical CDF to fpguide's exact CDF of
the same chain (``solve_discrete``, its piecewise-parabolic reconstruction) are printed. With 10^6
particles the KS distance of an exact CDF is about 0.87e-3 (its 95 % quantile 1.36e-3) and the
standard error of the mean 1e-3 × the standard deviation.

Schedulers: FlowMatchEulerDiscreteScheduler (28 steps, shift 1 and 3). Needs the optional
``diffusers`` and ``torch`` (``pip install diffusers torch``). Usage: python
benchmarks/diffusers_schedulers.py [n_particles]
"""

import json
import sys

import numpy as np

import fpguide as fg
from fpguide.models.dynamics import zero_signal_mean
from fpguide.results.observables import Reconstruction

GAUSSIAN = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1])
UNIFORM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[-1, 1])
GUIDE = fg.CFG(label=1, w=3.0)


def flow_velocity(model, process, x: np.ndarray, sigma: float) -> np.ndarray:
    """The guided velocity v = ε̂ − x̂0 of X = (1 − σ) X_0 + σ Z from the exact guided score (at σ =
    1: x − c, c the guided denoiser's mean at zero signal)."""
    if sigma == 1.0:
        return x - zero_signal_mean(model, process)
    scale = np.hypot(1.0 - sigma, sigma)  # fpguide's frame Y = X/scale
    score = model.guided_score(x / scale, sigma, process) / scale  # the score of X
    return -sigma * score - (x + sigma**2 * score) / (1.0 - sigma)


def run_flow_match(target, steps: int, shift: float, n: int):
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(steps)
    model, process = GUIDE.bind(target), fg.FlowMatching()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(n)).to(torch.float32)
    for k, timestep in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[k])
        v = flow_velocity(model, process, x.numpy().astype(float), sigma)
        x = scheduler.step(torch.from_numpy(v).to(torch.float32), timestep, x).prev_sample
    return x.numpy().astype(float)


def compare(name: str, particles: np.ndarray, ds) -> None:
    grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    xs = np.sort(particles)
    empirical = np.arange(1, xs.size + 1) / xs.size
    # the exact CDF of the solved density: its piecewise-parabolic reconstruction's mass below xs
    inside = np.clip(xs, grid.lower, grid.upper)
    exact = Reconstruction(grid, ds.density.values[-1]).mass(np.full_like(xs, grid.lower), inside)
    ks = float(
        np.max(np.maximum(np.abs(empirical - exact), np.abs(empirical - 1 / xs.size - exact)))
    )
    print(
        f"{name:34s} mean {xs.mean():+.5f} / {float(ds['mean'][-1]):+.5f}   "
        f"var {xs.var():.5f} / {float(ds['variance'][-1]):.5f}   KS {ks:.2e}"
    )


def main(n: int) -> None:
    import diffusers
    import torch

    print(f"diffusers {diffusers.__version__}, torch {torch.__version__}, fpguide {fg.__version__}")
    print(f"{n} particles; columns: diffusers / fpguide")
    for target_name, target in (("gaussian", GAUSSIAN), ("uniform", UNIFORM)):
        for shift in (1.0, 3.0):
            from diffusers import FlowMatchEulerDiscreteScheduler

            # fpguide's sampler built from diffusers' own scheduler object
            sampler = fg.from_diffusers(FlowMatchEulerDiscreteScheduler(shift=shift), 28)
            ds = fg.solve_discrete(target, GUIDE, sampler, compare=False)
            particles = run_flow_match(target, 28, shift, n)
            compare(f"FlowMatchEuler 28 shift {shift:g} {target_name}", particles, ds)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
