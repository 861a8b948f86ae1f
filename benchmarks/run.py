"""fpguide's benchmark runner: every case against its peers, written as JSON, Markdown and
work–precision PNGs.

    python benchmarks/run.py                     # every case at full size (tens of minutes)
    python benchmarks/run.py --smoke             # tiny sizes, one repeat: seconds per case
    python benchmarks/run.py smooth_ou steep_ou  # some cases
    python benchmarks/run.py --out DIR           # where results.json, results.md and PNGs go

The test suite runs ``--smoke``.

Peers (py-pde, FiPy, fplanck) come with ``pip install ".[bench]"``; a peer that is not installed, or
cannot solve a case, is reported as such in the results. Times are medians over round-robin repeats
after a warm-up run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite.mode import Mode  # noqa: E402
from suite.report import write  # noqa: E402

# case name -> "module:function" in suite/, a function Mode -> Case (imported only when its case
# runs)
CASES = {
    "smooth_ou": "linear:smooth_ou",
    "steep_ou": "linear:steep_ou",
    "continuity": "linear:continuity",
    "ou_2d": "linear:ou_2d",
    "guided": "guided:reverse_processes",
    "sweep": "guided:weight_sweep",
    "throughput": "throughput:roofline",
    "scaling": "throughput:scaling",
}
PACKAGES = ("fpguide", "numpy", "scipy", "numba", "py-pde", "fipy", "fplanck")


def environment(mode: Mode) -> dict:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    import numba

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "numba threads": numba.get_num_threads(),
        "python": platform.python_version(),
        **{p: version(p) for p in PACKAGES},
        "mode": "smoke" if mode.smoke else "full",
        "repeats": mode.repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "cases", nargs="*", metavar="CASE", help=f"cases to run (default: all): {', '.join(CASES)}"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and one repeat (seconds per case)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per configuration (default 7; 1 with --smoke)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="output folder (default benchmarks/results)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    mode = Mode(smoke=args.smoke, repeats=args.repeats or (1 if args.smoke else 7))
    cases = []
    for name in args.cases or CASES:
        start = time.perf_counter()
        module, function = CASES[name].split(":")
        cases.append(getattr(importlib.import_module(f"suite.{module}"), function)(mode))
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    write(cases, environment(mode), args.out)
    print(f"results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
