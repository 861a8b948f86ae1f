"""Grids: a uniform cell-centred finite-volume grid on [lower, upper] with n cells (:class:`Grid`),
a graded one with cells of unequal widths (:class:`GradedGrid`, what an adaptive run's output is
held on), and tensor products of them (:class:`TensorGrid`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.special import logsumexp

from ..tools.validation import as_real_array, check_int, check_real

__all__ = [
    "ADAPTIVE",
    "GridChoice",
    "AXIS_NAMES",
    "MAX_GRID_DIM",
    "UNIFORM",
    "axes_of",
    "axis_labels",
    "axis_of_faces",
    "GradedGrid",
    "Grid",
    "grid_from_dict",
    "is_adaptive",
    "TensorGrid",
    "union_axis",
]

MIN_CELLS = 8
MAX_GRID_DIM = 3
AXIS_NAMES = ("x", "y", "z")  # dimension names of the axes in Datasets
# the grid argument (and config["grid"]) of a solve on adaptive grids (see grids.adaptive)
GridChoice = Literal["uniform", "adaptive"]  # grids chosen automatically: one uniform grid, stages
ADAPTIVE = "adaptive"
# the grid argument asking for one uniform grid chosen automatically (see grids.autogrid)
UNIFORM = "uniform"


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only: a grid caches its faces and centres, which callers must not change."""
    a.flags.writeable = False
    return a


def axis_labels(d: int) -> list[str]:
    """Labels of the d coordinates of a point: x, y, z up to three dimensions, x0 … x{d−1}
    beyond."""
    return list(AXIS_NAMES[:d]) if d <= MAX_GRID_DIM else [f"x{i}" for i in range(d)]


@dataclass(frozen=True)
class Grid:
    """n cells of width dx = (upper − lower)/n; densities live as cell averages, fluxes on the n + 1
    faces.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> grid = fg.Grid(-4.0, 4.0, 8)
    >>> grid.dx, grid.size
    (1.0, 8)
    >>> grid.centres[:3]
    array([-3.5, -2.5, -1.5])
    >>> log_normal = lambda x: -0.5 * x**2 - 0.5 * np.log(2 * np.pi)  # the log-density of N(0, 1)
    >>> q = grid.cell_averages(log_normal)
    >>> round(float(q.sum() * grid.dx), 4)  # the mass of N(0, 1) on [-4, 4]
    0.9999
    """

    lower: float
    upper: float
    n: int

    def __post_init__(self):
        lower = check_real("lower", self.lower)
        upper = check_real("upper", self.upper)
        if not lower < upper:
            raise ValueError(f"grid lower must be < upper, got lower={lower}, upper={upper}")
        if not math.isfinite(upper - lower):
            raise ValueError(
                f"grid upper - lower must be a finite width, got lower={lower}, upper={upper}"
            )
        n = check_int("n", self.n, MIN_CELLS)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "n", n)

    @property
    def dx(self) -> float:
        return (self.upper - self.lower) / self.n

    @property
    def size(self) -> int:
        """The number of cells (as :attr:`TensorGrid.size`)."""
        return self.n

    @property
    def widths(self) -> np.ndarray:
        """The cell widths (all dx)."""
        return np.full(self.n, self.dx)

    @cached_property
    def faces(self) -> np.ndarray:
        return _read_only(self.lower + self.dx * np.arange(self.n + 1))

    @cached_property
    def centres(self) -> np.ndarray:
        return _read_only(self.lower + self.dx * (np.arange(self.n) + 0.5))

    @property
    def bounds(self) -> np.ndarray:
        """(n, 2) array of cell bounds."""
        faces = self.faces
        return np.stack([faces[:-1], faces[1:]], axis=1)

    def cell_averages(self, log_density, order: int = 5) -> np.ndarray:
        """Cell averages of exp(log_density(x)) by Gauss–Legendre quadrature (relative accuracy in
        the tails)."""
        return np.exp(self.log_cell_averages(log_density, order))

    def log_cell_averages(self, log_density, order: int = 5) -> np.ndarray:
        """The logarithms of :meth:`cell_averages`, finite where those underflow. ``log_density``
        maps points x of shape (n, order) to values shaped like x, or to several functions' values
        stacked, (k, n, order): their cell averages come back stacked, (k, n)."""
        nodes, weights = np.polynomial.legendre.leggauss(order)
        x = self.centres[:, None] + 0.5 * self.dx * nodes[None, :]
        return logsumexp(log_density(x), b=0.5 * weights, axis=-1)

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "n": self.n}

    @property
    def cell_volume(self) -> float:
        return self.dx


@dataclass(frozen=True, eq=False)
class GradedGrid:
    """A 1-D grid of cells with unequal widths, given by its n + 1 increasing faces; densities are
    cell averages.

    An adaptive run (:func:`fpguide.solve` with ``grid="adaptive"``) holds its saved densities on
    one: fine where a stage of the run had fine cells, coarse elsewhere.
    """

    faces: np.ndarray

    def __post_init__(self):
        faces = as_real_array("faces", self.faces)
        if faces.ndim != 1 or faces.size < MIN_CELLS + 1:
            raise ValueError(
                f"faces must be a flat list of at least {MIN_CELLS + 1} numbers, got "
                f"shape {faces.shape}"
            )
        if not np.all(np.isfinite(faces)) or not np.all(np.diff(faces) > 0):
            raise ValueError("faces must be finite and strictly increasing")
        object.__setattr__(self, "faces", _read_only(faces.astype(float, copy=True)))

    def __eq__(self, other) -> bool:
        return isinstance(other, GradedGrid) and np.array_equal(self.faces, other.faces)

    __hash__ = None

    @property
    def lower(self) -> float:
        return float(self.faces[0])

    @property
    def upper(self) -> float:
        return float(self.faces[-1])

    @property
    def n(self) -> int:
        return self.faces.size - 1

    @property
    def size(self) -> int:
        return self.n

    @cached_property
    def widths(self) -> np.ndarray:
        return _read_only(np.diff(self.faces))

    @cached_property
    def centres(self) -> np.ndarray:
        return _read_only(0.5 * (self.faces[:-1] + self.faces[1:]))

    @property
    def bounds(self) -> np.ndarray:
        """(n, 2) array of cell bounds."""
        return np.stack([self.faces[:-1], self.faces[1:]], axis=1)

    @property
    def cell_volume(self) -> np.ndarray:
        """The cell widths (volumes of the 1-D cells), one per cell."""
        return self.widths

    def to_dict(self) -> dict:
        return {"faces": self.faces.tolist()}


def union_axis(axes) -> Grid | GradedGrid:
    """The 1-D grid whose faces are those of all ``axes`` (uniform or graded): finer than each of
    them everywhere. Axes whose faces lie on one lattice (an adaptive run's stages) give no
    slivers."""
    return axis_of_faces(np.unique(np.concatenate([np.asarray(axis.faces) for axis in axes])))


def axis_of_faces(faces: np.ndarray) -> Grid | GradedGrid:
    """The 1-D grid of the increasing ``faces``: a :class:`Grid` where they are evenly spaced (to
    1e-9 relative), else a :class:`GradedGrid`."""
    widths = np.diff(faces)
    if np.allclose(widths, widths[0], rtol=1e-9, atol=0.0):
        return Grid(float(faces[0]), float(faces[-1]), int(widths.size))
    return GradedGrid(faces)


@dataclass(frozen=True)
class TensorGrid:
    """A tensor product of 1-D grids (one :class:`Grid` or :class:`GradedGrid` per axis): cells are
    boxes, densities cell averages."""

    axes: tuple[Grid, ...]

    def __post_init__(self):
        axes = tuple(self.axes) if isinstance(self.axes, (tuple, list)) else ()
        if not 1 <= len(axes) <= MAX_GRID_DIM or not all(
            isinstance(axis, (Grid, GradedGrid)) for axis in axes
        ):
            raise ValueError(
                f"axes must be 1 to {MAX_GRID_DIM} fpguide.Grid objects (or "
                "GradedGrid; a grid in more "
                f"dimensions needs a reduction, see fpguide.solve), got {self.axes!r}"
            )
        object.__setattr__(self, "axes", axes)

    @classmethod
    def from_bounds(cls, lower, upper, n) -> TensorGrid:
        """The grid ∏_a [lower_a, upper_a] with n_a cells along axis a (``n`` a number gives every
        axis n cells)."""
        given = {"lower": lower, "upper": upper}
        lower, upper = (np.atleast_1d(as_real_array(name, value)) for name, value in given.items())
        if (
            lower.ndim != 1
            or upper.shape != lower.shape
            or np.ndim(n) > 1
            or np.size(n) not in (1, lower.size)
        ):
            raise ValueError(
                "lower, upper and n must be numbers or flat lists of one entry per "
                f"axis ({lower.size} "
                f"axes from lower), got lower={given['lower']!r}, "
                f"upper={given['upper']!r}, n={n!r}"
            )
        n = np.broadcast_to(n, lower.shape)
        return cls(tuple(Grid(a.item(), b.item(), k.item()) for a, b, k in zip(lower, upper, n)))

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(axis.n for axis in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def uniform(self) -> bool:
        """Whether every axis is a uniform :class:`Grid` (the engine's grids are)."""
        return all(isinstance(axis, Grid) for axis in self.axes)

    @cached_property
    def cell_volume(self) -> float | np.ndarray:
        """The volume of every cell: one number on a uniform grid, an array of ``shape``
        otherwise."""
        if self.uniform:
            return float(np.prod([axis.dx for axis in self.axes]))
        volume = np.ones(())
        for axis in self.axes:
            volume = np.multiply.outer(volume, axis.widths)
        return _read_only(volume)

    def mesh(self) -> np.ndarray:
        """Cell centres as an array of shape ``(*shape, d)``."""
        return np.stack(np.meshgrid(*(axis.centres for axis in self.axes), indexing="ij"), axis=-1)

    def cell_averages(self, log_density, order: int = 3) -> np.ndarray:
        """Cell averages of exp(log_density(points)) by tensor Gauss–Legendre quadrature (points of
        shape (..., d))."""
        return np.exp(self.log_cell_averages(log_density, order))

    def log_cell_averages(self, log_density, order: int = 3) -> np.ndarray:
        """The logarithms of :meth:`cell_averages`, finite where those underflow. ``log_density``
        maps points of shape ``(*shape, d)`` to values of shape ``shape``, or to several functions'
        values stacked, ``(k, *shape)``: their cell averages come back stacked, ``(k, *shape)``."""
        nodes, weights = np.polynomial.legendre.leggauss(order)
        total = -np.inf
        for index in np.ndindex(*(order,) * self.ndim):
            coords = [
                axis.centres + 0.5 * axis.widths * nodes[i] for axis, i in zip(self.axes, index)
            ]
            points = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1)
            total = np.logaddexp(
                total, np.log(np.prod(0.5 * weights[list(index)])) + log_density(points)
            )
        return total

    def to_dict(self) -> dict:
        return {"axes": [axis.to_dict() for axis in self.axes]}

    @classmethod
    def from_dict(cls, spec: dict) -> TensorGrid:
        return cls(tuple(_axis_from_dict(axis) for axis in spec["axes"]))


def _axis_from_dict(spec: dict) -> Grid | GradedGrid:
    return GradedGrid(np.array(spec["faces"])) if "faces" in spec else Grid(**spec)


def grid_from_dict(spec: dict) -> Grid | GradedGrid | TensorGrid:
    """The grid a Dataset's ``config["grid"]`` records (the inverse of ``to_dict``)."""
    return TensorGrid.from_dict(spec) if "axes" in spec else _axis_from_dict(spec)


def is_adaptive(grid) -> bool:
    """Whether a ``grid`` argument or a recorded ``config["grid"]`` stands for adaptive grids."""
    return isinstance(grid, str) and grid == ADAPTIVE


def axes_of(grid: Grid | GradedGrid | TensorGrid) -> tuple[Grid | GradedGrid, ...]:
    """The 1-D axes of a grid (a 1-D grid is its own one axis)."""
    return grid.axes if isinstance(grid, TensorGrid) else (grid,)
