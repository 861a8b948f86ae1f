"""Input validation of the public API (issue 8): hostile arguments fail before any numerical work,
with a message that names the argument, the value received and what is allowed (cases not already in
test_bad_input.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide import schedules, score_errors
from fpguide.cli import main
from fpguide.config import ConfigError, parse

NAN, INF = math.nan, math.inf
GM = fg.GaussianMixture([-1.0, 1.0], 1.0, labels=[-1, 1])
G2 = fg.GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], 1.0, labels=[-1, 1])
CFG = fg.CFG(label=1, w=1.0)
PC = fg.PredictorCorrector(2)
RNG = np.random.default_rng(0)


GRID = fg.Grid(-5.0, 5.0, 64)
Q0 = np.exp(-(GRID.centres**2) / 2) / math.sqrt(2 * math.pi)


def make_a(a):
    return GM


def _drift(x, t):
    return -x


CASES = {
    # targets: strings, booleans, None and ragged lists are refused, not converted
    "means-strings": (
        lambda: fg.GaussianMixture(["1", "2"]),
        TypeError,
        r"means must be an array "
        r"of real numbers, "
        r"got \['1', '2'\]",
    ),
    "means-bools": (
        lambda: fg.GaussianMixture([True, False]),
        TypeError,
        r"means must be an array "
        r"of real numbers",
    ),
    "means-ragged": (
        lambda: fg.GaussianMixture([[1, 2], [3]]),
        TypeError,
        r"means must be an "
        r"array of real "
        r"numbers, "
        r"got \[\[1, 2\], "
        r"\[3\]\]",
    ),
    "means-none": (
        lambda: fg.GaussianMixture(None),
        TypeError,
        r"means must be an array of real "
        r"numbers, got None",
    ),
    "covariances-string": (
        lambda: fg.GaussianMixture([0.0], "1"),
        TypeError,
        r"covariances must "
        r"be an array of "
        r"real",
    ),
    "weights-bools": (
        lambda: fg.GaussianMixture([-1, 1], weights=[True, True]),
        TypeError,
        r"weights must be an",
    ),
    "covariances-asymmetric": (
        lambda: fg.GaussianMixture([[0, 0]], [[1, 0.5], [0, 1]]),
        ValueError,
        r"covariances must be symmetric matrices; component 0 is \[\[1.0, "
        r"0.5\], \[0.0, 1",
    ),
    "project-rank": (
        lambda: G2.project([[1, 0], [2, 0]]),
        ValueError,
        r"basis must have linearly "
        r"independent rows",
    ),
    "evaluate-t-string": (
        lambda: GM.log_density(0.0, "a"),
        TypeError,
        r"t must be a real number, "
        r"got str 'a'",
    ),
    "evaluate-x-string": (
        lambda: GM.log_density("a", 1.0),
        TypeError,
        r"x must be an array of "
        r"real numbers",
    ),
    "draw-n-negative": (lambda: GM.sample(-1, RNG), ValueError, r"n must be >= 0, got -1"),
    "draw-rng-int": (
        lambda: GM.sample(5, 0),
        TypeError,
        r"rng must be a numpy Generator .*got int "
        r"0",
    ),
    "marginal-axes-string": (
        lambda: G2.marginal("a"),
        TypeError,
        r"axes must be an integer .*got "
        r"'a'",
    ),
    # processes
    "process-dict-key": (
        lambda: fg.solve(GM, CFG, process={"name": "VP", "foo": 1}),
        ValueError,
        r"process keys must be among \('name', 'schedule', .*for VP, got "
        r"\['foo'\]",
    ),
    # guidance
    "label-bool": (
        lambda: fg.CFG(label=True, w=1.0),
        TypeError,
        r"label must be an int or a "
        r"string .*got bool True",
    ),
    "label-float": (
        lambda: fg.CFG(label=1.0, w=1.0),
        TypeError,
        r"label must be an int or a "
        r"string .*got float 1.0",
    ),
    "label-and-cond": (
        lambda: fg.CFG(label=1, w=1.0, cond=GM),
        ValueError,
        r"exactly one of label "
        r".*got label=1, "
        r"cond=GaussianMixture",
    ),
    "continuous-limit-guidance": (
        lambda: PC.continuous_limit(5),
        TypeError,
        r"guidance must be a "
        r"fpguide.CFG, got",
    ),
    # schedules and score errors
    "linear-p_from": (
        lambda: schedules.Linear(1.0, 2.0, 0.1, 0.0),
        ValueError,
        r"p_from must lie "
        r"in \[0, 1\] "
        r".*got 2",
    ),
    "cosine-p_to": (
        lambda: schedules.Cosine(1.0, 0.0, 0.1, -0.5),
        ValueError,
        r"p_to must lie in "
        r"\[0, 1\]",
    ),
    "step-before": (
        lambda: schedules.Step(0.5, before=2.0),
        ValueError,
        r"before must lie in \[0, "
        r"1\] .*got 2",
    ),
    "from-sigma-order": (
        lambda: schedules.Interval.from_sigma(0.5, 0.1),
        ValueError,
        r"sigma_lo must be < sigma_hi, got sigma_lo=0.5, sigma_hi=0.1",
    ),
    "schedule-custom": (
        lambda: schedules.Custom(5),
        TypeError,
        r"Custom needs a callable p\(t\) "
        r"for func, got int 5",
    ),
    "error-custom": (
        lambda: score_errors.Custom(5),
        TypeError,
        r"Custom needs a callable e\(x, "
        r"t\) for func, got int",
    ),
    # grids
    "grid-width-overflows": (
        lambda: fg.Grid(-1e308, 1e308, 64),
        ValueError,
        r"upper - lower must "
        r"be a finite width",
    ),
    "tensor-grid-not-sequence": (
        lambda: fg.TensorGrid(fg.Grid(-1, 1, 8)),
        ValueError,
        r"axes must be 1 to 3 fpguide.Grid objects .*got "
        r"Grid\(lower=-1.0",
    ),
    "from-bounds-2d": (
        lambda: fg.TensorGrid.from_bounds([[0, 0]], [[1, 1]], 8),
        ValueError,
        r"lower, upper and n must be numbers or flat lists .*got lower=\[\[0, "
        r"0\]\]",
    ),
    "from-bounds-n-2d": (
        lambda: fg.TensorGrid.from_bounds([0, 0], [1, 1], [[8, 8]]),
        ValueError,
        r"lower, upper and n .*n=\[\[8, 8\]\]",
    ),
    # solve, sample
    "thresholds-empty": (
        lambda: fg.solve(GM, CFG, thresholds=[]),
        ValueError,
        r"thresholds must be a number or a non-empty sequence of distinct "
        r"numbers, got \[\]",
    ),
    "thresholds-repeated": (
        lambda: fg.solve(GM, CFG, thresholds=[1.0, 1.0]),
        ValueError,
        r"thresholds must .*distinct numbers, got \[1.0, 1.0\]",
    ),
    "t_eval-empty": (
        lambda: fg.solve(GM, CFG, t_eval=[]),
        ValueError,
        r"t_eval must be a "
        r"non-empty .*got \[\]",
    ),
    "direction-in-1d": (
        lambda: fg.solve(GM, CFG, direction=[1.0]),
        ValueError,
        r"direction must be None for a 1-D target .*got \[1.0\]",
    ),
    "seed-string": (
        lambda: fg.sample(GM, CFG, n=10, seed="abc"),
        TypeError,
        r"seed must be None, "
        r"an integer >= 0.*"
        r"got str 'abc'",
    ),
    "seed-negative": (
        lambda: fg.sample(GM, CFG, n=10, seed=-1),
        ValueError,
        r"seed must be "
        r"None.*got -1",
    ),
    "seed-bool": (
        lambda: fg.sample(GM, CFG, n=10, seed=True),
        TypeError,
        r"seed must be None.*got "
        r"bool True",
    ),
    "time_grid-empty": (
        lambda: fg.sample(GM, CFG, n=10, time_grid=[]),
        ValueError,
        r"time_grid must be a non-empty sequence of times .*\[0.001, 10.0\], got "
        r"\[\]",
    ),
    "time_grid-outside": (
        lambda: fg.sample(GM, CFG, n=10, time_grid=[20.0, 1.0]),
        ValueError,
        r"time_grid must .*got \[20.0, 1.0\]",
    ),
    # discrete samplers
    "set_alpha_to_one-int": (
        lambda: fg.DDIM(10, set_alpha_to_one=1),
        TypeError,
        r"set_alpha_to_one must be True or False, got int 1",
    ),
    "discrete-wall_tol": (
        lambda: fg.solve_discrete(GM, CFG, fg.DDIM(10), wall_tol=-1.0),
        ValueError,
        r"wall_tol must be > 0, got -1.0",
    ),
    "discrete-cells_per_width": (
        lambda: fg.solve_discrete(GM, CFG, fg.DDIM(10), cells_per_width=0.0),
        ValueError,
        r"cells_per_width must be > 0, got 0.0",
    ),
    "discrete-seed": (
        lambda: fg.sample_discrete(GM, CFG, fg.DDIM(10), n=10, seed=1.5),
        TypeError,
        r"seed must be None.*got float 1.5",
    ),
    # predictor-corrector
    "pc-grid": (
        lambda: fg.solve_pc(GM, CFG, PC, grid="a"),
        TypeError,
        r"grid must be a fpguide.Grid, 'uniform' or None, got 'a'",
    ),
    "pc-tensor-grid": (
        lambda: fg.solve_pc(GM, CFG, PC, grid=fg.TensorGrid.from_bounds([-5, -5], [5, 5], 8)),
        TypeError,
        r"grid must be a fpguide.Grid, 'uniform' or None, got "
        r"TensorGrid",
    ),
    "pc-cells_per_width": (
        lambda: fg.solve_pc(GM, CFG, PC, cells_per_width=0.0),
        ValueError,
        r"cells_per_width must be > 0",
    ),
    "pc-particles-2d": (
        lambda: fg.sample_pc(G2, CFG, PC, n=10),
        ValueError,
        r"1-D only; the "
        r"target has d=2",
    ),
    "pc-seed": (
        lambda: fg.sample_pc(GM, CFG, PC, n=10, seed="a"),
        TypeError,
        r"seed must be "
        r"None.*got str 'a'",
    ),
    # sweeps, outputs, marginal, cross_check
    "family-keyword": (
        lambda: fg.Family(make_a, b=[1.0, 2.0]),
        TypeError,
        r"the swept parameters must be keywords of make\(a\), got \['b'\]",
    ),
    "outputs-not-dataset": (
        lambda: fg.outputs(5),
        TypeError,
        r"ds must be an xarray.Dataset made "
        r"by fpguide, got int",
    ),
    "marginal-not-dataset": (
        lambda: fg.marginal(None, [1, 0], 10),
        TypeError,
        r"ds must be an xarray.Dataset made by fpguide.solve, got NoneType",
    ),
    "cross-check-plain-dataset": (
        lambda: fg.cross_check(xr.Dataset(), xr.Dataset()),
        TypeError,
        r"ds must be a Dataset made by fpguide \(solve\), got a Dataset "
        r"without",
    ),
    # solve and evolve
    "solve-vp-beyond-horizon": (
        lambda: fg.solve(GM, CFG, process="VP", T=10.0),
        ValueError,
        r"T=10.0 is too large for the VP process: its log-SNR at T is "
        r"-inf",
    ),
    "solve-error-estimate-string": (
        lambda: fg.solve(GM, CFG, error_estimate="no"),
        TypeError,
        r"error_estimate must be True or False, got str 'no'",
    ),
    "solve-reduce-string": (
        lambda: fg.solve(GM, CFG, reduce="yes"),
        TypeError,
        r"reduce must be None, True or False, got str 'yes'",
    ),
    "solve-scheme-list": (
        lambda: fg.solve(GM, CFG, scheme=["ppm"]),
        ValueError,
        r"scheme must be one of \('ppm', 'plm', 'pcm'\), got \['ppm'\]",
    ),
    "evolve-t_span-three": (
        lambda: fg.evolve(Q0, _drift, grid=GRID, t_span=(0, 1, 2)),
        ValueError,
        r"t_span must be two numbers \(t0, t1\), got \(0, 1, 2\)",
    ),
    "evolve-max_step-zero": (
        lambda: fg.evolve(Q0, _drift, grid=GRID, t_span=(0, 1), max_step=0),
        ValueError,
        r"max_step must be > 0, got 0",
    ),
    "evolve-max_step-nan": (
        lambda: fg.evolve(Q0, _drift, grid=GRID, t_span=(0, 1), max_step=NAN),
        ValueError,
        r"max_step must be finite, got nan",
    ),
    "evolve-diffusion-string": (
        lambda: fg.evolve(Q0, _drift, grid=GRID, t_span=(0, 1), diffusion="a"),
        TypeError,
        r"diffusion must be a finite number >= 0 or a callable, got str "
        r"'a'",
    ),
    "evolve-ou_drift-int": (
        lambda: fg.evolve(Q0, _drift, grid=GRID, t_span=(0, 1), ou_drift=1),
        TypeError,
        r"ou_drift must be True or False, got int 1",
    ),
    "evolve-drift-strings": (
        lambda: fg.evolve(Q0, lambda x, t: np.full(x.shape, "a"), grid=GRID, t_span=(0, 1)),
        TypeError,
        r"drift\(x, t\) must return real numbers, got ndarray",
    ),
}


@pytest.mark.parametrize("call, exc, match", CASES.values(), ids=CASES.keys())
def test_bad_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --- the TOML configuration: checked by the dry run, before anything runs
# --------------------------------------------------------------------------------------------------
BASE = {
    "target": {"type": "GaussianMixture", "means": [-1.0, 1.0], "labels": [-1, 1]},
    "guidance": {"label": 1, "w": 1.0},
}


def config(**tables) -> dict:
    doc = {name: dict(table) for name, table in BASE.items()}
    for name, table in tables.items():
        doc[name] = doc.get(name, {}) | table
    return doc


CONFIG_CASES = {
    "error_estimate-string": (
        config(run={"error_estimate": "yes"}),
        r"run.error_estimate: error_estimate must be True or False, got str "
        r"'yes'",
    ),
    "reduce-string": (
        config(run={"reduce": "yes"}),
        r"run.reduce: reduce must be None, True or "
        r"False",
    ),
    "direction-1d": (
        config(run={"direction": [1.0]}),
        r"run.direction: direction must be None for "
        r"a 1-D target",
    ),
    "tensor-grid-1d": (
        config(grid={"lower": [-5.0, -5.0], "upper": [5.0, 5.0], "n": 64}),
        r"grid: grid must be a fpguide.Grid, 'uniform', 'adaptive' or None, got "
        r"TensorGrid",
    ),
    "time_grid-empty": (
        config(run={"solver": "sample", "time_grid": []}),
        r"run.time_grid: "
        r"time_grid must be",
    ),
    "label-bool": (
        config(guidance={"label": True}),
        r"guidance.label: label must be an int or a "
        r"string",
    ),
    "schedule-profile": (
        config(
            guidance={
                "schedule": {
                    "type": "Linear",
                    "t_from": 1.0,
                    "p_from": 2.0,
                    "t_to": 0.1,
                    "p_to": 0.0,
                }
            }
        ),
        r"guidance.schedule.p_from: p_from must lie in \[0, 1\]",
    ),
    "rule-type": (
        config(guidance={"rule": {"type": "PAG"}}),
        r"guidance.rule.type must be one of \('ClassifierFree',",
    ),
    "rule-parameter": (
        config(guidance={"rule": {"type": "MagnitudeAware", "alpha": -1.0}}),
        r"guidance.rule.alpha: alpha must be >= 0",
    ),
    "swept-rule-parameter": (
        config(guidance={"rule": [{"type": "PowerLaw"}, {"type": "PowerLaw", "alpha": -2.0}]}),
        r"guidance.rule\[1\].alpha: alpha must be > -1",
    ),
    "empirical-points": (
        {"target": {"type": "EmpiricalMixture", "points": [[0.0, "a"]]}, "guidance": {"w": 1.0}},
        r"target.points: points must be an array of real numbers",
    ),
}


def test_config_with_a_rule_and_a_data_set():
    run = parse(
        {
            "target": {
                "type": "EmpiricalMixture",
                "points": [[0.0, 0.0], [1.0, 1.0]],
                "labels": [0, 1],
            },
            "guidance": {"label": 1, "w": 2.0, "rule": {"type": "MagnitudeAware", "alpha": 4.0}},
        }
    )
    assert run.call.target == fg.EmpiricalMixture([[0.0, 0.0], [1.0, 1.0]], labels=[0, 1])
    assert run.call.guidance.rule == fg.rules.MagnitudeAware(alpha=4.0)
    swept = parse(
        {
            "target": {"type": "GaussianMixture", "means": [-1.0, 1.0], "labels": [0, 1]},
            "guidance": {
                "label": 1,
                "w": 2.0,
                "rule": [{"type": "PowerLaw", "alpha": 0.0}, {"type": "PowerLaw", "alpha": 0.9}],
            },
        }
    )
    assert swept.call.guidance.rule == (fg.rules.PowerLaw(alpha=0.0), fg.rules.PowerLaw(alpha=0.9))


@pytest.mark.parametrize("doc, match", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_config(doc, match):
    with pytest.raises(ConfigError, match=match):
        parse(doc)


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_demo_start_time(value, capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--T", value])
    assert f"--T must be a finite number > 0, got {float(value)}" in capsys.readouterr().err
