"""Conservative transfer of densities from one grid to another: the exact cell integrals of the
positive reconstruction.

A density held as cell averages on a uniform axis has the positive sub-cell reconstruction of
:mod:`.remap`; its mass between any two points is :func:`~.remap.mass_between`. Transferring it onto
new cells (any increasing faces) gives each new cell the mass of the reconstruction over it, divided
by its width: positive, and conservative to round-off (the new masses and the mass beyond the new
extent, which is returned as *trimmed*, add up to the old mass). Where the new faces coincide with
old ones and the new cells are unions of old cells (coarsening on an aligned lattice), the new
masses are sums of old cell masses, with no reconstruction involved.

:func:`collect_masses` does the same for cells of any widths with the density constant inside each
(the cell averages and nothing more), the way a Dataset's stored density is read back.

On a tensor grid the transfer is done one axis at a time (each line along an axis is a 1-D
transfer), the axes that lose the most cells first; every pass is positive and conservative, so the
whole is.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..grids.grid import GradedGrid, Grid, TensorGrid, axes_of
from .remap import mass_between, reconstruct

__all__ = ["collect_masses", "transfer"]


@nb.njit(cache=True)
def _transfer_line(q, code, dx, xi, widths, out):
    """out[i] = mass of the reconstruction of q (cells of width dx) between index coordinates xi[i],
    xi[i + 1], divided by widths[i]; returns the mass below xi[0] and above xi[-1] (trimmed)."""
    n = q.size
    d_left, d_right = np.empty(n), np.empty(n)
    reconstruct(q, code, d_left, d_right)
    clamped = np.minimum(np.maximum(xi, 0.0), float(n))
    for i in range(out.size):
        out[i] = mass_between(q, d_left, d_right, dx, clamped[i], clamped[i + 1]) / widths[i]
    return (
        mass_between(q, d_left, d_right, dx, 0.0, clamped[0]),
        mass_between(q, d_left, d_right, dx, clamped[-1], float(n)),
    )


@nb.njit(cache=True, parallel=True)
def _transfer_lines(lines, code, dx, xi, widths, out, lower, upper):
    """:func:`_transfer_line` for every row of ``lines``."""
    for line in nb.prange(lines.shape[0]):
        lower[line], upper[line] = _transfer_line(lines[line], code, dx, xi, widths, out[line])


@nb.njit(cache=True)
def _collect_line(mass, faces, new_faces, out):
    """out[j] = the masses ``mass`` of the cells between ``faces`` that lie between new_faces[j] and
    new_faces[j + 1], each cell's mass spread evenly over it: sums of non-negative overlaps (no
    cancellation)."""
    n = mass.size
    k = 0
    for j in range(out.size):
        a, b = new_faces[j], new_faces[j + 1]
        while k < n and faces[k + 1] <= a:
            k += 1
        total = 0.0
        i = k
        while i < n and faces[i] < b:
            overlap = min(b, faces[i + 1]) - max(a, faces[i])
            if overlap > 0.0:
                total += mass[i] * (overlap / (faces[i + 1] - faces[i]))
            i += 1
        out[j] = total


@nb.njit(cache=True, parallel=True)
def _collect_lines(masses, faces, new_faces, out):
    for line in nb.prange(masses.shape[0]):
        _collect_line(masses[line], faces, new_faces, out[line])


def collect_masses(
    cell_mass: np.ndarray, faces: np.ndarray, new_faces: np.ndarray, axis: int
) -> np.ndarray:
    """The masses of the cells between ``faces`` collected into the cells between ``new_faces``.

    Each old cell's mass is spread evenly over it (the density constant inside: what cell
    averages on any, also graded, cells say); mass beyond the new faces is left out. Non-negative,
    and conservative to round-off.

    Parameters
    ----------
    cell_mass : numpy.ndarray
        The masses of the old cells along ``axis`` (any other axes are independent lines).
    faces : numpy.ndarray
        The old cells' faces along ``axis``, increasing (one more than the cells).
    new_faces : numpy.ndarray
        The new cells' faces, increasing.
    axis : int
        The axis of ``cell_mass`` the cells lie along.

    Returns
    -------
    numpy.ndarray
        The masses of the new cells, shaped like ``cell_mass`` with ``len(new_faces) − 1`` cells
        along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from fpguide.engine import collect_masses
    >>> collect_masses(np.array([1.0, 2.0]), np.array([0.0, 1.0, 2.0]), np.array([0.5, 2.0]), 0)
    array([2.5])
    """
    moved = np.moveaxis(np.asarray(cell_mass, dtype=float), axis, -1)
    lines = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
    new_faces = np.ascontiguousarray(new_faces, dtype=float)
    out = np.empty((lines.shape[0], new_faces.size - 1))
    _collect_lines(lines, np.ascontiguousarray(faces, dtype=float), new_faces, out)
    return np.moveaxis(out.reshape(*moved.shape[:-1], new_faces.size - 1), -1, axis)


def transfer(
    q: np.ndarray, old: Grid | TensorGrid, new: Grid | GradedGrid | TensorGrid, code: int
) -> tuple[np.ndarray, np.ndarray]:
    """The densities ``q`` on the grid ``new``, and the mass each member lost beyond the new extent.

    Each new cell gets the exact integral of the positive reconstruction over it, one axis at a
    time (the axes that lose the most cells first). The new masses plus the trimmed masses equal
    the old masses to round-off, and every new cell average is non-negative.

    Parameters
    ----------
    q : numpy.ndarray
        The densities, shape (B, *old.shape): B members.
    old : Grid or TensorGrid
        Their grid, uniform along every axis.
    new : Grid, GradedGrid or TensorGrid
        The new grid, of the same dimension: any increasing faces (a
        :class:`~fpguide.GradedGrid` axis).
    code : int
        The reconstruction (:func:`~.remap.scheme_code`).

    Returns
    -------
    q : numpy.ndarray
        The densities on ``new``, shape (B, *new.shape).
    trimmed : numpy.ndarray
        The mass each member lost beyond the new extent, per axis and side: an array (B, d, 2) of
        (below the lower, above the upper face).

    Raises
    ------
    ValueError
        When the grids differ in dimension or q is not shaped (B, *old.shape).
    """
    old_axes, new_axes = axes_of(old), axes_of(new)
    if len(old_axes) != len(new_axes) or q.ndim != len(old_axes) + 1:
        raise ValueError(
            "transfer needs densities (B, *old.shape) and grids of the same "
            "dimension, got q of shape "
            f"{q.shape}, {len(old_axes)} and {len(new_axes)} axes"
        )
    d, members = len(old_axes), q.shape[0]
    trimmed = np.zeros((members, d, 2))
    # the cell widths along every axis, as q has them now
    widths = [np.full(axis.n, axis.dx) for axis in old_axes]
    # shrink first: later passes are smaller
    order = sorted(range(d), key=lambda a: new_axes[a].n / old_axes[a].n)
    part = np.ascontiguousarray(q, dtype=float)
    for axis in order:
        source, target = old_axes[axis], new_axes[axis]
        moved = np.moveaxis(part, axis + 1, -1)
        lines = np.ascontiguousarray(moved).reshape(-1, source.n)
        out = np.empty((lines.shape[0], target.n))
        lower, upper = np.empty(lines.shape[0]), np.empty(lines.shape[0])
        xi = (np.asarray(target.faces, dtype=float) - source.lower) / source.dx
        _transfer_lines(
            lines, code, source.dx, xi, np.asarray(target.widths, dtype=float), out, lower, upper
        )
        # each line's, one member's lines
        section = _cross_sections([widths[a] for a in range(d) if a != axis])
        trimmed[:, axis, 0] = (lower.reshape(members, -1) * section).sum(axis=1)
        trimmed[:, axis, 1] = (upper.reshape(members, -1) * section).sum(axis=1)
        widths[axis] = np.asarray(target.widths, dtype=float)
        part = np.ascontiguousarray(
            np.moveaxis(out.reshape(*moved.shape[:-1], target.n), -1, axis + 1)
        )
    return part, trimmed


def _cross_sections(widths: list[np.ndarray]) -> np.ndarray:
    """The cross-sections (products of the cell widths across) of the lines through a grid with
    cells ``widths`` along the other axes, flattened in C order (1 for a 1-D grid)."""
    section = np.ones(1)
    for w in widths:
        section = np.multiply.outer(section, w).ravel()
    return section
