"""Cost of the closed-form guided velocity along grid lines, the kernel that dominates the 2-D/3-D
solver.

The 2-D box mixture of box_2d.py (two noised boxes, CFG w = 3): v_a on a 512 × 513 block of line
points, along x and along y, at three diffusion times (wide, intermediate and sharp edge layers),
with 1 and 2 numba threads. Prints nanoseconds per point (median of 7 calls) and, for scale, one
``log_diff_ndtr`` call in the same regimes. Usage: python benchmarks/drift_kernel.py
"""

import statistics
import time

import numba
import numpy as np

import fpguide as fg
from fpguide.tools.special import log_diff_ndtr

BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
MODEL = fg.CFG(label=1, w=3.0).bind(BOX)
PROCESS = fg.OU()


def per_point(axis: int, t: float, x: np.ndarray, points: np.ndarray) -> float:
    MODEL.velocity_along(axis, x, points, t, PROCESS, 1.0, 1.0)  # compile / warm
    times = []
    for _ in range(7):
        start = time.perf_counter()
        MODEL.velocity_along(axis, x, points, t, PROCESS, 1.0, 1.0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / x.size * 1e9


@numba.njit(cache=True)
def _sum_log_diff(u, width):
    total = 0.0
    for i in range(u.size):
        value, grad = log_diff_ndtr(u[i], u[i] - width)
        total += value + grad
    return total


def main() -> None:
    lines, faces = 512, 513
    x = np.ascontiguousarray(np.broadcast_to(np.linspace(-7.5, 8.5, faces), (lines, faces)))
    points = np.zeros((lines, 2))
    points[:, 0] = points[:, 1] = np.linspace(-7.5, 7.5, lines)
    print(f"fpguide {fg.__version__}: guided line velocity, 2-D boxes, w=3, {lines}x{faces} points")
    print(f"{'t':>8}{'axis':>6}{'threads':>9}{'ns/point':>10}")
    for t in (5.0, 0.1, 1e-3):
        for axis in (0, 1):
            for threads in (1, 2):
                numba.set_num_threads(threads)
                print(
                    f"{t:>8g}{axis:>6}{threads:>9}{per_point(axis, t, x, points):>10.1f}",
                    flush=True,
                )
    print(f"\n{'log_diff_ndtr regime':<34}{'ns/call':>8}")
    rng = np.random.default_rng(0)
    for name, lo, hi, width in (
        ("bulk, straddling", -3.0, 3.0, 1.0),
        ("moderate lower tail", -30.0, -5.0, 22.0),
        ("moderate upper tail", 5.0, 30.0, 22.0),
        ("far tail", -100.0, -40.0, 22.0),
    ):
        u = rng.uniform(lo, hi, 1_000_000)
        _sum_log_diff(u, width)
        start = time.perf_counter()
        _sum_log_diff(u, width)
        print(f"{name:<34}{(time.perf_counter() - start) * 1e3:>8.1f}")


if __name__ == "__main__":
    main()
