"""Flow-matching paths X_t = α(t) X_0 + σ(t) Z, solved in the frame Y = X / sqrt(α² + σ²) where they
are variance-preserving, from pure noise at t = 1."""

import json
import math

import numpy as np
import pytest
from moment_odes import linear_gaussian_moments
from scipy.integrate import solve_ivp
from scipy.special import ndtr, ndtri

import fpguide as fg
from fpguide.models.dynamics import prepare_run
from fpguide.runs.discrete_run import _ode_from_pure_noise

TWO = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
# α = 1 − t², σ = t: a path of your own (σ/α = t/(1 − t²) increases)
QUADRATIC = fg.FlowMatching(
    signal=lambda t: 1.0 - t**2,
    noise=lambda t: t,
    signal_rate=lambda t: -2.0 * t,
    noise_rate=lambda t: np.ones_like(t),
)
PATHS = {
    "linear": (fg.FlowMatching(), lambda t: (1 - t, t, -1 + 0 * t, 1 + 0 * t)),
    "cosine": (
        fg.FlowMatching("cosine"),
        lambda t: (
            np.cos(np.pi * t / 2),
            np.sin(np.pi * t / 2),
            -np.pi / 2 * np.sin(np.pi * t / 2),
            np.pi / 2 * np.cos(np.pi * t / 2),
        ),
    ),
    "custom": (QUADRATIC, lambda t: (1 - t**2, t, -2 * t, 1 + 0 * t)),
}


@pytest.mark.parametrize("name", PATHS)
def test_frame_is_the_variance_preserving_process(name):
    """Y = X/s, s² = α² + σ²: m_y = α/s, σ_y = σ/s, f_y = (α'/α) − s'/s and g_y² = 2σ²((σ'/σ) −
    (α'/α))/s² (the SDE of X_t has f = α'/α, g² = 2σσ' − 2(α'/α)σ²; Itô for X/s)."""
    process, path = PATHS[name]
    t = np.linspace(1e-3, 1 - 1e-3, 97)
    alpha, sigma, alpha_rate, sigma_rate = path(t)
    s = np.hypot(alpha, sigma)
    np.testing.assert_allclose(process.frame_scale(t), s, rtol=1e-14)
    np.testing.assert_allclose(process.m(t), alpha / s, rtol=1e-13)
    np.testing.assert_allclose(process.sigma(t), sigma / s, rtol=1e-13)
    s_rate = (alpha * alpha_rate + sigma * sigma_rate) / s
    np.testing.assert_allclose(process.f(t), alpha_rate / alpha - s_rate / s, rtol=1e-12)
    g2_x = 2 * sigma * sigma_rate - 2 * alpha_rate / alpha * sigma**2
    np.testing.assert_allclose(process.g2(t), g2_x / s**2, rtol=1e-12)
    np.testing.assert_allclose(process.t_of_log_snr(process.log_snr(t)), t, rtol=1e-13, atol=0)
    assert process.log_snr(1.0) == -np.inf and process.prior_std(1.0) == 1.0
    assert process.prior_std(0.5) == pytest.approx(sigma[48] / s[48], rel=1e-14)
    t_a = process.run_start(1.0)
    assert process.log_snr(t_a) == pytest.approx(fg.models.processes.NOISE_END_LOG_SNR, abs=1e-9)


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_unguided_start_from_noise_keeps_the_noised_law(gm, name, sampler):
    """w = 0 from pure noise at t = 1 (both starts are N(0, 1) there): p_t(·|c) at every saved
    time, the first one the run's start t_a < 1."""
    process = PATHS[name][0]
    ds = fg.solve(gm, fg.CFG(label=1, w=0.0), sampler=sampler, process=process, T=1.0, n_save=4)
    grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    cond = fg.CFG(label=1, w=0.0).bind(gm).cond
    assert json.loads(ds.attrs["config"])["T"] == 1.0
    assert ds.t.values[0] == process.run_start(1.0)
    for k, t in enumerate(ds.t.values):
        reference = grid.cell_averages(lambda x: cond.log_density(x, float(t), process))
        assert np.abs(ds.density.values[k] - reference).sum() * grid.dx < 5e-4
    np.testing.assert_allclose(ds.frame_scale.values, process.frame_scale(ds.t.values))


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_linear_gaussian_moments_from_pure_noise(eta):
    """p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b), w = 3, rectified flow from t = 1: in the clock u =
    log(s/α) the frame's drift is OU's in t = u, so the moment ODEs of ``moment_odes`` hold with t →
    u, integrated from u = 40 (m = 4e-18, where N(0, 1) is the law to round-off) by DOP853. The
    run starts at t_a (m² = 2e-9) from the law carried there, N(m c, 1): without the shift m c =
    3.6e-4 the first mean would be off by that much."""
    a, b, mu_c, w = 0.25, 2.0, 2.0, 3.0
    process = fg.FlowMatching()
    ds = fg.solve(
        fg.GaussianMixture(means=[0.0], covariances=b),
        fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a)),
        sampler="ode" if eta == 0 else "sde",
        eta=None if eta == 0 else eta,
        process=process,
        T=1.0,
        t_min=1e-2,
        n_save=6,
    )
    u = np.concatenate([[40.0], process.clock(ds.t.values)])
    mean, var = linear_gaussian_moments(eta, lambda t: w, a, b, mu_c, 40.0, u)[:, 1:]
    assert abs(ds["mean"].values[0]) > 3e-4  # the shift itself
    np.testing.assert_allclose(ds["mean"].values, mean, atol=2e-5)
    np.testing.assert_allclose(ds["variance"].values, var, atol=5e-4)


@pytest.mark.parametrize("sampler, tol", [("ode", 1e-5), ("sde", 1e-4)])
def test_same_law_as_ou_at_the_same_log_snr(gm, sampler, tol):
    """Held in Y, every path is OU in its clock u = log(s/α): the guided samplers from pure noise
    (rectified flow, T = 1) and from OU's T = 20 (N(0, 1) there is e^−20 from the law) reach the
    same law at the same log-SNR of t_min, up to the solvers' errors (L1 measured 1.3e-7 for the
    ODE, 2.7e-5 for the SDE, whose steps differ); OU from T = 10 is 1.4e-4 away for the ODE."""
    guide, grid = fg.CFG(label=1, w=3.0), fg.Grid(-12.0, 12.0, 2400)
    flow = fg.FlowMatching()
    t_min = float(flow.t_of_log_snr(fg.OU().log_snr(2e-3)))
    fm = fg.solve(gm, guide, sampler, process=flow, T=1.0, t_min=t_min, grid=grid, n_save=2)
    ou = fg.solve(gm, guide, sampler, T=20.0, t_min=2e-3, grid=grid, n_save=2)
    l1 = np.abs(fm.density.values[-1] - ou.density.values[-1]).sum() * grid.dx
    assert l1 < tol, l1


def _posterior_mean(x, alpha, sigma, means, variances, weights):
    """E[X_0 | α X_0 + σ Z = x] for a 1-D Gaussian mixture, written out (finite at α = 0)."""
    x = np.asarray(x, dtype=float)[:, None]
    total = alpha**2 * variances + sigma**2
    log_r = np.log(weights) - 0.5 * np.log(total) - 0.5 * (x - alpha * means) ** 2 / total
    r = np.exp(log_r - log_r.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    component = means + alpha * variances / total * (x - alpha * means)
    return (r * component).sum(axis=1)


def test_flow_matching_ode_against_characteristics_from_t_equal_one():
    """The guided flow-matching ODE as a sampler runs it, dX/dt = v = α' x̂0_w + σ' ε̂_w with
    x̂0_w = (1 + w) x̂0_c − w x̂0_u and ε̂_w = (X − α x̂0_w)/σ (finite at t = 1, where α = 0),
    carries the quantiles of N(0, 1) from t = 1 exactly to t_min (DOP853, tight tolerances); divided
    by s(t_min) they are the quantiles of the grid's output."""
    w, t_min = 3.0, 1e-2
    means, variances, labels = np.array([-1.0, 1.0]), np.array([0.09, 0.09]), [0, 1]
    target = fg.GaussianMixture(means=means.tolist(), covariances=0.09, labels=labels)
    weights = np.array([0.5, 0.5])

    def velocity(t, x):
        alpha, sigma, alpha_rate, sigma_rate = 1 - t, t, -1.0, 1.0
        cond = _posterior_mean(x, alpha, sigma, means[1:], variances[1:], np.ones(1))
        uncond = _posterior_mean(x, alpha, sigma, means, variances, weights)
        x0 = (1 + w) * cond - w * uncond
        return alpha_rate * x0 + sigma_rate * (x - alpha * x0) / sigma

    levels = np.linspace(0.02, 0.98, 25)
    sol = solve_ivp(velocity, (1.0, t_min), ndtri(levels), method="DOP853", rtol=1e-11, atol=1e-12)
    process = fg.FlowMatching()
    y_out = sol.y[:, -1] / float(process.frame_scale(t_min))

    grid = fg.Grid(-7.0, 7.0, 2400)  # the output has std 0.17: fine cells for the CDF interpolation
    ds = fg.solve(target, fg.CFG(label=1, w=w), process=process, T=1.0, t_min=t_min, grid=grid)
    cdf = np.concatenate([[0.0], np.cumsum(ds.density.values[-1]) * grid.dx])
    error = np.max(np.abs(np.interp(y_out, grid.faces, cdf) - levels))
    # measured 1.9e-4 / 4.6e-5 / 1.3e-5 on 1200 / 2400 / 4800 cells (second order)
    assert error < 1e-4, error


def test_flow_matching_sde_against_particles(um):
    guide = fg.CFG(label=1, w=3.0)
    process = fg.FlowMatching()
    ds = fg.solve(um, guide, "sde", process=process, T=1.0, t_min=5e-2, n_save=3)
    ps = fg.sample(um, guide, "sde", process=process, T=1.0, t_min=5e-2, n_save=3, n=10_000, seed=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_flow_matching_in_2d_against_particles():
    target = fg.GaussianMixture(means=[[-1.0, 0.0], [1.0, 0.5]], covariances=0.2, labels=[0, 1])
    guide = fg.CFG(label=1, w=2.0)
    process = fg.FlowMatching()
    ds = fg.solve(target, guide, process=process, T=1.0, t_min=5e-2, n_save=3)
    ps = fg.sample(target, guide, process=process, T=1.0, t_min=5e-2, n_save=3, n=8_000, seed=4)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_reduced_flow_matching_solve_against_particles():
    """d = 5 isotropic mixture: the solved coordinate from the carried start, the orthogonal
    Gaussian part from β = m, V = 1 at t_a."""
    means = np.zeros((2, 5))
    means[:, 0], means[:, 2] = [-1.0, 1.0], 0.7
    target = fg.GaussianMixture(means=means, covariances=0.3, labels=[0, 1])
    guide = fg.CFG(label=1, w=2.0)
    process = fg.FlowMatching()
    ds = fg.solve(target, guide, process=process, T=1.0, t_min=5e-2, n_save=3)
    assert "basis" in ds
    ps = fg.sample(target, guide, process=process, T=1.0, t_min=5e-2, n_save=3, n=8_000, seed=5)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_rerun_and_record():
    target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    ds = fg.solve(target, fg.CFG(label=1, w=2.0), process="FlowMatching", T=1.0, n_save=3)
    assert json.loads(ds.attrs["config"])["process"] == {"name": "FlowMatching", "path": "linear"}
    import xarray as xr

    xr.testing.assert_identical(fg.rerun(ds), ds)
    custom = fg.solve(target, fg.CFG(label=1, w=2.0), process=QUADRATIC, T=1.0, n_save=3)
    with pytest.raises(ValueError, match="path of your own .* cannot be rebuilt"):
        fg.rerun(custom)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: fg.FlowMatching("quadratic"), ValueError, "path must be one of"),
        (lambda: fg.FlowMatching(signal=lambda t: 1 - t), TypeError, "all four"),
        (
            lambda: fg.FlowMatching(
                signal=lambda t: 1 - t,
                noise=lambda t: t,
                signal_rate=lambda t: -1.0,
                noise_rate=lambda t: 1 + 0 * t,
            ),
            ValueError,
            "signal_rate\\(t\\) must return finite values shaped like t",
        ),
        (
            lambda: fg.FlowMatching(
                signal=lambda t: 1 + 0 * t,
                noise=lambda t: np.sin(6 * t) + 1.5,
                signal_rate=lambda t: 0 * t,
                noise_rate=lambda t: 6 * np.cos(6 * t),
            ),
            ValueError,
            "must increase strictly",
        ),
        (
            lambda: fg.solve(TWO, fg.CFG(label=1, w=0.0), process="FlowMatching", T=1.5),
            ValueError,
            "T must be <= 1 for a flow-matching path",
        ),
        (
            lambda: fg.solve(
                TWO,
                fg.CFG(label=1, w=0.0),
                process="FlowMatching",
                T=1.0,
                t_min=0.999999,
            ),
            ValueError,
            "t_min must be < 0.9999",
        ),
        (
            lambda: fg.solve(
                TWO,
                fg.CFG(label=1, w=1.0, cond_error=fg.score_errors.Scaled(0.1)),
                process="FlowMatching",
                T=1.0,
            ),
            ValueError,
            "pure noise at T=1.0 cannot take score errors",
        ),
        (
            lambda: fg.solve(
                TWO,
                fg.CFG(label=1, w=1.0, schedule=fg.schedules.Interval(0.5, 0.99999)),
                process="FlowMatching",
                T=1.0,
            ),
            ValueError,
            "changes form at t=0.99999, between T=1.0",
        ),
    ],
)
def test_bad_flow_matching_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_log_snr_start_is_where_the_carried_law_is_exact():
    """m² at the run's start: the O(m²) the carried start leaves out."""
    m = float(fg.FlowMatching().m(fg.FlowMatching().run_start(1.0)))
    assert m**2 == pytest.approx(math.exp(fg.models.processes.NOISE_END_LOG_SNR), rel=1e-6)


# --- FlowMatchEuler: diffusers' flow-matching scheduler as an exact chain


def _euler_moments(sampler, a, b, mu_c, w):
    """Mean and variance after every step (from σ_1 on) of the guided Euler chain for p_0(x|c) =
    N(μ_c, a), p_0(x) = N(0, b), written out in X: the guided denoiser x̂0_w = (1 + w) x̂0_c − w x̂0_u
    is affine in x (x̂0_c = μ_c + αa (x − αμ_c)/(α²a + σ²), x̂0_u = αb x/(α²b + σ²), α = 1 − σ), so
    each step x' = x + (σ' − σ)(ε̂ − x̂0), ε̂ = (x − α x̂0)/σ, is x' = A x + B; from pure noise the
    first step gives N((1 − σ_1)(1 + w) μ_c, σ_1²)."""
    sigmas = sampler.sigmas
    mean, var = (1 - sigmas[1]) * (1 + w) * mu_c, sigmas[1] ** 2
    moments = [(mean, var)]
    for sigma, sigma_next in zip(sigmas[1:-1], sigmas[2:]):
        alpha = 1 - sigma
        kc, ku = alpha * a / (alpha**2 * a + sigma**2), alpha * b / (alpha**2 * b + sigma**2)
        slope = (1 + w) * kc - w * ku  # x̂0_w = slope x + offset
        offset = (1 + w) * (mu_c - kc * alpha * mu_c)
        eps_slope, eps_offset = (1 - alpha * slope) / sigma, -alpha * offset / sigma
        big_a = 1 + (sigma_next - sigma) * (eps_slope - slope)
        big_b = (sigma_next - sigma) * (eps_offset - offset)
        mean, var = big_a * mean + big_b, big_a**2 * var
        moments.append((mean, var))
    return np.array(moments).T


@pytest.mark.parametrize("steps, shift", [(10, 1.0), (28, 3.0)])
def test_euler_chain_against_its_linear_gaussian_recursion(steps, shift):
    a, b, mu_c, w = 0.25, 2.0, 1.5, 3.0
    sampler = fg.FlowMatchEuler(steps, shift=shift)
    target = fg.GaussianMixture(means=[0.0], covariances=b)
    guide = fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a))
    ds = fg.solve_discrete(target, guide, sampler, compare=False)
    mean, var = _euler_moments(sampler, a, b, mu_c, w)
    scale = np.hypot(1 - sampler.sigmas[1:], sampler.sigmas[1:])  # fpguide's frame Y = X/S
    np.testing.assert_allclose(ds.t.values, sampler.sigmas[1:])
    # measured: means 2e-11 apart, variances 1e-7 relative
    np.testing.assert_allclose(ds["mean"].values, mean / scale, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ds["variance"].values, var / scale**2, rtol=1e-6, atol=0)


@pytest.mark.parametrize("target", ["gm", "um"])
def test_euler_chain_against_particles(target, request):
    mixture = request.getfixturevalue(target)
    guide, sampler = fg.CFG(label=1, w=3.0), fg.FlowMatchEuler(12, shift=3.0)
    ds = fg.solve_discrete(mixture, guide, sampler, compare=False)
    ps = fg.sample_discrete(mixture, guide, sampler, n=20_000, seed=6)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_euler_gap_to_the_flow_matching_ode_is_first_order(gm):
    """The chain's gap to the continuous rectified-flow ODE (from pure noise, on the same grid) at
    the last noisy state halves when the steps double: Euler is first order (measured ratios 2.09
    for 16 → 32 steps, 2.04 for 32 → 64)."""
    guide, grid = fg.CFG(label=1, w=3.0), fg.Grid(-8.0, 8.0, 1600)
    gaps = [
        float(fg.solve_discrete(gm, guide, fg.FlowMatchEuler(n), grid=grid)["gap_l1"][-2])
        for n in (16, 32)
    ]
    assert 1.7 < gaps[0] / gaps[1] < 2.3, gaps


@pytest.mark.parametrize("t", [0.98738, 0.5, 0.1])
def test_ode_from_pure_noise_by_characteristics_is_the_noised_class_law_at_w0(t):
    """With w = 0 the rectified-flow ODE from pure noise carries N(0, 1) to p_t(·|c) exactly: the
    gap's start, traced back from the grid's faces to log-SNR −20 (whose start N(m c, 1) errs by
    O(m²)), equals the closed-form cell masses of a two-component class (measured 8.3e-10 at the
    first state of FlowMatchEuler(28, 3), at t = 0.5 and at t = 0.1)."""
    target = fg.GaussianMixture(
        means=[-1.0, 0.5, 2.0],
        covariances=[0.3, 0.2, 0.4],
        weights=[0.4, 0.35, 0.25],
        labels=[0, 1, 1],
    )
    grid, process = fg.Grid(-8.0, 8.0, 1600), fg.FlowMatching()
    dyn = prepare_run(
        target, fg.CFG(label=1, w=0.0), "ode", 1.0, t, process, "prior", 2, None, 0.1, None
    ).dyn
    q = _ode_from_pure_noise(dyn, t, grid, 1e-9)
    m, sigma = float(process.m(t)), float(process.sigma(t))
    cdf = sum(
        weight / 0.6 * ndtr((grid.faces - m * mean) / math.sqrt(m * m * var + sigma * sigma))
        for weight, mean, var in [(0.35, 0.5, 0.2), (0.25, 2.0, 0.4)]
    )
    assert np.abs(q * grid.dx - np.diff(cdf)).sum() < 5e-9


@pytest.mark.parametrize("target", ["gm", "um"])
def test_ode_from_pure_noise_by_characteristics_against_the_grid(target, request):
    """At w = 3 the traced start equals the grid's run from pure noise on the same fine grid: at the
    first state of FlowMatchEuler(28, 3) (log-SNR −8.7; measured 6e-10 and 9e-10) and at t = 0.5,
    where the grid's own error shows (2.8e-7 and 2.3e-7)."""
    mixture, guide = request.getfixturevalue(target), fg.CFG(label=1, w=3.0)
    grid, process = fg.Grid(-8.0, 8.0, 1600), fg.FlowMatching()
    for t, tol in [(fg.FlowMatchEuler(28, 3.0).sigmas[1], 1e-8), (0.5, 2e-6)]:
        dyn = prepare_run(mixture, guide, "ode", 1.0, t, process, "prior", 2, None, 0.1, None).dyn
        q = _ode_from_pure_noise(dyn, t, grid, 1e-9)
        ds = fg.solve(mixture, guide, "ode", process=process, T=1.0, t_min=t, grid=grid, n_save=2)
        assert np.abs(q - ds.density.values[-1]).sum() * grid.dx < tol


def test_the_gap_records_where_its_continuous_run_starts(gm):
    guide = fg.CFG(label=1, w=1.0)
    fme = fg.solve_discrete(gm, guide, fg.FlowMatchEuler(6, shift=2.0))
    ddim = fg.solve_discrete(gm, guide, fg.DDIM(6))
    assert fme.attrs["continuous_start"].startswith("pure noise at t = 1, traced")
    assert ddim.attrs["continuous_start"] == "the chain's first state"
    assert json.loads(fme.attrs["continuous_config"])["T"] == pytest.approx(float(fme.t[0]))


def test_ode_from_pure_noise_above_the_run_start_and_on_a_narrow_grid(gm):
    """Above the run's start (log-SNR < −20) the traced start is the carried start N(m c, 1) itself;
    mass outside the grid beyond ``wall_tol`` is an error, not lost."""
    guide, process = fg.CFG(label=1, w=3.0), fg.FlowMatching()
    t = float(process.t_of_log_snr(-24.0))
    dyn = prepare_run(gm, guide, "ode", 1.0, 0.5, process, "prior", 2, None, 0.1, None).dyn
    grid = fg.Grid(-8.0, 8.0, 1600)
    c = (1 + 3.0) * 1.0 - 3.0 * 0.0  # the guided denoiser's mean at zero signal
    m = float(process.m(t))
    expected = np.diff(ndtr((grid.faces - m * c) / float(process.prior_std(t))))
    q = _ode_from_pure_noise(dyn, t, grid, 1e-9)
    np.testing.assert_allclose(q * grid.dx, expected, rtol=0, atol=1e-15)
    with pytest.raises(fg.WallMassError, match="outside the grid"):
        _ode_from_pure_noise(dyn, 0.5, fg.Grid(-3.0, 3.0, 600), 1e-9)


def test_euler_chain_rerun_and_bad_input(gm):
    import xarray as xr

    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), fg.FlowMatchEuler(6, shift=2.0))
    xr.testing.assert_identical(fg.rerun(ds), ds)
    for make, error, match in [
        (lambda: fg.FlowMatchEuler(1), ValueError, "steps must be"),
        (lambda: fg.FlowMatchEuler(8, shift=0.0), ValueError, "shift must be > 0"),
        (lambda: fg.FlowMatchEuler(8, use_dynamic_shifting=True), ValueError, "mu is required"),
        (lambda: fg.FlowMatchEuler(8, mu=0.5), ValueError, "mu=0.5 is used only"),
        (lambda: fg.FlowMatchEuler(8, time_shift_type="cubic"), ValueError, "time_shift_type"),
        (lambda: fg.FlowMatchEuler(28, shift=1e5), ValueError, "shift=100000.0 with 28 steps"),
        (
            lambda: fg.FlowMatchEuler(28, use_dynamic_shifting=True, mu=30.0),
            ValueError,
            "mu=30.0 with 28 steps",
        ),
        (
            lambda: fg.solve_discrete(
                gm,
                fg.CFG(label=1, w=1.0, cond_error=fg.score_errors.Scaled(0.1)),
                fg.FlowMatchEuler(8),
            ),
            ValueError,
            "cond_error",
        ),
    ]:
        with pytest.raises(error, match=match):
            make()
