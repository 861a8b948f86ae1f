"""rerun(ds): the run a Dataset records in its configuration (``ds.attrs["config"]``), run again.

Runs are deterministic (no timestamps in the Dataset, seeded particles), so a rerun on the same fpguide version
reproduces the Dataset bit for bit; ``xarray.testing.assert_identical(rerun(ds), ds)`` is the check. Datasets of
:func:`~fpguide.solve` (single runs, sweeps, d-D, reduced, with error estimates) and of :func:`~fpguide.sample` (with
an integer seed) can be rerun; what a record cannot rebuild (a ``Family`` of targets, custom schedules or score errors,
a seed that was a generator) is named in the error, with what to pass instead.
"""

from __future__ import annotations

import json

import xarray as xr

from .dataset import config_of
from .grid import grid_from_dict
from .guidance import CFG
from .particles import sample
from .solve import SETTINGS, solve
from .sweep import SWEEPABLE
from .targets import target_from_dict

RERUNNABLE = {"solve": solve, "sample": sample}


def rerun(ds: xr.Dataset, **changes) -> xr.Dataset:
    """Run again what made ``ds`` (a Dataset of :func:`~fpguide.solve` or :func:`~fpguide.sample`, or their sweeps),
    from its recorded configuration; ``changes`` replace recorded arguments (e.g. ``seed=1``, ``progress=True``)."""
    if not isinstance(ds, xr.Dataset) or "config" not in ds.attrs:
        raise TypeError(f"ds must be an xarray.Dataset made by fpguide (with its config attribute), got "
                        f"{type(ds).__name__}")
    config = config_of(ds)
    function = config.get("function")
    if function not in RERUNNABLE:
        raise ValueError(f"rerun rebuilds Datasets of {sorted(RERUNNABLE)}; this one records function={function!r}: "
                         "call that function again with the arguments in ds.attrs['config']")
    call = _common(config)
    call |= _solve_arguments(config, json.loads(ds.attrs["run"])) if function == "solve" else _sample_arguments(config)
    call |= config.get("sweep_arguments", {})
    return RERUNNABLE[function](**(call | changes))


def _common(config: dict) -> dict:
    """The arguments solve and sample share, as the first item of a sweep had them, with the swept values."""
    guidance = config["guidance"]
    call = {"target": target_from_dict(config["target"]), "sampler": config["sampler"], "T": config["T"],
            "t_min": config["t_min"], "process": config["process"], "start": config["start"],
            "t_eval": config["t_eval"], "delta": config["delta"], "thresholds": config["thresholds"]}
    if config["sampler"] == "sde":
        call["eta"] = config["eta"]
    sweep = config.get("sweep", {})
    family = [name for name in sweep if name not in ("sampler", "w", *SWEEPABLE)]
    if family:
        raise ValueError(f"a sweep over a Family of targets (parameters {family}) cannot be rebuilt from its record: "
                         "call solve with the Family again")
    for name, values in sweep.items():
        if name == "w":
            guidance = guidance | {"w": values}
        else:
            call[name] = values
    call["guidance"] = CFG.from_dict(guidance)
    if "direction" in config:
        call["direction"] = config["direction"]
    return call


def _solve_arguments(config: dict, run: dict) -> dict:
    """The engine settings, the grid (None where the run chose it automatically: its pilot runs again; a sweep's
    items share one grid, recorded, unless they were reduced), reduction and error estimate."""
    automatic = any(item.get("grid_choice") is not None for item in run.get("items", [run]))
    return {name: config[name] for name in SETTINGS} | {
        "grid": None if automatic else grid_from_dict(config["grid"]), "reduce": config.get("reduce"),
        "error_estimate": config.get("error_estimate", False)}


def _sample_arguments(config: dict) -> dict:
    seed = config["seed"]
    if not isinstance(seed, int):
        raise ValueError(f"the particles were drawn with seed={seed!r}, which a record cannot replay: rerun(ds, "
                         "seed=...) with an integer seed (a fresh draw, not this one)")
    return {"n": config["n"], "seed": seed, "log_snr_step": config["log_snr_step"], "time_grid": config["time_grid"]}
