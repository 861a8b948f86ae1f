"""The d-dimensional engine against closed forms: linear drifts keep Gaussians Gaussian, with mean
and covariance obeying linear ODEs (integrated here by scipy, independently of the grid)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.stats import multivariate_normal

import fpguide as fg

A2 = np.array([[-1.0, -1.5], [1.5, -0.5]])  # contraction with rotation: the axes do not decouple


def gaussian_moments(A, mean0, cov0, diffusion, t1):
    d = len(mean0)

    def rhs(t, y):
        mean, cov = y[:d], y[d:].reshape(d, d)
        return np.concatenate([A @ mean, (A @ cov + cov @ A.T + 2 * diffusion * np.eye(d)).ravel()])

    y = solve_ivp(rhs, (0, t1), np.concatenate([mean0, np.ravel(cov0)]), rtol=1e-12, atol=1e-13).y[
        :, -1
    ]
    return y[:d], y[d:].reshape(d, d)


def moments(grid, q):
    mesh = grid.mesh().reshape(-1, grid.ndim)
    w = q.ravel() * grid.cell_volume
    mean = w @ mesh / w.sum()
    dev = mesh - mean
    # cell averages are q convolved with the cell: their centre moments exceed those of q by dx²/12
    cov = (dev * w[:, None]).T @ dev / w.sum() - np.diag([axis.dx**2 / 12 for axis in grid.axes])
    return mean, cov


@pytest.mark.parametrize("diffusion", [0.0, 0.3])
def test_linear_drift_2d_moments_mass_positivity(diffusion):
    grid = fg.TensorGrid.from_bounds([-6.0, -6.0], [6.0, 6.0], 200)
    mean0, cov0 = np.array([1.0, -0.5]), np.array([[0.4, 0.1], [0.1, 0.3]])
    q0 = grid.cell_averages(multivariate_normal(mean0, cov0).logpdf)
    res = fg.evolve(
        q0,
        lambda x, t: x @ A2.T,
        grid=grid,
        t_span=(0.0, 1.0),
        diffusion=diffusion,
        t_eval=[0.0, 0.5, 1.0],
        lipschitz=0.025,
    )
    assert np.all(res.q >= 0)
    np.testing.assert_allclose(
        res.mass + res.outflow_lower + res.outflow_upper, res.mass[0], rtol=0, atol=1e-12
    )
    mean, cov = moments(grid, res.q[-1])
    ref_mean, ref_cov = gaussian_moments(A2, mean0, cov0, diffusion, 1.0)
    np.testing.assert_allclose(mean, ref_mean, atol=2e-4)
    np.testing.assert_allclose(cov, ref_cov, atol=5e-4)
    exact = grid.cell_averages(multivariate_normal(ref_mean, ref_cov).logpdf)
    assert np.abs(res.q[-1] - exact).sum() * grid.cell_volume < 3e-3


def test_splitting_error_is_second_order_in_time():
    grid = fg.TensorGrid.from_bounds([-4.0, -4.0], [4.0, 4.0], 96)
    mean0, cov0 = np.array([1.0, -0.5]), np.array([[0.4, 0.1], [0.1, 0.3]])
    q0 = grid.cell_averages(multivariate_normal(mean0, cov0).logpdf)
    _, ref_cov = gaussian_moments(A2, mean0, cov0, 0.0, 1.0)
    errors = []
    for steps in (8, 16):
        res = fg.evolve(
            q0,
            lambda x, t: x @ A2.T,
            grid=grid,
            t_span=(0.0, 1.0),
            time_grid=np.linspace(0, 1, steps + 1),
            lipschitz=10.0,
        )
        errors.append(np.abs(moments(grid, res.q[-1])[1] - ref_cov).max())
    assert errors[0] / errors[1] > 3.0  # second order: ratio 4


def test_3d_heat_equation_is_exact_and_conservative():
    grid = fg.TensorGrid.from_bounds([-7.0] * 3, [7.0] * 3, [72, 64, 60])
    cov0 = np.diag([0.5, 0.4, 0.6])
    q0 = grid.cell_averages(multivariate_normal(np.zeros(3), cov0).logpdf)
    res = fg.evolve(q0, lambda x, t: np.zeros_like(x), grid=grid, t_span=(0.0, 0.5), diffusion=0.4)
    exact = grid.cell_averages(multivariate_normal(np.zeros(3), cov0 + 0.4 * np.eye(3)).logpdf)
    assert res.mass[-1] + res.outflow_lower[-1] + res.outflow_upper[-1] == pytest.approx(
        res.mass[0], abs=1e-13
    )
    # sampled Gaussian kernel: exact to aliasing
    assert np.abs(res.q[-1] - exact).sum() * grid.cell_volume < 1e-9


def test_nd_wall_error_names_the_axis():
    grid = fg.TensorGrid.from_bounds([-2.0, -2.0], [2.0, 2.0], 32)
    q0 = grid.cell_averages(multivariate_normal([0, 0], 0.1 * np.eye(2)).logpdf)
    with pytest.raises(fg.WallMassError, match="upper side of axis 1"):
        fg.evolve(
            q0,
            lambda x, t: np.column_stack([np.zeros(len(x)), np.full(len(x), 3.0)]),
            grid=grid,
            t_span=(0.0, 2.0),
        )
    with pytest.raises(ValueError, match=r"q0 must have one value per grid cell, shape \(32, 32\)"):
        fg.evolve(np.ones((32, 31)), lambda x, t: x, grid=grid, t_span=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"axes must be 1 to 3 fpguide.Grid"):
        fg.TensorGrid.from_bounds([0.0] * 4, [1.0] * 4, 8)
