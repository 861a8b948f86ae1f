"""What a benchmark case measures: timed solver configurations, their errors, and the case they
belong to.

A :class:`Config` is one solver at one setting (a step count, a tolerance, a particle count):
``run()`` solves the case's problem once and returns its errors against the case's reference and the
work it did (time steps, right-hand side evaluations, particles). :func:`measure` calls every
configuration once untimed (compilation, caches, errors) and then ``repeats`` times round-robin, so
that the machine's noise spreads evenly over the configurations; times are read as medians.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FPGUIDE = "fpguide"


@dataclass
class Config:
    """One timed solver configuration of a case."""

    package: str  # "fpguide", "py-pde", "FiPy", "fplanck", "particles", ...
    # the solver within the package, e.g. "evolve", "scipy-BDF", "exponential + implicit Euler"
    solver: str
    # what varies along the work–precision curve, e.g. "40 steps", "rtol=1e-05", "n=10000"
    setting: str
    run: Callable[[], tuple[dict[str, float], int]]  # -> (errors by name, work)
    size: str = ""  # the problem size, e.g. "N=1000" or "256x256"
    errors: dict[str, float] = field(default_factory=dict)
    work: int = 0
    times: list[float] = field(default_factory=list)
    note: str = ""
    # False: run once (the warm-up run's time is its time), for configurations too slow to repeat
    timed: bool = True

    @property
    def label(self) -> str:
        return f"{self.package} {self.solver}".strip()

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    def as_dict(self) -> dict:
        return {
            "package": self.package,
            "solver": self.solver,
            "setting": self.setting,
            "size": self.size,
            "errors": self.errors,
            "work": self.work,
            "median_s": self.median,
            "min_s": self.best,
            "times_s": self.times,
            "note": self.note,
        }


@dataclass
class Case:
    """A problem, the configurations run on it and what fpguide must show against them.

    ``error`` names the error the work–precision diagram and the ratio table use. ``target`` is one
    of ``"faster"`` (peer time / fpguide time at equal or better error), ``"more accurate"`` (error
    at equal or less time) or ``"particles"`` (the time particles need to reach the grid's error,
    extrapolated from their measured cost, see :mod:`suite.guided`). ``unavailable`` says, per peer,
    why it did not run on this case.
    """

    name: str
    title: str
    error: str
    target: str
    configs: list[Config] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # rows a case adds beyond the ratio table (a table per key set)
    summary: list[dict] = field(default_factory=list)
    # draws the case's own figure (instead of work–precision) to a PNG
    plot: Callable[[Path], None] | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "error": self.error,
            "target": self.target,
            "configs": [c.as_dict() for c in self.configs],
            "unavailable": self.unavailable,
            "notes": self.notes,
            "summary": self.summary,
        }


def measure(configs: list[Config], repeats: int, slow: float = math.inf) -> None:
    """Errors from one untimed warm-up run of each configuration, then ``repeats`` timed rounds,
    round-robin.

    A configuration whose warm-up run took longer than ``slow`` seconds is not repeated (``timed``
    becomes False): that run is its time, so with ``slow`` the configurations must be compiled
    before (e.g. by a run on a small problem)."""
    for c in configs:
        start = time.perf_counter()
        c.errors, c.work = c.run()
        elapsed = time.perf_counter() - start
        c.timed = c.timed and elapsed <= slow
        if not c.timed:
            c.times = [elapsed]
    for _ in range(repeats):
        for c in configs:
            if c.timed:
                start = time.perf_counter()
                c.run()
                c.times.append(time.perf_counter() - start)
