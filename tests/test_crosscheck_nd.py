"""cross_check in 2-D and 3-D on hand-made Datasets: a Gaussian's exact cell averages against its
own particles (must pass, with chi-square p-values spread over (0, 1)) and against particles of a
shifted Gaussian (must fail)."""

import numpy as np
import pytest
import xarray as xr
from scipy.stats import kstest

import fpguide as fg
from fpguide.grids.grid import TensorGrid
from fpguide.results.crosscheck import _pool_sparse_bins, chi_square
from fpguide.results.dataset import global_attrs

N = 20_000
T_SAVE = np.array([10.0, 1e-3])
AXES = ("x", "y", "z")
CONFIG = {
    "target": {"kind": "gaussian"},
    "guidance": {"label": 1, "w": 1.0},
    "sampler": "ode",
    "T": 10.0,
    "t_min": 1e-3,
    "process": {"kind": "VP"},
    "start": "prior",
}
COV2 = np.array([[1.0, 0.6], [0.6, 0.8]])
COV3 = np.array([[1.0, 0.5, 0.2], [0.5, 0.8, -0.3], [0.2, -0.3, 1.2]])
BOX = 1.0  # support_mass: the mass in [-BOX, BOX]^d (aligned with the cell faces)


def log_gaussian(cov):
    precision, (_, logdet) = np.linalg.inv(cov), np.linalg.slogdet(cov)

    def log_density(points):
        return -0.5 * np.einsum("...i,ij,...j->...", points, precision, points) - 0.5 * (
            logdet + len(cov) * np.log(2 * np.pi)
        )

    return log_density


def grid_dataset(grid: TensorGrid, cov: np.ndarray) -> xr.Dataset:
    """What fpguide.solve returns in d-D: the centred Gaussian N(0, cov)'s cell averages and exact
    observables."""
    d = grid.ndim
    dims = AXES[:d]
    density = grid.cell_averages(log_gaussian(cov))
    inside = np.all(np.abs(grid.mesh()) < BOX, axis=-1)
    scalar = np.full(T_SAVE.size, float(np.sum(density[inside]) * grid.cell_volume))
    return xr.Dataset(
        {
            "density": (("t", *dims), np.stack([density] * T_SAVE.size)),
            "support_mass": ("t", scalar),
            "mean": (("t", "dim"), np.zeros((T_SAVE.size, d))),
            "covariance": (("t", "dim", "dim2"), np.stack([cov] * T_SAVE.size)),
        },
        coords={"t": T_SAVE, "dim": list(dims), "dim2": list(dims)}
        | {name: axis.centres for name, axis in zip(dims, grid.axes)},
        attrs=global_attrs("grid", CONFIG | {"grid": grid.to_dict(), "scheme": "ppm"}, {}),
    )


def particle_dataset(points: np.ndarray) -> xr.Dataset:
    """What fpguide.sample returns in d-D (the output positions at every saved time), with standard
    errors."""
    n, d = points.shape
    dims = list(AXES[:d])
    centred = points - points.mean(axis=0)
    products = centred[:, :, None] * centred[:, None, :] * n / (n - 1)
    inside = np.all(np.abs(points) < BOX, axis=-1).astype(float)

    def at_every_t(values):
        return np.stack([values] * T_SAVE.size)

    return xr.Dataset(
        {
            "position": (("t", "particle", "dim"), at_every_t(points)),
            "support_mass": ("t", at_every_t(inside.mean())),
            "support_mass_se": ("t", at_every_t(inside.std(ddof=1) / np.sqrt(n))),
            "mean": (("t", "dim"), at_every_t(points.mean(axis=0))),
            "mean_se": (("t", "dim"), at_every_t(points.std(axis=0, ddof=1) / np.sqrt(n))),
            "covariance": (("t", "dim", "dim2"), at_every_t(products.mean(axis=0))),
            "covariance_se": (
                ("t", "dim", "dim2"),
                at_every_t(products.std(axis=0, ddof=1) / np.sqrt(n)),
            ),
        },
        coords={"t": T_SAVE, "dim": dims, "dim2": dims},
        attrs=global_attrs("particles", CONFIG | {"n": n, "seed": 0}, {}),
    )


def gaussian_points(cov, n=N, seed=0, shift=0.0):
    return np.random.default_rng(seed).multivariate_normal(np.zeros(len(cov)), cov, size=n) + shift


@pytest.fixture(scope="module")
def ds2():
    return grid_dataset(TensorGrid.from_bounds([-4.5, -4.0], [4.5, 4.0], [72, 64]), COV2)


@pytest.fixture(scope="module")
def ds3():
    return grid_dataset(TensorGrid.from_bounds([-5.0] * 3, [5.0] * 3, 40), COV3)


def test_2d_same_law_passes(ds2):
    report = fg.cross_check(ds2, particle_dataset(gaussian_points(COV2, seed=1)))
    assert report.passed, str(report)
    assert report.ks is None and report.chi2_dof > 50 and report.chi2_p >= report.alpha
    assert 0 < report.sw <= report.sw_bound and 0 < report.sw_noise < 0.02
    assert [row["name"] for row in report.rows] == [
        "mean[x]",
        "mean[y]",
        "covariance[x,x]",
        "covariance[x,y]",
        "covariance[y,y]",
        "support_mass",
    ]
    text, record = str(report), report.to_dict()
    assert "chi2=" in text and "SW1=" in text and "KS" not in text
    assert {"chi2", "chi2_dof", "chi2_p", "sw", "sw_noise", "sw_bound"} <= record.keys()
    assert "ks" not in record


def test_2d_shifted_law_fails(ds2):
    """A shift of 0.05 along x is ~7 standard errors of the mean with n = 20 000."""
    report = fg.cross_check(ds2, particle_dataset(gaussian_points(COV2, seed=1, shift=[0.05, 0.0])))
    assert not report.passed
    rows = {row["name"]: row for row in report.rows}
    assert not rows["mean[x]"]["ok"] and rows["mean[x]"]["z"] < -4
    assert rows["mean[y]"]["ok"]


def test_2d_gross_error_fails_chi_square_and_sliced_wasserstein(ds2):
    report = fg.cross_check(
        ds2, particle_dataset(gaussian_points(1.5 * COV2, seed=2, shift=[0.5, 0.0]))
    )
    assert report.chi2_p < 1e-12 and report.sw > report.sw_bound, str(report)


def test_chi_square_p_values_are_roughly_uniform(ds2):
    grid = TensorGrid.from_dict(fg.results.dataset.config_of(ds2)["grid"])
    masses = ds2["density"].isel(t=-1).values * grid.cell_volume
    p = [chi_square(gaussian_points(COV2, seed=seed), grid, masses)[2] for seed in range(100, 120)]
    assert kstest(p, "uniform").pvalue > 0.01, sorted(p)
    assert np.mean(np.array(p) < 0.05) <= 0.2


def test_3d_same_law_passes_and_shifted_law_fails(ds3):
    same = fg.cross_check(ds3, particle_dataset(gaussian_points(COV3, seed=3)))
    assert same.passed, str(same)
    assert same.chi2_dof > 50
    assert {"mean[z]", "covariance[y,z]", "covariance[z,z]"} <= {row["name"] for row in same.rows}
    shifted = fg.cross_check(
        ds3, particle_dataset(gaussian_points(COV3, seed=3, shift=[0.0, 0.0, 0.06]))
    )
    assert not shifted.passed
    assert [row["name"] for row in shifted.rows if not row["ok"]] == ["mean[z]"]


def test_dimension_mismatch_is_refused(ds2, ds3):
    with pytest.raises(ValueError, match="ds is 2-D.*same dimension"):
        fg.cross_check(ds2, particle_dataset(gaussian_points(COV3, n=100)))
    with pytest.raises(ValueError, match="ds is 3-D.*same dimension"):
        fg.cross_check(ds3, particle_dataset(gaussian_points(COV2, n=100)))
    flat = particle_dataset(gaussian_points(COV2, n=100)).isel(dim=0, drop=True)
    with pytest.raises(ValueError, match="ps position must have dims"):
        fg.cross_check(ds2, flat)


def test_density_not_on_the_configured_grid_is_refused(ds2):
    ps = particle_dataset(gaussian_points(COV2, n=100))
    with pytest.raises(ValueError, match="ds density"):
        fg.cross_check(ds2.isel(x=slice(1, None)), ps)
    with pytest.raises(ValueError, match="positive total mass"):
        fg.cross_check(ds2.assign(density=0.0 * ds2["density"]), ps)


def test_sparse_bins_are_pooled():
    observed, expected = _pool_sparse_bins(
        np.array([9, 1, 50, 2, 0]), np.array([10.0, 2.0, 48.0, 1.0, 0.5])
    )
    np.testing.assert_array_equal(observed, [12, 50])
    np.testing.assert_allclose(expected, [13.5, 48.0])
    observed, expected = _pool_sparse_bins(np.array([3, 4, 6]), np.array([3.0, 3.0, 6.0]))
    np.testing.assert_array_equal(observed, [6, 7])
    np.testing.assert_allclose(expected, [6.0, 6.0])
