"""Score-error models: s_w = (1 + w)(s_c + e_c) − w (s_u + e_u) with errors e_c, e_u added to the
exact scores."""

import json

import numpy as np
import pytest
from moment_odes import linear_gaussian_moments
from scipy.integrate import quad

import fpguide as fg
from fpguide.models.dynamics import GuidedDynamics
from fpguide.models.processes import OU
from fpguide.score_errors import Bump, Custom, Scaled, Smoothed, error_size


def _zeros(x, t):
    return np.zeros_like(x)


def _product_2d():
    """Classes differ along x only; y is N(0, 1) in both."""
    return fg.GaussianMixture(
        means=np.array([[-1.0, 0.0], [1.0, 0.0]]), covariances=1.0, labels=[-1, 1]
    )


SHORT = {"T": 4.0, "t_min": 1e-2, "n_save": 3}  # a short run, enough to compare two computations


@pytest.fixture(scope="module")
def plain(gm):
    """The exact-score runs, by sampler, on the log-SNR steps that runs with score errors take
    (exact scores let the SDE's steps lengthen where SNR < 1, see GuidedDynamics.tau_grid)."""
    tau_grid = GuidedDynamics.tau_grid
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            GuidedDynamics,
            "tau_grid",
            lambda dyn, t_min, step, quiet=False: tau_grid(dyn, t_min, step),
        )
        return {
            sampler: fg.solve(gm, fg.CFG(label=1, w=3.0), sampler=sampler, **SHORT)
            for sampler in ("ode", "sde")
        }


@pytest.mark.parametrize(
    "error", [Scaled(0.0), Bump(0.0, 2.5, 0.3), _zeros], ids=["scaled", "bump", "callable"]
)
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_zero_error_reproduces_plain_cfg(gm, plain, error, sampler):
    ds = fg.solve(
        gm, fg.CFG(label=1, w=3.0, cond_error=error, uncond_error=error), sampler=sampler, **SHORT
    )
    np.testing.assert_array_equal(ds.density.values, plain[sampler].density.values)
    np.testing.assert_array_equal(ds.cond_score_error.values, 0.0)
    assert "cond_score_error" not in plain[sampler]  # reported only for guidance with errors


@pytest.mark.parametrize("which", ["cond_error", "uncond_error"])
def test_smoothed_error_is_the_model_with_wider_components(which):
    """Smoothed(ρ) on a Gaussian mixture is the same mixture with covariances + ρ² (closed form,
    independent path)."""
    rho, w = 0.6, 3.0
    target, cond = fg.GaussianMixture([-1.0, 1.0], 1.0), fg.GaussianMixture([1.0], 1.0)
    wider = {
        "cond_error": (target, fg.GaussianMixture([1.0], 1.0 + rho**2)),
        "uncond_error": (fg.GaussianMixture([-1.0, 1.0], 1.0 + rho**2), cond),
    }[which]
    ref = fg.solve(wider[0], fg.CFG(w=w, cond=wider[1]), n_save=3)
    grid = fg.Grid(**json.loads(ref.attrs["config"])["grid"])
    ds = fg.solve(target, fg.CFG(w=w, cond=cond, **{which: Smoothed(rho)}), grid=grid, n_save=3)
    exact = fg.solve(target, fg.CFG(w=w, cond=cond), grid=grid, n_save=3)
    assert np.abs(ds.density.values[-1] - ref.density.values[-1]).sum() * grid.dx < 1e-9
    # the error matters
    assert np.abs(ds.density.values[-1] - exact.density.values[-1]).sum() * grid.dx > 1e-2


@pytest.mark.parametrize("sampler, grid", [("ode", None), ("sde", None), ("sde", "adaptive")])
def test_scaled_scores_keep_the_linear_gaussian_case_linear(sampler, grid):
    """p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b): scores scaled by 1 + ε keep the drift linear; moment
    ODEs. On adaptive grids too, whose stochastic steps lengthen where SNR < 1 only without score
    errors (a scaled score's pull does not vanish there: with the longer steps the variance at t = 3
    is 3e-3 off)."""
    a, b, mu_c, w, horizon, eps_c, eps_u = 1.0, 2.0, 0.5, 4.0, 5.0, 0.1, -0.05
    ds = fg.solve(
        fg.GaussianMixture(means=[0.0], covariances=b),
        fg.CFG(
            w=w,
            cond=fg.GaussianMixture(means=[mu_c], covariances=a),
            cond_error=Scaled(eps_c),
            uncond_error=Scaled(eps_u),
        ),
        sampler=sampler,
        T=horizon,
        n_save=5,
        grid=grid,
    )
    eta = 1.0 if sampler == "sde" else 0.0
    mean, var = linear_gaussian_moments(
        eta,
        lambda t: w,
        a,
        b,
        mu_c,
        horizon,
        ds.t.values,
        cond_factor=1.0 + eps_c,
        uncond_factor=1.0 + eps_u,
    )
    np.testing.assert_allclose(ds["mean"].values, mean, atol=3e-5)
    np.testing.assert_allclose(ds["variance"].values, var, rtol=1e-3)
    exact_mean, exact_var = linear_gaussian_moments(
        eta, lambda t: w, a, b, mu_c, horizon, ds.t.values
    )
    # the error matters
    assert abs(exact_mean[-1] - mean[-1]) > 1e-2 and abs(exact_var[-1] / var[-1] - 1.0) > 0.1


def test_any_score_error_makes_large_guidance_leave_the_support(um):
    """U[1, 2] (label 1) vs U[−2, −1], probability-flow ODE to t_min = 1e-3. A conditional model
    smoothed by N(0, 0.02²) (relative L² error ~10 % at t_min) is slightly too flat at the far edge
    x = 2; guidance amplifies that and the samples leave the support, further the larger w. With the
    exact score the output piles up at the far edge, within O(σ(t_min)) of it: P(x ≥ 2.25) stays ~0
    and the mean stays near 2."""
    weights, far = (0.0, 3.0, 15.0, 31.0), 2.25
    runs = {
        name: [
            fg.solve(
                um,
                fg.CFG(label=1, w=w, cond_error=error),
                sampler="ode",
                n_save=3,
                thresholds=[far],
            )
            for w in weights
        ]
        for name, error in (("exact", None), ("error", Smoothed(0.02)))
    }
    beyond = {
        name: np.array([float(ds.tail_probability[-1, 0]) for ds in dss])
        for name, dss in runs.items()
    }
    mean = {name: np.array([float(ds["mean"][-1]) for ds in dss]) for name, dss in runs.items()}
    assert np.all(beyond["exact"] < 0.01), beyond["exact"]
    assert np.all(np.diff(beyond["error"]) >= 0) and beyond["error"][-1] > 0.99, beyond["error"]
    assert np.all(beyond["error"][2:] > beyond["exact"][2:] + 0.9), (
        beyond["error"],
        beyond["exact"],
    )
    assert np.all(np.diff(mean["error"]) > 0) and np.all(mean["exact"] < 2.2), (
        mean["error"],
        mean["exact"],
    )
    assert mean["error"][-1] - 2.0 > 10 * (mean["exact"][-1] - 2.0)
    assert 0.05 < float(runs["error"][-1].cond_score_error_relative[-1]) < 0.2  # a small error


def test_reported_size_against_quadrature(gm):
    """‖e_c‖ in L²(p_t(·|c)) and ‖e_u‖ in L²(p_t), absolute and relative, against scipy's quad."""
    bump, eps = Bump(0.7, 2.5, 0.4), 0.1
    guide = fg.CFG(label=1, w=3.0, cond_error=bump, uncond_error=Scaled(eps))
    times = np.array([1.0, 0.1, 0.01])

    def norm(field, label, t):
        def integrand(x):
            return (
                field(np.array([x]), t)[0] ** 2
                * np.exp(gm.log_density(np.array([x]), t, label=label))[0]
            )

        return np.sqrt(quad(integrand, -12.0, 12.0, epsabs=1e-13, epsrel=1e-12, limit=200)[0])

    def score(label):
        return lambda x, t: gm.score(x, t, label=label)

    def bump_field(x, t):
        return 0.7 * np.exp(-0.5 * ((x - 2.5) / 0.4) ** 2)

    expected = {
        "cond_score_error": [norm(bump_field, 1, t) for t in times],
        "uncond_score_error": [eps * norm(score(None), None, t) for t in times],
    }
    expected["cond_score_error_relative"] = np.divide(
        expected["cond_score_error"], [norm(score(1), 1, t) for t in times]
    )
    expected["uncond_score_error_relative"] = np.full(times.size, eps)
    sizes = error_size(guide, gm, times)
    ds = fg.solve(gm, guide, t_eval=times, T=2.0)
    for name, values in expected.items():
        np.testing.assert_allclose(sizes[name].values, values, rtol=1e-8, err_msg=name)
        np.testing.assert_allclose(ds[name].sel(t=times).values, values, rtol=1e-6, err_msg=name)
        assert ds[name].attrs["units"] == "1" and "L2" in ds[name].attrs["long_name"]


def test_reported_size_of_a_2d_bump_against_its_closed_form():
    """For p_t(·|c) = N(a, v I) and e = size · exp(−|x − centre|²/(2 width²)):
    ‖e‖² = |size|² Π_j (width²/(width² + 2v))^½ exp(−(centre_j − a_j)²/(width² + 2v))."""
    size, centre, width = np.array([0.6, -0.8]), np.array([2.0, 0.5]), 0.5
    guide = fg.CFG(label=1, w=3.0, cond_error=Bump(size, centre, width))
    times = np.array([0.05, 0.5])
    # OU: N((1, 0), I) noises to N((m, 0), (m² + σ²) I) = N((m, 0), I), so v = 1
    spread = width**2 + 2.0
    expected = [
        np.linalg.norm(size)
        * np.sqrt(
            np.prod(np.sqrt(width**2 / spread) * np.exp(-((centre - [m, 0.0]) ** 2) / spread))
        )
        for m in np.exp(-times)
    ]
    np.testing.assert_allclose(
        error_size(guide, _product_2d(), times).cond_score_error.values, expected, rtol=1e-8
    )


def test_grid_with_score_errors_agrees_with_particles(gm):
    guide = fg.CFG(label=1, w=3.0, cond_error=Bump(-0.5, 1.0, 1.0), uncond_error=Scaled(0.05))
    ds = fg.solve(gm, guide, sampler="ode", n_save=3)
    ps = fg.sample(gm, guide, sampler="ode", n=10_000, seed=3, n_save=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    plain = fg.solve(gm, fg.CFG(label=1, w=3.0), sampler="ode", n_save=3)
    # the error is visible
    assert abs(float(plain["mean"][-1] - ds["mean"][-1])) > 10 * float(ps["mean_se"][-1])


def test_line_form_of_the_drift_carries_the_errors():
    """The d-D engine's line velocity equals the point drift at the same points, for errors with and
    without the exact score (Bump, Smoothed), along both axes."""
    model = fg.CFG(
        label=1, w=5.0, cond_error=Bump([0.8, -0.3], [1.5, 0.5], 0.7), uncond_error=Smoothed(0.3)
    ).bind(_product_2d())
    process, t, rng = OU(), 0.05, np.random.default_rng(0)
    points, x = rng.normal(size=(4, 2)), rng.normal(scale=2.0, size=(4, 7))
    plain = fg.CFG(label=1, w=5.0).bind(_product_2d())
    for axis in (0, 1):
        on_lines = np.repeat(points[:, None, :], x.shape[1], axis=1)
        on_lines[..., axis] = x
        point_form = 0.3 * x + 0.5 * model.guided_score(on_lines.reshape(-1, 2), t, process)[
            :, axis
        ].reshape(x.shape)
        line_form = model.velocity_along(axis, x, points, t, process, 0.3, 0.5)
        np.testing.assert_allclose(line_form, point_form, rtol=1e-10, atol=1e-10)
        assert (
            np.abs(line_form - plain.velocity_along(axis, x, points, t, process, 0.3, 0.5)).max()
            > 1e-2
        )


def test_bump_error_in_2d_agrees_with_particles():
    """A Bump pushing along x, centred off the axis (y = 0.5): y's law is untouched (its drift does
    not depend on x), while the push, larger at y near 0.5, correlates x with y; the grid (line
    path) agrees with particles."""
    guide = fg.CFG(label=1, w=3.0, cond_error=Bump([1.0, 0.0], [2.0, 0.5], 0.5))
    run = {"sampler": "ode", "n_save": 3, "T": 4.0, "t_min": 1e-2}
    grid = fg.TensorGrid.from_bounds([-5.0, -5.0], [8.0, 5.0], [128, 96])
    ds = fg.solve(_product_2d(), guide, grid=grid, **run)
    ps = fg.sample(_product_2d(), guide, n=10_000, seed=1, **run)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    cov = ds.covariance.values[-1]
    assert abs(cov[1, 1] - 1.0) < 1e-3 and abs(float(ds["mean"][-1, 1])) < 1e-9
    assert cov[0, 1] > 0.1  # the error's dependence on y
    assert float(ds.cond_score_error[-1]) > 0.1


def test_score_errors_are_recorded_and_rebuilt(gm):
    guide = fg.CFG(label=1, w=2.0, cond_error=Bump(0.5, 2.0, 0.3), uncond_error=Smoothed(0.1))
    ds = fg.solve(gm, guide, sampler="ode", n_save=2)
    spec = json.loads(ds.attrs["config"])["guidance"]
    assert spec["cond_error"] == {"type": "Bump", "size": 0.5, "centre": 2.0, "width": 0.3}
    assert fg.CFG.from_dict(spec).to_dict() == guide.to_dict()
    again = fg.solve(gm, fg.CFG.from_dict(spec), sampler="ode", n_save=2)
    np.testing.assert_array_equal(again.density.values, ds.density.values)
    assert guide.with_weight(label=-1).cond_error == Bump(0.5, 2.0, 0.3)
    assert (
        repr(guide) == "CFG(label=1, w=2.0, cond_error=Bump(size=0.5, centre=2.0, width=0.3), "
        "uncond_error=Smoothed(rho=0.1))"
    )
    # records without errors are unchanged
    assert "cond_error" not in fg.CFG(label=1, w=2.0).to_dict()
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        fg.CFG.from_dict(fg.CFG(label=1, w=2.0, cond_error=_zeros).to_dict())


def _nan(x, t):
    return np.full_like(x, np.nan)


_MIXTURE_1D = fg.GaussianMixture([-1.0, 1.0], labels=[-1, 1])


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: Bump(np.inf, 2.0, 0.3), ValueError, "size must contain only finite numbers"),
        (lambda: Bump(1.0, 2.0, 0.0), ValueError, "width must be > 0"),
        (lambda: Bump([1.0, 0.0], 2.0, 0.3), ValueError, "size and centre must have one shape"),
        (lambda: Smoothed(-0.1), ValueError, "rho must be >= 0"),
        (lambda: Scaled("big"), TypeError, "eps must be a real number"),
        (lambda: Custom("e"), TypeError, "Custom needs a callable"),
        (
            lambda: fg.CFG(label=1, w=1.0, cond_error=0.1),
            TypeError,
            "cond_error must be None, a fpguide score error",
        ),
        (
            lambda: fg.CFG.from_dict({"w": 1.0, "label": 1, "uncond_error": {"type": "Wobble"}}),
            ValueError,
            "unknown score error type",
        ),
    ],
)
def test_bad_score_error_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize(
    "target, guide, message",
    [
        (
            _product_2d(),
            fg.CFG(label=1, w=1.0, cond_error=Bump(0.5, 2.0, 0.3)),
            r"cond_error: Bump size and centre must be vectors of length 2",
        ),
        (
            _MIXTURE_1D,
            fg.CFG(label=1, w=1.0, uncond_error=Bump([0.5, 0.0], [2.0, 0.0], 0.3)),
            r"uncond_error: Bump size and centre must be numbers",
        ),
        (
            _MIXTURE_1D,
            fg.CFG(label=1, w=1.0, cond_error=_nan),
            r"cond_error Custom\(func='<function _nan .*'\) at t=[0-9.]+ returned non-finite",
        ),
        (
            _MIXTURE_1D,
            fg.CFG(label=1, w=1.0, uncond_error=lambda x, t: x[:2]),
            r"uncond_error Custom.* at t=[0-9.]+ must return an array shaped like x",
        ),
    ],
)
def test_bad_score_errors_in_a_run(target, guide, message):
    for run, extra in ((fg.solve, {}), (fg.sample, {"n": 100})):
        with pytest.raises(ValueError, match=message):
            run(target, guide, sampler="ode", n_save=2, **extra)


def test_reduced_solves_refuse_score_errors_but_particles_run():
    """A 4-D target is solved by reduction, which an error field does not respect; particles need
    none."""
    target = fg.GaussianMixture(np.eye(4) * [1.0, 1.0, 0.0, 0.0], labels=[1, 1, -1, -1])
    guide = fg.CFG(label=1, w=1.0, cond_error=Bump([0.5, 0.0, 0.0, 0.0], np.zeros(4), 0.5))
    with pytest.raises(ValueError, match="a reduced solve .* cannot carry score errors"):
        fg.solve(target, guide, n_save=2)
    run = {"sampler": "ode", "n": 200, "seed": 0, "n_save": 2, "T": 2.0, "t_min": 0.1}
    ps, plain = fg.sample(target, guide, **run), fg.sample(target, fg.CFG(label=1, w=1.0), **run)
    assert float(ps["mean"][-1, 0]) > float(plain["mean"][-1, 0]) + 0.05


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"t": -1.0}, ValueError, "t must be a diffusion time > 0"),
        (
            {"t": 0.1, "grid": fg.Grid(-5.0, 5.0, 64)},
            TypeError,
            "grid must be a fpguide.TensorGrid with 2 axes",
        ),
    ],
)
def test_bad_error_size_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        error_size(fg.CFG(label=1, w=1.0, cond_error=Scaled(0.1)), _product_2d(), **kwargs)
