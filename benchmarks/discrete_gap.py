"""The discretisation gap of diffusers' schedulers: exact chain densities against the continuous
samplers they approximate.

For the papers' two targets guided with w = 3 and each scheduler with diffusers' default
configuration (DDIM, DDPM, FlowMatchEuler, Euler, Euler ancestral, Heun, DPM-Solver++ 2M and 3M,
UniPC-2 and -3), prints for N steps the L1 distance and the entropy difference between the N-step
chain's output and the continuous sampler of the same process (``fpguide.solve_discrete``'s
gap_l1, gap_entropy; the clean output is compared after the chain's own last step), the observed
order between consecutive N, the cells and the wall time of the whole call (chain + continuous
reference), and draws the gaps against N (benchmarks/figures/scheduler_gaps.png). Heun's N counts
its steps; it calls the network 2N − 1 times. Run: python benchmarks/discrete_gap.py [--quick]
"""

from __future__ import annotations

import math
import platform
import sys
import time
import warnings
from pathlib import Path

import fpguide as fg

STEPS = (10, 20, 40, 80)
TARGETS = {
    "Gaussian mixture": fg.GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    ),
    "uniform mixture": fg.UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    ),
}
SAMPLERS = {
    "DDIM (eta=0)": fg.DDIM,
    "DDPM (fixed_small)": fg.DDPM,
    "FlowMatchEuler (shift 3)": lambda n: fg.FlowMatchEuler(n, shift=3.0),
    "Euler": fg.Euler,
    "Euler ancestral": fg.EulerAncestral,
    "Heun": fg.Heun,
    "DPM-Solver++ 2M": fg.DPMSolverMultistep,
    "DPM-Solver++ 3M": lambda n: fg.DPMSolverMultistep(n, solver_order=3),
    "UniPC-2": fg.UniPCMultistep,
    "UniPC-3": lambda n: fg.UniPCMultistep(n, solver_order=3),
}
STOCHASTIC = ("DDPM (fixed_small)", "Euler ancestral")  # drawn dashed
FIGURE = Path(__file__).parent / "figures" / "scheduler_gaps.png"


def main(quick: bool = False) -> None:
    steps = STEPS[:2] if quick else STEPS
    guide = fg.CFG(label=1, w=3.0)
    fg.solve_discrete(TARGETS["Gaussian mixture"], guide, fg.DDIM(5))  # compile
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print("| target | sampler | N | gap L1 | gap entropy (nats) | order | cells | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    gaps = {}
    for target_name, target in TARGETS.items():
        for sampler_name, make in SAMPLERS.items():
            previous = None
            for n in steps:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", fg.CoarseGridWarning)
                    ds = fg.solve_discrete(target, guide, make(n))
                elapsed = time.perf_counter() - start
                gap = float(ds.gap_l1[-1])
                gaps.setdefault((target_name, sampler_name), []).append(gap)
                order = (
                    ""
                    if previous is None
                    else f"{math.log(previous[1] / gap) / math.log(n / previous[0]):.2f}"
                )
                print(
                    f"| {target_name} | {sampler_name} | {n} | {gap:.3e} | "
                    f"{float(ds.gap_entropy[-1]):+.3e} | "
                    f"{order} | {ds.sizes['x']} | {elapsed:.2f} |",
                    flush=True,
                )
                previous = (n, gap)
    if not quick:
        draw(steps, gaps)


def draw(steps: tuple[int, ...], gaps: dict) -> None:
    """The gaps against N, one panel per target, on log-log axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TARGETS), figsize=(11, 4.2), sharey=True)
    for ax, target_name in zip(axes, TARGETS):
        for sampler_name in SAMPLERS:
            style = "--" if sampler_name in STOCHASTIC else "-"
            ax.loglog(steps, gaps[target_name, sampler_name], style, marker="o", label=sampler_name)
        ax.set(title=f"{target_name}, w = 3", xlabel="steps N")
        ax.set_xticks(steps, [str(n) for n in steps])
        ax.minorticks_off()
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("L1 gap to the continuous sampler")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
