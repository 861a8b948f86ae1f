"""The size of a guided model's score errors: ‖e(·, t)‖ in L²(p_t), by quadrature on a grid (what
``solve`` records beside the densities of a model with errors, and :func:`error_size` gives without
a solve)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..grids.grid import MAX_GRID_DIM, Grid, TensorGrid
from ..models.guidance import CFG, GuidedModel
from ..models.processes import Process, make_process
from ..tools.validation import as_finite_array
from .dataset import attach

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..models.targets import Mixture

__all__ = ["error_norms", "error_size"]

# default quadrature grid of error_size: cells across p_t's narrowest feature
QUADRATURE_CELLS_PER_WIDTH = 8.0
QUADRATURE_SIGMAS = 10.0  # ... over the models' bulk widened by this many σ(t)
QUADRATURE_MAX_CELLS = {1: 1 << 16, 2: 1024, 3: 128}  # per axis


def error_norms(
    model: GuidedModel, process: Process, t: np.ndarray, grid: Grid | TensorGrid | None = None
) -> dict:
    """{name: values at the times t} of ‖e_c‖ and ‖e_u‖ in L²(p_t(·|c)) and L²(p_t), and relative to
    ‖s_c‖, ‖s_u‖ in the same norms.

    ‖e‖² = ∫ |e|² p_t / ∫ p_t by the midpoint rule on the cells of ``grid`` (p_t closed form).

    Parameters
    ----------
    model : GuidedModel
        The guided model, with its score errors.
    process : Process
        The noising process.
    t : numpy.ndarray
        The diffusion times.
    grid : Grid, TensorGrid or None, optional
        The quadrature grid; None (default): a grid per time over the models' bulk, m(t)·[lo,
        hi] ± 10 σ(t), with 8 cells across p_t's narrowest feature (at least 64 cells per axis,
        capped per axis: 65536 cells in 1-D, 1024 in 2-D, 128 in 3-D).

    Returns
    -------
    dict
        ``cond_score_error``, ``uncond_score_error``, ``cond_score_error_relative`` and
        ``uncond_score_error_relative``: arrays with one value per time.
    """
    out = {
        name: np.empty(len(t))
        for name in (
            "cond_score_error",
            "uncond_score_error",
            "cond_score_error_relative",
            "uncond_score_error_relative",
        )
    }
    for i, tk in enumerate(np.asarray(t, dtype=float)):
        cells = _quadrature_grid(model, float(tk), process) if grid is None else grid
        points = cells.centres if isinstance(cells, Grid) else cells.mesh().reshape(-1, cells.ndim)
        logp_u, s_u, logp_c, s_c = model.scores(points, float(tk), process)
        e_u, e_c = model.score_errors(points, float(tk), process, (s_u, s_c))
        for which, logp, e, s in (("cond", logp_c, e_c, s_c), ("uncond", logp_u, e_u, s_u)):
            p = np.exp(logp - logp.max())
            error, exact = (math.sqrt(_mean_square(v, p)) for v in (e, s))
            out[f"{which}_score_error"][i] = error
            out[f"{which}_score_error_relative"][i] = error / exact
    return out


def _mean_square(values: np.ndarray, weights: np.ndarray) -> float:
    """Σ w |v|² / Σ w over the points (|v|² summed over the components of a d-D field)."""
    squares = values**2 if values.ndim == 1 else np.sum(values**2, axis=1)
    return float(weights @ squares / weights.sum())


def _quadrature_grid(model: GuidedModel, t: float, process: Process) -> Grid | TensorGrid:
    m, sigma = float(process.m(t)), float(process.sigma(t))
    bulks = (model.uncond.bulk(), model.cond.bulk())
    lower = m * np.minimum(bulks[0][0], bulks[1][0]) - QUADRATURE_SIGMAS * sigma
    upper = m * np.maximum(bulks[0][1], bulks[1][1]) + QUADRATURE_SIGMAS * sigma
    dx = model.length_scale(t, process) / QUADRATURE_CELLS_PER_WIDTH
    cap = QUADRATURE_MAX_CELLS[model.ndim]
    n = [min(max(math.ceil((hi - lo) / dx), 64), cap) for lo, hi in zip(lower, upper)]
    if model.ndim == 1:
        return Grid(float(lower[0]), float(upper[0]), n[0])
    return TensorGrid.from_bounds(lower, upper, n)


def error_size(
    guidance: CFG,
    target: Mixture,
    t: ArrayLike,
    process: Process | str | None = None,
    grid: Grid | TensorGrid | None = None,
) -> xr.Dataset:
    """The size of the score errors of ``guidance`` on ``target`` at the diffusion times ``t``,
    without a solve.

    The Dataset variables ``cond_score_error`` = ‖e_c(·, t)‖ in ``L²(p_t(·|c))``,
    ``uncond_score_error`` = ‖e_u(·, t)‖ in L²(p_t), and both ``_relative`` to ‖s_c‖, ‖s_u‖ in
    the same norms (zero for a score without error), by quadrature on ``grid`` (see
    :func:`error_norms`).

    Parameters
    ----------
    guidance : CFG
        The guidance, with its score errors.
    target : GaussianMixture, EmpiricalMixture or UniformMixture
        The target the guidance is bound to (d ≤ 3).
    t : float or array_like
        A diffusion time > 0 or a flat array of them.
    process : Process, str, dict or None, optional
        The noising process: an instance, a name ("OU", "VP", …) or a dict from
        ``Process.to_dict()`` (default None: OU).
    grid : Grid, TensorGrid or None, optional
        The quadrature grid, one axis per dimension; None (default): chosen per time (see
        :func:`error_norms`).

    Returns
    -------
    xarray.Dataset
        The four variables along ``t``, with long names and units.

    Raises
    ------
    TypeError
        When ``guidance`` is not a :class:`~fpguide.CFG`, ``target`` is not a mixture, or
        ``grid`` does not match the target's dimension.
    ValueError
        When the target has more than 3 dimensions, the process is unknown, or ``t`` is not a
        time > 0 or a flat array of them.
    """
    if not isinstance(guidance, CFG):
        raise TypeError(f"guidance must be a fpguide.CFG, got {type(guidance).__name__}")
    model = guidance.bind(target)
    d = model.ndim
    if d > MAX_GRID_DIM:
        raise ValueError(
            "error_size integrates on a grid, so the target must have d <= "
            f"{MAX_GRID_DIM} dimensions, "
            f"got d={d}"
        )
    if not (
        grid is None
        or (d == 1 and isinstance(grid, Grid))
        or (isinstance(grid, TensorGrid) and grid.ndim == d)
    ):
        wanted = "a fpguide.Grid" if d == 1 else f"a fpguide.TensorGrid with {d} axes"
        raise TypeError(f"grid must be {wanted} or None, got {grid!r}")
    process = make_process(process)
    times = as_finite_array("t", t)
    if times.ndim > 1 or times.size == 0 or np.any(times <= 0):
        raise ValueError(f"t must be a diffusion time > 0 or a flat array of them, got {t!r}")
    times = np.atleast_1d(times)
    norms = error_norms(model, process, times, grid)
    return attach(
        xr.Dataset({name: (("t",), values) for name, values in norms.items()}, coords={"t": times})
    )
