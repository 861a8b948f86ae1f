"""cross_check(): the grid solution against particles of the same dynamics, with error bars.

Everything is compared at the output time (the last saved t).

In 1-D: the Kolmogorov–Smirnov distance between the particles and the grid CDF (the reconstruction's
exact cumulative mass), against the Dvoretzky–Kiefer–Wolfowitz bound ε = sqrt(log(2/α)/(2n)).

In 2-D and 3-D, with cell masses m_c = ``max(ρ_c, 0)·|cell|`` of the grid law:

* Pearson's chi-square test of the particle counts in grid-aligned bins. Along each axis the cells
  are grouped into k = min(64, n_a, ⌊(n/50)^(1/d)⌋) blocks whose edges are the cell faces nearest
  the marginal quantiles j/k of the grid law (so ≲ n/50 bins); a further "outside" bin holds the
  particles off the grid, with expected mass max(1 − Σ m_c, 0). Expected counts are E_b = n·p_b with
  p_b the bin masses normalised to sum 1; bins with E_b < 5 are pooled into one bin (folded into the
  smallest other bin if the pool is itself < 5). X² = Σ (O_b − E_b)²/E_b has B − 1 degrees of
  freedom; p = P(χ²_{B−1} ≥ X²) (p = 1 when B = 1, no test possible).
* The sliced Wasserstein-1 distance SW = mean_θ W1(θ·X, θ·C) over the d axes and 16 seeded
  pseudo-random unit vectors θ, between the particles X and the cell centres C weighted by m_c
  (cells below 1e-15 of the total mass dropped). Its sampling-noise reference ``sw_noise`` is the
  same statistic for an independent sample of the grid law of the same size n (multinomial over
  cells, uniform within a cell, fixed seed), so that it also carries the centre-of-cell
  representation of the grid law.

A reduced solve (``basis`` in ds, see :mod:`fpguide.runs.reduction`) is compared on its solved
coordinates: the particles are projected on the basis and tested as above against the density of the
solved coordinates, while the z-scores below compare the observables of the full law (mean and
marginal variance of every coordinate included).

Both: each observable the particles estimate with a standard error, as a z-score z = (grid −
particles)/sqrt(se² + grid_error²), ``grid_error`` being the absolute accuracy of the grid
observables (default 1e-4, above what benchmarks/README.md measures at default settings). For
proportions (support, edge, outside and tail masses) the standard error is at least the binomial one
at the grid's value, so that a particle estimate of exactly 0 or 1 is not taken as infinitely
precise. In d-D, ``mean`` gives a row per component (``mean[x]``) and ``covariance`` one per entry
of the upper triangle, diagonal included (``covariance[x,y]``).

Verdict: every ``|z| ≤ z_max``, and in 1-D KS ≤ ε; in d-D p ≥ α and SW ≤ 3·sw_noise + max_a dx_a/2
(a gross-error guard: sampling noise with a wide margin plus half a cell of grid resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import xarray as xr
from scipy.stats import chi2 as chi2_law
from scipy.stats import wasserstein_distance

from ..engine import cdf_values
from ..grids.grid import AXIS_NAMES, Grid, TensorGrid, grid_from_dict, is_adaptive
from ..tools.validation import check_positive_real
from .dataset import config_of
from .observables import Reconstruction
from .resample import on_uniform_grid

__all__ = ["chi_square", "cross_check", "CrossCheck"]

MUST_AGREE = ("target", "guidance", "sampler", "eta", "T", "t_min", "process", "start")
PROPORTIONS = ("support_mass", "edge_mass", "outside_mass", "tail_probability")
COMPARED = (
    "mean",
    "variance",
    "covariance",
    "confidence",
    "support_mass",
    "edge_mass",
    "outside_mass",
    "tail_probability",
)
MIN_PER_BIN = 50  # particles per chi-square bin on average, at least
MAX_BLOCKS = 64  # chi-square blocks per axis, at most
MIN_EXPECTED = 5.0  # bins expecting fewer counts are pooled
SW_DIRECTIONS = 16  # pseudo-random directions besides the axes
SW_NOISE_FACTOR = 3.0
# relative cell mass below which a cell is left out of the sliced Wasserstein distance
SW_MASS_CUTOFF = 1e-15
SEED = 0


@dataclass
class CrossCheck:
    """The agreement statistics of :func:`cross_check`: the verdict and the per-observable
    comparison.

    ``ks`` and ``ks_bound`` are set in 1-D, the chi-square and sliced-Wasserstein fields in 2-D and
    3-D (None otherwise). ``str()`` of it is a table of the comparison.

    Attributes
    ----------
    passed : bool
        The verdict: every ``|z| ≤ z_max``, and in 1-D KS ≤ ε; in d-D p ≥ α and SW ≤
        ``sw_bound``.
    ks : float or None
        1-D: the Kolmogorov–Smirnov distance between the particles and the grid CDF.
    ks_bound : float or None
        1-D: the Dvoretzky–Kiefer–Wolfowitz bound ε = ``sqrt(log(2/α)/(2n))``.
    alpha : float
        The significance level α.
    z_max : float
        The largest ``|z|`` that agrees.
    n : int
        The number of particles.
    rows : list of dict
        The per-observable comparison: one dict per component with keys ``name``, ``grid``,
        ``particles``, ``se`` (the particles' standard error), ``z`` and ``ok`` (``|z| ≤
        z_max``).
    chi2 : float or None
        d-D: Pearson's X² of the particle counts in grid-aligned bins.
    chi2_dof : int or None
        d-D: its degrees of freedom B − 1.
    chi2_p : float or None
        d-D: its p-value P(χ²_{B−1} ≥ X²).
    sw : float or None
        d-D: the sliced Wasserstein-1 distance between the particles and the grid law.
    sw_noise : float or None
        d-D: the same statistic for an independent sample of the grid law of the same size.
    sw_bound : float or None
        d-D: ``3·sw_noise + max_a dx_a/2``.
    """

    passed: bool
    ks: float | None
    ks_bound: float | None
    alpha: float
    z_max: float
    n: int
    rows: list[dict] = field(default_factory=list)
    chi2: float | None = None
    chi2_dof: int | None = None
    chi2_p: float | None = None
    sw: float | None = None
    sw_noise: float | None = None
    sw_bound: float | None = None

    def __str__(self) -> str:
        head = f"cross-check {'PASSED' if self.passed else 'FAILED'}: n={self.n} particles"
        if self.ks is not None:
            head += f", KS={self.ks:.4g} (DKW bound {self.ks_bound:.4g} at alpha={self.alpha:g})"
        if self.chi2 is not None:
            head += (
                f", chi2={self.chi2:.4g} on {self.chi2_dof} dof (p={self.chi2_p:.3g}, "
                f"alpha={self.alpha:g}), "
                f"SW1={self.sw:.4g} (noise {self.sw_noise:.3g}, bound {self.sw_bound:.3g})"
            )
        lines = [head, f"{'observable':<24}{'grid':>14}{'particles':>14}{'std err':>12}{'z':>8}"]
        for row in self.rows:
            lines.append(
                f"{row['name']:<24}{row['grid']:>14.6g}{row['particles']:>14.6g}"
                f"{row['se']:>12.3g}"
                f"{row['z']:>8.2f}{'' if row['ok'] else '  <-- disagrees'}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The fields that are set, as a dict (1-D: the KS ones; d-D: the chi-square and
        sliced-Wasserstein ones).

        Returns
        -------
        dict
            {field name: value} of the fields that are not None, ``rows`` included.
        """
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


def cross_check(
    ds: xr.Dataset,
    ps: xr.Dataset,
    *,
    alpha: float = 1e-3,
    z_max: float = 4.0,
    grid_error: float = 1e-4,
) -> CrossCheck:
    """Compare a :func:`solve` Dataset with a :func:`sample` Dataset of the same configuration at
    the output time, with error bars.

    Works in 1-D, 2-D or 3-D; the statistics and the verdict are those of the module docstring:
    in 1-D the Kolmogorov–Smirnov distance against the DKW bound; in 2-D and 3-D Pearson's
    chi-square test in grid-aligned bins and the sliced Wasserstein-1 distance against its
    sampling-noise reference; in both, a z-score ``z = (grid − particles)/sqrt(se² +
    grid_error²)`` per observable. A density on an adaptive (graded) grid is first resampled onto
    the uniform grid of its finest cells; a reduced solve is compared on its solved coordinates.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset of :func:`fpguide.solve`.
    ps : xarray.Dataset
        The Dataset of :func:`fpguide.sample`, made with the same target, guidance, sampler, eta,
        T, t_min, process and start.
    alpha : float, optional
        The significance level of the KS and chi-square tests, in (0, 1) (default 1e-3).
    z_max : float, optional
        The largest ``|z|`` that agrees, > 0 (default 4.0).
    grid_error : float, optional
        The absolute accuracy of the grid observables, > 0 (default 1e-4, above what
        benchmarks/README.md measures at default settings).

    Returns
    -------
    CrossCheck
        The statistics, the per-observable rows and the verdict ``passed``.

    Raises
    ------
    TypeError
        When ``ds`` or ``ps`` is not a Dataset made by fpguide.
    ValueError
        When ``ds`` is not from :func:`fpguide.solve` or ``ps`` not from :func:`fpguide.sample`,
        they were made with a different configuration or dimension, ``alpha`` is not in (0, 1),
        ``z_max`` or ``grid_error`` is not positive, or the density at the output time is not
        finite with positive mass.
    """
    alpha, z_max, grid_error, cfg_grid = _checked(ds, ps, alpha, z_max, grid_error)

    # its density, resampled onto the uniform grid of its finest cells
    if is_adaptive(cfg_grid["grid"]):
        ds = on_uniform_grid(ds)
        cfg_grid = config_of(ds)
    grid = grid_from_dict(cfg_grid["grid"])
    d = grid.ndim if isinstance(grid, TensorGrid) else 1
    if "basis" in ds:  # a reduced solve: compare the particles' solved coordinates y = basis·x
        positions = _output_positions(ps, ds.sizes["dim"]) @ ds["basis"].values.T
    else:
        positions = _output_positions(ps, d)
    n = positions.shape[0]
    rows = _z_rows(ds, ps, n, z_max, grid_error)
    if d == 1:
        ks, bound = _ks(
            grid, ds["density"].isel(t=-1).values, cfg_grid["scheme"], positions[:, 0], alpha
        )
        return CrossCheck(
            ks <= bound and all(row["ok"] for row in rows), ks, bound, alpha, z_max, n, rows
        )

    masses = _cell_masses(ds, grid)
    stat, dof, p = chi_square(positions, grid, masses)
    sw = sliced_wasserstein(positions, grid, masses)
    sw_noise = sliced_wasserstein(_sample_grid_law(grid, masses, n), grid, masses)
    sw_bound = SW_NOISE_FACTOR * sw_noise + 0.5 * max(axis.dx for axis in grid.axes)
    passed = p >= alpha and sw <= sw_bound and all(row["ok"] for row in rows)
    return CrossCheck(
        passed, None, None, alpha, z_max, n, rows, stat, dof, p, sw, sw_noise, sw_bound
    )


def _checked(
    ds: xr.Dataset, ps: xr.Dataset, alpha: float, z_max: float, grid_error: float
) -> tuple[float, float, float, dict]:
    """:func:`cross_check`'s arguments checked (a clear error for each): (alpha, z_max,
    grid_error, the configuration of ds)."""
    for name, data in (("ds", ds), ("ps", ps)):
        if not isinstance(data, xr.Dataset) or "config" not in data.attrs:
            what = (
                "a Dataset without fpguide's config"
                if isinstance(data, xr.Dataset)
                else type(data).__name__
            )
            raise TypeError(
                f"{name} must be a Dataset made by fpguide "
                f"({'solve' if name == 'ds' else 'sample'}), got "
                f"{what}"
            )
    if "density" not in ds or "position" not in ps:
        raise ValueError(
            "cross_check(ds, ps) needs ds from fpguide.solve and ps from fpguide.sample"
        )
    alpha = check_positive_real("alpha", alpha)
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    z_max = check_positive_real("z_max", z_max)
    grid_error = check_positive_real("grid_error", grid_error)
    cfg_grid, cfg_part = config_of(ds), config_of(ps)
    differing = [key for key in MUST_AGREE if cfg_grid.get(key) != cfg_part.get(key)]
    if differing:
        raise ValueError(
            f"ds and ps were made with different {differing}: they describe different samplers"
        )
    if "grid" not in cfg_grid:
        raise ValueError(
            "ds has no grid in its configuration: it must be a Dataset made by fpguide.solve"
        )
    return alpha, z_max, grid_error, cfg_grid


def _output_positions(ps: xr.Dataset, d: int) -> np.ndarray:
    """Particle positions at the output time as an (n, d) array, checked against the grid's
    dimension d."""
    position = ps["position"]
    dims = ("t", "particle") if d == 1 else ("t", "particle", "dim")
    if position.dims != dims or position.sizes.get("dim", 1) != d:
        size = "" if d == 1 else f" with dim of size {d}"
        raise ValueError(
            f"ds is {d}-D, so ps position must have dims {dims}{size}, got dims "
            f"{position.dims} and "
            f"shape {position.shape}: ds and ps must have the same dimension"
        )
    return position.isel(t=-1).values.reshape(-1, d)


def _ks(
    grid: Grid, density: np.ndarray, scheme: str, x: np.ndarray, alpha: float
) -> tuple[float, float]:
    """KS distance sup |F_n − F| to the reconstruction's normalised CDF F, and the DKW bound
    sqrt(log(2/α)/(2n))."""
    rec = Reconstruction(grid, density, scheme)
    x = np.sort(x)
    n = x.size
    cdf = cdf_values(
        rec.q, rec.d_left, rec.d_right, grid.dx, (x - grid.lower) / grid.dx
    ) / rec.mass(-np.inf, np.inf)
    ranks = np.arange(1, n + 1) / n
    ks = float(max(np.max(ranks - cdf), np.max(cdf - (ranks - 1.0 / n))))
    return ks, math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def _cell_masses(ds: xr.Dataset, grid: TensorGrid) -> np.ndarray:
    """Cell masses max(ρ_c, 0)·|cell| at the output time, shape grid.shape."""
    density = ds["density"].isel(t=-1)
    dims = AXIS_NAMES[: grid.ndim]
    if density.dims != dims or density.shape != grid.shape:
        raise ValueError(
            f"ds density at the output time must have dims {dims} and shape "
            f"{grid.shape} (the grid in "
            f"ds's configuration), got dims {density.dims} and shape {density.shape}"
        )
    masses = np.clip(density.values, 0.0, None) * grid.cell_volume
    if not np.all(np.isfinite(masses)) or masses.sum() <= 0.0:
        raise ValueError("ds density at the output time must be finite with positive total mass")
    return masses


def _axis_block_starts(marginal: np.ndarray, k: int) -> np.ndarray:
    """First cell of each of ≤ k blocks along one axis: a block ends at the first cell where the
    cumulative marginal mass reaches j/k."""
    cum = np.cumsum(marginal) / marginal.sum()
    ends = np.searchsorted(cum, np.arange(1, k) / k) + 1
    return np.unique(np.concatenate([[0], ends[ends < marginal.size]]))


def chi_square(
    positions: np.ndarray, grid: TensorGrid, masses: np.ndarray
) -> tuple[float, int, float]:
    """Pearson's X², its degrees of freedom B − 1 and p-value for the particle counts in
    grid-aligned blocks (plus an outside bin) against the grid's cell masses.

    Along each axis the cells are grouped into k = min(64, n_a, ⌊(n/50)^(1/d)⌋) blocks whose edges
    are the cell faces nearest the marginal quantiles j/k of the grid law; a further "outside" bin
    holds the particles off the grid, with expected mass max(1 − Σ m_c, 0). Bins expecting < 5
    counts are pooled (see the module docstring).

    Parameters
    ----------
    positions : numpy.ndarray
        The particles, shape (n, d).
    grid : TensorGrid
        The grid of the cell masses.
    masses : numpy.ndarray
        The cell masses m_c ≥ 0, shape ``grid.shape``.

    Returns
    -------
    stat : float
        X² = Σ (O_b − E_b)²/E_b.
    dof : int
        The degrees of freedom B − 1.
    p : float
        P(χ²_{B−1} ≥ X²); 1.0 (with X² = 0) when B = 1, no test possible.
    """
    n, d = positions.shape
    k = max(1, min(MAX_BLOCKS, int((n // MIN_PER_BIN) ** (1.0 / d) + 1e-9)))
    block_mass, edges = masses, []
    for a, axis in enumerate(grid.axes):
        starts = _axis_block_starts(
            masses.sum(axis=tuple(b for b in range(d) if b != a)), min(k, axis.n)
        )
        block_mass = np.add.reduceat(block_mass, starts, axis=a)
        edges.append(np.append(axis.faces[starts], axis.upper))
    counts = np.histogramdd(positions, bins=edges)[0].ravel()
    observed = np.append(counts, n - counts.sum())
    mass = np.append(block_mass.ravel(), max(1.0 - block_mass.sum(), 0.0))
    expected = n * mass / mass.sum()
    observed, expected = _pool_sparse_bins(observed, expected)
    dof = expected.size - 1
    if dof == 0:
        return 0.0, 0, 1.0
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, dof, float(chi2_law.sf(stat, dof))


def _pool_sparse_bins(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool the bins expecting < 5 counts into one bin; a pool still < 5 joins the smallest other
    bin."""
    sparse = expected < MIN_EXPECTED
    if not sparse.any():
        return observed, expected
    observed = np.append(observed[~sparse], observed[sparse].sum())
    expected = np.append(expected[~sparse], expected[sparse].sum())
    if expected[-1] < MIN_EXPECTED and expected.size > 1:
        smallest = int(np.argmin(expected[:-1]))
        observed[smallest] += observed[-1]
        expected[smallest] += expected[-1]
        observed, expected = observed[:-1], expected[:-1]
    return observed, expected


def sw_directions(d: int) -> np.ndarray:
    """The d axes and SW_DIRECTIONS seeded pseudo-random unit vectors (Gaussian, normalised), shape
    (d + 16, d)."""
    gaussian = np.random.default_rng(SEED).standard_normal((SW_DIRECTIONS, d))
    return np.concatenate([np.eye(d), gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)])


def sliced_wasserstein(points: np.ndarray, grid: TensorGrid, masses: np.ndarray) -> float:
    """SW = mean_θ W1(θ·X, θ·C) between points X (n, d) and the cell centres C weighted by their
    masses."""
    keep = masses.ravel() > SW_MASS_CUTOFF * masses.sum()
    centres, weights = grid.mesh().reshape(-1, grid.ndim)[keep], masses.ravel()[keep]
    return float(
        np.mean(
            [
                wasserstein_distance(points @ theta, centres @ theta, v_weights=weights)
                for theta in sw_directions(grid.ndim)
            ]
        )
    )


def _sample_grid_law(grid: TensorGrid, masses: np.ndarray, n: int) -> np.ndarray:
    """n points of the grid law (seeded): a cell drawn by its mass, then a uniform point in the
    cell."""
    rng = np.random.default_rng(SEED)
    cells = rng.choice(masses.size, size=n, p=masses.ravel() / masses.sum())
    centres = grid.mesh().reshape(-1, grid.ndim)[cells]
    widths = np.array([axis.dx for axis in grid.axes])
    return centres + (rng.random((n, grid.ndim)) - 0.5) * widths


def _z_rows(ds: xr.Dataset, ps: xr.Dataset, n: int, z_max: float, grid_error: float) -> list[dict]:
    """One row per compared observable component: z = (grid − particles)/sqrt(se² + grid_error²)."""
    rows = []
    for name in COMPARED:
        if name not in ds or name not in ps:
            continue
        for label, g, p, se in _components(
            name, ds[name].isel(t=-1), ps[name].isel(t=-1), ps[f"{name}_se"].isel(t=-1), ps
        ):
            if name in PROPORTIONS:
                se = max(se, math.sqrt(max(g * (1.0 - g), 0.0) / n))
            z = float(g - p) / math.sqrt(se**2 + grid_error**2)
            rows.append(
                {
                    "name": label,
                    "grid": float(g),
                    "particles": float(p),
                    "se": float(se),
                    "z": z,
                    "ok": bool(abs(z) <= z_max),
                }
            )
    return rows


def _components(name: str, g: xr.DataArray, p: xr.DataArray, se: xr.DataArray, ps: xr.Dataset):
    """(label, grid value, particle value, standard error) per component: ``mean[x]`` along ``dim``,
    the upper triangle ``covariance[x,y]`` of a (dim, dim2) matrix, ``name[threshold]`` along
    ``threshold``."""
    if g.sizes != p.sizes or p.sizes != se.sizes:
        raise ValueError(
            f"ds and ps disagree on the shape of {name!r}: ds has {dict(g.sizes)}, ps "
            "has "
            f"{dict(p.sizes)} and its standard error {dict(se.sizes)}"
        )
    p, se = p.transpose(*g.dims), se.transpose(*g.dims)
    if "dim" in g.dims:
        axes = [str(a) for a in g["dim"].values]
        index = (
            [(i,) for i in range(len(axes))]
            if g.ndim == 1
            else [(i, j) for i in range(len(axes)) for j in range(i, len(axes))]
        )
        for ij in index:
            yield (
                f"{name}[{','.join(axes[i] for i in ij)}]",
                g.values[ij],
                p.values[ij],
                se.values[ij],
            )
        return
    grid_values, part_values, errors = (np.atleast_1d(v.values) for v in (g, p, se))
    for i, values in enumerate(zip(grid_values, part_values, errors)):
        yield (
            (name if grid_values.size == 1 else f"{name}[{ps['threshold'].values[i]:.3g}]"),
            *values,
        )
