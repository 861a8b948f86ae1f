"""fpguide's exact chains against diffusers' own schedulers on particles.

diffusers' scheduler (CPU torch, float32, its own ``set_timesteps`` and ``step``) runs 10^6
particles whose network output is the exact guided one (classifier-free guidance with w = 3 on the
papers' two standard targets, computed from fpguide's closed-form scores in float64); the output's
mean and variance and the Kolmogorov–Smirnov distance of its empirical CDF to fpguide's exact CDF of
the same chain (``solve_discrete``, its piecewise-parabolic reconstruction) are printed. With 10^6
particles the KS distance of an exact CDF is about 0.87e-3 (its 95 % quantile 1.36e-3) and the
standard error of the mean 1e-3 × the standard deviation.

Schedulers: FlowMatchEulerDiscreteScheduler (28 steps, shift 1 and 3), EulerDiscreteScheduler,
EulerAncestralDiscreteScheduler, HeunDiscreteScheduler and DPMSolverMultistepScheduler (2M, 2M
Karras, 3M, DPM-Solver 2M ending at sigma_min) and UniPCMultistepScheduler (orders 2 and 3) with
their default configurations; the network predicts ε, given the variance-preserving sample
(``scale_model_input``). A second table compares whole trajectories from 257 start points with
fpguide's own arithmetic (``literal_step``, ``literal_path``) for nine deterministic
configurations. Needs the optional
``diffusers`` and ``torch`` (``pip install diffusers torch``). Usage: python
benchmarks/diffusers_schedulers.py [n_particles]
"""

import inspect
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


# (diffusers class, configuration, steps, label) of the diffusion schedulers compared
SIGMA_SCHEDULERS = [
    ("EulerDiscreteScheduler", {}, 30, "Euler 30"),
    ("EulerDiscreteScheduler", {"use_karras_sigmas": True}, 30, "Euler 30 Karras"),
    ("EulerAncestralDiscreteScheduler", {}, 30, "EulerAncestral 30"),
    ("HeunDiscreteScheduler", {}, 15, "Heun 15"),
    ("DPMSolverMultistepScheduler", {}, 20, "DPM++ 2M 20"),
    ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}, 20, "DPM++ 2M Karras 20"),
    ("DPMSolverMultistepScheduler", {"solver_order": 3}, 20, "DPM++ 3M 20"),
    (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"},
        20,
        "DPM-Solver 2M 20 (to S_0)",
    ),
    (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 1},
        20,
        "SDE-DPM-Solver++ 1 20",
    ),
    ("UniPCMultistepScheduler", {}, 20, "UniPC-2 20"),
    ("UniPCMultistepScheduler", {"solver_order": 3}, 20, "UniPC-3 20"),
]
# deterministic configurations whose trajectories are compared point by point
TRAJECTORIES = [
    ("EulerDiscreteScheduler", {"use_karras_sigmas": True}, 10),
    ("HeunDiscreteScheduler", {"use_karras_sigmas": True}, 10),
    ("DPMSolverMultistepScheduler", {}, 20),
    ("DPMSolverMultistepScheduler", {"solver_order": 3, "solver_type": "heun"}, 28),
    (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"},
        12,
    ),
    ("UniPCMultistepScheduler", {"solver_order": 1}, 10),
    ("UniPCMultistepScheduler", {"solver_order": 3}, 28),
    ("UniPCMultistepScheduler", {"use_karras_sigmas": True, "disable_corrector": [2, 5]}, 12),
    (
        "UniPCMultistepScheduler",
        {"predict_x0": False, "solver_type": "bh1", "final_sigmas_type": "sigma_min"},
        12,
    ),
]


def run_sigma_scheduler(scheduler, sampler, target, steps: int, n: int, z=None):
    """A diffusion pipeline's loop: x = init_noise_sigma · z, then for each timestep the network's
    ε at the scheduler's current sigma s (the exact guided one, −σ s_w(y) with y the
    variance-preserving sample ``scale_model_input`` gives and σ = s/sqrt(1 + s²)), and ``step``."""
    import torch

    scheduler.set_timesteps(steps)
    model, process = GUIDE.bind(target), sampler.process()
    noisy = "generator" in inspect.signature(scheduler.step).parameters
    options = {"generator": torch.Generator().manual_seed(1)} if noisy else {}
    z = np.random.default_rng(0).standard_normal(n) if z is None else z
    x = torch.from_numpy(z * float(scheduler.init_noise_sigma)).to(torch.float32)[:, None]
    for k, timestep in enumerate(scheduler.timesteps):
        y = scheduler.scale_model_input(x, timestep)
        index = k if scheduler.step_index is None else scheduler.step_index
        s = float(scheduler.sigmas[index])
        t = float(sampler.time_of(np.array([s]))[0])
        eps = -s / np.hypot(s, 1.0) * model.guided_score(y.numpy()[:, 0].astype(float), t, process)
        output = torch.from_numpy(eps).to(torch.float32)[:, None]  # UniPC needs a 2-D batch
        x = scheduler.step(output, timestep, x, **options).prev_sample
    return x.numpy()[:, 0].astype(float)


def trajectory_gap(scheduler, steps: int) -> float:
    """max |diffusers − fpguide| at the end of the trajectories from 257 start points z in
    [−3.5, 3.5] (diffusers in float32, fpguide's ``literal_step`` / ``literal_path`` in float64),
    w = 3 on the Gaussian target."""
    sampler = fg.from_diffusers(scheduler, steps)
    z = np.linspace(-3.5, 3.5, 257)
    theirs = run_sigma_scheduler(scheduler, sampler, GAUSSIAN, steps, z.size, z)
    model, process = GUIDE.bind(GAUSSIAN), sampler.process()

    def score(y, t):
        return model.guided_score(y, t, process)

    plan, y = sampler.plan(), z * sampler.prior_law(model, process)[1]
    if sampler.multistep:
        y = sampler.literal_path(y, score, plan)[-1]
    for j in range(0 if sampler.multistep else len(plan)):
        y = sampler.literal_step(y, score, plan, j, 0.0)
    return float(np.max(np.abs(theirs - y)))


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
        for class_name, config, steps, label in SIGMA_SCHEDULERS:
            scheduler = getattr(diffusers, class_name)(**config)
            sampler = fg.from_diffusers(scheduler, steps)
            ds = fg.solve_discrete(target, GUIDE, sampler, compare=False)
            particles = run_sigma_scheduler(scheduler, sampler, target, steps, n)
            compare(f"{label} {target_name}", particles, ds)
    print("\ntrajectories from 257 start points in [-3.5, 3.5], w = 3, gaussian: max |diff|")
    for class_name, config, steps in TRAJECTORIES:
        gap = trajectory_gap(getattr(diffusers, class_name)(**config), steps)
        print(f"{class_name:30s} {steps:3d} steps {config}: {gap:.2e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
