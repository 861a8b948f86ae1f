"""What the run monitors (fpguide.runs.monitors) cost: the same solves timed with this checkout and
with a revision from before the monitors, alternating, in fresh processes (median of ``repeats``,
each after an untimed warm-up).

Cases: the demo's Gaussian and uniform mixtures, w = 3 and 15, both samplers (1-D, automatic grids),
and the 2-D box pair of benchmarks/box_2d.py at 128² (ODE). The base revision is checked out into a
temporary git worktree. Usage: python benchmarks/monitor_cost.py [base revision (default ea754ca)]
[repeats (default 5)]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

BASE = sys.argv[1] if len(sys.argv) > 1 else "ea754ca"
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# one process per measurement: import, one warm-up solve, one timed solve; prints the seconds
TIMER = """
import json, sys, time
import numpy as np
import fpguide as fg
case = json.loads(sys.argv[1])
if case["target"] == "box2d":
    target = fg.UniformMixture(lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]],
                               labels=[1, 0])
    kwargs = {"grid": fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], 128), "n_save": 5}
elif case["target"] == "gaussian":
    target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1])
    kwargs = {}
else:
    target = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[0, 1])
    kwargs = {}
def run():
    guidance = fg.CFG(label=1, w=case["w"])
    return fg.solve(target, guidance, sampler=case["sampler"], progress=False, **kwargs)
run()
start = time.perf_counter()
run()
print(time.perf_counter() - start)
"""

CASES = [
    {"target": t, "sampler": s, "w": w}
    for t in ("gaussian", "uniform")
    for s in ("ode", "sde")
    for w in (3, 15)
]
CASES.append({"target": "box2d", "sampler": "ode", "w": 3})


def seconds(source: str, case: dict) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMER, json.dumps(case)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": source, "PYTHONWARNINGS": "ignore"},
    )
    return float(out.stdout.strip().splitlines()[-1])


with tempfile.TemporaryDirectory() as tmp:
    base = os.path.join(tmp, "base")
    subprocess.run(
        ["git", "-C", ROOT, "worktree", "add", "--detach", base, BASE],
        check=True,
        capture_output=True,
    )
    try:
        print(f"monitors: this checkout vs {BASE}, median of {REPEATS} (seconds)")
        print(f"{'case':22} {BASE:>9} {'now':>9} {'ratio':>6}")
        ratios = []
        for case in CASES:
            old, new = [], []
            for _ in range(REPEATS):
                old.append(seconds(base, case))
                new.append(seconds(ROOT, case))
            a, b = statistics.median(old), statistics.median(new)
            ratios.append(b / a)
            name = f"{case['target']} {case['sampler']} w={case['w']}"
            print(f"{name:22} {a:9.3f} {b:9.3f} {b / a:6.2f}", flush=True)
        print(f"median ratio {statistics.median(ratios):.2f}")
    finally:
        subprocess.run(
            ["git", "-C", ROOT, "worktree", "remove", "--force", base],
            check=True,
            capture_output=True,
        )
