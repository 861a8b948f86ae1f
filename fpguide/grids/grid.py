"""Grids: a uniform cell-centred finite-volume grid on [lower, upper] with n cells (:class:`Grid`),
a graded one with cells of unequal widths (:class:`GradedGrid`, what an adaptive run's output is
held on), and tensor products of them (:class:`TensorGrid`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.special import logsumexp

from ..tools.validation import as_real_array, check_int, check_real

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

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
    """Labels of the d coordinates of a point: x, y, z up to three dimensions, x0 … x{d−1} beyond.

    Parameters
    ----------
    d : int
        The number of coordinates.

    Returns
    -------
    list of str
        The first d of ``AXIS_NAMES`` where d ≤ ``MAX_GRID_DIM`` (3), else ``"x0"`` … ``"x{d−1}"``.

    Examples
    --------
    >>> axis_labels(2), axis_labels(4)
    (['x', 'y'], ['x0', 'x1', 'x2', 'x3'])
    """
    return list(AXIS_NAMES[:d]) if d <= MAX_GRID_DIM else [f"x{i}" for i in range(d)]


@dataclass(frozen=True)
class Grid:
    """A uniform cell-centred finite-volume grid on [lower, upper] with n cells.

    The n cells have width dx = (upper − lower)/n; densities live as cell averages, fluxes on the
    n + 1 faces lower + j·dx, j = 0 … n. The grid is frozen: its faces and centres are computed once
    and read-only.

    Parameters
    ----------
    lower, upper : float
        The ends of the interval, finite, lower < upper (0-d arrays of a number are taken as the
        number; stored as floats).
    n : int
        The number of cells, at least 8.

    Raises
    ------
    TypeError
        If ``lower`` or ``upper`` is not a real number, or ``n`` not an integer.
    ValueError
        If ``lower`` or ``upper`` is not finite, lower ≥ upper, upper − lower overflows, or n < 8.

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
        """The cell width (upper − lower)/n."""
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
        """The n + 1 faces lower + j·dx, j = 0 … n (read-only)."""
        return _read_only(self.lower + self.dx * np.arange(self.n + 1))

    @cached_property
    def centres(self) -> np.ndarray:
        """The n cell centres lower + (j + ½)·dx, j = 0 … n − 1 (read-only)."""
        return _read_only(self.lower + self.dx * (np.arange(self.n) + 0.5))

    @property
    def bounds(self) -> np.ndarray:
        """(n, 2) array of cell bounds."""
        faces = self.faces
        return np.stack([faces[:-1], faces[1:]], axis=1)

    def cell_averages(
        self, log_density: Callable[[np.ndarray], np.ndarray], order: int = 5
    ) -> np.ndarray:
        """Cell averages of exp(log_density(x)) by Gauss–Legendre quadrature.

        The average over cell j is ½ Σ_i w_i exp(log_density(c_j + ½dx·ξ_i)) with the ``order``
        Gauss–Legendre nodes ξ_i and weights w_i on [−1, 1], c_j the cell's centre: the exponential
        of :meth:`log_cell_averages` (relative accuracy in the tails).

        Parameters
        ----------
        log_density : callable
            Maps points x of shape (n, order) to values shaped like x, or to several functions'
            values stacked, (k, n, order).
        order : int, optional
            The number of Gauss–Legendre nodes per cell; default 5.

        Returns
        -------
        numpy.ndarray
            The cell averages, shape (n,), or (k, n) for stacked functions.
        """
        return np.exp(self.log_cell_averages(log_density, order))

    def log_cell_averages(
        self, log_density: Callable[[np.ndarray], np.ndarray], order: int = 5
    ) -> np.ndarray:
        """The logarithms of :meth:`cell_averages`, finite where those underflow.

        Computed as logsumexp over the nodes of log_density(c_j + ½dx·ξ_i) with weights ½w_i, so
        that cell averages below the smallest double keep their logarithm.

        Parameters
        ----------
        log_density : callable
            Maps points x of shape (n, order) to values shaped like x, or to several functions'
            values stacked, (k, n, order).
        order : int, optional
            The number of Gauss–Legendre nodes per cell; default 5.

        Returns
        -------
        numpy.ndarray
            The log cell averages, shape (n,), or stacked, (k, n).
        """
        nodes, weights = np.polynomial.legendre.leggauss(order)
        x = self.centres[:, None] + 0.5 * self.dx * nodes[None, :]
        return logsumexp(log_density(x), b=0.5 * weights, axis=-1)

    def to_dict(self) -> dict:
        """The record of the grid (stored in a Dataset's ``config["grid"]``).

        Returns
        -------
        dict
            ``{"lower": lower, "upper": upper, "n": n}``; :func:`grid_from_dict` (or ``Grid(**d)``)
            rebuilds the grid.
        """
        return {"lower": self.lower, "upper": self.upper, "n": self.n}

    @property
    def cell_volume(self) -> float:
        """The volume of every cell: dx (as :attr:`TensorGrid.cell_volume`)."""
        return self.dx


@dataclass(frozen=True, eq=False)
class GradedGrid:
    """A 1-D grid of cells with unequal widths, given by its n + 1 increasing faces.

    Densities are cell averages. An adaptive run (:func:`fpguide.solve` with ``grid="adaptive"``)
    holds its saved densities on one: fine where a stage of the run had fine cells, coarse
    elsewhere. The faces are stored as a read-only float copy; two graded grids are equal where
    their faces are (they are not hashable).

    Parameters
    ----------
    faces : array_like
        The n + 1 faces: a flat list of at least 9 finite, strictly increasing numbers.

    Raises
    ------
    TypeError
        If ``faces`` is not an array of real numbers.
    ValueError
        If ``faces`` is not flat, has fewer than 9 entries, or is not finite and strictly
        increasing.

    Examples
    --------
    >>> import fpguide as fg
    >>> grid = fg.GradedGrid([0, 1, 2, 3, 4, 5, 6, 8, 12, 20])
    >>> grid.n, grid.lower, grid.upper
    (9, 0.0, 20.0)
    >>> grid.widths
    array([1., 1., 1., 1., 1., 1., 2., 4., 8.])
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
        """The first face."""
        return float(self.faces[0])

    @property
    def upper(self) -> float:
        """The last face."""
        return float(self.faces[-1])

    @property
    def n(self) -> int:
        """The number of cells."""
        return self.faces.size - 1

    @property
    def size(self) -> int:
        """The number of cells (as :attr:`TensorGrid.size`)."""
        return self.n

    @cached_property
    def widths(self) -> np.ndarray:
        """The n cell widths, the differences of the faces (read-only)."""
        return _read_only(np.diff(self.faces))

    @cached_property
    def centres(self) -> np.ndarray:
        """The n cell midpoints, halfway between neighbouring faces (read-only)."""
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
        """The record of the grid (stored in a Dataset's ``config["grid"]``).

        Returns
        -------
        dict
            ``{"faces": [...]}``, the faces as a list; :func:`grid_from_dict` rebuilds the grid.
        """
        return {"faces": self.faces.tolist()}


def union_axis(axes: Iterable[Grid | GradedGrid]) -> Grid | GradedGrid:
    """The 1-D grid whose faces are those of all ``axes`` (uniform or graded).

    It is finer than each of them everywhere. Axes whose faces lie on one lattice (an adaptive
    run's stages) give no slivers.

    Parameters
    ----------
    axes : iterable of Grid or GradedGrid
        The 1-D grids.

    Returns
    -------
    Grid or GradedGrid
        The grid of the sorted distinct faces of all of them (see :func:`axis_of_faces`).

    Examples
    --------
    >>> import fpguide as fg
    >>> grid = union_axis([fg.Grid(0.0, 8.0, 8), fg.Grid(0.0, 4.0, 16)])
    >>> type(grid).__name__, grid.n, grid.widths[[0, -1]]
    ('GradedGrid', 20, array([0.25, 1.  ]))
    """
    return axis_of_faces(np.unique(np.concatenate([np.asarray(axis.faces) for axis in axes])))


def axis_of_faces(faces: np.ndarray) -> Grid | GradedGrid:
    """The 1-D grid of the increasing ``faces``.

    Parameters
    ----------
    faces : numpy.ndarray
        The faces, increasing.

    Returns
    -------
    Grid or GradedGrid
        A :class:`Grid` from the first to the last face where they are evenly spaced (every width
        within 1e-9 relative of the first), else a :class:`GradedGrid` of them.
    """
    widths = np.diff(faces)
    if np.allclose(widths, widths[0], rtol=1e-9, atol=0.0):
        return Grid(float(faces[0]), float(faces[-1]), int(widths.size))
    return GradedGrid(faces)


@dataclass(frozen=True)
class TensorGrid:
    """A tensor product of 1-D grids (one :class:`Grid` or :class:`GradedGrid` per axis).

    Cells are boxes, the products of one cell per axis; densities are cell averages, arrays of
    :attr:`shape`.

    Parameters
    ----------
    axes : tuple or list of Grid or GradedGrid
        The 1-D grids, 1 to ``MAX_GRID_DIM`` (3) of them (stored as a tuple).

    Raises
    ------
    ValueError
        If ``axes`` is not a tuple or list of 1 to 3 :class:`Grid` or :class:`GradedGrid`.

    See Also
    --------
    TensorGrid.from_bounds : the uniform grid on a box.

    Examples
    --------
    >>> import fpguide as fg
    >>> grid = fg.TensorGrid((fg.Grid(-1.0, 1.0, 8), fg.Grid(0.0, 4.0, 16)))
    >>> grid.ndim, grid.shape, grid.size, grid.cell_volume
    (2, (8, 16), 128, 0.0625)
    >>> grid.mesh().shape
    (8, 16, 2)
    """

    axes: tuple[Grid | GradedGrid, ...]

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
    def from_bounds(cls, lower: ArrayLike, upper: ArrayLike, n: int | ArrayLike) -> TensorGrid:
        """The uniform grid ∏_a [lower_a, upper_a] with n_a cells along axis a.

        Parameters
        ----------
        lower, upper : float or array_like
            The ends per axis: numbers (one axis) or flat lists of one entry per axis.
        n : int or array_like of int
            The cells per axis: a number gives every axis n cells.

        Returns
        -------
        TensorGrid
            One :class:`Grid` per axis.

        Raises
        ------
        TypeError
            If ``lower`` or ``upper`` is not an array of real numbers, or an entry of ``n`` not an
            integer.
        ValueError
            If ``lower``, ``upper`` and ``n`` are not numbers or flat lists of one entry per axis
            (as many as ``lower`` has), or an axis is invalid (see :class:`Grid`).

        Examples
        --------
        >>> import fpguide as fg
        >>> fg.TensorGrid.from_bounds([-1.0, 0.0], [1.0, 4.0], 8).shape
        (8, 8)
        """
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
        """The number of axes d."""
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The cells per axis, (n_1, …, n_d)."""
        return tuple(axis.n for axis in self.axes)

    @property
    def size(self) -> int:
        """The total number of cells, the product of :attr:`shape`."""
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
        """Cell centres as an array of shape ``(*shape, d)``.

        Returns
        -------
        numpy.ndarray
            ``mesh[i_1, …, i_d]`` is the centre of cell (i_1, …, i_d): the axes' centres, indexed
            "ij".
        """
        return np.stack(np.meshgrid(*(axis.centres for axis in self.axes), indexing="ij"), axis=-1)

    def cell_averages(
        self, log_density: Callable[[np.ndarray], np.ndarray], order: int = 3
    ) -> np.ndarray:
        """Cell averages of exp(log_density(points)) by tensor Gauss–Legendre quadrature.

        The exponential of :meth:`log_cell_averages`: ``order`` nodes per axis, order^d per cell.

        Parameters
        ----------
        log_density : callable
            Maps points of shape ``(*shape, d)`` to values of shape ``shape``, or to several
            functions' values stacked, ``(k, *shape)``.
        order : int, optional
            The number of Gauss–Legendre nodes per axis; default 3.

        Returns
        -------
        numpy.ndarray
            The cell averages, of :attr:`shape`, or ``(k, *shape)`` for stacked functions.
        """
        return np.exp(self.log_cell_averages(log_density, order))

    def log_cell_averages(
        self, log_density: Callable[[np.ndarray], np.ndarray], order: int = 3
    ) -> np.ndarray:
        """The logarithms of :meth:`cell_averages`, finite where those underflow.

        For each of the order^d tensor nodes (ξ_{i_1}, …, ξ_{i_d}), ``log_density`` is evaluated at
        the points c_a + ½ width_a·ξ_{i_a} of every cell (c_a its centre, width_a its width along
        axis a), and the terms log(∏_a ½w_{i_a}) + log_density are accumulated with logaddexp.

        Parameters
        ----------
        log_density : callable
            Maps points of shape ``(*shape, d)`` to values of shape ``shape``, or to several
            functions' values stacked, ``(k, *shape)``.
        order : int, optional
            The number of Gauss–Legendre nodes per axis; default 3.

        Returns
        -------
        numpy.ndarray
            The log cell averages, of :attr:`shape`, or stacked, ``(k, *shape)``.
        """
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
        """The record of the grid (stored in a Dataset's ``config["grid"]``).

        Returns
        -------
        dict
            ``{"axes": [...]}``, the records of the axes (:meth:`Grid.to_dict`,
            :meth:`GradedGrid.to_dict`); :meth:`from_dict` rebuilds the grid.
        """
        return {"axes": [axis.to_dict() for axis in self.axes]}

    @classmethod
    def from_dict(cls, spec: dict) -> TensorGrid:
        """Rebuild a grid from its record (the inverse of :meth:`to_dict`).

        Parameters
        ----------
        spec : dict
            ``{"axes": [...]}``: per axis, a record with ``"faces"`` (a :class:`GradedGrid`) or
            the arguments of a :class:`Grid`.

        Returns
        -------
        TensorGrid
            The grid recorded.
        """
        return cls(tuple(_axis_from_dict(axis) for axis in spec["axes"]))


def _axis_from_dict(spec: dict) -> Grid | GradedGrid:
    return GradedGrid(np.array(spec["faces"])) if "faces" in spec else Grid(**spec)


def grid_from_dict(spec: dict) -> Grid | GradedGrid | TensorGrid:
    """The grid a Dataset's ``config["grid"]`` records (the inverse of ``to_dict``).

    Parameters
    ----------
    spec : dict
        The record: with ``"axes"`` a :class:`TensorGrid`'s, with ``"faces"`` a
        :class:`GradedGrid`'s, else a :class:`Grid`'s (``lower``, ``upper``, ``n``).

    Returns
    -------
    Grid, GradedGrid or TensorGrid
        The grid recorded.

    Examples
    --------
    >>> import fpguide as fg
    >>> grid_from_dict(fg.Grid(-4.0, 4.0, 8).to_dict())
    Grid(lower=-4.0, upper=4.0, n=8)
    """
    return TensorGrid.from_dict(spec) if "axes" in spec else _axis_from_dict(spec)


def is_adaptive(grid: object) -> bool:
    """Whether a ``grid`` argument or a recorded ``config["grid"]`` stands for adaptive grids.

    Parameters
    ----------
    grid : object
        A ``grid`` argument (a grid, a record, or a string of :data:`GridChoice`), or a record.

    Returns
    -------
    bool
        True where ``grid`` is the string ``ADAPTIVE`` (``"adaptive"``).
    """
    return isinstance(grid, str) and grid == ADAPTIVE


def axes_of(grid: Grid | GradedGrid | TensorGrid) -> tuple[Grid | GradedGrid, ...]:
    """The 1-D axes of a grid (a 1-D grid is its own one axis).

    Parameters
    ----------
    grid : Grid, GradedGrid or TensorGrid
        The grid.

    Returns
    -------
    tuple of Grid or GradedGrid
        ``grid.axes`` for a :class:`TensorGrid`, else ``(grid,)``.
    """
    return grid.axes if isinstance(grid, TensorGrid) else (grid,)
