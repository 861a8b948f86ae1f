"""Observables of a density on a 2-D or 3-D tensor grid (DESIGN §3, in d dimensions).

* entropy: −Σ q̄ log q̄ ΔV of the cell averages overestimates −∫ q log q by Σ_a (dx_a²/24) I_a (I_a
  the Fisher information along axis a, from the midpoint rule on q̄ = q + (dx²/24) ∂²q + …); that
  leading error is removed with I_a = 4 ∫ (∂_a √q)² estimated by differences of √q̄.
* mean and covariance: cell-centre moments of q̄, minus the dx_a²/12 a cell average adds to each
  variance.
* confidence: E_q[p_t(c|x)] by the midpoint rule, as in 1-D.
* box masses (support, edge, outside): integrated axis by axis with the 1-D positive sub-cell
  reconstruction that the engine advects, so the masses of partial cells are consistent with the
  solver; unions of boxes are split into disjoint boxes on the grid of all their faces.
* projections on a direction u (the "mean projected trajectory" ⟨mean, u⟩, tail probabilities P(⟨x,
  u⟩ ≥ a) and the marginal density of ⟨x, u⟩): each cell's mass is spread over a sub-lattice of
  points (piecewise constant), exact for axis directions up to the cell width; :func:`marginal` also
  reads an adaptive run's graded grid.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import xarray as xr

from ..engine import mass_between, reconstruct, scheme_code
from ..grids.grid import TensorGrid, is_adaptive
from ..models.guidance import GuidedModel
from ..models.processes import Process
from ..tools.validation import as_finite_array
from .dataset import config_of
from .observables import class_supports
from .resample import dataset_grid

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..engine import Scheme

__all__ = ["check_direction", "marginal", "time_series"]

SUBCELLS = 4  # sub-lattice points per axis and cell for projections


@nb.njit(cache=True)
def _interval_masses(lines, code, dx, lower, a, b):
    """∫_a^b of the reconstruction of every line (cell averages along the last axis, grid starting
    at ``lower``)."""
    n = lines.shape[1]
    xa = min(max((a - lower) / dx, 0.0), float(n))
    xb = min(max((b - lower) / dx, 0.0), float(n))
    out = np.zeros(lines.shape[0])
    if xb <= xa:
        return out
    d_left, d_right = np.empty(n), np.empty(n)
    for row in range(lines.shape[0]):
        reconstruct(lines[row], code, d_left, d_right)
        out[row] = mass_between(lines[row], d_left, d_right, dx, xa, xb)
    return out


def box_mass(grid: TensorGrid, q: np.ndarray, lows, highs, scheme: str = "ppm") -> float:
    """∫ q over the box ∏_a [lows_a, highs_a], integrating one axis at a time with the 1-D
    reconstruction."""
    code = scheme_code(scheme)
    part = np.asarray(q, dtype=float)
    for axis in reversed(range(grid.ndim)):
        g = grid.axes[axis]
        lines = np.ascontiguousarray(part).reshape(-1, g.n)
        part = _interval_masses(lines, code, g.dx, g.lower, float(lows[axis]), float(highs[axis]))
        part = part.reshape(np.shape(q)[:axis])
    return float(part)


def disjoint_boxes(boxes) -> list[tuple[np.ndarray, np.ndarray]]:
    """The union of boxes (lows, highs) as disjoint boxes: the cells of the grid of all their faces
    that lie inside."""
    lows, highs = np.array([b[0] for b in boxes]), np.array([b[1] for b in boxes])
    edges = [np.unique(np.concatenate([lows[:, a], highs[:, a]])) for a in range(lows.shape[1])]
    pieces = []
    for index in itertools.product(*(range(e.size - 1) for e in edges)):
        lo = np.array([e[i] for e, i in zip(edges, index)])
        hi = np.array([e[i + 1] for e, i in zip(edges, index)])
        mid = 0.5 * (lo + hi)
        if np.any(np.all((lows <= mid) & (mid <= highs), axis=1)):
            pieces.append((lo, hi))
    return pieces


def far_face(model: GuidedModel) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """The face of the class's bounding box farthest from the other classes: (axis, side ±1, box
    lows, box highs); the axis is the one along which the class centre and the others' centre differ
    most (in units of the class's extent). None without compact classes or without other classes."""
    boxes = model.cond.supports()
    if boxes is None or model.label is None or len(set(model.uncond.labels)) < 2:
        return None
    rest = model.uncond.subset(np.array([lab != model.label for lab in model.uncond.labels]))
    lows, highs = np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)
    centre = 0.5 * (lows + highs)
    rest_centre = np.sum(rest.weights[:, None] * 0.5 * (rest.lows + rest.highs), axis=0)
    gap = (centre - rest_centre) / (highs - lows)
    axis = int(np.argmax(np.abs(gap)))
    return axis, (1 if gap[axis] >= 0 else -1), lows, highs


def edge_slab(model: GuidedModel, delta: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The box within δ of the far face (across it), over the class box's extent along the other
    axes."""
    face = far_face(model)
    if face is None:
        return None
    axis, side, lows, highs = face
    at = highs[axis] if side > 0 else lows[axis]
    slab_lo, slab_hi = lows.copy(), highs.copy()
    slab_lo[axis], slab_hi[axis] = at - delta, at + delta
    return slab_lo, slab_hi


def default_direction(model: GuidedModel) -> np.ndarray:
    """The unit vector from the other classes' mean to the class mean under p_0 (the first axis when
    there is no other class)."""
    d = model.ndim
    if model.label is not None and len(set(model.uncond.labels)) > 1:
        rest = model.uncond.subset(np.array([lab != model.label for lab in model.uncond.labels]))
        u = _mean(model.cond) - _mean(rest)
        if np.linalg.norm(u) > 0:
            return u / np.linalg.norm(u)
    return np.eye(d)[0]


def check_direction(direction: ArrayLike | None, model: GuidedModel) -> np.ndarray | None:
    """The unit direction of the projected observables (d-D only): given, or
    :func:`default_direction`.

    Parameters
    ----------
    direction : array_like or None
        A non-zero vector of length d, or None: the unit vector from the other classes' mean to
        the class mean under p_0 (the first axis when there is no other class). Must be None for
        a 1-D target.
    model : GuidedModel
        The guided model.

    Returns
    -------
    numpy.ndarray or None
        The direction normalised to unit length; None for a 1-D target.

    Raises
    ------
    ValueError
        When a direction is given for a 1-D target, or it is not a finite non-zero vector of
        length d.
    """
    if model.ndim == 1:
        if direction is not None:
            raise ValueError(
                "direction must be None for a 1-D target (it applies to 2-D and 3-D "
                "targets only; in 1-D "
                f"the observables use x itself), got {direction!r}"
            )
        return None
    if direction is None:
        return default_direction(model)
    u = as_finite_array("direction", direction, ndim=1)
    if u.size != model.ndim or not np.linalg.norm(u) > 0:
        raise ValueError(
            f"direction must be a non-zero vector of length {model.ndim}, got {direction!r}"
        )
    return u / np.linalg.norm(u)


def _mean(mixture) -> np.ndarray:
    table = mixture.component_table()
    centres = np.where(table.kinds[:, None] == 0, table.loc, 0.5 * (table.loc + table.ext))
    return mixture.weights @ centres


def _projections(grid: TensorGrid, u: np.ndarray) -> np.ndarray:
    """⟨x, u⟩ at the points of a cell-centred SUBCELLS^d sub-lattice of every cell (of any widths):
    array (cells, SUBCELLS^d)."""
    frac = (np.arange(SUBCELLS) + 0.5) / SUBCELLS - 0.5
    lattice = np.stack(np.meshgrid(*[frac] * grid.ndim, indexing="ij"), axis=-1).reshape(
        -1, grid.ndim
    )
    widths = np.stack(np.meshgrid(*(axis.widths for axis in grid.axes), indexing="ij"), axis=-1)
    return (grid.mesh().reshape(-1, grid.ndim) @ u)[:, None] + (
        widths.reshape(-1, grid.ndim) * u
    ) @ lattice.T


def beyond_fractions(grid: TensorGrid, u: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per cell, the fraction of its sub-lattice with ⟨x, u⟩ ≥ a, for each threshold a: array
    (cells, thresholds)."""
    positions = _projections(grid, u)
    return np.stack([(positions >= a).mean(axis=1) for a in thresholds], axis=1)


def marginal(ds: xr.Dataset, direction: ArrayLike, bins: int | ArrayLike) -> xr.DataArray:
    """The density of ⟨x, u⟩ (u = ``direction`` normalised) at every saved time of a 2-D/3-D
    :func:`~fpguide.solve` Dataset.

    Each cell's mass is spread over a cell-centred sub-lattice of 4^d points (piecewise
    constant), exact for axis directions up to the cell width; an adaptive run's graded grid is
    read from the Dataset's cell bounds.

    Parameters
    ----------
    ds : xarray.Dataset
        A 2-D or 3-D Dataset of :func:`fpguide.solve`.
    direction : array_like
        A non-zero vector of length d.
    bins : int or array_like
        The bins, as :func:`numpy.histogram_bin_edges` takes them: a number of equal bins over
        the projected points' range, or the bin edges.

    Returns
    -------
    xarray.DataArray
        ``marginal``, the density of ⟨x, u⟩ with dims (``t``, ``s``), ``s`` the bin centres.

    Raises
    ------
    TypeError
        When ``ds`` is not an xarray.Dataset.
    ValueError
        When ``ds`` has no 2-D or 3-D density, or ``direction`` is not a finite non-zero vector
        of length d.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(
            f"ds must be an xarray.Dataset made by fpguide.solve, got {type(ds).__name__}"
        )
    if "density" not in ds or ds["density"].ndim < 3:
        raise ValueError("marginal needs a 2-D or 3-D Dataset made by fpguide.solve")
    recorded = config_of(ds)["grid"]
    grid = dataset_grid(ds) if is_adaptive(recorded) else TensorGrid.from_dict(recorded)
    u = as_finite_array("direction", direction, ndim=1)
    if u.size != grid.ndim or not np.linalg.norm(u) > 0:
        raise ValueError(
            f"direction must be a non-zero vector of length {grid.ndim}, got {direction!r}"
        )
    positions = _projections(grid, u / np.linalg.norm(u))
    per_point = positions.shape[1]
    edges = np.histogram_bin_edges(positions, bins=bins)
    density = [
        np.histogram(
            positions.ravel(),
            bins=edges,
            weights=np.repeat((row * grid.cell_volume).ravel() / per_point, per_point),
        )[0]
        / np.diff(edges)
        for row in ds["density"].values
    ]
    return xr.DataArray(
        np.array(density),
        dims=("t", "s"),
        coords={"t": ds["t"].values, "s": 0.5 * (edges[1:] + edges[:-1])},
        name="marginal",
        attrs={"long_name": "density of <x, direction>", "units": "1"},
    )


def time_series(
    grid: TensorGrid,
    q: np.ndarray,
    t: np.ndarray,
    model: GuidedModel,
    process: Process,
    *,
    scheme: Scheme,
    delta: float,
    thresholds: np.ndarray,
    direction: np.ndarray,
) -> dict[str, tuple]:
    """Observables at every saved time, as {name: (dims, values)}.

    The mass, the entropy (less its leading midpoint-rule error), the mean and covariance (cell
    centres, less dx_a²/12 per variance), the projected mean ⟨mean, u⟩, with a class weight the
    confidence E_q[p_t(c|x)] and the inverse confidence E_q[1/p_t(c|x)] (midpoint rule), the tail
    probabilities P(⟨x, u⟩ ≥ a) (normalised; exact boxes on the reconstruction for an axis
    direction, the sub-lattice otherwise), and with compact classes the support, outside and
    edge masses (boxes integrated on the reconstruction).

    Parameters
    ----------
    grid : TensorGrid
        The grid.
    q : numpy.ndarray
        The densities, shape (n_t, *grid.shape).
    t : numpy.ndarray
        The diffusion times.
    model : GuidedModel
        The guided model.
    process : Process
        The noising process.
    scheme : {"ppm", "plm", "pcm"}
        The reconstruction for the box masses.
    delta : float
        The half-width δ of the slab at the far face of the class box (``edge_mass``).
    thresholds : numpy.ndarray
        The thresholds a of the tail probabilities.
    direction : numpy.ndarray
        The unit direction u.

    Returns
    -------
    dict
        {name: (dims, values)} of the observables along ``t`` (and ``dim``, ``dim2``,
        ``threshold``).
    """
    vol, d = grid.cell_volume, grid.ndim
    flat = q.reshape(q.shape[0], -1)
    mass = flat.sum(axis=1) * vol
    mesh = grid.mesh().reshape(-1, d)
    mean = flat @ mesh * vol / mass[:, None]
    second = np.einsum("tn,ni,nj->tij", flat, mesh, mesh) * vol / mass[:, None, None]
    cov = second - mean[:, :, None] * mean[:, None, :] - np.diag([a.dx**2 / 12 for a in grid.axes])
    out = {
        "mass": (("t",), mass),
        "entropy": (("t",), np.array([entropy(grid, row) for row in q])),
        "mean": (("t", "dim"), mean),
        "covariance": (("t", "dim", "dim2"), cov),
        "projected_mean": (("t",), mean @ direction),
    }
    if model.has_class_posterior:
        log_post = np.array([model.log_class_posterior(mesh, float(tk), process) for tk in t])
        out["confidence"] = (("t",), np.sum(flat * np.exp(log_post), axis=1) * vol / mass)
        with np.errstate(over="ignore", invalid="ignore"):
            inverse = np.where(flat > 0, flat * np.exp(-log_post), 0.0)
        out["inverse_confidence"] = (("t",), np.sum(inverse, axis=1) * vol / mass)
    axis = np.flatnonzero(direction)
    # an axis direction: half-spaces are boxes, integrated exactly on the reconstruction
    if axis.size == 1:
        sign = direction[axis[0]]
        tails = np.empty((len(q), len(thresholds)))
        for j, a in enumerate(thresholds):
            lows, highs = np.full(d, -math.inf), np.full(d, math.inf)
            (lows if sign > 0 else highs)[axis[0]] = a / sign  # sign·x_a ≥ a
            tails[:, j] = [box_mass(grid, row, lows, highs, scheme) for row in q]
        tails /= mass[:, None]
    else:
        tails = flat @ beyond_fractions(grid, direction, thresholds) * vol / mass[:, None]
    out["tail_probability"] = (("t", "threshold"), tails)
    class_boxes = class_supports(model)
    if class_boxes is not None:
        own, every = disjoint_boxes(class_boxes), disjoint_boxes(model.uncond.supports())
        out["support_mass"] = (
            ("t",),
            np.array([sum(box_mass(grid, row, lo, hi, scheme) for lo, hi in own) for row in q]),
        )
        inside = np.array(
            [sum(box_mass(grid, row, lo, hi, scheme) for lo, hi in every) for row in q]
        )
        out["outside_mass"] = (("t",), mass - inside)
        slab = edge_slab(model, delta)
        if slab is not None:
            out["edge_mass"] = (("t",), np.array([box_mass(grid, row, *slab, scheme) for row in q]))
    return out


def entropy(grid: TensorGrid, q: np.ndarray) -> float:
    """−∫ q log q from cell averages, less the leading midpoint-rule error Σ_a (dx_a²/24) I_a, where
    I_a dx_a²/24 = (ΔV/6) Σ (Δ_a √q̄)²."""
    positive = q > 0
    raw = -float(np.sum(q[positive] * np.log(q[positive]))) * grid.cell_volume
    root = np.sqrt(q)
    return raw - grid.cell_volume / 6.0 * sum(
        float(np.sum(np.diff(root, axis=a) ** 2)) for a in range(grid.ndim)
    )
