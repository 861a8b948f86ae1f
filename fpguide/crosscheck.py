"""cross_check(): the grid solution against particles of the same dynamics, with error bars.

At the output time: the Kolmogorov–Smirnov distance between the particles and the grid CDF (the reconstruction's
exact cumulative mass), against the Dvoretzky–Kiefer–Wolfowitz bound ε = sqrt(log(2/α)/(2n)); and each observable the
particles estimate with a standard error, as a z-score. The verdict passes when the KS distance is within its bound and
every |z| ≤ ``z_max``, where z = (grid − particles)/sqrt(se² + grid_error²): ``grid_error`` is the absolute accuracy
of the grid observables (default 1e-4, above what benchmarks/README.md measures at default settings). For proportions
(support, edge, outside and tail masses) the standard error is at least the binomial one at the grid's value, so that
a particle estimate of exactly 0 or 1 is not taken as infinitely precise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ._validation import check_positive_real
from .dataset import config_of
from .engine.remap import cdf_values
from .grid import Grid
from .observables import Reconstruction

MUST_AGREE = ("target", "guidance", "sampler", "T", "t_min", "process", "start")
PROPORTIONS = ("support_mass", "edge_mass", "outside_mass", "tail_probability")
COMPARED = ("mean", "variance", "confidence", "support_mass", "edge_mass", "outside_mass",
            "tail_probability")


@dataclass
class CrossCheck:
    """The agreement statistics; ``passed`` is the verdict and ``rows`` the per-observable comparison."""

    passed: bool
    ks: float
    ks_bound: float
    alpha: float
    z_max: float
    n: int
    rows: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"cross-check {'PASSED' if self.passed else 'FAILED'}: n={self.n} particles, "
                 f"KS={self.ks:.4g} (DKW bound {self.ks_bound:.4g} at alpha={self.alpha:g})",
                 f"{'observable':<24}{'grid':>14}{'particles':>14}{'std err':>12}{'z':>8}"]
        for row in self.rows:
            lines.append(f"{row['name']:<24}{row['grid']:>14.6g}{row['particles']:>14.6g}{row['se']:>12.3g}"
                         f"{row['z']:>8.2f}{'' if row['ok'] else '  <-- disagrees'}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "ks": self.ks, "ks_bound": self.ks_bound, "alpha": self.alpha,
                "z_max": self.z_max, "n": self.n, "rows": self.rows}


def cross_check(ds: xr.Dataset, ps: xr.Dataset, *, alpha: float = 1e-3, z_max: float = 4.0,
                grid_error: float = 1e-4) -> CrossCheck:
    """Compare a :func:`solve` Dataset with a :func:`sample` Dataset of the same configuration at the output time."""
    for name, data in (("ds", ds), ("ps", ps)):
        if not isinstance(data, xr.Dataset) or "config" not in data.attrs:
            raise TypeError(f"{name} must be a Dataset made by fpguide ({'solve' if name == 'ds' else 'sample'})")
    if "density" not in ds or "position" not in ps:
        raise ValueError("cross_check(ds, ps) needs ds from fpguide.solve and ps from fpguide.sample")
    alpha = check_positive_real("alpha", alpha)
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    z_max = check_positive_real("z_max", z_max)
    grid_error = check_positive_real("grid_error", grid_error)
    cfg_grid, cfg_part = config_of(ds), config_of(ps)
    differing = [key for key in MUST_AGREE if cfg_grid.get(key) != cfg_part.get(key)]
    if differing:
        raise ValueError(f"ds and ps were made with different {differing}: they describe different samplers")

    grid = Grid(**cfg_grid["grid"])
    rec = Reconstruction(grid, ds["density"].isel(t=-1).values, cfg_grid["scheme"])
    x = np.sort(ps["position"].isel(t=-1).values)
    n = x.size
    cdf = cdf_values(rec.q, rec.d_left, rec.d_right, grid.dx, (x - grid.lower) / grid.dx) / rec.mass(-np.inf,
                                                                                                      np.inf)
    ranks = np.arange(1, n + 1) / n
    ks = float(max(np.max(ranks - cdf), np.max(cdf - (ranks - 1.0 / n))))
    bound = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))

    rows = []
    for name in COMPARED:
        if name not in ds or name not in ps:
            continue
        grid_values = np.atleast_1d(ds[name].isel(t=-1).values)
        part_values = np.atleast_1d(ps[name].isel(t=-1).values)
        errors = np.atleast_1d(ps[f"{name}_se"].isel(t=-1).values)
        for i, (g, p, se) in enumerate(zip(grid_values, part_values, errors)):
            label = name if grid_values.size == 1 else f"{name}[{ps['threshold'].values[i]:.3g}]"
            if name in PROPORTIONS:
                se = max(se, math.sqrt(max(g * (1.0 - g), 0.0) / n))
            z = float(g - p) / math.sqrt(se**2 + grid_error**2)
            rows.append({"name": label, "grid": float(g), "particles": float(p), "se": float(se), "z": z,
                         "ok": bool(abs(z) <= z_max)})
    passed = ks <= bound and all(row["ok"] for row in rows)
    return CrossCheck(passed, ks, bound, alpha, z_max, n, rows)
