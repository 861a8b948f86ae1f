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


def plot_density_snapshots(ds: xr.Dataset, n_panels: int = 4, cmap: str = "magma"):
    """A 2-D density at ``n_panels`` saved times from T to t_min, one panel each, with the target's boxes outlined."""
    picks = np.unique(np.linspace(0, ds.sizes["t"] - 1, n_panels).round().astype(int))
    return _panels([ds.isel(t=k) for k in picks], [f"t = {ds.t.values[k]:.3g}" for k in picks], cmap,
                   ds.attrs.get("title", ""))


def plot_outputs_2d(runs: Mapping[str, xr.Dataset], cmap: str = "magma"):
    """Output densities (at t_min) of several 2-D runs, one panel per label, e.g. ``{"w=3": ds, ...}``."""
    return _panels([ds.isel(t=-1) for ds in runs.values()], list(runs), cmap, "output densities")


def _panels(snapshots: list[xr.Dataset], titles: list[str], cmap: str, suptitle: str):
    import matplotlib.pyplot as plt

    for snap in snapshots:
        if snap["density"].dims != ("x", "y"):
            raise ValueError(f"2-D figures need a density on (x, y), got dims {snap['density'].dims}")
    fig, axes = plt.subplots(1, len(snapshots), figsize=(3.6 * len(snapshots), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, snap, title in zip(axes[0], snapshots, titles):
        snap["density"].plot.pcolormesh(ax=ax, x="x", y="y", cmap=cmap, rasterized=True)
        for lows, highs in _boxes(snap):
            ax.add_patch(plt.Rectangle(lows, *(np.asarray(highs) - lows), fill=False, color="cyan", lw=0.8))
        ax.set_title(title)
        ax.set_aspect("equal")
    fig.suptitle(suptitle)
    return fig


def _boxes(ds: xr.Dataset) -> list:
    """The target's boxes (lows, highs) from a 2-D Dataset's configuration (none for Gaussian targets and reduced
    solves, whose axes are not the target's)."""
    from .dataset import config_of

    target = config_of(ds)["target"]
    if target["type"] != "UniformMixture" or "basis" in ds or np.ndim(target["lows"]) != 2:
        return []
    return [(np.asarray(lo), np.asarray(hi)) for lo, hi in zip(target["lows"], target["highs"])]
