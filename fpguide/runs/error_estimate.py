"""Error estimates of a solve, from two companion solves: one at half the spatial, one at half the
time resolution.

The space companion is the same solve on a grid with the same bounds and half the cells per axis
(``cells_per_width`` halved for any grid chosen inside it, e.g. the factors of a reduction, or the
stages of an adaptive run); the time companion takes steps twice as long (``log_snr_step`` and
``lipschitz`` doubled) on the same grid. For an error C_x dx^p + C_t dt^r with p, r ≥ 1, each
companion's difference from the solve is (2^p − 1) C_x dx^p, resp. (2^r − 1) C_t dt^r, so their sum
bounds the solve's error from above in the asymptotic regime (3x to 15x for orders 2 to 4). Halving
dx and dt in one companion would be cheaper but lets space and time errors of opposite signs cancel
in the difference (measured: an estimate 5x below the true error).

Estimated: ``<name>_error`` for every observable of the solve (``entropy_error``,
``support_mass_error``, ...), and ``l1_error(t)``, the L1 distance to each companion summed; to the
space companion it is Σ|R q − q_c| over its cells, where R q is the solve's density integrated over
them (exact for cell averages: the cumulative mass is piecewise linear). In a reduced solve it is
the L1 error of the solved coordinates' density. With its companions a 1-D solve takes 1.9-2.8x as
long as alone (``benchmarks/error_estimate_cost.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..engine import collect_masses
from ..grids.grid import AXIS_NAMES, Grid, TensorGrid, axes_of, grid_from_dict, is_adaptive
from ..results.dataset import attach, config_attr, config_of
from ..tools.errors import CoarseGridWarning

if TYPE_CHECKING:
    from ..sweeps.calls import SolveCall

__all__ = ["with_error_estimates"]

ESTIMATED = (
    "entropy",
    "confidence",
    "inverse_confidence",
    "mean",
    "variance",
    "covariance",
    "projected_mean",
    "support_mass",
    "edge_mass",
    "outside_mass",
    "tail_probability",
    "kl_conditional",
    "tv_conditional",
    "kl_tilted",
    "tv_tilted",
    "solved_mean",
    "solved_covariance",
)


def with_error_estimates(
    datasets: list[xr.Dataset],
    calls: list[SolveCall],
    run_calls: Callable[[list[SolveCall]], list[xr.Dataset]],
) -> list[xr.Dataset]:
    """Solves' Datasets with the error estimates from their two companions.

    For each solve, the space companion (half the cells per axis) and the time companion (steps
    twice as long) are solved, and ``<name>_error`` = |ds[name] − space[name]| + |ds[name] −
    time[name]| is added for every observable, with ``l1_error(t)``, the L1 distance to each
    companion summed (see the module docstring); ``config["error_estimate"]`` is then True.

    Parameters
    ----------
    datasets : list of xarray.Dataset
        The Datasets the solve ``calls`` made.
    calls : list of SolveCall
        The solve calls.
    run_calls : callable
        ``run_calls(companion calls)`` solves a list of calls and returns their Datasets (their
        coarse-grid warnings are silenced: a companion is coarse by design).

    Returns
    -------
    list of xarray.Dataset
        ``datasets`` with the estimates, in order.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        space = run_calls([_space_companion(call, ds) for call, ds in zip(calls, datasets)])
        time = run_calls([_time_companion(call, ds) for call, ds in zip(calls, datasets)])
    return [with_error_estimate(*runs) for runs in zip(datasets, space, time)]


def _space_companion(call: SolveCall, ds: xr.Dataset) -> SolveCall:
    """The solve ``call`` (that returned ``ds``) on its grid with half the cells per axis."""
    config = config_of(ds)
    if is_adaptive(config["grid"]):  # its stages are planned again with half the cells per width
        return _companion(call, config).replace(cells_per_width=config["cells_per_width"] / 2)
    grid = grid_from_dict(config["grid"])
    axes = axes_of(grid)
    coarse = tuple(Grid(axis.lower, axis.upper, max(axis.n // 2, 2)) for axis in axes)
    return _companion(call, config).replace(
        grid=TensorGrid(coarse) if isinstance(grid, TensorGrid) else coarse[0],
        cells_per_width=config["cells_per_width"] / 2,
    )


def _time_companion(call: SolveCall, ds: xr.Dataset) -> SolveCall:
    """The solve ``call`` (that returned ``ds``) with steps twice as long."""
    config = config_of(ds)
    return _companion(call, config).replace(
        log_snr_step=2 * config["log_snr_step"], lipschitz=2 * config["lipschitz"]
    )


def _companion(call: SolveCall, config: dict) -> SolveCall:
    """The solve ``call`` as it ran (its grid and step settings, from its ``config``), without
    estimates. The mass a companion loses through the walls (its coarser cells diffuse more) is part
    of its difference, not a failure."""
    grid = config["grid"] if is_adaptive(config["grid"]) else grid_from_dict(config["grid"])
    return call.replace(
        grid=grid,
        log_snr_step=config["log_snr_step"],
        lipschitz=config["lipschitz"],
        wall_tol=1.0,
        error_estimate=False,
        progress=False,
    )


def with_error_estimate(ds: xr.Dataset, space: xr.Dataset, time: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``l1_error`` and ``<name>_error`` = |ds[name] − space[name]| + |ds[name] −
    time[name]| for its observables (0 where they agree exactly, also where all are +inf: an
    E[1/p(c|x)] that overflows in every run)."""
    errors = {
        f"{name}_error": _difference(ds[name], space[name]) + _difference(ds[name], time[name])
        for name in ESTIMATED
        if name in ds
    }
    errors["l1_error"] = _l1_distance(ds, space) + _l1_distance(ds, time)
    out = attach(ds.assign({name: value.drop_attrs() for name, value in errors.items()}))
    out.attrs["config"] = config_attr(config_of(ds) | {"error_estimate": True})
    return out


def _difference(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """|a − b|, and 0 where a == b (inf − inf would be NaN)."""
    return xr.where(a == b, 0.0, abs(a - b))


def _l1_distance(fine_ds: xr.Dataset, coarse_ds: xr.Dataset) -> xr.DataArray:
    """Σ over the cells of ``coarse_ds`` of |mass of ``fine_ds``'s density in the cell − its own|
    (same bounds)."""
    spatial = [name for name in AXIS_NAMES if name in fine_ds.density.dims]
    fine = fine_ds.density.transpose(..., *spatial)
    mass, mass_coarse = fine.values, coarse_ds.density.transpose(..., *spatial).values
    for k, name in enumerate(spatial):
        axis = mass.ndim - len(spatial) + k
        bounds_fine, bounds_coarse = (
            fine_ds[f"{name}_bounds"].values,
            coarse_ds[f"{name}_bounds"].values,
        )
        mass = collect_masses(
            mass * _widths(bounds_fine, axis, mass.ndim),
            _faces(bounds_fine),
            _faces(bounds_coarse),
            axis,
        )
        mass_coarse = mass_coarse * _widths(bounds_coarse, axis, mass.ndim)
    total = np.abs(mass - mass_coarse).sum(axis=tuple(range(mass.ndim - len(spatial), mass.ndim)))
    dims = [dim for dim in fine.dims if dim not in spatial]
    return xr.DataArray(
        total, dims=dims, coords={dim: fine[dim] for dim in dims if dim in fine.coords}
    )


def _faces(bounds: np.ndarray) -> np.ndarray:
    return np.append(bounds[:, 0], bounds[-1, 1])


def _widths(bounds: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = bounds.shape[0]
    return (bounds[:, 1] - bounds[:, 0]).reshape(shape)
