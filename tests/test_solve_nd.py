"""Guided densities in 2-D and 3-D against independent references: the 1-D solver on product targets
(whose dynamics factorise exactly), the mean/covariance ODEs of linear (Gaussian) guidance,
closed-form Gaussian factors."""

import json
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fpguide as fg
from fpguide.grids.autogrid import _lipschitz, pilot
from fpguide.models.dynamics import prepare_run, start_law

T_MIN = 0.05  # features ~0.2 wide: small grids resolve them, so the tests stay fast
BOX2 = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
X_AXIS, Y_AXIS = fg.Grid(-7.5, 8.5, 256), fg.Grid(-7.5, 7.5, 240)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_product_target_marginals_equal_the_1d_solutions(sampler):
    """Classes differ along x only: q(x, y) = q_x(x) q_y(y), with q_x the guided 1-D solution and
    q_y the unguided one."""
    ds = fg.solve(
        BOX2,
        fg.CFG(label=1, w=3.0),
        sampler,
        t_min=T_MIN,
        grid=fg.TensorGrid((X_AXIS, Y_AXIS)),
        n_save=5,
    )
    one = fg.solve(
        fg.UniformMixture(lows=[1.0, -2.0], highs=[2.0, -1.0], labels=[1, -1]),
        fg.CFG(label=1, w=3.0),
        sampler,
        t_min=T_MIN,
        grid=X_AXIS,
        n_save=5,
    )
    y_law = fg.UniformMixture(lows=[-1.0], highs=[1.0])
    other = fg.solve(y_law, fg.CFG(w=0.0, cond=y_law), sampler, t_min=T_MIN, grid=Y_AXIS, n_save=5)
    q = ds["density"].values
    assert np.all(q >= 0)
    np.testing.assert_allclose(ds["mass"] + ds["outflow"], ds["mass"][0], rtol=0, atol=1e-13)
    tol = 5e-4 if sampler == "ode" else 2e-3
    for k in range(1, 5):
        qx, qy = q[k].sum(axis=1) * Y_AXIS.dx, q[k].sum(axis=0) * X_AXIS.dx
        assert np.abs(qx - one["density"].values[k]).sum() * X_AXIS.dx < tol
        assert np.abs(qy - other["density"].values[k]).sum() * Y_AXIS.dx < tol
    final = ds.isel(t=-1)
    assert float(final["entropy"]) == pytest.approx(
        float(one["entropy"][-1] + other["entropy"][-1]), abs=2e-3
    )
    assert float(final["support_mass"]) == pytest.approx(
        float(one["support_mass"][-1] * other["support_mass"][-1]), abs=1e-3
    )
    assert float(final["mean"].sel(dim="x")) == pytest.approx(float(one["mean"][-1]), abs=1e-3)
    assert float(final["projected_mean"]) == pytest.approx(float(one["mean"][-1]), abs=1e-3)
    # edge mass: within δ of the face x = 2, over the box's extent in y
    assert float(final["edge_mass"]) == pytest.approx(
        float(one["edge_mass"][-1] * other["support_mass"][-1]), abs=1e-3
    )
    # the exact product reduction (x solved, y its unguided factor) gives the full law's observables
    red = fg.solve(
        BOX2, fg.CFG(label=1, w=3.0), sampler, t_min=T_MIN, grid=X_AXIS, n_save=5, reduce=True
    )
    for name in (
        "entropy",
        "confidence",
        "projected_mean",
        "support_mass",
        "edge_mass",
        "outside_mass",
    ):
        assert float(red[name][-1]) == pytest.approx(float(final[name]), abs=2e-3), name
    np.testing.assert_allclose(red["variance"][-1], np.diagonal(final["covariance"]), atol=2e-3)
    np.testing.assert_allclose(red["density"][-1], one["density"][-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_linear_guidance_with_correlated_covariances_follows_its_moment_odes(sampler):
    """Gaussian conditional and unconditional models: the guided drift is linear in x, q stays
    Gaussian, and its mean and covariance solve linear ODEs (integrated here with scipy)."""
    cov_u, cov_c = np.array([[2.0, 0.6], [0.6, 1.0]]), np.array([[0.5, -0.2], [-0.2, 0.8]])
    mu_u, mu_c, w, T = np.array([0.0, 0.0]), np.array([1.0, -0.5]), 2.0, 6.0
    uncond = fg.GaussianMixture(means=[mu_u], covariances=cov_u)
    ds = fg.solve(
        uncond,
        fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=cov_c)),
        sampler,
        T=T,
        t_min=T_MIN,
        n_save=3,
    )
    c = 1.0 if sampler == "sde" else 0.5

    def rhs(tau, y):
        t = T - tau
        m, s2 = math.exp(-t), -math.expm1(-2 * t)
        prec_u, prec_c = (np.linalg.inv(m * m * cov + s2 * np.eye(2)) for cov in (cov_u, cov_c))
        A = np.eye(2) + 2 * c * (-(1 + w) * prec_c + w * prec_u)  # OU: f = −1, g² = 2
        b = 2 * c * m * ((1 + w) * prec_c @ mu_c - w * prec_u @ mu_u)
        mean, cov = y[:2], y[2:].reshape(2, 2)
        dcov = A @ cov + cov @ A.T + (2 * np.eye(2) if sampler == "sde" else 0)
        return np.concatenate([A @ mean + b, dcov.ravel()])

    ref = solve_ivp(
        rhs, (0, T - T_MIN), np.concatenate([[0, 0], np.eye(2).ravel()]), rtol=1e-11, atol=1e-12
    ).y[:, -1]
    final = ds.isel(t=-1)
    np.testing.assert_allclose(final["mean"].values, ref[:2], atol=2e-3)
    np.testing.assert_allclose(final["covariance"].values, ref[2:].reshape(2, 2), atol=3e-3)
    assert float(final["entropy"]) == pytest.approx(
        0.5 * math.log(np.linalg.det(2 * math.pi * math.e * ref[2:].reshape(2, 2))), abs=3e-3
    )
    u = np.array([1.0, 1.0]) / math.sqrt(2)
    line = fg.marginal(ds, u, bins=np.linspace(-6, 6, 601)).isel(t=-1)
    ds_s = float(line["s"][1] - line["s"][0])
    mean_u = float(np.sum(line["s"] * line) * ds_s)
    assert mean_u == pytest.approx(float(final["mean"].values @ u), abs=1e-3)
    assert float(np.sum((line["s"] - mean_u) ** 2 * line) * ds_s) == pytest.approx(
        float(u @ ref[2:].reshape(2, 2) @ u), abs=5e-3
    )
    assert ds["density"].dims == ("t", "x", "y") and "x_bounds" in ds.coords
    # the default in 2-D: adaptive stages
    assert (
        json.loads(ds.attrs["config"])["grid"] == "adaptive"
        and json.loads(ds.attrs["run"])["stages"]
    )


def test_3d_entropy_adds_the_closed_form_gaussian_factors():
    """Means along x, unit variances: under OU with the N(0, I) prior, y and z stay exactly N(0, 1)
    for every w."""
    target = fg.GaussianMixture(means=[[-1.0, 0, 0], [1.0, 0, 0]], covariances=1.0, labels=[-1, 1])
    grid = fg.TensorGrid.from_bounds([-7.5, -7.0, -7.0], [8.5, 7.0, 7.0], [96, 40, 40])
    ds = fg.solve(target, fg.CFG(label=1, w=2.0), "ode", t_min=T_MIN, grid=grid, n_save=3)
    one = fg.solve(
        fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[-1, 1]),
        fg.CFG(label=1, w=2.0),
        "ode",
        t_min=T_MIN,
        grid=grid.axes[0],
        n_save=3,
    )
    assert np.all(ds["density"].values >= 0)
    assert float(ds["mass"][-1] + ds["outflow"][-1]) == pytest.approx(
        float(ds["mass"][0]), abs=1e-13
    )
    gaussian = 0.5 * math.log(2 * math.pi * math.e)
    assert float(ds["entropy"][-1]) == pytest.approx(
        float(one["entropy"][-1]) + 2 * gaussian, abs=2e-3
    )
    assert float(ds["confidence"][-1]) == pytest.approx(float(one["confidence"][-1]), abs=1e-4)
    np.testing.assert_allclose(ds["covariance"].values[-1, 1:, 1:], np.eye(2), atol=2e-3)


def test_nd_bad_input():
    four = fg.GaussianMixture(
        means=[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, -1.0]],
        covariances=np.diag([1, 2, 3, 4.0]),
        labels=[0, 1],
    )
    with pytest.raises(ValueError, match=r"d=4 dimensions but a grid holds at most 3"):
        fg.solve(four, fg.CFG(label=0, w=1.0), reduce=False)
    correlated = fg.GaussianMixture(means=four.means, covariances=np.eye(4) + 0.2, labels=[0, 1])
    with pytest.raises(
        ValueError,
        match=r"4-D target has no exact reduction .* non-diagonal "
        r"covariance",
    ):
        fg.solve(correlated, fg.CFG(label=0, w=1.0))
    with pytest.raises(
        ValueError,
        match=r"grid must have one axis per dimension of the target "
        r"\(2\), got 3",
    ):
        fg.solve(BOX2, fg.CFG(label=1, w=1.0), grid=fg.TensorGrid.from_bounds([0] * 3, [1] * 3, 8))
    with pytest.raises(TypeError, match=r"grid must be a fpguide.TensorGrid with 2 axes"):
        fg.solve(BOX2, fg.CFG(label=1, w=1.0), grid=X_AXIS)
    with pytest.raises(ValueError, match=r"direction must be a non-zero vector of length 2"):
        fg.solve(BOX2, fg.CFG(label=1, w=1.0), direction=[0.0, 0.0])


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_2d_solution_agrees_with_particles(sampler):
    """The grid law against an independent particle run of the same dynamics: chi-square on grid
    blocks, sliced Wasserstein, and every observable within a few standard errors."""
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve(BOX2, guide, sampler, t_min=T_MIN, grid=fg.TensorGrid((X_AXIS, Y_AXIS)), n_save=3)
    ps = fg.sample(BOX2, guide, sampler, t_min=T_MIN, n=10_000, seed=7, n_save=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    assert ps["position"].dims == ("t", "particle", "dim") and ps["covariance"].dims == (
        "t",
        "dim",
        "dim2",
    )


def test_pilot_rate_is_a_lipschitz_constant_of_the_velocity_under_shear():
    """A lattice sheared so that neighbours along its second axis share their y (the flow lined them
    up across it): the pilot's rate for v = A x is max |A Δx| / |Δx| over neighbours, at most the
    spectral norm of A (the ratio of y-components alone would be 0/0 there)."""
    a = np.array([[-1.0, 0.5], [0.2, -3.0]])
    z = np.linspace(-1.0, 1.0, 5)
    zx, zy = np.meshgrid(z, z, indexing="ij")
    # y constant along axis 1
    lattice = np.stack([zx + 2.0 * zy, np.zeros_like(zy) + 0.1 * zx], axis=-1)
    x = lattice.reshape(1, -1, 2)
    rate = _lipschitz(x, x @ a.T, lattice.shape)
    steps = [np.array([1.0, 0.1]), np.array([2.0, 0.0])]  # the lattice's two neighbour offsets
    assert rate == pytest.approx(
        max(np.linalg.norm(a @ s) / np.linalg.norm(s) for s in steps), rel=1e-12
    )
    assert rate <= np.linalg.norm(a, 2)


def test_automatic_grids_of_a_correlated_mixture_at_small_t_min():
    """Unequal, correlated 2-D Gaussians guided at w = 4 down to t_min = 1e-3 (notebook 04's
    mixture): the pilot lines lattice neighbours up across an axis; it finishes, and its ranges hold
    the start quantiles it traced."""
    target = fg.GaussianMixture(
        means=np.array([[1.0, 0.5], [-1.0, 0.0], [0.0, -1.5]]),
        covariances=np.array([[[1.0, 0.3], [0.3, 0.5]], np.eye(2), 0.5 * np.eye(2)]),
        weights=[0.4, 0.3, 0.3],
        labels=[1, 0, 0],
    )
    prepared = prepare_run(
        target, fg.CFG(label=1, w=4.0), "ode", 10.0, 1e-3, "OU", "prior", 5, None, 0.1, None
    )
    _, quantile = start_law(prepared.dyn, "prior")
    seen = pilot(prepared.dyn, 1e-3, quantile)
    assert (
        np.all(np.isfinite(seen["lower"]))
        and np.all(seen["lower"] <= -7.4)
        and np.all(seen["upper"] >= 7.4)
    )
    assert np.all(np.isfinite(seen["width"])) and np.all(seen["width"] > 0.0)


def test_stacked_log_cell_averages_are_each_functions_own():
    """Several log-densities stacked in one call give each one's log cell averages: the exact cell
    masses of N(0.3, 0.7²) (1-D) and of the product Gaussian N((0.3, −0.2), diag(0.7², 0.4²)) (2-D),
    next to a shifted one."""
    from scipy.stats import norm

    line = fg.Grid(-3.0, 3.0, 60)
    stacked = line.log_cell_averages(
        lambda x: np.stack([norm.logpdf(x, 0.3, 0.7), norm.logpdf(x, -1.0, 0.7)])
    )
    exact = np.diff(norm.cdf(line.faces, 0.3, 0.7)) / line.dx
    assert stacked.shape == (2, 60)
    assert np.max(np.abs(np.exp(stacked[0]) - exact)) < 1e-13
    assert np.array_equal(stacked[1], line.log_cell_averages(lambda x: norm.logpdf(x, -1.0, 0.7)))
    plane = fg.TensorGrid((line, fg.Grid(-2.0, 2.0, 40)))

    def log_product(points, shift):
        return norm.logpdf(points[..., 0], 0.3 + shift, 0.7) + norm.logpdf(
            points[..., 1], -0.2, 0.4
        )

    stacked = plane.log_cell_averages(
        lambda p: np.stack([log_product(p, 0.0), log_product(p, 0.5)])
    )
    masses = np.multiply.outer(exact * line.dx, np.diff(norm.cdf(plane.axes[1].faces, -0.2, 0.4)))
    assert stacked.shape == (2, 60, 40)
    # 3 nodes per axis: 1e-9
    assert np.max(np.abs(np.exp(stacked[0]) - masses / plane.cell_volume)) < 1e-8
    assert np.array_equal(stacked[1], plane.log_cell_averages(lambda p: log_product(p, 0.5)))
