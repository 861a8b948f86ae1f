"""The benchmark runner (benchmarks/run.py): its smoke mode runs every case end to end, so that the
benchmarks never rot, and the ratio table compares what it says it compares."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from suite.record import FPGUIDE, Case, Config  # noqa: E402
from suite.report import comparisons  # noqa: E402


def _config(package, setting, error, seconds, size="N=10"):
    c = Config(package, "solver", setting, run=lambda: ({}, 0), size=size)
    c.errors, c.times = {"L1": error}, [seconds]
    return c


def test_comparisons_pick_the_fastest_run_at_equal_error_and_the_most_accurate_at_equal_time():
    fast_coarse, slow_fine = (
        _config(FPGUIDE, "10 steps", 1e-3, 0.01),
        _config(FPGUIDE, "80 steps", 1e-5, 0.08),
    )
    other_size = _config(FPGUIDE, "10 steps", 1e-9, 1e-4, size="N=20")
    peer = _config("peer", "dt=1e-3", 1e-4, 0.05)
    case = Case("c", "c", "L1", "faster", [fast_coarse, slow_fine, other_size, peer])
    (row,) = comparisons(case)
    assert row.by_error is slow_fine and row.time_ratio == pytest.approx(0.05 / 0.08)
    assert row.by_time is fast_coarse and row.error_ratio == pytest.approx(1e-4 / 1e-3)


def test_comparisons_say_when_no_fpguide_run_qualifies():
    peer = _config("peer", "fine", 1e-9, 1e-4)
    (row,) = comparisons(
        Case("c", "c", "L1", "faster", [_config(FPGUIDE, "10 steps", 1e-3, 0.01), peer])
    )
    assert row.by_error is None and row.by_time is None
    assert math.isnan(row.time_ratio) and math.isnan(row.error_ratio)


def test_smoke_mode_runs_every_case(tmp_path):
    from run import CASES

    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [case["name"] for case in results["cases"]] == list(CASES)
    for case in results["cases"]:
        for config in case["configs"]:
            assert config["times_s"] and all(t > 0 for t in config["times_s"]), (
                case["name"],
                config,
            )
            if config["package"] == FPGUIDE:
                assert all(math.isfinite(e) and e >= 0 for e in config["errors"].values()), (
                    case["name"],
                    config,
                )
        if any(config["errors"] for config in case["configs"]):
            assert (tmp_path / f"{case['name']}.png").stat().st_size > 0
    markdown = (tmp_path / "results.md").read_text()
    assert all(f"### {case['title']}" in markdown for case in results["cases"])
