"""Exact discrete-step samplers (DDIM, DDPM as diffusers runs them): schedules, step algebra, the
density of the chain against closed forms and particles, and its convergence to the continuous
sampler."""

import json

import numpy as np
import pytest

import fpguide as fg
from fpguide.models.discrete import NoiseSchedule

K = 1000


# --- schedules and steps: diffusers' definitions
# --------------------------------------------------------------------------------------------------


def test_beta_schedules_and_cumulative_products():
    betas = {
        "linear": np.linspace(1e-4, 0.02, K),
        "scaled_linear": np.linspace(1e-4**0.5, 0.02**0.5, K) ** 2,
    }
    for name, beta in betas.items():
        schedule = NoiseSchedule(name)
        np.testing.assert_allclose(schedule.betas(), beta, rtol=1e-14)
        np.testing.assert_allclose(schedule.alphas_cumprod(), np.cumprod(1.0 - beta), rtol=1e-12)
    # the capped cosine schedule telescopes to ā((k+1)/K)/ā(0), which is the continuous VP cosine
    # process's m(t)²
    cosine = NoiseSchedule("squaredcos_cap_v2")
    t = (np.arange(K - 1) + 1.0) / K
    np.testing.assert_allclose(
        cosine.alphas_cumprod()[:-1], fg.VP(schedule="cosine").m(t) ** 2, rtol=1e-10
    )
    # its continuous counterpart has m(t)² = ᾱ_k at t = (k + 1)/K
    process = cosine.process()
    np.testing.assert_allclose(process.m(t) ** 2, cosine.alphas_cumprod()[:-1], rtol=1e-12)


@pytest.mark.parametrize(
    "spacing, steps, offset, expected",
    [
        ("leading", 10, 0, [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]),
        ("leading", 10, 1, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]),
        ("trailing", 10, 0, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]),
        ("linspace", 10, 0, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]),
        ("trailing", 3, 0, [999, 666, 332]),
    ],
)
def test_timestep_spacings(spacing, steps, offset, expected):
    schedule = NoiseSchedule(timestep_spacing=spacing, steps_offset=offset)
    np.testing.assert_array_equal(schedule.timesteps(steps), expected)


SAMPLERS = [
    fg.DDIM(10),
    fg.DDIM(7, eta=0.4, schedule=NoiseSchedule("scaled_linear", 1000, 0.00085, 0.012, "trailing")),
    fg.DDIM(
        10, eta=1.0, schedule=NoiseSchedule(timestep_spacing="linspace"), set_alpha_to_one=False
    ),
    fg.DDPM(10),
    fg.DDPM(
        13,
        NoiseSchedule("squaredcos_cap_v2", timestep_spacing="trailing"),
        variance_type="fixed_large",
    ),
]


@pytest.mark.parametrize("steps", [61, 103, 201])
def test_trailing_spacing_gives_exactly_n_timesteps(steps):
    """diffusers' float arange yields a spurious timestep −1 for these N; the run has exactly N, all
    valid."""
    timesteps = NoiseSchedule(timestep_spacing="trailing").timesteps(steps)
    assert timesteps.size == steps and timesteps[0] == K - 1 and timesteps[-1] >= 0
    assert np.all(np.diff(timesteps) < 0)


def test_identity_step_is_left_out(gm):
    """With set_alpha_to_one=False the last "leading" step goes from timestep 0 to its own level: no
    new state."""
    ds = fg.solve_discrete(
        gm, fg.CFG(label=1, w=1.0), fg.DDIM(5, set_alpha_to_one=False), compare=False
    )
    assert ds.sizes["t"] == 5 and np.unique(ds.t.values).size == 5
    np.testing.assert_array_equal(ds.timestep.values, [800, 600, 400, 200, 0])


@pytest.mark.parametrize("sampler", SAMPLERS, ids=repr)
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_diffusers_arithmetic_is_the_affine_step(sampler, prediction):
    """x' = a x + b s + c z: diffusers' update from a network output of each prediction type, given
    the score s."""
    spec = sampler.to_dict()
    kind = spec.pop("type")
    spec["schedule"] = NoiseSchedule(**spec["schedule"])
    spec["prediction_type"] = prediction
    sampler = (fg.DDIM if kind == "DDIM" else fg.DDPM)(**spec)
    plan = sampler.plan()
    rng = np.random.default_rng(0)
    x, s, z = rng.normal(size=(3, 50)) * 3
    for j in range(len(plan)):
        literal = sampler.literal_step(x, lambda y, t: s, plan, j, z)
        np.testing.assert_allclose(
            literal, plan.a[j] * x + plan.b[j] * s + plan.c[j] * z, rtol=1e-9, atol=1e-9
        )


def test_ddpm_small_variance_is_ddim_with_eta_one():
    """The two schedulers' formulas agree where they take the same steps (the DDPM posterior = DDIM
    at η = 1)."""
    ddpm, ddim = fg.DDPM(20).plan(), fg.DDIM(20, eta=1.0).plan()
    np.testing.assert_array_equal(ddpm.previous, ddim.previous)
    for name in ("a", "b"):
        np.testing.assert_allclose(getattr(ddpm, name), getattr(ddim, name), rtol=1e-12)
    np.testing.assert_allclose(ddpm.c[:-1], ddim.c[:-1], rtol=1e-12)
    assert ddpm.c[-1] == 0.0 and ddim.c[-1] == 0.0  # no noise into the clean data


# --- the density of the chain
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", [fg.DDIM(10), fg.DDPM(10), fg.DDIM(25, eta=0.5)], ids=repr)
def test_linear_gaussian_chain_against_its_moment_recursion(sampler):
    """Gaussian p(x|c) and p(x): s_w is linear in x, every step is x' = (a + bα) x + bβ + c z, so
    the chain stays Gaussian with mean μ' = (a + bα) μ + bβ and variance v' = (a + bα)² v + c² — an
    exact reference."""
    mu_c, var_c, var_u, w = 1.5, 0.3, 2.0, 1.0
    guide = fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=var_c))
    ds = fg.solve_discrete(
        fg.GaussianMixture(means=[0.0], covariances=var_u), guide, sampler, compare=False
    )
    plan = sampler.plan()
    mean, var = [0.0], [1.0]
    for j in range(len(plan)):
        m, s2 = plan.m[j], plan.sigma[j] ** 2
        alpha = -(1 + w) / (m * m * var_c + s2) + w / (m * m * var_u + s2)
        beta = (1 + w) * m * mu_c / (m * m * var_c + s2)
        gain = plan.a[j] + plan.b[j] * alpha
        mean.append(gain * mean[-1] + plan.b[j] * beta)
        var.append(gain**2 * var[-1] + plan.c[j] ** 2)
    np.testing.assert_allclose(ds["mean"].values, mean, atol=2e-6)
    np.testing.assert_allclose(ds.variance.values, var, rtol=2e-5)
    assert abs(ds.mass.values - 1).max() < 1e-12


@pytest.mark.parametrize(
    "sampler",
    [
        fg.DDIM(10),
        fg.DDIM(50, prediction_type="v_prediction"),
        fg.DDPM(10),
        fg.DDPM(50, variance_type="fixed_large", prediction_type="sample"),
    ],
    ids=repr,
)
def test_chain_against_particles_of_the_same_chain(um, sampler):
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve_discrete(um, guide, sampler, compare=False)
    ps = fg.sample_discrete(um, guide, sampler, n=40_000, seed=3)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    run = json.loads(ds.attrs["run"])
    assert run["mass_error"] < 1e-12 and (ds.density.values >= 0).all()


@pytest.mark.parametrize(
    "make",
    [lambda: fg.DDIM(20, clip_sample=1.0), lambda: fg.DDPM(20, clip_sample=1.0)],
    ids=["DDIM", "DDPM"],
)
def test_clip_sample(make):
    """diffusers' clip of x̂0 to [−1, 1]: the step map is no longer affine; grid and particles still
    agree, and the clip changes the output of a target inside the range (its guided overshoot is
    clipped)."""
    small = fg.UniformMixture(lows=[-0.8, 0.2], highs=[-0.2, 0.8], labels=[-1, 1])
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve_discrete(small, guide, make(), compare=False)
    report = fg.cross_check(ds, fg.sample_discrete(small, guide, make(), n=40_000, seed=5))
    assert report.passed, str(report)
    plain = fg.solve_discrete(small, guide, type(make())(20), compare=False)
    assert abs(float(ds["mean"][-1] - plain["mean"][-1])) > 5e-3


# the spike is, of course, narrower than a cell
@pytest.mark.filterwarnings("ignore::fpguide.CoarseGridWarning")
def test_clip_sample_beyond_the_data_makes_point_masses(um, gm):
    """U[1, 2] clipped at 1: the last step sends every x̂0 > 1 to x = 1, an atom the grid can only
    hold as a spike."""
    with pytest.warns(fg.CollapsedMassWarning, match="onto single points"):
        ds = fg.solve_discrete(
            um, fg.CFG(label=1, w=3.0), fg.DDIM(10, clip_sample=1.0), compare=False
        )
    assert json.loads(ds.attrs["run"])["collapsed_mass"] > 0.9
    wide = fg.solve_discrete(
        gm, fg.CFG(label=1, w=3.0), fg.DDIM(10, clip_sample=100.0), compare=False
    )
    plain = fg.solve_discrete(gm, fg.CFG(label=1, w=3.0), fg.DDIM(10), compare=False)
    np.testing.assert_allclose(wide.density.values, plain.density.values, rtol=0, atol=1e-12)


def test_folding_steps_are_resolved(gm):
    """DDPM with 10 steps at w = 15 folds the line (the map turns back where the mass is): the
    density is still the chain's, as its particles show, and the folds are reported."""
    guide = fg.CFG(label=1, w=15.0)
    ds = fg.solve_discrete(gm, guide, fg.DDPM(10), compare=False)
    assert json.loads(ds.attrs["run"])["steps_with_folds"] >= 3
    report = fg.cross_check(ds, fg.sample_discrete(gm, guide, fg.DDPM(10), n=100_000, seed=1))
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "make, low, high", [(fg.DDIM, 0.85, 1.15), (fg.DDPM, 0.8, 1.15)], ids=["DDIM", "DDPM"]
)
def test_discretisation_gap_is_first_order(gm, make, low, high):
    """The gap to the continuous sampler (on the same grid) halves as N doubles: both are
    first-order schemes."""
    gaps = [
        fg.solve_discrete(gm, fg.CFG(label=1, w=3.0), make(n)).gap_l1.values for n in (10, 20, 40)
    ]
    assert all(gap[0] == 0.0 for gap in gaps)  # the same start
    rates = np.log2([gaps[0][-1] / gaps[1][-1], gaps[1][-1] / gaps[2][-1]])
    assert ((rates > low) & (rates < high)).all(), rates


def test_dataset_layout(gm):
    sampler = fg.DDIM(5)
    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), sampler)
    assert ds.sizes["t"] == 6 and ds.t.values[-1] == 0.0
    np.testing.assert_array_equal(ds.timestep.values, [800, 600, 400, 200, 0, -1])
    config = json.loads(ds.attrs["config"])
    assert config["sampler"] == sampler.to_dict()
    for name in ("gap_l1", "gap_entropy", "density", "confidence"):
        assert "long_name" in ds[name].attrs and "units" in ds[name].attrs


# --- bad input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NoiseSchedule("quadratic"), "beta_schedule must be one of"),
        (lambda: NoiseSchedule(timestep_spacing="uniform"), "timestep_spacing must be one of"),
        (lambda: NoiseSchedule(beta_start=0.02, beta_end=0.01), "beta_end must be >= beta_start"),
        (lambda: NoiseSchedule(beta_end=1.5), "beta_end must be in"),
        (lambda: NoiseSchedule(num_train_timesteps=1), "num_train_timesteps must be >= 2"),
        (lambda: fg.DDIM(0), "steps must be >= 1"),
        (lambda: fg.DDIM(1001), "steps must be <= num_train_timesteps"),
        (lambda: fg.DDIM(10, eta=1.5), "eta must lie in"),
        (lambda: fg.DDPM(10, variance_type="learned"), "variance_type must be one of"),
        (lambda: fg.DDPM(10, prediction_type="x0"), "prediction_type must be one of"),
        (lambda: fg.DDIM(10, clip_sample=0.0), "clip_sample must be > 0"),
        (
            lambda: fg.DDIM(10, schedule=NoiseSchedule(steps_offset=200)),
            "beyond the last training timestep",
        ),
    ],
)
def test_bad_sampler_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_solve_discrete_arguments(gm):
    with pytest.raises(TypeError, match="sampler must be a fpguide.DDIM, DDPM, FlowMatchEuler"):
        fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), "ddim")
    with pytest.raises(TypeError, match="steps must be an integer"):
        fg.DDIM(10.0)
    box = fg.UniformMixture(lows=[[0.0, 0.0]], highs=[[1.0, 1.0]], labels=[0])
    with pytest.raises(ValueError, match="1-D only"):
        fg.solve_discrete(box, fg.CFG(label=0, w=1.0), fg.DDIM(5))
    with pytest.raises(fg.WallMassError, match="use a grid that covers it"):
        fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), fg.DDIM(5), grid=fg.Grid(-5.0, 5.0, 200))
