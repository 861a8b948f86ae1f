"""What ``solve(..., error_estimate=True)`` costs, and how its estimate compares with the error it
estimates.

For the standard 1-D cases (the Gaussian and uniform mixtures of the demo, w = 3, both samplers) it
times the plain solve and the solve with estimates in alternation (median of ``repeats``, after one
untimed run of each), and compares the estimated entropy error with the entropy's difference from a
solve 4x finer in space and time. Usage: python benchmarks/error_estimate_cost.py [repeats]
"""

import statistics
import sys
import time

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
FINER = {
    "ode": {"log_snr_step": 0.05, "lipschitz": 0.125},
    "sde": {"log_snr_step": 0.0125, "lipschitz": 0.25},
}


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


print(
    f"{'case':14} {'plain s':>8} {'estimate s':>10} {'ratio':>6} {'entropy error':>14} "
    f"{'estimate':>9}"
)
for name, target in TARGETS.items():
    for sampler in ("ode", "sde"):
        guide = fg.CFG(label=1, w=3.0)
        estimated = fg.solve(target, guide, sampler=sampler, error_estimate=True)
        fg.solve(target, guide, sampler=sampler)
        plain, with_estimate = [], []
        for _ in range(REPEATS):
            plain.append(timed(lambda: fg.solve(target, guide, sampler=sampler)))
            with_estimate.append(
                timed(lambda: fg.solve(target, guide, sampler=sampler, error_estimate=True))
            )
        fine = fg.solve(target, guide, sampler=sampler, cells_per_width=16.0, **FINER[sampler])
        error = abs(float(estimated.entropy[-1] - fine.entropy[-1]))
        a, b = statistics.median(plain), statistics.median(with_estimate)
        print(
            f"{name + ' ' + sampler:14} {a:8.3f} {b:10.3f} {b / a:6.2f} {error:14.2e} "
            f"{float(estimated.entropy_error[-1]):9.2e}"
        )
