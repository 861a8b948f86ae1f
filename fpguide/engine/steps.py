"""Small helpers of the stepping loop: compiled scans of the densities and the traced faces (each
replaces several numpy passes per step), and the flush of sub-normal densities with its check that
the density is still sound."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..grids.grid import TensorGrid
from ..tools.errors import NumericalError

__all__ = [
    "assemble_departures",
    "flush_checked",
    "significant_faces",
    "significant_window",
    "steepest",
]

# densities below this are set to zero: subnormal arithmetic made contracting flows 7-11x slower
FLUSH = 1e-300


@nb.njit(cache=True)
def significant_faces(q, floor):
    """(first, last + 1): the faces enclosing the cells with q > floor; (−1, −1) if there are
    none."""
    first = 0
    while first < q.size and q[first] <= floor:
        first += 1
    if first == q.size:
        return -1, -1
    last = q.size - 1
    while q[last] <= floor:
        last -= 1
    return first, last + 1


@nb.njit(cache=True)
def assemble_departures(xi, lo, n, first, last, out):
    """Fill ``out`` (n + 1 departure points) from the traced window ``xi`` of faces lo … lo +
    len(xi) − 1.

    Returns False when trajectories cross where there is significant mass (between faces ``first``
    and ``last``). Crossings elsewhere are made monotone (running maximum); faces outside the window
    move rigidly with its ends.
    """
    hi = lo + xi.size - 1
    running = xi[0]
    for j in range(xi.size):
        if xi[j] < running:
            if running > first and xi[j] < last:
                return False
        else:
            running = xi[j]
        out[lo + j] = running
    for j in range(lo):
        out[j] = min(j + out[lo] - lo, out[lo])
    for j in range(hi + 1, n + 1):
        out[j] = max(j + out[hi] - hi, out[hi])
    return True


@nb.njit(cache=True)
def flush_below(q, floor):
    """Set densities in [0, floor) to zero (subnormals are slow) and look for broken cells; q has
    one row per density. Returns, per row, the total flushed (per unit cell volume), the lowest
    value and the flat index of the first non-finite or negative cell (−1 if none: the schemes are
    positive)."""
    rows = q.shape[0]
    flushed, lowest, bad = np.zeros(rows), np.full(rows, np.inf), np.full(rows, -1, dtype=np.int64)
    for b in range(rows):
        for i in range(q.shape[1]):
            value = q[b, i]
            if not (np.isfinite(value) and value >= 0.0):
                if bad[b] < 0:
                    bad[b] = i
                continue
            lowest[b] = min(lowest[b], value)
            if value < floor:
                flushed[b] += value
                q[b, i] = 0.0
    return flushed, lowest, bad


@nb.njit(cache=True)
def significant_window(lines, significant):
    """floor = ``significant`` · max q over the lines (rows), the lines with a cell above it, and
    the faces (first, last + 1) enclosing every such cell; floor 0 (and no lines) when q is zero."""
    floor = significant * lines.max()
    active = np.empty(lines.shape[0], dtype=np.int64)
    count, first, last = 0, lines.shape[1], 0
    if floor > 0.0:
        for line in range(lines.shape[0]):
            lo, hi = significant_faces(lines[line], floor)
            if lo >= 0:
                active[count] = line
                count += 1
                first, last = min(first, lo), max(last, hi)
    return floor, active[:count], first, last


@nb.njit(cache=True)
def steepest(v):
    """(max |v_{j+1} − v_j|, max |v|) over the rows of v: the largest velocity jump between
    neighbouring faces and the largest speed."""
    jump, speed = 0.0, 0.0
    for line in range(v.shape[0]):
        for j in range(v.shape[1]):
            speed = max(speed, abs(v[line, j]))
            if j > 0:
                jump = max(jump, abs(v[line, j] - v[line, j - 1]))
    return jump, speed


def flush_checked(
    q: np.ndarray,
    grid: TensorGrid,
    t: float,
    batch: bool = True,
    frame: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flush_below` on the densities q (B, *grid.shape), in place, with a check that they are
    sound.

    Densities in [0, FLUSH) (FLUSH = 1e-300) are set to zero: subnormal arithmetic made
    contracting flows 7-11x slower.

    Parameters
    ----------
    q : numpy.ndarray
        The densities, shape (B, *grid.shape); flushed in place.
    grid : TensorGrid
        Their grid.
    t : float
        The time, for the error message.
    batch : bool, optional
        Whether the error message names the member (default True).
    frame : numpy.ndarray or None, optional
        The frame c_a per axis the densities are held in (see
        :class:`~.line_sweeps.LineSweeper`; None, the default: the grid's own), so that the error
        names the true position.

    Returns
    -------
    flushed : numpy.ndarray
        The mass flushed from each density (per unit cell volume).
    lowest : numpy.ndarray
        The lowest value of each density.

    Raises
    ------
    ~fpguide.NumericalError
        When a density is not finite or negative (which the positive schemes never make), saying
        when and where.
    """
    flushed, lowest, broken = flush_below(q.reshape(q.shape[0], -1), FLUSH)
    if np.any(broken >= 0):
        b = int(np.argmax(broken >= 0))
        cell = np.unravel_index(broken[b], grid.shape)
        scale = np.ones(grid.ndim) if frame is None else frame
        x = ", ".join(f"{axis.centres[i] / c:.6g}" for axis, i, c in zip(grid.axes, cell, scale))
        member = f" in member {b}" if batch else ""
        value = q[b][cell]
        raise NumericalError(
            f"the density became {value} at t={t:.6g}, x=({x}){member}: reduce "
            "the step "
            "(lipschitz, max_step) or refine the grid where the drift is steep "
            "there",
            time=t,
        )
    return flushed, lowest
