"""rerun(ds): the run a Dataset records in its configuration (``ds.attrs["config"]``), run again.

Runs are deterministic (no timestamps in the Dataset, seeded particles), so a rerun on the same
fpguide version reproduces the Dataset bit for bit; ``xarray.testing.assert_identical(rerun(ds),
ds)`` is the check. Every Dataset of :func:`~fpguide.solve` (single runs, sweeps, d-D, reduced, with
error estimates), :func:`~fpguide.solve_pc` and :func:`~fpguide.solve_discrete` can be rerun, and
those of :func:`~fpguide.sample`, :func:`~fpguide.sample_pc` and :func:`~fpguide.sample_discrete`
drawn with an integer seed; what a record cannot rebuild (a ``Family`` of targets, custom schedules
or score errors, a seed that was a generator) is named in the error, with what to pass instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import xarray as xr

from .grids.grid import ADAPTIVE, UNIFORM, grid_from_dict, is_adaptive
from .models.guidance import CFG
from .models.samplers import sampler_from_dict
from .models.targets import target_from_dict
from .results.dataset import config_of
from .runs.discrete_run import sample_discrete, solve_discrete
from .runs.grid_run import SETTINGS
from .runs.particles import sample
from .runs.predictor_corrector import PredictorCorrector, sample_pc, solve_pc
from .runs.solve import solve
from .sweeps.sweep import SWEEPABLE

__all__ = ["rerun"]


def rerun(ds: xr.Dataset, **changes: Any) -> xr.Dataset:
    """Run again what made a Dataset, from its recorded configuration.

    Runs are deterministic, so a rerun on the same fpguide version reproduces the Dataset bit for
    bit (``xarray.testing.assert_identical(rerun(ds), ds)``). Where the run chose one uniform grid
    automatically, its pilot runs again (``grid="uniform"``); where it ran on adaptive grids, they
    are planned again; else the recorded grid is used.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of :func:`~fpguide.solve`, :func:`~fpguide.sample`, their sweeps, or of the
        predictor–corrector and discrete samplers (particles drawn with an integer seed).
    **changes
        Arguments that replace recorded ones (e.g. ``seed=1``, ``sampler="sde"``).

    Returns
    -------
    xarray.Dataset
        The Dataset of the function that made ``ds``, called with the recorded arguments and the
        ``changes``.

    Raises
    ------
    TypeError
        When ``ds`` is not an ``xarray.Dataset`` with a ``config`` attribute.
    ValueError
        When the record names no function that can be rerun, or cannot rebuild a call: a sweep over
        a ``Family`` of targets, a custom schedule or score error (a callable, recorded only by its
        repr), or particles drawn with a seed that was not an integer; the error says what to pass
        instead.
    """
    if not isinstance(ds, xr.Dataset) or "config" not in ds.attrs:
        raise TypeError(
            "ds must be an xarray.Dataset made by fpguide (with its config "
            "attribute), got "
            f"{type(ds).__name__}"
        )
    config = config_of(ds)
    function = config.get("function")
    if function not in RERUNS:
        raise ValueError(
            f"rerun rebuilds Datasets of {sorted(RERUNS)}; this one records "
            f"function={function!r}: call "
            "that function again with the arguments in ds.attrs['config']"
        )
    func, arguments = RERUNS[function]
    return func(**(arguments(config, json.loads(ds.attrs.get("run", "{}"))) | changes))


def _law(config: dict) -> dict:
    """Target, guidance (a sweep's weights included), start and observables: what every run
    records."""
    guidance = config["guidance"] | (
        {"w": config["sweep"]["w"]} if "w" in config.get("sweep", {}) else {}
    )
    return {
        "target": target_from_dict(config["target"]),
        "guidance": CFG.from_dict(guidance),
        "start": config["start"],
        "delta": config["delta"],
        "thresholds": config["thresholds"],
    }


def _times(config: dict) -> dict:
    return {"T": config["T"], "t_min": config["t_min"], "process": config["process"]}


def _continuous(config: dict) -> dict:
    """The arguments solve and sample share, as the first item of a sweep had them, with the swept
    values and the arguments the sweep filled in per item as they were given."""
    call = (
        _law(config) | _times(config) | {"sampler": config["sampler"], "t_eval": config["t_eval"]}
    )
    if config["sampler"] == "sde":
        call["eta"] = config["eta"]
    if "direction" in config:
        call["direction"] = config["direction"]
    sweep = {
        name: values
        for name, values in config.get("sweep", {}).items()
        if name != config.get("sweep_rule")  # the rules are in the guidance's record
    }
    family = [name for name in sweep if name not in ("sampler", "w", *SWEEPABLE)]
    if family:
        raise ValueError(
            f"a sweep over a Family of targets (parameters {family}) cannot be "
            "rebuilt from its record: "
            "call solve with the Family again"
        )
    return call | {name: values for name, values in sweep.items() if name != "w"}


def _grid(config: dict, run: dict) -> dict:
    """The grid argument of the rerun: "uniform" where the run chose one uniform grid automatically
    (its pilot runs again; a sweep's items share one recorded grid unless they were reduced),
    "adaptive" where it ran on adaptive grids (planned again), else the grid recorded."""
    if is_adaptive(config["grid"]):
        return {"grid": ADAPTIVE}
    automatic = any(item.get("grid_choice") is not None for item in run.get("items", [run]))
    return {"grid": UNIFORM if automatic else grid_from_dict(config["grid"])}


def _seeded(config: dict) -> dict:
    seed = config["seed"]
    if not isinstance(seed, int):
        raise ValueError(
            f"the particles were drawn with seed={seed!r}, which a record cannot "
            "replay: rerun(ds, "
            "seed=...) with an integer seed (a fresh draw, not this one)"
        )
    return {"n": config["n"], "seed": seed}


def _solve(config: dict, run: dict) -> dict:
    return (
        _continuous(config)
        | {name: config[name] for name in SETTINGS}
        | _grid(config, run)
        | {"reduce": config.get("reduce"), "error_estimate": config.get("error_estimate", False)}
        | config.get("sweep_arguments", {})
    )


def _sample(config: dict, run: dict) -> dict:
    return (
        _continuous(config)
        | _seeded(config)
        | {"log_snr_step": config["log_snr_step"], "time_grid": config["time_grid"]}
        | config.get("sweep_arguments", {})
    )


def _predictor_corrector(config: dict) -> dict:
    spec = config["sampler"]
    return (
        _law(config) | _times(config) | {"pc": PredictorCorrector(spec["steps"], spec["langevin"])}
    )


def _solve_pc(config: dict, run: dict) -> dict:
    return (
        _predictor_corrector(config)
        | _grid(config, run)
        | {name: config[name] for name in ("scheme", "cells_per_width", "wall_tol")}
    )


def _sample_pc(config: dict, run: dict) -> dict:
    return (
        _predictor_corrector(config)
        | _seeded(config)
        | {"substeps": config["substeps"], "langevin_dt": config["langevin_dt"]}
    )


def _solve_discrete(config: dict, run: dict) -> dict:
    return (
        _law(config)
        | {"sampler": sampler_from_dict(config["sampler"])}
        | _grid(config, run)
        | {name: config[name] for name in ("scheme", "cells_per_width", "wall_tol", "compare")}
    )


def _sample_discrete(config: dict, run: dict) -> dict:
    return _law(config) | {"sampler": sampler_from_dict(config["sampler"])} | _seeded(config)


# function recorded → (the function, its arguments from the configuration and the run record)
RERUNS: dict[str, tuple[Callable, Callable[[dict, dict], dict]]] = {
    "solve": (solve, _solve),
    "sample": (sample, _sample),
    "solve_pc": (solve_pc, _solve_pc),
    "sample_pc": (sample_pc, _sample_pc),
    "solve_discrete": (solve_discrete, _solve_discrete),
    "sample_discrete": (sample_discrete, _sample_discrete),
}
