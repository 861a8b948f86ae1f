"""Figures on matplotlib, labelled from the Datasets' units and long names."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_density_over_time(ds: xr.Dataset, ax=None, n_curves: int = 8, cmap: str = "viridis"):
    """The density at ``n_curves`` saved times from T (light) to t_min (dark)."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    picks = np.unique(np.linspace(0, ds.sizes["t"] - 1, n_curves).round().astype(int))
    colours = plt.get_cmap(cmap)(np.linspace(0.9, 0.0, picks.size))
    for colour, k in zip(colours, picks):
        ds["density"].isel(t=k).plot.line(ax=ax, color=colour, label=f"t = {ds.t.values[k]:.3g}")
    ax.set_title(ds.attrs.get("title", ""))
    ax.legend(fontsize="small")
    return ax


def plot_output_densities(runs: Mapping[str, xr.Dataset], ax=None, xlim=None):
    """Output densities (at t_min) of several runs, one line per label, e.g. ``{"w=3": ds, ...}``."""
    ax = _axes(ax)
    for label, ds in runs.items():
        ds["density"].isel(t=-1).plot.line(ax=ax, label=label)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_title("output densities")
    ax.legend(fontsize="small")
    return ax
