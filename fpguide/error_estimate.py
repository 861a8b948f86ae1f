"""Error estimates of a solve, from a companion solve at half the resolution.

The companion is the same solve on a grid with the same bounds and half the cells per axis, with steps twice as long
(``log_snr_step`` and ``lipschitz`` doubled, ``cells_per_width`` halved for any grid chosen inside it). For a scheme
of order p ≥ 1 in dx and dt, an observable's error is e_h ≈ C h^p, so the companion's is 2^p e_h and the difference
of the two is (2^p − 1) e_h ≥ e_h: |solve − companion| estimates the solve's error from above in the asymptotic
regime (about 3x for p = 2). The companion costs about an eighth of the solve in 1-D (half the cells, half the steps,
half the heat-kernel taps), less in d-D.

Estimated: ``<name>_error`` for every observable of the solve (``entropy_error``, ``support_mass_error``, ...), and
``l1_error(t)``, Σ|R q − q_c| over the companion's cells, where R q is the solve's density integrated over them
(exact for cell averages: the cumulative mass is piecewise linear). In a reduced solve it is the L1 error of the
solved coordinates' density.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from .dataset import attach, config_of
from .errors import CoarseGridWarning
from .grid import AXIS_NAMES, Grid, TensorGrid, grid_from_dict

ESTIMATED = ("entropy", "confidence", "inverse_confidence", "mean", "variance", "covariance", "projected_mean",
             "support_mass", "edge_mass", "outside_mass", "tail_probability", "kl_conditional", "tv_conditional",
             "kl_tilted", "tv_tilted", "solved_mean", "solved_covariance")


def with_error_estimates(datasets: list[xr.Dataset], calls: list[dict], run_calls) -> list[xr.Dataset]:
    """``datasets``, made by the solve ``calls``, with the estimates from their companions, which
    ``run_calls(companion calls)`` solves (their coarse-grid warnings silenced: a companion is coarse by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        companions = run_calls([companion_call(call, ds) for call, ds in zip(calls, datasets)])
    return [with_error_estimate(ds, companion) for ds, companion in zip(datasets, companions)]


def companion_call(call: dict, ds: xr.Dataset) -> dict:
    """The arguments of the companion of the solve ``call`` that returned ``ds`` (one item, not a sweep)."""
    config = config_of(ds)
    grid = grid_from_dict(config["grid"])
    axes = grid.axes if isinstance(grid, TensorGrid) else (grid,)
    coarse = tuple(Grid(axis.lower, axis.upper, max(axis.n // 2, 2)) for axis in axes)
    return call | {"grid": TensorGrid(coarse) if isinstance(grid, TensorGrid) else coarse[0],
                   "log_snr_step": 2 * config["log_snr_step"], "lipschitz": 2 * config["lipschitz"],
                   "cells_per_width": config["cells_per_width"] / 2, "error_estimate": False, "progress": False}


def with_error_estimate(ds: xr.Dataset, companion: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``l1_error`` and ``<name>_error`` = |ds[name] − companion[name]| for its observables."""
    errors = {f"{name}_error": abs(ds[name] - companion[name]) for name in ESTIMATED if name in ds}
    errors["l1_error"] = _l1_distance(ds, companion)
    out = attach(ds.assign({name: value.drop_attrs() for name, value in errors.items()}))
    out.attrs["config"] = json.dumps(config_of(ds) | {"error_estimate": True}, sort_keys=True)
    return out


def _l1_distance(fine_ds: xr.Dataset, coarse_ds: xr.Dataset) -> xr.DataArray:
    """Σ over the cells of ``coarse_ds`` of |mass of ``fine_ds``'s density in the cell − its own| (same bounds)."""
    spatial = [name for name in AXIS_NAMES if name in fine_ds.density.dims]
    fine = fine_ds.density.transpose(..., *spatial)
    mass, mass_coarse = fine.values, coarse_ds.density.transpose(..., *spatial).values
    for k, name in enumerate(spatial):
        axis = mass.ndim - len(spatial) + k
        bounds_fine, bounds_coarse = fine_ds[f"{name}_bounds"].values, coarse_ds[f"{name}_bounds"].values
        mass = _integrate_over(mass * _widths(bounds_fine, axis, mass.ndim), bounds_fine, bounds_coarse, axis)
        mass_coarse = mass_coarse * _widths(bounds_coarse, axis, mass.ndim)
    total = np.abs(mass - mass_coarse).sum(axis=tuple(range(mass.ndim - len(spatial), mass.ndim)))
    dims = [dim for dim in fine.dims if dim not in spatial]
    return xr.DataArray(total, dims=dims, coords={dim: fine[dim] for dim in dims if dim in fine.coords})


def _widths(bounds: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = bounds.shape[0]
    return (bounds[:, 1] - bounds[:, 0]).reshape(shape)


def _integrate_over(cell_mass: np.ndarray, fine_bounds: np.ndarray, coarse_bounds: np.ndarray,
                    axis: int) -> np.ndarray:
    """The masses of cells ``fine_bounds`` (along ``axis``) collected into the cells ``coarse_bounds``: differences of
    the cumulative mass, linear inside each fine cell, at the coarse faces."""
    cumulative = np.concatenate([np.zeros_like(np.take(cell_mass, [0], axis=axis)),
                                 np.cumsum(cell_mass, axis=axis)], axis=axis)
    faces = np.append(fine_bounds[:, 0], fine_bounds[-1, 1])
    at = np.append(coarse_bounds[:, 0], coarse_bounds[-1, 1])
    index = np.clip(np.searchsorted(faces, at, side="right") - 1, 0, faces.size - 2)
    theta = np.clip((at - faces[index]) / (faces[index + 1] - faces[index]), 0.0, 1.0)
    shape = [1] * cell_mass.ndim
    shape[axis] = at.size
    theta = theta.reshape(shape)
    at_faces = np.take(cumulative, index, axis=axis) * (1 - theta) + np.take(cumulative, index + 1, axis=axis) * theta
    return np.diff(at_faces, axis=axis)
