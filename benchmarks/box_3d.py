"""3-D box mixture: classes [1,2]×[−1,1]² and [−2,−1]×[−1,1]², w = 3, T = 10, t_min = 1e-3, on an n³
grid.

Prints per sampler the wall time, steps, cell-steps per second, peak resident memory of the process,
and the output entropy against the exact product reduction (the classes differ along x only: a
guided 1-D solve plus the unguided 1-D law of [−1, 1] twice, on fine 1-D grids). Usage: python
benchmarks/box_3d.py [n] [sampler ...]
"""

import json
import resource
import sys
import time
import warnings

from cases import BOX3 as BOX

import fpguide as fg

N = int(sys.argv[1]) if len(sys.argv) > 1 else 128
SAMPLERS = sys.argv[2:] or ["ode", "sde"]
GUIDE = fg.CFG(label=1, w=3.0)


def main() -> None:
    grid = fg.TensorGrid.from_bounds([-7.5, -7.5, -7.5], [8.5, 7.5, 7.5], N)
    print(
        f"fpguide {fg.__version__}: 3-D boxes, w=3, T=10, t_min=1e-3, grid {N}^3 "
        f"({grid.size:.3g} cells)"
    )
    print(
        f"{'sampler':<8}{'seconds':>10}{'steps':>7}{'cell-steps/s':>14}{'peak GB':>9}"
        f"{'entropy':>11}"
        f"{'reduced':>11}{'|diff|':>10}"
    )
    warnings.simplefilter("ignore", fg.CoarseGridWarning)
    fg.solve(
        BOX,
        GUIDE,
        "sde",
        grid=fg.TensorGrid.from_bounds([-7.5] * 3, [8.5, 7.5, 7.5], 16),
        n_save=2,
        wall_tol=1.0,
    )  # JIT warm-up
    for sampler in SAMPLERS:
        reference = float(fg.solve(BOX, GUIDE, sampler, reduce=True)["entropy"][-1])
        start = time.perf_counter()
        ds = fg.solve(BOX, GUIDE, sampler, grid=grid, n_save=3)
        seconds = time.perf_counter() - start
        steps = json.loads(ds.attrs["run"])["n_steps"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        entropy = float(ds["entropy"][-1])
        print(
            f"{sampler:<8}{seconds:>10.1f}{steps:>7}{grid.size * steps / seconds:>14.3g}"
            f"{peak:>9.2f}"
            f"{entropy:>11.5f}{reference:>11.5f}{abs(entropy - reference):>10.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
