"""Figures on matplotlib, labelled from the Datasets' units and long names."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .results.dataset import attach, config_of
from .sweeps.sweep import outputs, sweep_dims

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = [
    "plot_dataset",
    "plot_density_over_time",
    "plot_density_snapshots",
    "plot_output_densities",
    "plot_outputs_2d",
    "plot_sweep",
    "plot_sweep_densities",
    "sweep_parameter",
]

# what plot_sweep shows, where present
OBSERVABLES = ("entropy", "confidence", "support_mass", "edge_mass")
CALL_DIMS = (
    "sampler",
    "w",
    "T",
    "t_min",
    "eta",
    "delta",
    "log_snr_step",
    "lipschitz",
    "cells_per_width",
)
MAX_COLUMNS = 4


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_density_over_time(
    ds: xr.Dataset, ax: Axes | None = None, n_curves: int = 8, cmap: str = "viridis"
) -> Axes:
    """Plot a 1-D density at ``n_curves`` saved times from T (light) to t_min (dark).

    Parameters
    ----------
    ds : xarray.Dataset
        A 1-D Dataset of :func:`~fpguide.solve` (a single run).
    ax : matplotlib.axes.Axes, optional
        The axes to draw into (default: new ones).
    n_curves : int, default 8
        The number of saved times, evenly spaced in their index.
    cmap : str, default "viridis"
        The colour map.

    Returns
    -------
    matplotlib.axes.Axes
        The axes, titled and with a legend of the times.
    """
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    picks = np.unique(np.linspace(0, ds.sizes["t"] - 1, n_curves).round().astype(int))
    colours = plt.get_cmap(cmap)(np.linspace(0.9, 0.0, picks.size))
    for colour, k in zip(colours, picks):
        ds["density"].isel(t=k).plot.line(ax=ax, color=colour, label=f"t = {ds.t.values[k]:.3g}")
    ax.set_title(ds.attrs.get("title", ""))
    ax.legend(fontsize="small")
    return ax


def plot_output_densities(
    runs: Mapping[str, xr.Dataset],
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
) -> Axes:
    """Plot the output densities (at t_min) of several 1-D runs, one line per label.

    Parameters
    ----------
    runs : mapping of str to xarray.Dataset
        The runs by label, e.g. ``{"w=3": ds, ...}``.
    ax : matplotlib.axes.Axes, optional
        The axes to draw into (default: new ones).
    xlim : tuple of float, optional
        The range of x shown (default: matplotlib's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with a legend of the labels.
    """
    ax = _axes(ax)
    for label, ds in runs.items():
        ds["density"].isel(t=-1).plot.line(ax=ax, label=label)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_title("output densities")
    ax.legend(fontsize="small")
    return ax


def plot_density_snapshots(ds: xr.Dataset, n_panels: int = 4, cmap: str = "magma") -> Figure:
    """Plot a 2-D density at ``n_panels`` saved times from T to t_min, one panel each.

    The target's boxes are outlined (for box targets that are not swept or reduced).

    Parameters
    ----------
    ds : xarray.Dataset
        A 2-D Dataset of :func:`~fpguide.solve` (density on (x, y)).
    n_panels : int, default 4
        The number of saved times, evenly spaced in their index.
    cmap : str, default "magma"
        The colour map.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure.

    Raises
    ------
    ValueError
        When the density is not on (x, y).
    """
    picks = np.unique(np.linspace(0, ds.sizes["t"] - 1, n_panels).round().astype(int))
    return _panels(
        [ds.isel(t=k) for k in picks],
        [f"t = {ds.t.values[k]:.3g}" for k in picks],
        cmap,
        ds.attrs.get("title", ""),
    )


def plot_outputs_2d(runs: Mapping[str, xr.Dataset], cmap: str = "magma") -> Figure:
    """Plot the output densities (at t_min) of several 2-D runs, one panel per label.

    Parameters
    ----------
    runs : mapping of str to xarray.Dataset
        The runs by label, e.g. ``{"w=3": ds, ...}``.
    cmap : str, default "magma"
        The colour map.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure.

    Raises
    ------
    ValueError
        When a density is not on (x, y).
    """
    return _panels([ds.isel(t=-1) for ds in runs.values()], list(runs), cmap, "output densities")


def _panels(
    snapshots: list[xr.Dataset],
    titles: list[str],
    cmap: str,
    suptitle: str,
    fig=None,
    ncols: int | None = None,
    limits=None,
):
    import matplotlib.pyplot as plt

    for snap in snapshots:
        if snap["density"].dims != ("x", "y"):
            raise ValueError(
                f"2-D figures need a density on (x, y), got dims {snap['density'].dims}"
            )
    ncols = ncols or len(snapshots)
    nrows = math.ceil(len(snapshots) / ncols)
    fig = _figure(fig, (3.6 * ncols, 3.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(snapshots) :]:
        ax.set_visible(False)
    for ax, snap, title in zip(axes, snapshots, titles):
        snap["density"].plot.pcolormesh(ax=ax, x="x", y="y", cmap=cmap, rasterized=True)
        for lows, highs in _boxes(snap):
            ax.add_patch(
                plt.Rectangle(lows, *(np.asarray(highs) - lows), fill=False, color="cyan", lw=0.8)
            )
        ax.set_title(title)
        if limits is not None:
            ax.set(xlim=limits[0], ylim=limits[1])
        ax.set_aspect("equal")
    fig.suptitle(suptitle)
    return fig


def _boxes(ds: xr.Dataset) -> list:
    """The target's boxes (lows, highs) from a 2-D Dataset's configuration (none for Gaussian
    targets, reduced solves, whose axes are not the target's, and sweeps over the target)."""
    config = config_of(ds)
    target = config["target"]
    # a Family: the recorded target is only the first item's
    if set(config.get("sweep", {})) - set(CALL_DIMS):
        return []
    if target["type"] != "UniformMixture" or "basis" in ds or np.ndim(target["lows"]) != 2:
        return []
    return [(np.asarray(lo), np.asarray(hi)) for lo, hi in zip(target["lows"], target["highs"])]


# --- sweeps
# --------------------------------------------------------------------------------------------------
def plot_sweep(
    ds: xr.Dataset,
    dim: str | None = None,
    variables: Sequence[str] = OBSERVABLES,
    fig: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Plot the sampler's output observables of a sweep against a swept parameter.

    One panel per variable present, one line per sampler (and per value of every other swept
    parameter); particle sweeps with a band of ±2 standard errors.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep of :func:`~fpguide.solve` or :func:`~fpguide.sample`.
    dim : str, optional
        The swept parameter on the horizontal axis (default ``w`` when swept, else the first swept
        parameter other than ``sampler``; see :func:`sweep_parameter`).
    variables : sequence of str, default OBSERVABLES
        The output observables to show, where present (``entropy``, ``confidence``,
        ``support_mass``, ``edge_mass``).
    fig : matplotlib.figure.Figure or SubFigure, optional
        Where to draw (a new figure when None).

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        ``fig``, or the new figure.

    Raises
    ------
    ValueError
        When ``ds`` is not a sweep, ``dim`` is not swept, or none of ``variables`` is in ``ds``.
    """
    out = _labelled_outputs(ds)
    dim = sweep_parameter(ds, dim)
    names = [name for name in variables if name in out]
    if not names:
        raise ValueError(
            f"none of {tuple(variables)} is in this Dataset (variables: {tuple(out.data_vars)})"
        )
    axes = _grid_of_axes(fig, len(names), (4.2, 3.2))
    for ax, name in zip(axes, names):
        _lines(out[name], dim, ax, out.get(f"{name}_se"))
        ax.set_title("")
    if axes[0].get_legend_handles_labels()[1]:
        axes[0].legend(fontsize="small")
    axes[0].figure.suptitle("outputs (at t_min)", fontsize="medium")
    return axes[0].figure


def plot_sweep_densities(
    ds: xr.Dataset,
    dim: str | None = None,
    fig: Figure | SubFigure | None = None,
    cmap: str = "magma",
) -> Figure | SubFigure:
    """Plot the output densities of a sweep, one panel per value of a swept parameter.

    In 1-D one line per sampler (and per value of every other swept parameter), in 2-D one row of
    panels per combination of the other swept parameters.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep of :func:`~fpguide.solve` (with densities).
    dim : str, optional
        The swept parameter of the panels (default as in :func:`plot_sweep`).
    fig : matplotlib.figure.Figure or SubFigure, optional
        Where to draw (a new figure when None).
    cmap : str, default "magma"
        The colour map (2-D).

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        ``fig``, or the new figure.

    Raises
    ------
    ValueError
        When ``ds`` has no densities (particles), is not a sweep, or ``dim`` is not swept.
    """
    out = _labelled_outputs(ds)
    if "density" not in out:
        raise ValueError(
            "plot_sweep_densities needs the densities of fpguide.solve (a particle "
            "Dataset has none)"
        )
    dim = sweep_parameter(ds, dim)
    density, values = out["density"], out[dim].values
    others = [d for d in sweep_dims(ds) if d != dim]
    if "y" in density.dims:
        combos = list(itertools.product(*(range(out.sizes[d]) for d in others)))
        snaps = [
            out.isel(dict(zip(others, combo))).sel({dim: v}) for combo in combos for v in values
        ]
        titles = [
            ", ".join(f"{d} = {_text(snap[d].values)}" for d in (*others, dim)) for snap in snaps
        ]
        return _panels(
            snaps,
            titles,
            cmap,
            "output densities (at t_min)",
            fig=fig,
            ncols=len(values),
            limits=(_extent(density, "x"), _extent(density, "y")),
        )
    axes = _grid_of_axes(fig, len(values), (3.6, 3.0), sharey=True)
    lower, upper = _extent(density)
    for ax, value in zip(axes, values):
        _lines(density.sel({dim: value}), "x", ax)
        ax.set_title(f"{dim} = {_text(value)}")
        ax.set_xlim(lower, upper)
        if ax.get_subplotspec().colspan.start > 0:
            ax.set_ylabel("")
    if others:
        axes[0].legend(fontsize="small")
    axes[0].figure.suptitle("output densities (at t_min)", fontsize="medium")
    return axes[0].figure


def plot_dataset(ds: xr.Dataset, dim: str | None = None) -> Figure:
    """Draw the figure ``fpguide plot`` draws for a Dataset.

    For a sweep its observables (:func:`plot_sweep`) above its output densities
    (:func:`plot_sweep_densities`; a particle sweep: its observables only); for a single run the
    density over time (1-D) or snapshots (2-D), or the histogram of the output positions
    (particles).

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of fpguide (a single run or a sweep).
    dim : str, optional
        (Sweeps) the swept parameter on the horizontal axis (default as in :func:`plot_sweep`).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure.

    Raises
    ------
    ValueError
        When there is nothing to plot (not a 1-D or 2-D Dataset of fpguide), or ``dim`` is not
        swept.
    """
    import matplotlib.pyplot as plt

    if sweep_dims(ds):
        if "density" not in ds:
            return plot_sweep(ds, dim)
        dim = sweep_parameter(ds, dim)
        n_top, n_values = sum(name in ds for name in OBSERVABLES), ds.sizes[dim]
        # rows of n_values panels, one per combination of the other swept parameters
        if "y" in ds.dims:
            density_rows = math.prod(ds.sizes[d] for d in sweep_dims(ds) if d != dim)
            columns = max(min(n_top, MAX_COLUMNS), n_values)
        else:
            density_rows = math.ceil(n_values / MAX_COLUMNS)
            columns = min(max(n_top, n_values), MAX_COLUMNS)
        rows = [math.ceil(n_top / MAX_COLUMNS), density_rows]
        fig = plt.figure(figsize=(4.2 * columns, 3.4 * sum(rows)), layout="constrained")
        observables, densities = fig.subfigures(2, 1, height_ratios=rows)
        plot_sweep(ds, dim, fig=observables)
        plot_sweep_densities(ds, dim, fig=densities)
        return fig
    if "density" in ds and "y" in ds.dims:
        return plot_density_snapshots(ds)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    if "density" in ds:
        plot_density_over_time(ds, ax=ax)
        ax.set_xlim(*_extent(ds["density"]))
    elif "position" in ds and ds["position"].dims[1:] == ("particle",):
        _labelled_outputs(ds)["position"].plot.hist(ax=ax, bins=100, density=True)
        ax.set_title(ds.attrs.get("title", ""))
    else:
        raise ValueError(
            "nothing to plot: not a 1-D or 2-D fpguide Dataset (no density on x, y or "
            "particle "
            f"positions in 1-D; variables {tuple(ds.data_vars)})"
        )
    return fig


def sweep_parameter(ds: xr.Dataset, dim: str | None = None) -> str:
    """The swept parameter a sweep figure puts on its axis.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep.
    dim : str, optional
        The parameter asked for.

    Returns
    -------
    str
        ``dim``, else ``w`` when swept, else the first swept parameter other than ``sampler``
        (``sampler`` when only it is swept).

    Raises
    ------
    ValueError
        When ``ds`` is not a sweep, or ``dim`` is not one of its swept parameters.
    """
    dims = sweep_dims(ds)
    if not dims:
        raise ValueError(
            "this Dataset is not a sweep (it has no swept parameters): see plot_density_over_time"
        )
    if dim is not None:
        if dim not in dims:
            raise ValueError(f"dim must be one of the swept parameters {dims}, got {dim!r}")
        return dim
    return "w" if "w" in dims else next((d for d in dims if d != "sampler"), dims[0])


def _labelled_outputs(ds: xr.Dataset) -> xr.Dataset:
    """The outputs, with long names and units on the sweep's coordinates too."""
    return attach(outputs(ds).copy())


def _lines(da: xr.DataArray, x: str, ax, se: xr.DataArray | None = None) -> None:
    """``da`` against ``x``, one line per combination of its other dimensions, labelled by their
    values."""
    others = [d for d in da.dims if d != x]
    numeric = np.issubdtype(da[x].dtype, np.number)
    for index in itertools.product(*(range(da.sizes[d]) for d in others)):
        at = dict(zip(others, index))
        line = da.isel(at)
        label = ", ".join(f"{d}={_text(da[d].values[k])}" for d, k in at.items()) or None
        drawn = line.plot.line(x=x, ax=ax, marker="o" if x != "x" else None, label=label)
        if se is not None and numeric:
            band = 2 * se.isel(at)
            ax.fill_between(
                line[x].values,
                (line - band).values,
                (line + band).values,
                alpha=0.2,
                color=drawn[0].get_color(),
            )


def _text(value) -> str:
    return f"{value:.4g}" if np.issubdtype(np.asarray(value).dtype, np.number) else str(value)


def _extent(density: xr.DataArray, axis: str = "x", level: float = 1e-3) -> tuple[float, float]:
    """The range along ``axis`` where some density exceeds ``level`` times the largest, with a
    margin."""
    peak = density.max([d for d in density.dims if d != axis])
    x = density[axis].values[(peak > level * peak.max()).values]
    margin = 0.1 * (x[-1] - x[0]) + 1e-12
    return float(x[0] - margin), float(x[-1] + margin)


def _figure(fig, size: tuple[float, float]):
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size, layout="constrained")
    return fig


def _grid_of_axes(fig, n: int, panel: tuple[float, float], **shared) -> list:
    """``n`` axes in rows of at most :data:`MAX_COLUMNS` on ``fig`` (a new figure when None)."""
    ncols = min(n, MAX_COLUMNS)
    nrows = math.ceil(n / ncols)
    fig = _figure(fig, (panel[0] * ncols, panel[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, **shared).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])
