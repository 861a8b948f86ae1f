"""Adaptive grids: a run in stages, each on a uniform grid that fits the density at that time.

A guided sampler's density is wide and smooth early (the prior, ~N(0, I)) and narrow late (the
target, sharpened by guidance), so one grid with the finest feature's spacing over the widest extent
ever visited wastes most of its cells: on the 2-D boxes at t_min = 1e-2, 2-4 % of that grid's cells
hold density above 1e-13 of the peak by the end. Here the run is cut into stages, each with its own
uniform grid:

* spacing: along each axis a, the cell width the narrowest feature of the stage needs (its width
  over ``cells_per_width``·STAGE_FINER; the feature at reverse time τ is
  :func:`~fpguide.grids.autogrid.feature_width` at t = T − τ with the pilot's width at τ and, for
  stochastic samplers, the tilted law's width near the pilot's points,
  :func:`~fpguide.grids.autogrid.tilted_width`), rounded to the nearest h_a·2^m (m ≥ 0, nearest in
  log2: within a factor √2: every stage has at least ``cells_per_width`` cells across its feature,
  those coarser than h_a at least √2 times that) on one lattice per axis, h_a the spacing the
  narrowest feature of the run needs (over ``cells_per_width``) rounded down to k·2^e (k = 4 … 7),
  so that the faces of every stage lie on one lattice exactly, in floating point; halved where an
  axis would have fewer than the automatic grid's MIN_CELLS (scaled by ``cells_per_width`` over its
  default);
* extent: the range the pilot's quantiles visit during the stage, padded as
  :func:`~fpguide.grids.autogrid.choose_grid` pads the whole run's and, for stochastic samplers, by
  SPREAD_SDS standard deviations of the noise, and widened at the start of the stage to hold the
  density the run actually has then (all but ``tail`` of its mass on either side along every axis,
  ``tail`` a TAIL_SHARE of ``wall_tol`` shared among the sides and regrids), snapped outwards to the
  stage's lattice;
* boundaries: a new stage starts where the spacing level of any axis changes, or where the pilot's
  extent shrinks to half the cells of the stage so far;
* a stage that loses more than its share of ``wall_tol`` through its walls anyway runs again on a
  grid reaching WIDEN_SHARE of its extent further on those sides (:meth:`StageGrids.widen`).

The engine moves the density from one stage's grid to the next by exact cell integrals of its
positive reconstruction (:mod:`fpguide.engine.transfer`); the mass the new extent leaves out is
counted as trimmed, with the wall outflow. The saved densities are stored on one grid
(:func:`output_grid`, a :class:`~fpguide.grids.grid.GradedGrid` per axis): each stage's cells where
its densities hold their mass, the coarsest stage's cells beyond.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..models.dynamics import GuidedDynamics, WeightBatch
from .autogrid import CELLS_PER_WIDTH, MAX_CELLS, MIN_CELLS, feature_width, pilot, tilted_width
from .grid import GradedGrid, Grid, TensorGrid, axes_of, axis_of_faces

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "OUTPUT_TAIL",
    "held_range",
    "lattice_spacing",
    "output_grid",
    "plan_stages",
    "regrid",
    "Stage",
    "StageGrids",
]

TAIL_SHARE = 1e-3  # the regrids together may trim this fraction of wall_tol
# stages other than the last resolve their feature with this many times the cells_per_width of the
# last: they take most of the remaps, and their errors carry to the end (1-D boxes, ODE, w = 3,
# t_min = 1e-3, against a 4x refined solve: entropy error 2.6e-4 with 1, 1.4e-5 with 2, 5.6e-6 with
# 4; the uniform engine's 4.5e-6)
STAGE_FINER = 2.0
# stochastic samplers: each stage's extent is padded by this many standard deviations of the noise
# its segments add (the pilot traces the probability-flow ODE, whose guided law is narrower than the
# SDE's; 1-D boxes, w = 3: outflow 4.2e-10 with 0 or 2, 1.1e-12 with 4 or 8, 1.1e-12 on the uniform
# grid)
SPREAD_SDS = 4.0
# a stage that lost mass through its walls is run again this fraction of its extent wider there
WIDEN_SHARE = 0.25
SHRINK = 0.5  # a new stage starts where the pilot's extent needs this fraction of the stage's cells
# the output grid has a stage's cells only where its saved densities hold their mass: all but this
# much of it, per side and axis (beyond, coarser cells hold it, so the stored density differs from
# the run's by at most 4·d times this in L1). 3-D boxes, ODE, t_min = 1e-3, 41 saved densities:
# every stage's cells everywhere made 202 x 276 x 276 cells (5.1 GB, peak 5.9 GB); held to 1e-13,
# 150 x 214 x 206 (2.2 GB); to 1e-10, 132 x 186 x 182 (1.5 GB, peak 2.3 GB)
OUTPUT_TAIL = 1e-10


@dataclass(frozen=True)
class Stage:
    """One stage of an adaptive run: from reverse time ``start`` on, the density lives on
    ``grid``.

    Parameters
    ----------
    start : float
        The reverse time τ the stage starts at.
    grid : Grid or TensorGrid
        The uniform grid of the stage.
    seen : tuple of (float, float), optional
        Per axis, the range (lower, upper) the pilot's quantiles visit during the stage; default
        ``()``.
    """

    start: float
    grid: Grid | TensorGrid
    # per axis, the range the pilot's quantiles visit during the stage
    seen: tuple[tuple[float, float], ...] = ()


def lattice_spacing(h: np.ndarray) -> np.ndarray:
    """``h`` rounded down to k·2^e with k ∈ {4, 5, 6, 7}.

    With e = floor(log2 h) − 2, the result is floor(h/2^e)·2^e. Multiples of such a spacing by
    integers and powers of two are exact in floating point, so grids on its lattice share their
    faces exactly.

    Parameters
    ----------
    h : numpy.ndarray
        The spacings, > 0 (e.g. one per axis).

    Returns
    -------
    numpy.ndarray
        The rounded spacings, each in (0.8h, h].

    Examples
    --------
    >>> import numpy as np
    >>> lattice_spacing(np.array([0.3, 1.0, 7.9]))
    array([0.25, 1.  , 7.  ])
    """
    e = np.floor(np.log2(h)) - 2.0
    return np.floor(h / 2.0**e) * 2.0**e


def plan_stages(
    dyn: GuidedDynamics | WeightBatch,
    t_min: float,
    quantile: Callable[[np.ndarray], ArrayLike],
    *,
    cells_per_width: float,
    widen: float = 1.0,
) -> tuple[list[Stage], dict]:
    """The stages of an adaptive run of ``dyn`` from τ = 0 to T − t_min, and how they were chosen.

    Spacing, extent and boundaries as the module describes: the :func:`~.autogrid.pilot` (with
    its points, for stochastic samplers) gives per segment between its times the feature each
    member needs (the narrower at the segment's two ends), its spacing f/``cells_per_width``, and
    the range [lower, upper] visited. The finest spacing h is :func:`lattice_spacing` of the
    smallest; each segment's spacing is h·2^m, m = max(0, round(log2(spacing/(STAGE_FINER·h)))).
    Its grid must span the range's centre ± widen·(½(upper − lower)·1.15 + 4f + SPREAD_SDS·s), s
    the standard deviation the noise adds over the segment (0 for the ODE). A new stage starts
    where the level m of any axis changes, or where a segment's span needs at most SHRINK of the
    cells of the stage so far; each stage's grid lies on its lattice, with at least MIN_CELLS ×
    ``cells_per_width`` / CELLS_PER_WIDTH cells per axis and at most MAX_CELLS in total.

    Parameters
    ----------
    dyn : GuidedDynamics or WeightBatch
        The dynamics of the run (every member of a batch).
    t_min : float
        The diffusion time the run ends at.
    quantile : callable
        The start law's quantile function per coordinate (see :func:`~.autogrid.pilot`).
    cells_per_width : float
        Cells per narrowest feature of the last stage (earlier stages take STAGE_FINER times as
        many).
    widen : float, optional
        Factor on every half-span; default 1.0.

    Returns
    -------
    stages : list of Stage
        The stages, in order of their start (the first at τ = 0).
    record : dict
        ``finest_spacing`` (per axis), ``feature`` (the narrowest feature per axis at t_min, what
        the last grid is judged against), ``cells_per_width``, ``widen`` and ``stages``: per
        stage, its ``start``, ``spacing`` and ``cells`` per axis.

    Raises
    ------
    NumericalError
        If the pilot stalls (see :func:`~.autogrid.pilot`).
    """
    members = dyn.members if isinstance(dyn, WeightBatch) else (dyn,)
    common = members[0]
    d = common.model.ndim
    seen = pilot(dyn, t_min, quantile, keep_points=common.stochastic)
    taus = seen["times"]
    feature = _pilot_features(members, seen)
    needed = np.minimum(feature[:-1], feature[1:]).min(axis=1) / cells_per_width  # (K − 1, d)
    finest = lattice_spacing(needed.min(axis=0))
    level = np.maximum(np.floor(np.log2(needed / (STAGE_FINER * finest)) + 0.5), 0.0)
    lower = np.minimum(seen["lower_at"][:-1], seen["lower_at"][1:]).min(axis=1)
    upper = np.maximum(seen["upper_at"][:-1], seen["upper_at"][1:]).max(axis=1)
    spacing = finest * 2.0**level
    # (K − 1, 1)
    spread = np.array([_spread(common, a, b) for a, b in zip(taus[:-1], taus[1:])])[:, None]
    half = widen * (
        0.5 * (upper - lower) * 1.15 + 4.0 * needed * cells_per_width + SPREAD_SDS * spread
    )
    centre = 0.5 * (lower + upper)
    lo, hi = centre - half, centre + half  # (K − 1, d): what each segment's grid must span
    # the automatic grid's floor on the cells per axis, asked at the default resolution: it scales
    # with cells_per_width, so that half the cells per width (an error estimate's space companion)
    # halves every stage
    min_cells = MIN_CELLS[d] * cells_per_width / CELLS_PER_WIDTH
    stages = _cut_stages(taus, level, spacing, lo, hi, lower, upper, min_cells)
    return stages, _plan_record(finest, feature, cells_per_width, widen, stages)


def _pilot_features(members: tuple[GuidedDynamics, ...], seen: dict) -> np.ndarray:
    """The feature each member needs at each pilot time (K, B, d): :func:`feature_width` at
    t = T − τ with the pilot's width and, where the pilot kept its points (stochastic samplers),
    the tilted law's width near them."""
    common = members[0]
    d = common.model.ndim
    taus = seen["times"]
    points = seen["points_at"] or [[None] * len(members)] * taus.size
    return np.array(
        [
            [
                feature_width(
                    member,
                    common.T - tau,
                    width,
                    None if at is None else tilted_width(member, common.T - tau, at),
                )
                * np.ones(d)
                for member, width, at in zip(members, widths, where)
            ]
            for tau, widths, where in zip(taus, seen["width_at"], points)
        ]
    )


def _cut_stages(
    taus: np.ndarray,
    level: np.ndarray,
    spacing: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    min_cells: float,
) -> list[Stage]:
    """The stages of the pilot's segments (spacing level, spacing, span [lo, hi] and range visited
    [lower, upper] per segment): a new one where the level of any axis changes, or where a
    segment's span needs no more than SHRINK of the cells of the stage so far."""
    stages, first = [], 0
    for k in range(1, taus.size):
        if k < taus.size - 1 and np.array_equal(level[k], level[first]):
            box = _cells(
                lo[first : k + 1].min(axis=0), hi[first : k + 1].max(axis=0), spacing[first]
            )
            if _cells(lo[k], hi[k], spacing[k]) > SHRINK * box:
                continue
        grid = _lattice_grid(
            lo[first:k].min(axis=0), hi[first:k].max(axis=0), spacing[first], min_cells
        )
        seen = tuple(zip(lower[first:k].min(axis=0).tolist(), upper[first:k].max(axis=0).tolist()))
        stages.append(Stage(float(taus[first]), grid, seen))
        first = k
    return stages


def _plan_record(
    finest: np.ndarray,
    feature: np.ndarray,
    cells_per_width: float,
    widen: float,
    stages: list[Stage],
) -> dict:
    """The record of a stage plan (see :func:`plan_stages`)."""
    return {
        "finest_spacing": finest.tolist(),
        "feature": feature[-1].min(axis=0).tolist(),
        "cells_per_width": cells_per_width,
        "widen": widen,
        "stages": [
            {
                "start": stage.start,
                "spacing": [axis.dx for axis in axes_of(stage.grid)],
                "cells": [axis.n for axis in axes_of(stage.grid)],
            }
            for stage in stages
        ],
    }


def _spread(dyn: GuidedDynamics, a: float, b: float) -> float:
    """The standard deviation sqrt(2 ∫_a^b D dτ) = η sqrt(∫ g² dt) that the noise adds over [a, b]
    (0 for the probability-flow ODE; the members of a batch differ in their weights only)."""
    return dyn.eta * math.sqrt(float(dyn.process.g2_integral(dyn.T - b, dyn.T - a)))


def _cells(lower: np.ndarray, upper: np.ndarray, spacing: np.ndarray) -> float:
    return float(np.prod(np.ceil((upper - lower) / spacing)))


def _lattice_grid(
    lower: np.ndarray, upper: np.ndarray, spacing: np.ndarray, min_cells: float
) -> Grid | TensorGrid:
    """The grid of cells ``spacing`` on the lattice j·spacing covering [lower, upper], its spacing
    halved along an axis with fewer than ``min_cells`` cells (the observables' midpoint rules want
    them), and doubled when the total would exceed the automatic grid's cap MAX_CELLS."""
    d = lower.size
    spacing = spacing.copy()
    while np.any(few := np.ceil(upper / spacing) - np.floor(lower / spacing) < min_cells):
        spacing[few] /= 2.0
    while True:
        start = np.floor(lower / spacing)
        n = np.ceil(upper / spacing) - start
        if np.prod(n) <= MAX_CELLS[d]:
            break
        spacing *= 2.0
    axes = tuple(
        Grid(float(j * h), float((j + k) * h), int(k)) for j, k, h in zip(start, n, spacing)
    )
    return axes[0] if d == 1 else TensorGrid(axes)


class StageGrids:
    """The grid callbacks of :func:`~fpguide.engine.staged.evolve_in_stages` for a plan's stages.

    :meth:`regrid` widens each planned grid to hold all but a TAIL_SHARE of ``wall_tol`` (at most
    of the default 1e-9: an error estimate's companions run with wall_tol = 1, and trimming that
    much would be their error, not the solve's), shared among the regrids and sides, of the
    density: ``tail`` = TAIL_SHARE·min(wall_tol, 1e-9) / (2d·max(stages − 1, 1)). :meth:`widen`
    extends a stage's grid that lost mass through its walls by WIDEN_SHARE of its extent on those
    sides.

    Parameters
    ----------
    stages : list of Stage
        The stages of the plan (:func:`plan_stages`).
    wall_tol : float
        The run's tolerance on the mass lost through the walls.

    Attributes
    ----------
    tail : float
        The mass a regrid may leave out, per side and axis.
    """

    def __init__(self, stages: list[Stage], wall_tol: float):
        d = len(axes_of(stages[0].grid))
        self.tail = TAIL_SHARE * min(wall_tol, 1e-9) / (2 * d * max(len(stages) - 1, 1))

    def regrid(
        self, t: float, q: np.ndarray, planned: Grid | TensorGrid, current: Grid | TensorGrid
    ) -> Grid | TensorGrid:
        """The grid of the next stage: ``planned``, widened to hold the density (:func:`regrid`).

        Parameters
        ----------
        t : float
            The time of the regrid (not used).
        q : numpy.ndarray
            The densities (B, *current.shape).
        planned : Grid or TensorGrid
            The next stage's planned grid.
        current : Grid or TensorGrid
            The grid ``q`` lives on.

        Returns
        -------
        Grid or TensorGrid
            ``planned``, widened on its lattice to hold all but :attr:`tail` of the mass on
            either side of every axis.
        """
        return regrid(planned, q, current, self.tail)

    @staticmethod
    def widen(grid: Grid | TensorGrid, lower: bool, upper: bool) -> Grid | TensorGrid:
        """``grid`` extended by WIDEN_SHARE (¼) of its extent on the sides that lost mass.

        Along each axis, ceil(WIDEN_SHARE·n) cells of the same width are added below where
        ``lower`` and above where ``upper``, on the axis's lattice j·dx.

        Parameters
        ----------
        grid : Grid or TensorGrid
            The stage's uniform grid.
        lower, upper : bool
            Whether to extend it below, above (on every axis).

        Returns
        -------
        Grid or TensorGrid
            The extended grid.
        """
        axes = []
        for axis in axes_of(grid):
            h, start, stop = axis.dx, round(axis.lower / axis.dx), round(axis.upper / axis.dx)
            extra = math.ceil(WIDEN_SHARE * (stop - start))
            start, stop = start - extra * lower, stop + extra * upper
            axes.append(Grid(float(start * h), float(stop * h), int(stop - start)))
        return axes[0] if len(axes) == 1 else TensorGrid(tuple(axes))


def regrid(
    planned: Grid | TensorGrid, q: np.ndarray, current: Grid | TensorGrid, tail: float
) -> Grid | TensorGrid:
    """``planned``, widened on its own lattice to hold the densities ``q``.

    Along each axis, the faces that :func:`held_range` finds on ``current`` are snapped outwards
    to ``planned``'s lattice j·dx; ``planned`` extends to them where it does not reach them
    (an axis it already covers is kept as it is).

    Parameters
    ----------
    planned : Grid or TensorGrid
        The planned uniform grid, its faces on the lattice j·dx.
    q : numpy.ndarray
        The densities (B, *current.shape).
    current : Grid or TensorGrid
        The uniform grid ``q`` lives on.
    tail : float
        The mass that may be left out on either side of every axis.

    Returns
    -------
    Grid or TensorGrid
        The grid that holds all but ``tail`` of the mass of ``q`` on either side of every axis.
    """
    axes = []
    for new, (lower, upper) in zip(axes_of(planned), held_range(q, current, tail)):
        h, planned_start, planned_stop = (
            new.dx,
            round(new.lower / new.dx),
            round(new.upper / new.dx),
        )
        start = min(planned_start, math.floor(lower / h))
        stop = max(planned_stop, math.ceil(upper / h))
        axes.append(
            new
            if (start, stop) == (planned_start, planned_stop)
            else Grid(float(start * h), float(stop * h), int(stop - start))
        )
    return axes[0] if len(axes) == 1 else TensorGrid(tuple(axes))


def held_range(q: np.ndarray, grid: Grid | TensorGrid, tail: float) -> list[tuple[float, float]]:
    """Per axis, the faces between which the densities ``q`` hold all but ``tail`` of their mass.

    Along each axis the densities are summed over the other axes and the members; the cumulative
    mass from the lower end gives the first cell where it exceeds ``tail`` and the first where the
    mass above the cell is at most ``tail``.

    Parameters
    ----------
    q : numpy.ndarray
        The densities (B, *grid.shape).
    grid : Grid or TensorGrid
        The uniform grid they live on.
    tail : float
        The mass that may be left out on either side.

    Returns
    -------
    list of (float, float)
        Per axis, the faces (lower, upper) of the cells between which ``q`` together hold all but
        at most ``tail`` of their mass on either side.
    """
    out = []
    for a, axis in enumerate(axes_of(grid)):
        others = tuple(b for b in range(q.ndim) if b != a + 1)
        # the mass left of each face, in order
        cumulative = np.cumsum(q.sum(axis=others) * grid.cell_volume)
        first = int(np.searchsorted(cumulative, tail, side="right"))
        last = int(np.searchsorted(cumulative, cumulative[-1] - tail, side="left"))
        out.append(
            (
                float(axis.faces[min(first, axis.n - 1)]),
                float(axis.faces[min(last, axis.n - 1) + 1]),
            )
        )
    return out


def output_grid(
    grids: Sequence[Grid | TensorGrid], ranges: Sequence[Sequence[tuple[float, float]]]
) -> Grid | GradedGrid | TensorGrid:
    """The grid an adaptive run's saved densities are stored on.

    Along each axis: the faces of every grid inside its range, the faces of the coarsest grid's
    lattice between those ranges, and beyond them all cells twice as wide as the one before out to
    the extent of every grid (the last one up to twice as wide as its doubling would be). Fine
    wherever a stage held mass with fine cells, never finer than the finest stage there.

    Parameters
    ----------
    grids : sequence of Grid or TensorGrid
        The stages' uniform grids, on one lattice per axis.
    ranges : sequence of sequence of (float, float)
        Per grid and axis, the range (lower, upper) where its densities are held (e.g. from
        :func:`held_range`).

    Returns
    -------
    Grid, GradedGrid or TensorGrid
        Per axis a :class:`~fpguide.grids.grid.GradedGrid` (a
        :class:`~fpguide.grids.grid.Grid` where the faces are evenly spaced); a
        :class:`~fpguide.grids.grid.TensorGrid` of them in d-D.
    """
    out = []
    for a, axes in enumerate(zip(*(axes_of(grid) for grid in grids))):
        coarsest = max(axis.dx for axis in axes)
        lower = min(held[a][0] for held in ranges)
        upper = max(held[a][1] for held in ranges)
        faces = [
            coarsest * np.arange(math.ceil(lower / coarsest), math.floor(upper / coarsest) + 1),
            [lower, upper],
            _doubling(lower, min(axis.lower for axis in axes), coarsest),
            _doubling(upper, max(axis.upper for axis in axes), coarsest),
        ]
        for axis, held in zip(axes, ranges):
            faces.append(axis.faces[(axis.faces >= held[a][0]) & (axis.faces <= held[a][1])])
        out.append(axis_of_faces(np.unique(np.concatenate(faces))))
    return out[0] if len(out) == 1 else TensorGrid(tuple(out))


def _doubling(start: float, stop: float, width: float) -> list[float]:
    """Faces from ``start`` (excluded) to ``stop`` (included) of cells ``width``, 2 ``width``, 4
    ``width``, …, the last one up to twice as wide as its doubling would be."""
    faces, sign = [], math.copysign(1.0, stop - start)
    while abs(stop - start) > 2.0 * width:
        start += sign * width
        faces.append(start)
        width *= 2.0
    return faces + [stop] if stop != start else faces
