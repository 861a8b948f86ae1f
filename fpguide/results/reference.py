"""KL divergence and total variation between a run's densities and a reference law you give.

A run with a score model has no closed-form law to compare with (its Dataset leaves out
``kl_conditional`` and the like); :func:`divergence_to` compares any solve Dataset with a
closed-form target, noised to each saved time by the run's process, or with densities on the run's
grid.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..grids.grid import TensorGrid
from ..models.processes import make_process
from ..models.targets import Mixture
from .dataset import config_of
from .resample import dataset_grid

__all__ = ["divergence_to"]

QUADRATURE_ORDER = {1: 5, 2: 3, 3: 3}  # Gauss–Legendre nodes per axis of the cell averages


def divergence_to(ds: xr.Dataset, reference: Mixture | xr.DataArray) -> xr.Dataset:
    """KL(q_t ‖ r_t) = ∫ q log(q/r) and the total variation TV(q_t, r_t) = ½ ∫ abs(q − r) at every
    saved time.

    q_t is the run's density (cell averages on its grid); r_t is either a closed-form target's
    noised law at t under the run's process (its exact cell averages, by Gauss–Legendre quadrature:
    5 nodes per cell in 1-D, 3 per axis in 2-D and 3-D, as the run's own ``kl_conditional``) or
    densities you give on the run's grid. Both are integrated cell by cell (the midpoint rule of the
    cell averages). Where r vanishes and q does not, KL is infinite, and reported so.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of :func:`~fpguide.solve` (or a sweep of it): a ``density`` on cells with bounds
        ``x_bounds`` (``y_bounds``, ``z_bounds``).
    reference : Mixture or xarray.DataArray
        A closed-form target (a GaussianMixture, EmpiricalMixture or UniformMixture of the run's
        dimension, noised by the run's process to each saved time), or densities on the run's
        grid: a DataArray with the density's spatial dimensions and coordinates (and optionally
        ``t``), non-negative.

    Returns
    -------
    xarray.Dataset
        ``kl`` and ``tv``, with the density's dimensions other than the spatial ones (``t`` and
        any swept ones); NaN where the run has no density (a sweep's item outside its own saved
        times).

    Raises
    ------
    TypeError
        If ``ds`` is not a solve Dataset, or ``reference`` is neither a mixture nor a DataArray.
    ValueError
        If the mixture's dimension is not the run's or the run is a discrete chain's (a mixture is
        noised by a continuous process), or the DataArray lacks a spatial dimension, has others
        than the density's, its coordinates (``t`` included) differ from the run's, or it holds
        negative or non-finite values.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture([-2.0, 2.0], 0.25, labels=[0, 1])
    >>> ds = fg.solve(target, fg.CFG(label=1, w=0.0), t_min=0.1, n_save=3)
    >>> out = fg.divergence_to(ds, target.condition(1))  # w = 0 samples p_t(.|c) itself
    >>> bool(out.kl.isel(t=-1) < 1e-6)
    True
    """
    grid = dataset_grid(ds)
    names = [name for name in ("x", "y", "z") if name in ds["density"].dims]
    cells = grid if isinstance(grid, TensorGrid) else TensorGrid((grid,))
    volume = cells.cell_volume  # a number on a uniform grid, an array of its shape otherwise
    if np.ndim(volume):
        volume = xr.DataArray(volume, dims=names)
    q = ds["density"]
    if isinstance(reference, Mixture):
        log_r = _noised_log_averages(ds, reference, cells, names)
    elif isinstance(reference, xr.DataArray):
        with np.errstate(divide="ignore"):
            log_r = np.log(_on_grid(reference, q, names))
    else:
        raise TypeError(
            "reference must be a GaussianMixture, EmpiricalMixture or UniformMixture, or an "
            f"xarray.DataArray of densities on the run's grid, got {type(reference).__name__}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        # NaN where the run has no density (a sweep item outside its own saved times) stays NaN
        terms = xr.where(q > 0, q * (np.log(q) - log_r), xr.where(q.isnull(), np.nan, 0.0))
        kl = (terms * volume).sum(names, skipna=False)
        tv = 0.5 * (np.abs(q - np.exp(log_r)) * volume).sum(names, skipna=False)
    return xr.Dataset(
        {
            "kl": kl.assign_attrs(long_name="KL(q || reference)", units="nat"),
            "tv": tv.assign_attrs(long_name="total variation to the reference", units="1"),
        }
    )


def _noised_log_averages(
    ds: xr.Dataset, reference: Mixture, cells: TensorGrid, names: list[str]
) -> xr.DataArray:
    """log of the cell averages of the reference's noised law at every saved time."""
    if reference.ndim != cells.ndim:
        raise ValueError(
            f"reference must have the run's dimension ({cells.ndim}), got {reference.ndim}"
        )
    record = config_of(ds)["process"]
    if not isinstance(record, dict) or record.get("name") == "schedule":
        raise ValueError(
            "divergence_to noises a mixture by the run's continuous process; a discrete chain's "
            "Dataset has a schedule's: pass the reference as densities on the run's grid"
        )
    process = make_process(record)
    d = cells.ndim

    def averages(t):
        def log_density(points):
            flat = points[..., 0] if d == 1 else points
            return reference.log_density(flat, float(t), process)

        return cells.log_cell_averages(log_density, QUADRATURE_ORDER[d])

    t = ds["t"].values
    return xr.DataArray(
        np.stack([averages(tk) for tk in t]),
        dims=("t", *names),
        coords={"t": ds["t"]} | {name: ds[name] for name in names},
    )


def _on_grid(reference: xr.DataArray, q: xr.DataArray, names: list[str]) -> xr.DataArray:
    """The reference densities, checked to lie on the run's cells (and saved times)."""
    extra = [dim for dim in reference.dims if dim not in q.dims]
    if extra:
        raise ValueError(
            f"reference must have the density's dimensions only ({q.dims}), got {reference.dims}"
        )
    for name in names:
        if name not in reference.dims:
            raise ValueError(
                f"reference must have the density's spatial dimensions {tuple(names)}, got "
                f"{reference.dims}"
            )
        if name in reference.coords and not np.array_equal(reference[name].values, q[name].values):
            raise ValueError(
                f"reference's {name} coordinates must be the run's cell centres (resample the "
                "reference onto the run's grid first)"
            )
        if reference.sizes[name] != q.sizes[name]:
            raise ValueError(
                f"reference must have {q.sizes[name]} cells along {name}, got "
                f"{reference.sizes[name]}"
            )
    if "t" in reference.dims and not np.array_equal(reference["t"].values, q["t"].values):
        raise ValueError(
            "reference's t must be the run's saved times (or give the reference without t, for "
            f"every time), got {reference['t'].values!r}"
        )
    values = np.asarray(reference.values, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("reference must hold finite, non-negative densities")
    return reference
