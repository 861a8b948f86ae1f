"""The discretisation gap of diffusers' DDIM and DDPM: exact chain densities against the continuous
samplers.

For the papers' two targets guided with w = 3 (diffusers' default schedule: linear β, "leading"
spacing, K = 1000), prints for N steps the L1 distance and the entropy difference between the N-step
chain's output and the continuous sampler it approximates (``fpguide.solve_discrete``'s gap_l1,
gap_entropy), the observed order between consecutive N, and the wall time of the whole call (chain +
continuous reference). Run: python benchmarks/discrete_gap.py [--quick]
"""

from __future__ import annotations

import math
import platform
import sys
import time
import warnings

import fpguide as fg

STEPS = (10, 20, 50, 100, 200)
TARGETS = {
    "Gaussian mixture": fg.GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    ),
    "uniform mixture": fg.UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    ),
}
SAMPLERS = {"DDIM (eta=0)": lambda n: fg.DDIM(n), "DDPM (fixed_small)": lambda n: fg.DDPM(n)}


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
                order = (
                    ""
                    if previous is None
                    else f"{math.log(previous[1] / gap) / math.log(n / previous[0]):.2f}"
                )
                print(
                    f"| {target_name} | {sampler_name} | {n} | {gap:.3e} | "
                    f"{float(ds.gap_entropy[-1]):+.3e} | "
                    f"{order} | {ds.sizes['x']} | {elapsed:.2f} |"
                )
                previous = (n, gap)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
