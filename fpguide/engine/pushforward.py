"""The push-forward of a density on a 1-D grid through a map y = A(x), conservative and positive.

The new mass of cell [y_j, y_{j+1}] is ∫ q(x) 1[A(x) ∈ [y_j, y_{j+1}]] dx. The old cells with mass
are cut into pieces on which A is monotone (at the cell faces and at the turning points of A,
located by golden-section search where the slope of A changes sign between neighbouring cells: the
map may fold, as a coarse step of a strongly guided sampler does). Each piece is split at the exact
preimages A⁻¹(y_j) of the new faces its image crosses (bracketed root search on A itself), so every
part maps into one new cell, and carries its mass under the same positive sub-cell reconstruction
the remap uses (:mod:`.remap`): the result is the exact push-forward of that reconstruction, up to
the tolerances of the two searches. Mass mapped beyond the walls is returned as outflow, so nothing
is lost silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numba as nb
import numpy as np

from ..grids.grid import Grid
from .remap import mass_between, reconstruct

__all__ = ["push_forward", "Pushed"]

# a cell whose image is this many cells long (or shorter) carries a (near) point mass
COLLAPSE = 1e-9
_ROOT_ITERATIONS = 60
_ROOT_TOL = 1e-12  # in cells
_GOLDEN_ITERATIONS = 40  # turning points to 0.618^40 ≈ 4e-9 of two cells
# a root is also done when its bracket is this many ulps of the grid's last index wide
_X_TOL_ULPS = 64


@nb.njit(cache=True)
def _crossings(active, image, n):
    """For each active piece p (from breakpoint p to p + 1), the new faces j (0 ≤ j ≤ n) strictly
    inside its image (image[p], image[p+1]) (index units), in the order the piece reaches them:
    their count per piece and, flattened, the piece and the face of each crossing."""
    counts = np.zeros(active.size, dtype=np.int64)
    for a in range(active.size):
        p = active[a]
        lo, hi = min(image[p], image[p + 1]), max(image[p], image[p + 1])
        counts[a] = max(min(int(np.ceil(hi)) - 1, n) - max(int(np.floor(lo)) + 1, 0) + 1, 0)
    pieces = np.empty(counts.sum(), dtype=np.int64)
    faces = np.empty(counts.sum(), dtype=np.int64)
    k = 0
    for a in range(active.size):
        p = active[a]
        first = max(int(np.floor(min(image[p], image[p + 1]))) + 1, 0)
        rising = image[p + 1] >= image[p]
        for i in range(counts[a]):
            pieces[k] = p
            faces[k] = first + i if rising else first + counts[a] - 1 - i
            k += 1
    return counts, pieces, faces


@nb.njit(cache=True)
def _deposit(q, dl, dr, dx, active, breaks, image, counts, roots, crossed, out):
    """Add the mass of every part of every active piece between consecutive crossings to the new
    cell it maps into (the one between the images of the part's ends); returns the mass mapped below
    the lower and above the upper wall."""
    n = q.size
    lower = 0.0
    upper = 0.0
    k = 0
    for a in range(active.size):
        p = active[a]
        xa, ya = breaks[p], image[p]
        for i in range(counts[a] + 1):
            if i < counts[a]:
                xb, yb = min(max(roots[k + i], xa), breaks[p + 1]), float(crossed[k + i])
            else:
                xb, yb = breaks[p + 1], image[p + 1]
            mass = mass_between(q, dl, dr, dx, xa, xb)
            target = int(np.floor(0.5 * (ya + yb)))
            # a point mass on the upper wall stays, as one on the lower does
            if target == n and max(ya, yb) <= n:
                target = n - 1
            if target < 0:
                lower += mass
            elif target >= n:
                upper += mass
            else:
                out[target] += mass / dx
            xa, ya = xb, yb
        k += counts[a]
    return lower, upper


def _turning_points(mapping, image: np.ndarray, active_cells: np.ndarray) -> np.ndarray:
    """The extrema of the map (index units) where its slope changes sign between two cells (cells
    of zero slope in between skipped), one of them with mass: golden-section search over those
    cells."""
    slope = np.sign(np.diff(image))
    moving = np.flatnonzero(slope)
    turn = np.flatnonzero(slope[moving[1:]] * slope[moving[:-1]] < 0)
    first, last = moving[turn], moving[turn + 1]  # the cells of opposite slope around each turn
    has_mass = np.zeros(image.size, dtype=bool)
    has_mass[active_cells] = True
    keep = has_mass[first] | has_mass[last]
    first, last = first[keep], last[keep]
    if first.size == 0:
        return first.astype(float)
    # minimise sign·A: a maximum where the map rose before the turn
    sign = np.where(slope[first] > 0, -1.0, 1.0)
    lo, hi = first.astype(float), last + 1.0
    ratio = 0.5 * (np.sqrt(5.0) - 1.0)
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = sign * mapping(a), sign * mapping(b)
    for _ in range(_GOLDEN_ITERATIONS):
        left = fa < fb
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        a_new, b_new = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        moved = np.where(left, a_new, b_new)
        f_moved = sign * mapping(moved)
        a, b = np.where(left, a_new, b), np.where(left, a, b_new)
        fa, fb = np.where(left, f_moved, fb), np.where(left, fa, f_moved)
    return 0.5 * (lo + hi)


def _preimages(
    mapping: Callable[[np.ndarray], np.ndarray], x_lo, x_hi, f_lo, f_hi, targets, x_tol: float
) -> np.ndarray:
    """Roots of A(x) = targets, bracketed by [x_lo, x_hi] where A − target takes the values f_lo,
    f_hi of opposite signs (vectorised Illinois regula falsi, bisecting when a guess is not strictly
    inside its bracket). An entry is done when |A − target| ≤ _ROOT_TOL or its bracket is below
    ``x_tol`` (where the map expands strongly, round-off in A is larger than _ROOT_TOL); only
    unfinished entries are evaluated again."""
    x_lo, x_hi, f_lo, f_hi = (np.array(v, dtype=float) for v in (x_lo, x_hi, f_lo, f_hi))
    x = x_hi - f_hi * (x_hi - x_lo) / (f_hi - f_lo)
    side = np.zeros(x.size, dtype=np.int8)
    todo = np.arange(x.size)
    for _ in range(_ROOT_ITERATIONS):
        f = mapping(x[todo]) - targets[todo]
        going = (np.abs(f) > _ROOT_TOL) & (x_hi[todo] - x_lo[todo] > x_tol)
        todo, f = todo[going], f[going]
        if todo.size == 0:
            break
        upper = np.sign(f) == np.sign(f_hi[todo])
        # Illinois: the same end moved twice running
        stale = np.where(upper, side[todo] == 1, side[todo] == -1)
        f_lo[todo] = np.where(upper, np.where(stale, 0.5 * f_lo[todo], f_lo[todo]), f)
        f_hi[todo] = np.where(upper, f, np.where(stale, 0.5 * f_hi[todo], f_hi[todo]))
        x_lo[todo] = np.where(upper, x_lo[todo], x[todo])
        x_hi[todo] = np.where(upper, x[todo], x_hi[todo])
        side[todo] = np.where(upper, 1, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = x_hi[todo] - f_hi[todo] * (x_hi[todo] - x_lo[todo]) / (f_hi[todo] - f_lo[todo])
        inside = np.isfinite(guess) & (guess > x_lo[todo]) & (guess < x_hi[todo])
        x[todo] = np.where(inside, guess, 0.5 * (x_lo[todo] + x_hi[todo]))
    return x


class Pushed(NamedTuple):
    """What :func:`push_forward` returns.

    Attributes
    ----------
    q : numpy.ndarray
        The new cell averages.
    lower : float
        The mass mapped below the lower wall.
    upper : float
        The mass mapped above the upper wall.
    turns : int
        The number of turning points of the map next to mass.
    image : numpy.ndarray
        The images of the cell faces.
    collapsed : float
        The mass of cells the map shrinks below COLLAPSE (1e-9) cells: (near) point masses, held
        as spikes.
    """

    q: np.ndarray  # the new cell averages
    lower: float  # mass mapped below the lower wall
    upper: float  # ... above the upper wall
    turns: int  # turning points of the map next to mass
    image: np.ndarray  # the images of the cell faces
    # mass of cells the map shrinks below COLLAPSE cells: (near) point masses, held as spikes
    collapsed: float


def push_forward(
    q: np.ndarray, grid: Grid, mapping: Callable[[np.ndarray], np.ndarray], code: int
) -> Pushed:
    """q pushed through ``mapping`` on ``grid``: the exact push-forward of its reconstruction.

    The new mass of cell [y_j, y_{j+1}] is ∫ q(x) 1[A(x) ∈ [y_j, y_{j+1}]] dx, computed as the
    module describes (the map may fold); it is conservative and positive, up to the tolerances of
    the searches for turning points and preimages.

    Parameters
    ----------
    q : numpy.ndarray
        The cell averages on ``grid``, non-negative.
    grid : Grid
        The 1-D grid, used for both the old and the new cells.
    mapping : callable
        The map y = A(x), vectorised: positions → positions.
    code : int
        The reconstruction (:func:`~.remap.scheme_code`).

    Returns
    -------
    Pushed
        The new cell averages, the mass mapped beyond the walls, the turning points, the images
        of the faces and the collapsed mass.

    Raises
    ------
    FloatingPointError
        When the map is not finite at a face of the grid.

    Examples
    --------
    A shift by one cell moves every cell average up by one cell; the top cell leaves:

    >>> import numpy as np
    >>> import fpguide as fg
    >>> from fpguide.engine import push_forward, scheme_code
    >>> grid = fg.Grid(0.0, 8.0, 8)
    >>> out = push_forward(np.ones(8), grid, lambda x: x + 1.0, scheme_code("pcm"))
    >>> out.q, out.upper
    (array([0., 1., 1., 1., 1., 1., 1., 1.]), 1.0)
    """
    n, dx = grid.n, grid.dx

    def in_cells(xi):  # the map in index units
        return (mapping(grid.lower + xi * dx) - grid.lower) / dx

    image = in_cells(np.arange(n + 1.0))
    if not np.all(np.isfinite(image)):
        raise FloatingPointError("the step map is not finite on the grid")
    active_cells = np.flatnonzero(q > 0.0)
    turns = _turning_points(in_cells, image, active_cells)
    breaks = np.arange(n + 1.0)
    if turns.size:
        breaks = np.union1d(breaks, turns)
        image = np.interp(breaks, np.arange(n + 1.0), image)
        inserted = ~np.isin(breaks, np.arange(n + 1.0))
        image[inserted] = in_cells(breaks[inserted])
    cell_of_piece = np.minimum(np.floor(0.5 * (breaks[:-1] + breaks[1:])).astype(np.int64), n - 1)
    active = np.flatnonzero(q[cell_of_piece] > 0.0)
    # beyond the walls only the side matters (and integers stay small)
    inside = np.clip(image, -1.0, n + 1.0)
    counts, pieces, crossed = _crossings(active, inside, n)
    roots = np.empty(0)
    if pieces.size:
        roots = _preimages(
            in_cells,
            breaks[pieces],
            breaks[pieces + 1],
            inside[pieces] - crossed,
            inside[pieces + 1] - crossed,
            crossed.astype(float),
            _X_TOL_ULPS * np.finfo(float).eps * n,
        )
    d_left, d_right = np.empty(n), np.empty(n)
    reconstruct(q, code, d_left, d_right)
    out = np.zeros(n)
    lower, upper = _deposit(
        q, d_left, d_right, dx, active, breaks, inside, counts, roots, crossed, out
    )
    faces = np.isin(breaks, np.arange(n + 1.0))
    return Pushed(
        out,
        lower,
        upper,
        int(turns.size),
        grid.lower + image[faces] * dx,
        _collapsed_mass(q, dx, image, cell_of_piece),
    )


def _collapsed_mass(
    q: np.ndarray, dx: float, image: np.ndarray, cell_of_piece: np.ndarray
) -> float:
    """The mass of the cells whose whole image (over all their pieces) is shorter than COLLAPSE
    cells."""
    starts = np.searchsorted(cell_of_piece, np.arange(q.size))
    ends_hi, ends_lo = np.maximum(image[:-1], image[1:]), np.minimum(image[:-1], image[1:])
    extent = np.maximum.reduceat(ends_hi, starts) - np.minimum.reduceat(ends_lo, starts)
    return float(np.sum(q[(q > 0.0) & (extent < COLLAPSE)]) * dx)
