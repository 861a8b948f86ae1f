"""diffusers' Euler, Euler ancestral and Heun schedulers as exact chains: their sigmas against
diffusers' own, the chains against linear-Gaussian recursions written in diffusers' variables,
against particles, the order of their gap to the continuous samplers, and bad input."""

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.models.samplers import sampler_from_dict

SAMPLERS = {"Euler": fg.Euler, "EulerAncestral": fg.EulerAncestral, "Heun": fg.Heun}


def test_sigmas_are_diffusers():
    """Values printed by diffusers 0.42.1 (``sched.sigmas`` after ``set_timesteps(10)``, defaults),
    to the 7 digits shown there."""
    euler = [157.40727, 54.567516, 21.417498, 9.488921, 4.7033343, 2.5546913, 1.462357]
    euler += [0.8219357, 0.3803714, 0.01000133, 0.0]
    np.testing.assert_allclose(fg.Euler(10).sigmas, euler, rtol=3e-7)
    np.testing.assert_allclose(fg.EulerAncestral(10).sigmas, euler, rtol=3e-7)
    assert fg.Heun(10).sigmas[0] == pytest.approx(25.1461, rel=1e-5)
    np.testing.assert_array_equal(fg.Euler(10).timesteps, np.linspace(999, 0, 10).round())
    karras = fg.Euler(10, use_karras_sigmas=True)
    assert karras.sigmas[0] == fg.Euler(10).sigmas[0]
    assert karras.sigmas[-2] == fg.Euler(10).sigmas[-2]
    # Karras' ramp is linear in s^(1/7)
    roots = karras.sigmas[:-1] ** (1 / 7)
    np.testing.assert_allclose(np.diff(roots), np.diff(roots)[0], rtol=1e-5)


def _moments(sampler, a, b, mu_c, w):
    """Mean and variance of the VE sample after every step, for p_0(x|c) = N(μ_c, a),
    p_0(x) = N(0, b): the guided denoiser D_w = (1 + w) D_c − w D_u is affine in x at each sigma s
    (D_c = μ_c + a/(a + s²)(x − μ_c), D_u = b x/(b + s²)), so each of diffusers' updates is
    x' = A x + B (+ noise), from x = init_noise_sigma · Z."""

    def denoiser(s):  # D_w = k x + o
        kc, ku = a / (a + s**2), b / (b + s**2)
        return (1 + w) * kc - w * ku, (1 + w) * (mu_c - kc * mu_c)

    mean, var = 0.0, sampler.init_noise_sigma() ** 2
    moments = [(mean, var)]
    for s, s_next in zip(sampler.sigmas[:-1], sampler.sigmas[1:]):
        k, o = denoiser(s)
        noise = 0.0
        if isinstance(sampler, fg.EulerAncestral):
            r = (s_next / s) ** 2
            big_a, big_b, noise = r + (1 - r) * k, (1 - r) * o, s_next**2 * (1 - r)
        elif isinstance(sampler, fg.Heun) and s_next > 0:
            d1_a, d1_b = (1 - k) / s, -o / s  # d1 = (x − D1)/s
            tilde_a, tilde_b = 1 + d1_a * (s_next - s), d1_b * (s_next - s)
            k2, o2 = denoiser(s_next)
            d2_a, d2_b = (1 - k2) * tilde_a / s_next, ((1 - k2) * tilde_b - o2) / s_next
            big_a = 1 + 0.5 * (s_next - s) * (d1_a + d2_a)
            big_b = 0.5 * (s_next - s) * (d1_b + d2_b)
        else:
            r = s_next / s
            big_a, big_b = r + (1 - r) * k, (1 - r) * o
        mean, var = big_a * mean + big_b, big_a**2 * var + noise
        moments.append((mean, var))
    return np.array(moments).T


@pytest.mark.parametrize(
    "sampler",
    [
        fg.Euler(12),
        fg.Euler(20, use_karras_sigmas=True),
        fg.EulerAncestral(12),
        fg.Heun(8),
        fg.Heun(15, fg.NoiseSchedule(timestep_spacing="leading"), use_karras_sigmas=True),
    ],
    ids=repr,
)
def test_chain_against_its_linear_gaussian_recursion(sampler):
    # (with a = 0.25, b = 2 and w = 3 Euler's step from s = 0.31 to 0.01 shrinks the variance to
    # 4e-9, finer than any grid: the chain's law, not the continuous one's, whose variance is 0.07)
    a, b, mu_c, w = 0.5, 1.0, 1.5, 2.0
    target = fg.GaussianMixture(means=[0.0], covariances=b)
    guide = fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a))
    ds = fg.solve_discrete(target, guide, sampler, grid=fg.Grid(-10.0, 10.0, 4000), compare=False)
    mean, var = _moments(sampler, a, b, mu_c, w)
    m = 1 / np.hypot(sampler.sigmas, 1.0)  # fpguide's frame y = m x
    # measured: means within 4e-12 (1.5e-9 for Heun's default schedule, whose s_0 in float32 lies
    # 1e-7 above the process's top noise level, where the first score is then taken), variances
    # within 3.5e-10 relative
    np.testing.assert_allclose(ds["mean"].values, m * mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ds["variance"].values, m**2 * var, rtol=1e-8, atol=0)


@pytest.mark.parametrize(
    "kind, prediction",
    [
        (kind, prediction)
        for kind, sampler in SAMPLERS.items()
        for prediction in sampler.predictions  # diffusers' EulerAncestral refuses "sample"
    ],
)
def test_diffusers_arithmetic_is_the_frame_step(kind, prediction):
    """The particles' update (network output of each prediction type → x̂0 → diffusers' update in
    VE units) equals the grid's map in the frame, for every step."""
    sampler = SAMPLERS[kind](7, prediction_type=prediction)
    plan, rng = sampler.plan(), np.random.default_rng(1)
    x, z = rng.normal(size=(2, 40)) * 2

    def score(y, t):  # any smooth function of (y, t) will do
        return -y / (1.0 + t) + np.sin(y)

    for j in range(len(plan)):
        literal = sampler.literal_step(x, score, plan, j, z)
        mapped = sampler.step_map(x, score, plan, j) + plan.c[j] * z
        np.testing.assert_allclose(literal, mapped, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", list(SAMPLERS))
@pytest.mark.parametrize("target", ["gm", "um"])
def test_chain_against_particles(kind, target, request):
    mixture = request.getfixturevalue(target)
    guide, sampler = fg.CFG(label=1, w=3.0), SAMPLERS[kind](10)
    # the last step to s = 0 piles the uniform's guided mass against the support's edge (a tenth
    # of it in one cell after Heun): a grid with faces on the edges counts it on the right side
    grid = fg.Grid(-8.0, 8.0, 6400) if target == "um" else None
    ds = fg.solve_discrete(mixture, guide, sampler, grid=grid, compare=False)
    ps = fg.sample_discrete(mixture, guide, sampler, n=20_000, seed=11)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "kind, low, high",
    [("Euler", 1.7, 2.3), ("EulerAncestral", 1.6, 2.3), ("Heun", 3.4, 6.0)],
)
def test_gap_to_the_continuous_sampler_has_the_sampler_order(gm, kind, low, high):
    """The gap to the continuous sampler of the schedule's process (the ODE; the reverse SDE for
    Euler ancestral; same grid, from the chain's first state) at the last noisy state (S_0 for
    every N) shrinks by 2^order when the steps double. Measured for 16 → 32 → 64 steps: Euler
    2.11, 2.04; Euler ancestral 1.87, 1.88; Heun 4.75, 4.30 (5.1 for 64 → 128; from the process's
    prior N(0, 1) instead of the pipeline's N(0, s_0²), the gap stopped at 5.6e-4)."""
    guide, grid = fg.CFG(label=1, w=3.0), fg.Grid(-8.0, 8.0, 1600)
    gaps = [
        float(fg.solve_discrete(gm, guide, SAMPLERS[kind](n), grid=grid)["gap_l1"][-2])
        for n in (16, 32)
    ]
    assert low < gaps[0] / gaps[1] < high, gaps


def test_records_and_rerun(gm):
    for sampler in [
        fg.Euler(6, use_karras_sigmas=True, sigma_min=0.05, final_sigmas_type="sigma_min"),
        fg.EulerAncestral(6, prediction_type="v_prediction"),
        fg.Heun(6, use_karras_sigmas=True),
    ]:
        assert sampler_from_dict(sampler.to_dict()) == sampler
    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), fg.Heun(5))
    xr.testing.assert_identical(fg.rerun(ds), ds)
    ds = fg.sample_discrete(gm, fg.CFG(label=1, w=1.0), fg.EulerAncestral(5), n=100, seed=2)
    xr.testing.assert_identical(fg.rerun(ds), ds)


def test_final_sigma_min_ends_at_timestep_zero(gm):
    ds = fg.solve_discrete(
        gm, fg.CFG(label=1, w=1.0), fg.Euler(5, final_sigmas_type="sigma_min"), compare=False
    )
    # the time of diffusers' S_0 (float32, 8e-5 above the float64 level of timestep 0)
    assert ds.timestep.values[-1] == 0 and ds.t.values[-1] == pytest.approx(1e-3, rel=2e-4)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: fg.Euler(0), ValueError, "steps must be"),
        (lambda: fg.Euler(5, final_sigmas_type="max"), ValueError, "final_sigmas_type"),
        (lambda: fg.Euler(5, sigma_min=0.1), ValueError, "only with use_karras_sigmas"),
        (lambda: fg.Euler(5, use_karras_sigmas=True, sigma_min=-1.0), ValueError, "sigma_min"),
        (
            lambda: fg.Euler(5, use_karras_sigmas=True, sigma_min=5.0, sigma_max=2.0),
            ValueError,
            "sigma_min must be < sigma_max",
        ),
        (
            lambda: fg.Euler(5, use_karras_sigmas=True, sigma_max=500.0),
            ValueError,
            "beyond the schedule's largest sigma",
        ),
        (lambda: fg.EulerAncestral(5, prediction_type="sample"), ValueError, "prediction_type"),
        (lambda: fg.Heun(5, schedule="linear"), TypeError, "NoiseSchedule"),
        (lambda: fg.Heun(5, use_karras_sigmas=1), TypeError, "use_karras_sigmas"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_gap_starts_from_the_chains_first_state(gm):
    """diffusers' Euler pipelines start from N(0, s_0²) in the VE scale, N(0, (m_0 s_0)²) in the
    frame, not from the process's prior N(0, 1): the continuous sampler of the gap starts from the
    chain's own first state, so the gap is 0 there."""
    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=3.0), fg.Heun(6), grid=fg.Grid(-8.0, 8.0, 800))
    assert ds.gap_l1.values[0] == 0.0 and ds.gap_l1.values[1] > 0.0
    assert float(ds.variance[0]) == pytest.approx(1 - 1 / (1 + fg.Heun(6).sigmas[0] ** 2), rel=1e-6)


def test_solve_from_density_checks_its_start():
    from fpguide.runs.solve import solve_from_density
    from fpguide.sweeps.calls import SolveCall

    call = SolveCall(
        target=fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, labels=[0, 1]),
        guidance=fg.CFG(label=1, w=1.0),
        grid=fg.Grid(-6.0, 6.0, 100),
    )
    with pytest.raises(ValueError, match="q0 must hold the 100 cells"):
        solve_from_density(call, np.ones(99))
    with pytest.raises(ValueError, match="needs a 1-D fpguide.Grid"):
        solve_from_density(call.replace(grid=None), np.ones(100))
