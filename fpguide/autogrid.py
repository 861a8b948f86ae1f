"""Automatic grid: extent and resolution chosen from the dynamics, not only from the target.

A pilot pushes quantiles of the start law (levels Φ(z), z ∈ [−7.4, 7.4], i.e. tails down to 1e-13) through the
probability-flow map with RK4. The extent is the range they visit at any time (guided trajectories overshoot far past
the support before they come back), padded. The narrowest density feature is, for the ODE, the smaller of what the
pilot shows (the spacing of the central quantiles, |z| ≤ 5, gives the local density) and the target's own narrowest
feature at t_min; for the SDE, whose noise smooths what the deterministic flow would compress, the target's feature
divided by sqrt(1 + w) (the guided Fokker–Planck equilibrium at an edge is that much narrower). The cell width is that
feature over ``cells_per_width``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .dynamics import GuidedDynamics
from .grid import Grid

PILOT_Z = np.linspace(-7.4, 7.4, 97)
CENTRAL = np.abs(0.5 * (PILOT_Z[1:] + PILOT_Z[:-1])) <= 5.0  # the quantile gaps whose density sets the width
PILOT_LOG_SNR_STEP = 0.25
PILOT_LIPSCHITZ = 1.0


def pilot(dyn: GuidedDynamics, t_min: float, quantile) -> dict:
    """Trace start quantiles through the probability-flow ODE; return the range visited and the narrowest width."""
    levels = ndtr(PILOT_Z)
    x = np.asarray(quantile(levels), dtype=float)
    du = np.diff(levels)
    lo, hi = float(x[0]), float(x[-1])
    width = math.inf
    taus = dyn.tau_grid(t_min, PILOT_LOG_SNR_STEP)
    for tau0, tau1 in zip(taus[:-1], taus[1:]):
        tau = tau0
        while tau < tau1:
            v = dyn.ode_drift(x, tau)
            lip = float(np.max(np.abs(np.diff(v)) / np.maximum(np.diff(x), 1e-300)))
            dt = min(tau1 - tau, PILOT_LIPSCHITZ / lip if lip > 0 else math.inf)
            k2 = dyn.ode_drift(x + 0.5 * dt * v, tau + 0.5 * dt)
            k3 = dyn.ode_drift(x + 0.5 * dt * k2, tau + 0.5 * dt)
            k4 = dyn.ode_drift(x + dt * k3, tau + dt)
            x = x + dt / 6.0 * (v + 2.0 * (k2 + k3) + k4)
            tau = tau + dt if tau + dt < tau1 else tau1
        lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
        # local width ~ 1/(√(2π) · max density), the density between neighbouring quantiles being Δu/Δx
        spacing = np.maximum(np.diff(x)[CENTRAL], 1e-300)
        width = min(width, 1.0 / (math.sqrt(2 * math.pi) * float(np.max(du[CENTRAL] / spacing))))
    return {"lower": lo, "upper": hi, "width": width}


def intrinsic_width(dyn: GuidedDynamics, t_min: float) -> float:
    """The narrowest feature the target imposes at t_min: its own (component width or edge width σ), and for the SDE
    that divided by sqrt(1 + w), the width of the guided Fokker–Planck equilibrium at an edge."""
    width = dyn.model.length_scale(t_min, dyn.process)
    return width / math.sqrt(1.0 + max(dyn.model.w, 0.0)) if dyn.sampler == "sde" else width


def choose_grid(dyn: GuidedDynamics, t_min: float, quantile, *, cells_per_width: float = 4.0,
                min_cells: int = 256, max_cells: int = 1 << 16, widen: float = 1.0) -> tuple[Grid, dict]:
    """A grid for this run, and a record of how it was chosen (stored in the Dataset)."""
    seen = pilot(dyn, t_min, quantile)
    intrinsic = intrinsic_width(dyn, t_min)
    feature = intrinsic if dyn.sampler == "sde" else min(seen["width"], intrinsic)
    centre = 0.5 * (seen["lower"] + seen["upper"])
    half = widen * (0.5 * (seen["upper"] - seen["lower"]) * 1.15 + 4.0 * feature)
    dx = feature / cells_per_width
    wanted = math.ceil(2 * half / dx)
    n = int(min(max(64 * math.ceil(wanted / 64), min_cells), max_cells))
    grid = Grid(centre - half, centre + half, n)
    record = {"pilot_lower": seen["lower"], "pilot_upper": seen["upper"], "pilot_width": seen["width"],
              "target_width": intrinsic, "feature_width": feature, "cells_per_width": cells_per_width,
              "cells_wanted": wanted, "widen": widen, "capped": wanted > max_cells}
    return grid, record
