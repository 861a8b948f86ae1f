"""Densities of a Dataset on other grids: conservative resampling of the stored cell averages.

A solve Dataset stores cell averages on the cells ``x_bounds`` (``y_bounds``, ``z_bounds``), uniform
or graded (an adaptive run's). :func:`resample` moves them onto any other grid, taking the density
constant inside each stored cell (what the cell averages say, and no more): along each axis the new
cell's mass is the sum of the stored cells' masses over their overlaps with it
(:func:`~fpguide.engine.transfer.collect_masses`). The result is positive and conserves the mass
inside the new extent; mass outside it is reported, not hidden.

Example
-------
>>> ds = fg.solve(target, fg.CFG(label=1, w=3.0), grid="adaptive")       # doctest: +SKIP
>>> uniform = fg.resample(ds, fg.Grid(-4.0, 4.0, 800))                   # doctest: +SKIP
>>> uniform.density, uniform.attrs["outside_mass"]                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..engine import collect_masses
from ..grids.grid import AXIS_NAMES, MAX_GRID_DIM, GradedGrid, Grid, TensorGrid, axes_of, union_axis
from ..tools.resources import check_memory
from .dataset import config_attr, config_of

__all__ = ["dataset_grid", "on_common_grid", "on_uniform_grid", "resample"]

# on_uniform_grid coarsens beyond these totals
MAX_UNIFORM_CELLS = {1: 1 << 20, 2: 1 << 22, 3: 1 << 22}


def dataset_grid(ds: xr.Dataset) -> Grid | GradedGrid | TensorGrid:
    """The grid of a solve Dataset's density, from its cell bounds (a :class:`Grid` per uniform
    axis, a :class:`GradedGrid` otherwise).

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of :func:`fpguide.solve`, with a density and its cell bounds ``x_bounds``
        (``y_bounds``, ``z_bounds``).

    Returns
    -------
    Grid, GradedGrid or TensorGrid
        The grid of the density: one axis in 1-D, a TensorGrid of the axes otherwise.

    Raises
    ------
    TypeError
        When ``ds`` is not an xarray.Dataset with a density.
    """
    if not isinstance(ds, xr.Dataset) or "density" not in ds:
        raise TypeError(
            f"ds must be an xarray.Dataset made by fpguide.solve (with a density), got "
            f"{type(ds).__name__}"
        )
    names = [name for name in AXIS_NAMES if name in ds["density"].dims]
    axes = tuple(
        union_axis(
            [
                GradedGrid(
                    np.append(ds[f"{name}_bounds"].values[:, 0], ds[f"{name}_bounds"].values[-1, 1])
                )
            ]
        )
        for name in names
    )
    return axes[0] if len(axes) == 1 else TensorGrid(axes)


def resample(ds: xr.Dataset, grid: Grid | GradedGrid | TensorGrid) -> xr.Dataset:
    """The density of the solve Dataset ``ds`` (every saved time) on ``grid``, conservatively (see
    the module).

    The density is taken constant inside each stored cell; along each axis the new cell's mass is
    the sum of the stored cells' masses over their overlaps with it. The result is positive and
    conserves the mass inside the new extent.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of :func:`fpguide.solve`.
    grid : Grid, GradedGrid or TensorGrid
        The new grid, one axis per spatial dimension of ``ds`` (a :class:`Grid` or
        :class:`GradedGrid` in 1-D, a :class:`TensorGrid` otherwise).

    Returns
    -------
    xarray.Dataset
        ``density`` (the Dataset's other dimensions, then the new axes), the new cell centres and
        bounds as coordinates, and ``attrs["outside_mass"]``: the largest mass, over the saved
        times, that lies outside the new extent.

    Raises
    ------
    TypeError
        When ``ds`` is not a Dataset with a density, or ``grid`` is not a grid.
    ValueError
        When ``grid`` does not have one axis per spatial dimension of ``ds``.
    """
    old = dataset_grid(ds)
    old_axes, new_axes = axes_of(old), _axes("grid", grid)
    if len(new_axes) != len(old_axes):
        raise ValueError(
            f"grid must have one axis per spatial dimension of ds ({len(old_axes)}), "
            "got "
            f"{len(new_axes)}"
        )
    names = AXIS_NAMES[: len(old_axes)]
    density = ds["density"].transpose(..., *names)
    old_mass = density.values * _volumes(old_axes, density.ndim)
    mass = old_mass
    for k, (before, after) in enumerate(zip(old_axes, new_axes)):
        mass = collect_masses(
            mass, np.asarray(before.faces), np.asarray(after.faces), density.ndim - len(names) + k
        )
    spatial = tuple(range(density.ndim - len(names), density.ndim))
    outside = old_mass.sum(axis=spatial) - mass.sum(axis=spatial)
    others = [dim for dim in density.dims if dim not in names]
    coords = {dim: density[dim] for dim in others if dim in density.coords}
    for name, axis in zip(names, new_axes):
        coords[name] = (name, axis.centres, {"bounds": f"{name}_bounds"})
        coords[f"{name}_bounds"] = ((name, "nv"), axis.bounds)
    values = (*others, *names), mass / _volumes(new_axes, density.ndim), dict(ds["density"].attrs)
    return xr.Dataset(
        {"density": values},
        coords=coords,
        attrs={"outside_mass": float(np.max(outside, initial=0.0))},
    )


def on_uniform_grid(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its density resampled onto the uniform grid with the finest cell width of its
    grid over the same extent.

    The grid is coarsened evenly beyond MAX_UNIFORM_CELLS cells in all (2²⁰ in 1-D, 2²² in 2-D and
    3-D), with at least 8 cells per axis.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of :func:`fpguide.solve`, typically of an adaptive run.

    Returns
    -------
    xarray.Dataset
        ``ds`` with the resampled density and its axes' coordinates, and its ``config["grid"]``
        that grid: a Dataset of an adaptive run as the tools made for uniform grids read it.
    """
    old_axes = axes_of(dataset_grid(ds))
    d = len(old_axes)
    counts = np.array(
        [
            int(np.ceil((axis.upper - axis.lower) / np.min(np.diff(axis.faces)) - 1e-9))
            for axis in old_axes
        ]
    )
    scale = max(
        1.0, (float(np.prod(counts)) / MAX_UNIFORM_CELLS[min(d, MAX_GRID_DIM)]) ** (1.0 / d)
    )
    axes = tuple(
        Grid(axis.lower, axis.upper, max(int(np.ceil(n / scale)), 8))
        for axis, n in zip(old_axes, counts)
    )
    grid = axes[0] if d == 1 else TensorGrid(axes)
    return _with_density(ds, resample(ds, grid)).assign_attrs(
        config=config_attr(config_of(ds) | {"grid": grid.to_dict()})
    )


def on_common_grid(items: list[xr.Dataset]) -> list[xr.Dataset]:
    """The solve Datasets ``items`` (a sweep's, on adaptive grids) with their densities on one grid:
    per axis the union of their grids' faces.

    Every cell of that grid lies inside one cell of each item's grid, so each item's stored
    density (constant inside its cells) is kept exactly, as is its mass.

    Parameters
    ----------
    items : list of xarray.Dataset
        Datasets of :func:`fpguide.solve` of the same dimension.

    Returns
    -------
    list of xarray.Dataset
        The items with their densities on the common grid; items on one grid already come back
        as they are.

    Raises
    ------
    MemoryError
        When the items' densities on the union would not fit in memory.
    """
    grids = [dataset_grid(ds) for ds in items]
    if all(grid == grids[0] for grid in grids[1:]):
        return items
    axes = tuple(union_axis(axes) for axes in zip(*(axes_of(grid) for grid in grids)))
    common = axes[0] if len(axes) == 1 else TensorGrid(axes)
    check_memory(
        sum(ds.sizes["t"] for ds in items),
        common.size,
        f"this sweep of {len(items)} adaptive solves, on the union of their grids,",
    )
    return [_with_density(ds, resample(ds, common)) for ds in items]


def _with_density(ds: xr.Dataset, moved: xr.Dataset) -> xr.Dataset:
    """``ds`` with the density (and its axes' coordinates) of ``moved``, a :func:`resample` of
    it."""
    names = [name for name in AXIS_NAMES if name in ds["density"].dims]
    out = ds.drop_vars(["density", *[f"{name}_bounds" for name in names], *names])
    return out.assign_coords(moved.coords).assign(density=moved["density"])


def _axes(name: str, grid) -> tuple:
    if isinstance(grid, (Grid, GradedGrid)):
        return (grid,)
    if isinstance(grid, TensorGrid):
        return grid.axes
    raise TypeError(
        f"{name} must be a fpguide.Grid, GradedGrid or TensorGrid, got {type(grid).__name__}"
    )


def _volumes(axes, ndim: int) -> np.ndarray:
    """The cell volumes of a grid with ``axes``, shaped to broadcast against arrays of ``ndim``
    dimensions whose last ones are the grid's."""
    volume = np.ones(())
    for axis in axes:
        volume = np.multiply.outer(volume, np.diff(np.asarray(axis.faces)))
    return volume.reshape((1,) * (ndim - len(axes)) + volume.shape)
