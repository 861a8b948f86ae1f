"""Bad input fails loudly: a ValueError/TypeError (FloatingPointError for a non-finite drift) whose
message names the offending argument and what is allowed, never a NaN result. Runs that cannot be
trusted raise WallMassError or warn CoarseGridWarning with the remedy."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import fpguide as fg

NAN, INF = math.nan, math.inf


def gm(**kw):
    return fg.GaussianMixture(**{"means": [-1, 1], "covariances": 1.0, "labels": [-1, 1], **kw})


def um(**kw):
    return fg.UniformMixture(**{"lows": [-2, 1], "highs": [-1, 2], "labels": [-1, 1], **kw})


@pytest.fixture(scope="module")
def target():
    return gm()


# --- targets
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [gm, um], ids=["gaussian", "uniform"])
@pytest.mark.parametrize(
    "weights, match",
    [
        ([-0.5, 1.5], r"weights.*non-negative"),
        ([0.0, 0.0], r"weights.*positive sum"),
        ([1.0, -1.0], r"weights"),  # zero sum through a negative entry
        ([NAN, 1.0], r"weights.*finite"),
        ([INF, 1.0], r"weights.*finite"),
        ([1.0], r"weights.*one entry per component"),
        ([0.3, 0.3, 0.4], r"weights.*one entry per component"),
    ],
    ids=["negative", "zero-sum", "zero-sum-negative", "nan", "inf", "too-short", "too-long"],
)
def test_bad_weights(make, weights, match):
    with pytest.raises(ValueError, match=match):
        make(weights=weights)


@pytest.mark.parametrize("make", [gm, um], ids=["gaussian", "uniform"])
@pytest.mark.parametrize("labels", [[1], [-1, 1, 2]], ids=["too-short", "too-long"])
def test_labels_length_mismatch(make, labels):
    with pytest.raises(ValueError, match=r"labels.*one entry per component"):
        make(labels=labels)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"highs": [-1]}, r"highs must have the same shape as lows"),
        ({"highs": [-1, 2, 3]}, r"highs must have the same shape as lows"),
        ({"lows": [-2, 2], "highs": [-1, 2]}, r"lows must be below highs"),  # equal
        ({"lows": [-2, 3], "highs": [-1, 2]}, r"lows must be below highs"),  # reversed
        ({"lows": [-2, NAN]}, r"lows.*finite"),
        ({"highs": [-1, INF]}, r"highs.*finite"),
    ],
    ids=["highs-short", "highs-long", "low-equals-high", "low-above-high", "lows-nan", "highs-inf"],
)
def test_bad_uniform(kw, match):
    with pytest.raises(ValueError, match=match):
        um(**kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"covariances": [1.0, 1.0, 1.0]}, r"covariances.*one entry per component"),
        ({"covariances": 0.0}, r"covariances must be > 0"),
        ({"covariances": -1.0}, r"covariances must be > 0"),
        ({"covariances": [1.0, 0.0]}, r"covariances must be > 0"),
        ({"covariances": NAN}, r"covariances.*finite"),
        ({"means": [-1, NAN]}, r"means.*finite"),
        ({"means": [-INF, 1]}, r"means.*finite"),
    ],
    ids=[
        "cov-length",
        "cov-zero",
        "cov-negative",
        "cov-one-zero",
        "cov-nan",
        "means-nan",
        "means-inf",
    ],
)
def test_bad_gaussian(kw, match):
    with pytest.raises(ValueError, match=match):
        gm(**kw)


# --- guidance
# --------------------------------------------------------------------------------------------------
def test_label_not_in_target(target):
    with pytest.raises(ValueError, match=r"label must be one of \[-1, 1\], got 7"):
        fg.solve(target, fg.CFG(label=7, w=1.0))


def test_label_on_unlabelled_target():
    with pytest.raises(ValueError, match=r"label=1 .*no labels"):
        fg.solve(gm(labels=None), fg.CFG(label=1, w=1.0))


@pytest.mark.parametrize(
    "w, exc, match",
    [
        (NAN, ValueError, r"w must be finite"),
        (INF, ValueError, r"w must be finite"),
        (-INF, ValueError, r"w must be finite"),
        ("1.0", TypeError, r"w must be a real number"),
    ],
    ids=["nan", "inf", "-inf", "string"],
)
def test_bad_w(w, exc, match):
    with pytest.raises(exc, match=match):
        fg.CFG(label=1, w=w)


# --- solve arguments
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"t_min": 0.0}, r"t_min must be > 0"),
        ({"t_min": -1e-3}, r"t_min must be > 0"),
        ({"t_min": NAN}, r"t_min must be finite"),
        ({"t_min": 10.0, "T": 10.0}, r"t_min must be < T"),
        ({"t_min": 2.0, "T": 1.0}, r"t_min must be < T"),
        ({"T": NAN}, r"T must be finite"),
        ({"T": INF}, r"T must be finite"),
        ({"sampler": "langevin"}, r"sampler must be one of .*'ode'.*got 'langevin'"),
        ({"scheme": "weno9"}, r"scheme must be one of .*ppm.*got 'weno9'"),
        ({"process": "VE-foo"}, r"process must be one of .*'OU'.*got 'VE-foo'"),
        ({"start": "posterior"}, r"start must be one of .*'prior'.*got 'posterior'"),
        ({"process": fg.VP(schedule="cosine"), "T": 1.0}, r"T must be < 1 .*cosine"),
        ({"process": fg.VP(schedule="cosine"), "T": 10.0}, r"T must be < 1 .*cosine"),
    ],
    ids=[
        "t_min-zero",
        "t_min-negative",
        "t_min-nan",
        "t_min-eq-T",
        "t_min-gt-T",
        "T-nan",
        "T-inf",
        "sampler",
        "scheme",
        "process",
        "start",
        "cosine-T-1",
        "cosine-T-10",
    ],
)
def test_bad_solve_arguments(target, kw, match):
    with pytest.raises(ValueError, match=match):
        fg.solve(target, fg.CFG(label=1, w=1.0), **kw)


def test_unknown_vp_schedule():
    with pytest.raises(ValueError, match=r"schedule must be one of .*'linear'.*got 'sigmoid'"):
        fg.VP(schedule="sigmoid")


# --- grid
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((-1, 1, 4), ValueError, r"n must be >= 8, got 4"),
        ((-1, 1, 0), ValueError, r"n must be >= 8"),
        ((1, -1, 64), ValueError, r"lower must be < upper"),
        ((1, 1, 64), ValueError, r"lower must be < upper"),
        ((-1, 1, 64.5), TypeError, r"n must be an integer"),
        ((-1, 1, "64"), TypeError, r"n must be an integer"),
        ((NAN, 1, 64), ValueError, r"lower must be finite"),
        ((-1, INF, 64), ValueError, r"upper must be finite"),
        ((-INF, INF, 64), ValueError, r"lower must be finite"),
    ],
    ids=[
        "n-4",
        "n-0",
        "reversed",
        "equal",
        "n-float",
        "n-str",
        "lower-nan",
        "upper-inf",
        "both-inf",
    ],
)
def test_bad_grid(args, exc, match):
    with pytest.raises(exc, match=match):
        fg.Grid(*args)


# --- evolve
# --------------------------------------------------------------------------------------------------
GRID = fg.Grid(-4.0, 4.0, 32)
Q0 = np.exp(-0.5 * GRID.centres**2) / math.sqrt(2 * math.pi)


def zero_drift(x, t):
    return np.zeros_like(x)


@pytest.mark.parametrize(
    "kw, match",
    [
        (
            {"q0": Q0[:-1]},
            r"q0 must have one value per grid cell, shape \(32,\), got shape \(31,\)",
        ),
        ({"q0": np.append(Q0, 0.0)}, r"q0 must have one value per grid cell"),
        ({"q0": Q0 - 0.1}, r"q0 must be non-negative"),
        ({"q0": np.where(np.arange(32) == 5, NAN, Q0)}, r"q0 must contain only finite"),
        ({"q0": np.where(np.arange(32) == 5, INF, Q0)}, r"q0 must contain only finite"),
        ({"t_span": (1.0, 0.0)}, r"t_span must be increasing"),
        ({"t_span": (1.0, 1.0)}, r"t_span must be increasing"),
        ({"diffusion": -1.0}, r"diffusion must be a finite number >= 0"),
        ({"diffusion": NAN}, r"diffusion must be a finite number >= 0"),
        ({"diffusion": lambda t: -1.0}, r"diffusion\(t\) must be finite and >= 0"),
    ],
    ids=[
        "q0-short",
        "q0-long",
        "q0-negative",
        "q0-nan",
        "q0-inf",
        "t_span-decreasing",
        "t_span-empty",
        "diffusion-negative",
        "diffusion-nan",
        "diffusion-callable-negative",
    ],
)
def test_bad_evolve_arguments(kw, match):
    args = {"q0": Q0, "drift": zero_drift, "grid": GRID, "t_span": (0.0, 1.0), **kw}
    with pytest.raises(ValueError, match=match):
        fg.evolve(args.pop("q0"), args.pop("drift"), **args)


def test_drift_returning_nan():
    with pytest.raises(FloatingPointError, match=r"drift.*non-finite"):
        fg.evolve(Q0, lambda x, t: np.full_like(x, NAN), grid=GRID, t_span=(0.0, 1.0))


def test_drift_returning_nan_later():
    """NaN only after the first evaluations must still be caught, not propagated into q."""
    with pytest.raises(FloatingPointError, match=r"drift.*non-finite"):
        fg.evolve(
            Q0, lambda x, t: -x if t < 0.5 else np.full_like(x, NAN), grid=GRID, t_span=(0.0, 1.0)
        )


@pytest.mark.parametrize(
    "drift", [lambda x, t: -x[:-1], lambda x, t: np.stack([x, x])], ids=["short", "2d"]
)
def test_drift_returning_wrong_shape(drift):
    # A wrong shape is a ValueError (bad value from a user callable), not a floating-point error.
    with pytest.raises(ValueError, match=r"drift.*shape"):
        fg.evolve(Q0, drift, grid=GRID, t_span=(0.0, 1.0))


# --- runs that cannot be trusted
# --------------------------------------------------------------------------------------------------
def test_wall_mass_error_says_when_in_diffusion_time(target):
    """The engine runs in τ = T − t; the message of solve also gives the diffusion time t."""
    with pytest.raises(fg.WallMassError, match=r"widen the grid") as caught:
        fg.solve(target, fg.CFG(label=1, w=1.0), sampler="sde", grid=fg.Grid(-6.0, 5.0, 256), T=5.0)
    engine = float(re.search(r"by t=(\S+) ", str(caught.value)).group(1))
    diffusion = float(re.search(r"diffusion time t=([^\]]+)\]", str(caught.value)).group(1))
    assert 0 < engine < 5.0 and diffusion == pytest.approx(5.0 - engine, rel=1e-5)


def test_coarse_grid_warning():
    with pytest.warns(fg.CoarseGridWarning, match=r"at least n=\d+ cells") as record:
        ds = fg.solve(um(), fg.CFG(label=1, w=1.0), sampler="ode", grid=fg.Grid(-8, 8, 64))
    needed = int(
        next(str(w.message) for w in record if w.category is fg.CoarseGridWarning)
        .split("at least n=")[1]
        .split()[0]
    )
    assert needed > 64
    assert np.all(np.isfinite(ds["density"].values))


def test_a_grid_that_cannot_hold_the_start_law_is_refused(target):
    """Cells far wider than the start law N(0, 1) would carry none of its mass (the run would evolve
    nothing and return NaN observables); an extent that cuts its bulk loses mass before the first
    step."""
    with pytest.raises(
        fg.WallMassError,
        match=r"the start law has mass 0 on the grid .*cells of "
        r"7.81e\+06",
    ):
        fg.solve(target, fg.CFG(label=1, w=1.0), grid=fg.Grid(-1e9, 1e9, 256))
    with pytest.raises(fg.WallMassError, match=r"the start law has mass 0.68268"):
        fg.solve(target, fg.CFG(label=1, w=1.0), grid=fg.Grid(-1.0, 1.0, 256))


def test_a_flow_that_runs_away_is_refused_not_returned_as_nan(um):
    """A score error amplified by w = 31 drives the ODE's pilot to x ~ 1e12: the automatic grid
    cannot hold the start law there. It used to return NaN observables silently."""
    guide = fg.CFG(label=1, w=31.0, cond_error=fg.score_errors.Smoothed(0.03))
    with pytest.raises(fg.WallMassError, match=r"the sampler's flow runs away"):
        fg.solve(um, guide, sampler="ode", t_min=1e-4, n_save=3)


@pytest.fixture
def memory(monkeypatch):
    """Pretend the machine has ``memory.available`` bytes available."""

    class Memory:
        available = 1 << 40

    monkeypatch.setattr("fpguide.tools.resources.available_memory", lambda: Memory.available)
    return Memory


def test_a_solve_that_would_not_fit_in_memory_is_refused_with_the_estimate(target, memory):
    grid = fg.Grid(-8.0, 8.0, 4096)
    memory.available = 41 * 4096 * 8 * 3 * 2  # twice what 41 saved densities need (three copies)
    fg.solve(target, fg.CFG(label=1, w=1.0), grid=grid, n_save=41)
    with pytest.raises(
        MemoryError,
        match=r"this solve would hold 200 densities of 4096 cells, "
        r"about 0.0183 GiB, "
        r"but 0.00751 GiB of memory is available: save fewer "
        r"times",
    ):
        fg.solve(target, fg.CFG(label=1, w=1.0), grid=grid, n_save=200)


def test_a_sweep_that_would_not_fit_in_memory_is_refused_before_it_runs(target, memory):
    """Checked before any item runs: one item fits, eight together do not."""
    grid = fg.Grid(-8.0, 8.0, 4096)
    memory.available = 4 * 41 * 4096 * 8 * 3
    with pytest.raises(
        MemoryError,
        match=r"this sweep of 8 items would hold 328 densities of 4096 "
        r"cells",
    ):
        fg.solve(target, fg.CFG(label=1, w=list(range(8))), grid=grid, n_save=41)
    fg.solve(target, fg.CFG(label=1, w=[0.0, 1.0]), grid=grid, n_save=41)
