"""Default 1-D solves timed against other source trees: "no 1-D default case slower" (issue 19).

For the papers' Gaussian and uniform mixtures (OU, T = 10, t_min = 1e-3, CFG towards label 1), each
default ``fg.solve`` runs in a process of its own with the fpguide of each tree given (e.g. git
worktrees of older commits): a warm-up solve (compiling its kernels), then the timed one; the trees
alternate, R times. Prints the median seconds and the final entropy per tree, and each tree's
speed-up over the first.
Usage: python benchmarks/defaults_ab.py TREE [TREE ...] [--repeats R]
(TREE: a source tree holding fpguide/)
"""

import argparse
import json
import statistics
import subprocess
import sys

CASES = [
    ("gaussian", "sde", 0.0),
    ("gaussian", "sde", 3.0),
    ("gaussian", "sde", 15.0),
    ("uniform", "sde", 3.0),
    ("uniform", "sde", 15.0),
    ("gaussian", "ode", 3.0),
    ("uniform", "ode", 15.0),
]
SOLVE = """
import json, sys, time
sys.path.insert(0, {tree!r})
import fpguide as fg
targets = {{
    "gaussian": fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1]),
    "uniform": fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], labels=[-1, 1]),
}}
target = targets[{name!r}]
fg.solve(target, fg.CFG(label=1, w={w!r}), {sampler!r}, t_min=0.5, n_save=2)
start = time.perf_counter()
ds = fg.solve(target, fg.CFG(label=1, w={w!r}), {sampler!r}, t_min=1e-3)
print(json.dumps([time.perf_counter() - start, float(ds.entropy[-1])]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="default 1-D solves against other source trees")
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    print(
        f"{'case':<24}"
        + "".join(f"{tree[-18:]:>20}{'H':>12}" for tree in options.trees)
        + "  speed-ups"
    )
    for name, sampler, w in CASES:
        runs = {tree: [] for tree in options.trees}
        for _ in range(options.repeats):
            for tree in options.trees:
                code = SOLVE.format(tree=tree, name=name, sampler=sampler, w=w)
                out = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd="/",
                )
                runs[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
        medians = {
            tree: statistics.median(seconds for seconds, _ in runs[tree]) for tree in options.trees
        }
        first = medians[options.trees[0]]
        print(
            f"{f'{name} {sampler} w={w:g}':<24}"
            + "".join(f"{medians[tree]:>20.3f}{runs[tree][0][1]:>12.7f}" for tree in options.trees)
            + "  "
            + ", ".join(f"{first / medians[tree]:.2f}" for tree in options.trees[1:]),
            flush=True,
        )


if __name__ == "__main__":
    main()
