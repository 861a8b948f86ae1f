"""Run monitors: what a grid run records about its own numerical health at every saved time, and
what is done about it.

======================  ===========================================  ============================
variable                what it measures                             acted on
======================  ===========================================  ============================
``mass_balance_error``  (mass on the grid + outflow − initial mass)  above MASS_TOL:
                        / initial mass                               NumericalError
``min_density``         lowest cell average since the previous       negative or non-finite:
                        saved time                                   NumericalError (in the
                                                                     engine, at the step, with
                                                                     t and x)
``feature_cells``       cells across the density's narrowest         below MIN_CELLS_PER_WIDTH:
                        feature, the standard deviation              CoarseGridWarning
                        1/(√(2π) max p) of its sharpest marginal
``wall_mass``           mass in the outer WALL_BAND of the extent,   outflow above wall_tol:
                        on every side                                WallMassError (in the
                                                                     engine); above
                                                                     WALL_MARGIN·wall_tol:
                                                                     WallMassWarning
``cfl``                 ``max_a |v_a| dt / dx_a`` over the steps     recorded only
                        since the last save
``peclet``              cell Péclet number ``max_a |v_a| dx_a / D``  recorded only
                        (inf without diffusion)
======================  ===========================================  ============================

The CFL and Péclet numbers limit nothing here: the flux-form semi-Lagrangian remap is positive and
conservative at any CFL number, and the heat step is an exact positive kernel at any Péclet number;
the steps are limited by L·dt (``max_lipschitz_dt`` in the run record), which keeps the departure
maps monotone. They are recorded to compare with Eulerian schemes and to see where a run spends its
steps. Whatever an error says: when, where, what to change.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..grids.autogrid import CELLS_PER_WIDTH
from ..grids.grid import Grid, TensorGrid, axes_of
from ..tools.errors import CoarseGridWarning, NumericalError, WallMassWarning, caller_stacklevel

if TYPE_CHECKING:
    from ..engine import EvolveResult

__all__ = ["MASS_TOL", "MONITORS", "WALL_BAND", "act_on", "monitor_variables"]

# the schemes conserve mass to round-off (measured: ≤ 2e-13 on the demo cases down to t_min = 1e-5)
MASS_TOL = 1e-10
MIN_CELLS_PER_WIDTH = 2.0  # below this many cells across the density's narrowest feature, warn
WALL_BAND = 0.02  # the fraction of each axis' extent, at either end, whose mass is ``wall_mass``
WALL_MARGIN = 0.1  # warn when the outflow exceeds this fraction of wall_tol
MONITORS = ("mass_balance_error", "min_density", "feature_cells", "wall_mass", "cfl", "peclet")


def density_widths(grid: Grid | TensorGrid, q: np.ndarray) -> np.ndarray:
    """Per saved density (q has one per row), the narrowest width, in cells, of its marginals along
    the axes: the standard deviation a Gaussian of the same peak would have, 1/(√(2π) max p_a), over
    the axis' dx."""
    axes = axes_of(grid)
    cells = np.full(q.shape[0], np.inf)
    for a, axis in enumerate(axes):
        others = tuple(b + 1 for b in range(len(axes)) if b != a)
        marginal = q.sum(axis=others) * (grid.cell_volume / axis.dx) if others else q
        peak = marginal.max(axis=1)
        with np.errstate(divide="ignore"):
            cells = np.minimum(cells, 1.0 / (math.sqrt(2 * math.pi) * peak * axis.dx))
    return cells


def wall_masses(grid: Grid | TensorGrid, q: np.ndarray) -> np.ndarray:
    """Per saved density, the mass in the outer WALL_BAND of every axis' extent (at least one cell
    per side)."""
    axes = axes_of(grid)
    near = np.zeros(q.shape[1:], dtype=bool)
    for a, axis in enumerate(axes):
        k = max(1, int(WALL_BAND * axis.n))
        index = [slice(None)] * len(axes)
        for band in (slice(0, k), slice(axis.n - k, axis.n)):
            index[a] = band
            near[tuple(index)] = True
    return q[:, near].sum(axis=1) * grid.cell_volume


def monitor_variables(
    result: EvolveResult,
    mass: np.ndarray,
    outflow: np.ndarray,
    initial: float | None = None,
) -> dict[str, tuple[tuple[str], np.ndarray]]:
    """The monitors of an engine run as Dataset variables over ``t``.

    ``mass_balance_error`` = (mass + outflow − initial)/initial; ``min_density``, the run's own
    record of the lowest cell average since the previous saved time, else the lowest of the saved
    density; ``feature_cells``, the cells across each density's narrowest feature, 1/(√(2π) max p)
    of its sharpest marginal over dx; ``wall_mass``, the mass in the outer ``WALL_BAND`` of every
    axis' extent; and, where the run records them, ``cfl`` and ``peclet`` (see the module's table).

    Parameters
    ----------
    result : EvolveResult
        The engine run (or a chain's result with its densities only: ``grid``, ``q`` and None for
        ``min_density`` and ``cfl``).
    mass, outflow : np.ndarray
        The mass on the grid and the cumulative outflow at the saved times.
    initial : float, optional
        The mass at the start (default ``mass[0]``; a stage of a staged run starts later).

    Returns
    -------
    dict
        ``{name: (("t",), values)}`` for each monitor, values as floats.
    """
    grid, q = result.grid, result.q
    initial = mass[0] if initial is None else initial
    lowest = (
        result.min_density
        if result.min_density is not None
        else q.reshape(q.shape[0], -1).min(axis=1)
    )
    data = {
        "mass_balance_error": (mass + outflow - initial) / initial,
        "min_density": lowest,
        "feature_cells": density_widths(grid, q),
        "wall_mass": wall_masses(grid, q),
    }
    if result.cfl is not None:
        data |= {"cfl": result.cfl, "peclet": result.peclet}
    return {name: (("t",), np.asarray(values, dtype=float)) for name, values in data.items()}


def act_on(
    monitors: dict,
    t: np.ndarray,
    grids: list[Grid | TensorGrid],
    escaped: float,
    wall_tol: float,
    feature_width: float | list[float],
) -> None:
    """Fail or warn on the monitors of a run (see the module's table).

    Parameters
    ----------
    monitors : dict
        The monitors of :func:`monitor_variables`, of a run saved at the diffusion times ``t``.
    t : np.ndarray
        The saved diffusion times.
    grids : list of Grid or TensorGrid
        The grid of each saved density.
    escaped : float
        The mass the run lost through its walls.
    wall_tol : float
        The run's tolerance for that loss.
    feature_width : float or list of float
        The narrowest feature the dynamics can make by the last saved time, one for every axis or
        one per axis (the last grid's cells per width are judged against it too).

    Raises
    ------
    NumericalError
        When ``mass_balance_error`` exceeds ``MASS_TOL`` in magnitude at a saved time.

    Warns
    -----
    CoarseGridWarning
        When a density's grid has fewer than ``MIN_CELLS_PER_WIDTH`` cells across its narrowest
        feature.
    WallMassWarning
        When ``escaped`` exceeds ``WALL_MARGIN``·``wall_tol``.
    """
    balance = monitors["mass_balance_error"][1]
    if np.any(np.abs(balance) > MASS_TOL):
        k = int(np.argmax(np.abs(balance) > MASS_TOL))
        raise NumericalError(
            f"the mass on the grid plus the outflow drifted by {balance[k]:.3g} "
            "of the initial mass "
            f"by t={t[k]:.6g} (tolerance {MASS_TOL:g}); the schemes conserve it "
            "to round-off, so a "
            "step went wrong: take smaller steps (lipschitz, log_snr_step) and "
            "report it",
            time=None,
        )
    _warn_if_coarse(grids, monitors["feature_cells"][1], t, feature_width)
    if escaped > WALL_MARGIN * wall_tol:
        warnings.warn(
            f"mass {escaped:.3g} left through the walls, within {1 / WALL_MARGIN:g}x of "
            "wall_tol="
            f"{wall_tol:g} (mass near the walls at the end: "
            f"{monitors['wall_mass'][1][-1]:.3g}): widen the "
            "grid",
            WallMassWarning,
            stacklevel=caller_stacklevel(),
        )


def _warn_if_coarse(
    grids: list, cells: np.ndarray, t: np.ndarray, feature_width: float | list[float]
) -> None:
    """Warn when a saved density's grid (in ``grids``) has fewer than MIN_CELLS_PER_WIDTH cells
    across the density's narrowest feature (measured from the density, and for the last one also
    the dynamics' ``feature_width``, along each axis); the message names the time and grid of the
    worst."""
    resolved = np.array(cells, dtype=float)
    spacing = np.array([axis.dx for axis in axes_of(grids[-1])])
    resolved[-1] = min(
        resolved[-1], float(np.min(np.asarray(feature_width, dtype=float) / spacing))
    )
    k = int(np.argmin(resolved))
    axes = axes_of(grids[k])
    dx, resolved = max(axis.dx for axis in axes), float(resolved[k])
    if resolved < MIN_CELLS_PER_WIDTH:
        needed = [int(math.ceil(axis.n * CELLS_PER_WIDTH / resolved)) for axis in axes]
        extent = " x ".join(f"[{axis.lower:.4g}, {axis.upper:.4g}]" for axis in axes)
        warnings.warn(
            f"grid too coarse: {resolved:.3g} cells of dx={dx:.3g} across the density's "
            "narrowest feature "
            f"(t={t[k]:.4g}); use at least n={needed[0] if len(axes) == 1 else needed} "
            f"cells on {extent}",
            CoarseGridWarning,
            stacklevel=caller_stacklevel(),
        )
