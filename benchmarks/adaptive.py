"""Adaptive grids (solve(grid="adaptive")) against the automatic uniform grid (grid=None).

Per case and sampler: wall time of each, their ratio, the stages and the output's cells, the
process's peak memory so far, and the entropy of each (and the adaptive solve's support mass)
against a reference (the exact product reduction for the 2-D and 3-D boxes; an adaptive solve with
twice the cells per width and shorter steps for the 2-D ring; a uniform solve with 4x the cells per
width and shorter steps in 1-D). With ``--baseline TREE`` the uniform solves run instead with the
fpguide of another source tree (e.g. a git worktree of an older commit), each in its own process
after a warm-up solve, alternating with this tree's adaptive solves: speed-ups against older code
measured in the same run. Usage: python benchmarks/adaptive.py [1d] [2d-ode] [2d-sde] [2d-ring-ode]
[2d-ring-sde] [3d-ode] [3d-sde] [--t-min T]
[--baseline TREE] [--adaptive-only]   (default: 1d, t_min = 1e-3)
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings

from cases import BOX, BOX3, GM, RING, UM

import fpguide as fg

parser = argparse.ArgumentParser(description="adaptive against uniform automatic grids")
parser.add_argument(
    "cases",
    nargs="*",
    default=["1d"],
    choices=["1d", "2d-ode", "2d-sde", "2d-ring-ode", "2d-ring-sde", "3d-ode", "3d-sde"],
)
parser.add_argument("--t-min", type=float, default=1e-3)
parser.add_argument(
    "--baseline", metavar="TREE", help="time the uniform solves with the fpguide of this tree"
)
parser.add_argument(
    "--adaptive-only", action="store_true", help="no uniform solves (their columns are empty)"
)
options = parser.parse_args()
T_MIN = options.t_min
# the uniform solve of a case, in a process of its own on the baseline tree: a warm-up solve
# (compiling its kernels), then the timed one; prints its seconds, final entropy and cells as JSON
BASELINE = """
import json, sys, time, warnings
sys.path.insert(0, {folder!r})
from cases import TARGETS
import fpguide as fg
target = TARGETS[{name!r}]
fg.solve(target, fg.CFG(label=1, w={w!r}), {sampler!r}, t_min=0.5, n_save=2)
start = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ds = fg.solve(target, fg.CFG(label=1, w={w!r}), {sampler!r}, t_min={t_min!r})
seconds, cells = time.perf_counter() - start, int(ds.density.isel(t=0).size)
warned = sorted({{type(w.message).__name__ for w in caught}})
print(json.dumps([seconds, float(ds.entropy[-1]), cells, warned, fg.__file__]))
"""


def timed(**kwargs):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = fg.solve(**kwargs)
    return time.perf_counter() - start, ds, sorted({type(w.message).__name__ for w in caught})


def baseline(name, sampler, w):
    """(seconds, final entropy, cells, warnings) of the uniform solve on the baseline tree."""
    code = BASELINE.format(
        folder=os.path.dirname(os.path.abspath(__file__)),
        name=name,
        w=w,
        sampler=sampler,
        t_min=T_MIN,
    )
    tree = os.path.abspath(options.baseline)
    # -P: no current directory on the path (from the repository root it would hold this tree's
    # fpguide)
    out = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env=os.environ | {"PYTHONPATH": tree},
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    *result, module = json.loads(out.stdout.strip().splitlines()[-1])
    if not os.path.abspath(module).startswith(tree + os.sep):
        raise RuntimeError(f"the baseline process imported fpguide from {module}, not from {tree}")
    return result


def peak_gb() -> float:
    """The largest resident memory this process has had so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def support_error(ds, reference_ds) -> float:
    """|support mass − the reference's| at t_min (NaN for targets without a bounded support)."""
    if "support_mass" not in reference_ds:
        return math.nan
    return abs(float(ds.support_mass[-1]) - float(reference_ds.support_mass[-1]))


def reference(target, sampler, w):
    # no closed form: the adaptive solve with twice the cells per width and shorter steps
    if target is RING:
        steps = {"log_snr_step": 0.025 if sampler == "sde" else 0.1, "lipschitz": 0.25}
        return fg.solve(
            target,
            fg.CFG(label=1, w=w),
            sampler,
            t_min=T_MIN,
            grid="adaptive",
            cells_per_width=8,
            **steps,
        )
    if target.ndim > 1:
        return fg.solve(target, fg.CFG(label=1, w=w), sampler, t_min=T_MIN, reduce=True)
    steps = {"log_snr_step": 0.0125 if sampler == "sde" else 0.05, "lipschitz": 0.25}
    return fg.solve(target, fg.CFG(label=1, w=w), sampler, t_min=T_MIN, cells_per_width=16, **steps)


runs = {
    "1d": [
        (name, target, sampler, w)
        for name, target in (("gaussian", GM), ("uniform", UM))
        for sampler, w in (("ode", 3.0), ("sde", 3.0), ("ode", 15.0), ("sde", 15.0))
    ],
    "2d-ode": [("2-D boxes", BOX, "ode", 3.0)],
    "2d-sde": [("2-D boxes", BOX, "sde", 3.0)],
    "2d-ring-ode": [("2-D ring", RING, "ode", 3.0)],
    "2d-ring-sde": [("2-D ring", RING, "sde", 3.0)],
    "3d-ode": [("3-D boxes", BOX3, "ode", 3.0)],
    "3d-sde": [("3-D boxes", BOX3, "sde", 3.0)],
}
fg.solve(UM, fg.CFG(label=1, w=3.0), "sde", grid="adaptive", t_min=0.1)  # compile
print(
    f"fpguide {fg.__version__}, t_min={T_MIN}, T=10, uniform solves from "
    f"{options.baseline or 'this tree'}"
)
print(
    f"{'case':<10}{'sampler':>8}{'w':>5}{'uniform s':>11}{'adaptive s':>11}{'speed-up':>9}"
    f"{'stages':>7}"
    f"{'output cells':>14}{'uniform cells':>15}{'peak GB':>8}{'|dH| unif':>11}{'|dH| adapt':>11}"
    f"{'|dS| adapt':>11}"
    "  warnings"
)
for case in options.cases:
    for name, target, sampler, w in runs[case]:
        reference_ds = reference(target, sampler, w)
        ref = float(reference_ds.entropy[-1])
        if options.adaptive_only:
            t_u, h_u, cells_u, warn_u = math.nan, math.nan, 0, []
        elif options.baseline:
            t_u, h_u, cells_u, warn_u = baseline(name, sampler, w)
        else:
            t_u, uni, warn_u = timed(
                target=target, guidance=fg.CFG(label=1, w=w), sampler=sampler, t_min=T_MIN
            )
            h_u, cells_u = float(uni.entropy[-1]), int(uni.density.isel(t=0).size)
        t_a, ada, warn_a = timed(
            target=target,
            guidance=fg.CFG(label=1, w=w),
            sampler=sampler,
            t_min=T_MIN,
            grid="adaptive",
        )
        stages = json.loads(ada.attrs["run"])["stages"]
        print(
            f"{name:<10}{sampler:>8}{w:>5g}{t_u:>11.2f}{t_a:>11.2f}{t_u / t_a:>9.2f}"
            f"{len(stages):>7}"
            f"{int(ada.density.isel(t=0).size):>14}{cells_u:>15}{peak_gb():>8.2f}"
            f"{abs(h_u - ref):>11.2e}"
            f"{abs(float(ada.entropy[-1]) - ref):>11.2e}"
            f"{support_error(ada, reference_ds):>11.2e}  {warn_u} "
            f"{warn_a}",
            flush=True,
        )
