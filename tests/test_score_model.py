"""ScoreModel, the score models users bring: its outputs converted in every process's frame
against closed forms written out here; a ScoreModel wrapping a mixture's own score gives the
mixture's Datasets (grid and particles, continuous and discrete samplers, rules, sweeps) to
round-off; the observables it cannot give are left out with a note; divergence_to against the
runs' own KL and TV; PyTorch modules; bad input."""

import json

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.tools.errors import NumericalError

TARGET_1D = fg.GaussianMixture([-2.0, 2.0], 0.25, labels=[0, 1])
TARGET_2D = fg.GaussianMixture(
    [[-1.5, 0.0], [1.5, 0.5]], [[[0.3, 0.05], [0.05, 0.2]], [[0.2, 0.0], [0.0, 0.4]]], labels=[0, 1]
)


def wrap(mixture, process=None, length_scale=None, **options):
    """A ScoreModel whose callable is the mixture's score in the process's own variable x = s y:
    s_x(x) = s_y(x/s)/s."""
    process = fg.OU() if process is None else process
    d = mixture.ndim

    def score(x, t):
        s = float(process.frame_scale(t))
        y = x[:, 0] if d == 1 else x
        out = mixture.score(y / s, t, process) / s
        return out.reshape(x.shape)

    if length_scale is None:  # the mixture's own narrowest feature, so that both choose one grid
        length_scale = float(np.sqrt(mixture.component_table().ext.min()))
    return fg.ScoreModel(score, ndim=d, length_scale=length_scale, **options)


def common_variables_equal(a, b, rtol=1e-9):
    """Every variable of b is in a and equal; the names a has beyond b."""
    for name in b.data_vars:
        np.testing.assert_allclose(b[name].values, a[name].values, rtol=rtol, atol=1e-12)
    return set(a.data_vars) - set(b.data_vars)


DENSITY_FREE = {"kl_conditional", "tv_conditional", "kl_tilted", "tv_tilted"}


# --- the outputs, in every process's frame


def _gaussian_outputs(mu, v, x, alpha, sigma_x, m, sigma_y):
    """The closed-form outputs of N(μ, v) noised as α X_0 + σ_x Z, at points x of the process's
    own variable: the score in x, ε, x̂0, v (m ε − σ x̂0 in the frame y) and ε − x̂0."""
    s_x = -(x - alpha * mu) / (alpha**2 * v + sigma_x**2)
    eps = -sigma_x * s_x
    x0 = (x + sigma_x**2 * s_x) / alpha
    return {
        "score": s_x,
        "epsilon": eps,
        "sample": x0,
        "v_prediction": m * eps - sigma_y * x0,
        "flow": eps - x0,
    }


@pytest.mark.parametrize("process", [fg.OU(), fg.VE(), fg.EDM(), fg.FlowMatching()])
@pytest.mark.parametrize("output", ["score", "epsilon", "sample", "v_prediction", "flow"])
def test_outputs_become_the_score_of_the_frame(process, output):
    mu, v, t = np.array([0.7, -0.4]), 0.3, 0.4 if isinstance(process, fg.FlowMatching) else 1.3
    s = float(process.frame_scale(t))
    m, sigma = float(process.m(t)), float(process.sigma(t))
    alpha, sigma_x = m * s, sigma * s  # X_t = α X_0 + σ_x Z in the process's own variable

    def network(x, tt):
        assert tt == t
        return _gaussian_outputs(mu, v, x, alpha, sigma_x, m, sigma)[output]

    model = fg.ScoreModel(network, ndim=2, output=output)
    y = np.random.default_rng(0).normal(size=(50, 2))
    expected = fg.GaussianMixture([mu], v).score(y, t, process)
    np.testing.assert_allclose(model.evaluate_score(y, t, process), expected, rtol=1e-10)


def test_batches_give_the_same_scores():
    calls = []

    def network(x, t):
        calls.append(x.shape[0])
        return -x

    model = fg.ScoreModel(network, ndim=2, batch_size=7)
    y = np.arange(40.0).reshape(20, 2)
    np.testing.assert_array_equal(model.evaluate_score(y, 0.5, fg.OU()), -y)
    assert calls == [7, 7, 6]


# --- a ScoreModel of a mixture's own score is that mixture


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_1d_solve_equals_the_mixture(sampler):
    cond = TARGET_1D.condition(1)
    ref = fg.solve(TARGET_1D, fg.CFG(w=2.0, cond=cond), sampler=sampler, t_min=0.05, n_save=4)
    ds = fg.solve(
        wrap(TARGET_1D), fg.CFG(w=2.0, cond=wrap(cond)), sampler=sampler, t_min=0.05, n_save=4
    )
    assert common_variables_equal(ref, ds) == DENSITY_FREE
    assert "computes no densities" in ds.attrs["omitted"]
    assert "confidence" in ds.attrs["omitted"]
    assert json.loads(ds.attrs["config"])["target"]["type"] == "ScoreModel"


def test_a_classifier_gives_the_confidence():
    cond = TARGET_1D.condition(1)

    def classifier(x, t):
        return np.log(TARGET_1D.class_posterior(x[:, 0], t, 1))

    ref = fg.solve(TARGET_1D, fg.CFG(label=1, w=2.0), t_min=0.05, n_save=3)
    guidance = fg.CFG(w=2.0, cond=wrap(cond, classifier=classifier))
    ds = fg.solve(wrap(TARGET_1D), guidance, t_min=0.05, n_save=3)
    assert {"confidence", "inverse_confidence"} <= set(ds.data_vars)
    assert "confidence" not in ds.attrs["omitted"]
    np.testing.assert_allclose(ds.confidence, ref.confidence, rtol=1e-10)
    particles = fg.sample(wrap(TARGET_1D), guidance, n=2000, seed=1, t_min=0.05, n_save=3)
    np.testing.assert_allclose(
        particles.confidence, ref.confidence, atol=5 * float(particles.confidence_se.max())
    )


def test_2d_solve_in_the_flow_matching_frame_equals_the_mixture():
    process = fg.FlowMatching()
    cond = TARGET_2D.condition(1)
    options = {"process": process, "T": 0.999, "t_min": 0.2, "n_save": 3}
    ref = fg.solve(TARGET_2D, fg.CFG(w=2.0, cond=cond), **options)
    model = wrap(TARGET_2D, process)
    ds = fg.solve(model, fg.CFG(w=2.0, cond=wrap(cond, process)), **options)
    assert common_variables_equal(ref, ds, rtol=1e-8) == DENSITY_FREE
    # a mixture and a score model, the other way round
    mixed = fg.solve(TARGET_2D, fg.CFG(w=2.0, cond=wrap(cond, process)), **options)
    assert common_variables_equal(ref, mixed, rtol=1e-8) == DENSITY_FREE


def test_rules_and_sweeps_with_score_models():
    cond = TARGET_2D.condition(1)
    rule = fg.rules.ClassifierFreeZeroStar()
    options = {"t_min": 0.3, "n_save": 2, "sampler": "sde"}
    ref = fg.solve(TARGET_2D, fg.CFG(w=[0.5, 1.0], cond=cond, rule=rule), **options)
    guidance = fg.CFG(w=[0.5, 1.0], cond=wrap(cond), rule=rule)
    ds = fg.solve(wrap(TARGET_2D), guidance, **options)
    assert ds.density.dims[0] == "w"
    assert common_variables_equal(ref, ds) == {"kl_conditional", "tv_conditional"}
    assert "omitted" in ds.attrs


def test_particles_equal_the_mixture():
    cond = TARGET_2D.condition(1)
    options = {"n": 500, "seed": 4, "t_min": 0.05, "n_save": 3}
    for sampler in ("ode", "sde"):
        ref = fg.sample(TARGET_2D, fg.CFG(w=2.0, cond=cond), sampler=sampler, **options)
        ps = fg.sample(wrap(TARGET_2D), fg.CFG(w=2.0, cond=wrap(cond)), sampler=sampler, **options)
        np.testing.assert_allclose(ps.position, ref.position, rtol=1e-9, atol=1e-12)
        assert "omitted" in ps.attrs and "omitted" not in ref.attrs


def test_discrete_chains_equal_the_mixture():
    cond = TARGET_1D.condition(1)
    chain = fg.DDIM(20)
    process = chain.process()  # the chain's own schedule, which the callables see
    ref = fg.solve_discrete(TARGET_1D, fg.CFG(w=2.0, cond=cond), chain)
    guidance = fg.CFG(w=2.0, cond=wrap(cond, process))
    ds = fg.solve_discrete(wrap(TARGET_1D, process), guidance, chain)
    np.testing.assert_allclose(ds.density, ref.density, rtol=1e-9, atol=1e-12)
    ref_p = fg.sample_discrete(TARGET_1D, fg.CFG(w=2.0, cond=cond), chain, n=300, seed=2)
    ps = fg.sample_discrete(wrap(TARGET_1D, process), guidance, chain, n=300, seed=2)
    assert "omitted" in ds.attrs and "omitted" in ps.attrs
    pc = fg.sample_pc(
        wrap(TARGET_1D), fg.CFG(w=2.0, cond=wrap(cond)), fg.PredictorCorrector(5), n=100, seed=0
    )
    assert "omitted" in pc.attrs
    np.testing.assert_allclose(ps.position, ref_p.position, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("process", [fg.OU(), fg.VE()])
@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_guided_shifted_gaussians_give_their_closed_form(process, sampler):
    """N(0, I) and N(μ, I) noised as X_t = α X_0 + σ_x Z (VE: α = 1) have scores −x/v and
    −(x − αμ)/v, v = α² + σ_x², in the process's own variable: their guided score is that of
    N((1 + w)μ, I) noised. The run equals the mixtures' (whose scores are taken in the frame y)
    to round-off, and its output is that law within the start's distance and the solver's own
    error estimate."""
    mu, w = np.array([1.0, -0.5]), 1.5

    def noised(t):
        s = float(process.frame_scale(t))
        alpha, sigma_x = float(process.m(t)) * s, float(process.sigma(t)) * s
        return alpha, alpha**2 + sigma_x**2

    def uncond(x, t):
        return -x / noised(t)[1]

    def cond(x, t):
        alpha, v = noised(t)
        return -(x - alpha * mu) / v

    options = {
        "process": process,
        "sampler": sampler,
        "T": 10.0 if isinstance(process, fg.OU) else 1.0,
        "t_min": 0.05,
        "n_save": 3,
    }
    guidance = fg.CFG(w=w, cond=fg.ScoreModel(cond, ndim=2, length_scale=1.0))
    ds = fg.solve(
        fg.ScoreModel(uncond, ndim=2, length_scale=1.0), guidance, error_estimate=True, **options
    )
    gaussian = fg.GaussianMixture([[0.0, 0.0]], 1.0)
    ref = fg.solve(gaussian, fg.CFG(w=w, cond=fg.GaussianMixture([mu], 1.0)), **options)
    np.testing.assert_allclose(ds.density, ref.density, rtol=1e-8, atol=1e-12)
    # the prior start differs from the law at T (VE: by the mean (1 + w)μ m(T), m(T) = 0.02); the
    # sampler's flow does not increase that total variation
    tv = fg.divergence_to(ds, fg.GaussianMixture([(1.0 + w) * mu], 1.0)).tv
    bound = float(tv.isel(t=0)) + 0.5 * float(ds.l1_error.isel(t=-1))
    assert 0.0 < float(tv.isel(t=-1)) <= bound, (tv.values, ds.l1_error.values)


def test_grid_against_particles_for_a_field_no_mixture_has():
    """A score that is no mixture's (a rotation added to a Gaussian's score): the grid and the
    particles of the same dynamics agree."""

    def swirl(x, t):
        return -x + 0.5 * np.stack([-x[:, 1], x[:, 0]], axis=1)

    uncond = fg.ScoreModel(lambda x, t: -x, ndim=2)
    guidance = fg.CFG(w=1.0, cond=fg.ScoreModel(swirl, ndim=2))
    ds = fg.solve(uncond, guidance, t_min=0.1, n_save=2)
    ps = fg.sample(uncond, guidance, n=20000, seed=0, t_min=0.1, n_save=2)
    check = fg.cross_check(ds, ps)
    assert check.passed, check


# --- KL and TV to a reference


def test_divergence_to_equals_the_runs_own():
    for target, t_min in ((TARGET_1D, 0.05), (TARGET_2D, 0.1)):
        ds = fg.solve(target, fg.CFG(label=1, w=2.0), t_min=t_min, n_save=3)
        out = fg.divergence_to(ds, target.condition(1))
        assert out.kl.dims == ("t",)
        np.testing.assert_allclose(out.kl.isel(t=-1), ds.kl_conditional, rtol=1e-9)
        np.testing.assert_allclose(out.tv.isel(t=-1), ds.tv_conditional, rtol=1e-9)
    # a density on the grid: the run's own last density is at KL 0 from itself (TV: the round-off
    # of exp(log q))
    same = fg.divergence_to(ds, ds.density.isel(t=-1))
    assert float(same.kl.isel(t=-1)) == 0.0 and float(same.tv.isel(t=-1)) < 1e-15
    assert np.isinf(same.kl.isel(t=0))  # the prior has mass where the output's cells hold none


def test_divergence_to_keeps_swept_dimensions():
    ds = fg.solve(TARGET_1D, fg.CFG(label=1, w=[0.0, 2.0]), t_min=0.05, n_save=3)
    out = fg.divergence_to(ds, TARGET_1D.condition(1))
    assert set(out.kl.dims) == {"w", "t"}
    # at w = 0 the KL is 4e-9: the round-off of the log-densities (1e-16) is absolute there
    np.testing.assert_allclose(out.kl.isel(t=-1), ds.kl_conditional, rtol=1e-8, atol=1e-15)
    # an item has no density at the times it did not save: NaN there, not a perfect match
    swept = fg.solve(TARGET_1D, fg.CFG(label=1, w=1.0), t_min=[0.1, 0.3], n_save=3)
    kl = fg.divergence_to(swept, TARGET_1D.condition(1)).kl
    assert np.isnan(kl.sel(t_min=0.3, t=0.1)) and np.isfinite(kl.sel(t_min=0.1, t=0.1))


@pytest.mark.parametrize(
    "reference, error, match",
    [
        ("not a law", TypeError, "reference must be"),
        (fg.GaussianMixture([[0.0, 0.0]], 1.0), ValueError, "run's dimension"),
        (xr.DataArray(np.ones(3), dims="x"), ValueError, "cells along x"),
        (xr.DataArray(np.ones(2), dims="t"), ValueError, "spatial dimensions"),
    ],
)
def test_divergence_to_bad_input(reference, error, match):
    ds = fg.solve(TARGET_1D, fg.CFG(label=1, w=1.0), t_min=0.2, n_save=2)
    with pytest.raises(error, match=match):
        fg.divergence_to(ds, reference)


def test_divergence_to_bad_references_on_the_grid():
    ds = fg.solve(TARGET_1D, fg.CFG(label=1, w=1.0), t_min=0.2, n_save=2)
    with pytest.raises(ValueError, match="non-negative"):
        fg.divergence_to(ds, -ds.density.isel(t=-1))
    with pytest.raises(ValueError, match="the density's dimensions only"):
        fg.divergence_to(ds, ds.density.isel(t=-1).expand_dims(extra=2))
    with pytest.raises(ValueError, match="t must be the run's saved times"):
        fg.divergence_to(ds, ds.density.assign_coords(t=ds.t.values + 1e-12))
    chain = fg.solve_discrete(TARGET_1D, fg.CFG(label=1, w=1.0), fg.DDIM(5))
    with pytest.raises(ValueError, match="discrete chain"):
        fg.divergence_to(chain, TARGET_1D)


# --- what a score model cannot do, and bad input


GOOD = fg.ScoreModel(lambda x, t: -x, ndim=1)


@pytest.mark.parametrize(
    "args, options, error, match",
    [
        (("not callable", 1), {}, TypeError, "score must be a callable"),
        ((lambda x, t: x, 0), {}, ValueError, "ndim"),
        ((lambda x, t: x, 1), {"output": "noise"}, ValueError, "output"),
        ((lambda x, t: x, 1), {"length_scale": -1.0}, ValueError, "length_scale"),
        ((lambda x, t: x, 1), {"batch_size": 0}, ValueError, "batch_size"),
        ((lambda x, t: x, 1), {"classifier": 3}, TypeError, "classifier must be a callable"),
    ],
)
def test_bad_arguments(args, options, error, match):
    with pytest.raises(error, match=match):
        fg.ScoreModel(*args, **options)


@pytest.mark.parametrize(
    "score, error, match",
    [
        (lambda x, t: x[:, 0], ValueError, r"must return shape \(16, 1\).*got shape \(16,\)"),
        (lambda x, t: x * np.nan, ValueError, "not finite at x=.*checked before the run"),
        (lambda x, t: x.tolist(), TypeError, "must return a numpy array.*got list"),
        (lambda x, t: x.astype(complex), TypeError, "real numbers"),
    ],
)
def test_bad_callables_are_named_before_the_run(score, error, match):
    model = fg.ScoreModel(score, ndim=1, name="mynet")
    with pytest.raises(error, match=match) as info:
        fg.solve(model, fg.CFG(w=1.0, cond=GOOD), t_min=0.1)
    assert "mynet" in str(info.value)


def test_a_classifier_may_return_minus_infinity():
    def classifier(x, t):
        return np.where(x[:, 0] > 0.0, 0.0, -np.inf)

    model = fg.ScoreModel(lambda x, t: -x, ndim=1, classifier=classifier)
    post = model.log_class_posterior(np.array([-1.0, 1.0]), 0.5, fg.OU())
    np.testing.assert_array_equal(post, [-np.inf, 0.0])
    nan = fg.ScoreModel(lambda x, t: -x, ndim=1, classifier=lambda x, t: x[:, 0] * np.nan)
    with pytest.raises(NumericalError, match="classifier of the score model"):
        nan.log_class_posterior(np.array([1.0]), 0.5, fg.OU())


def test_nan_during_the_run_is_a_numerical_error():
    def score(x, t):
        return np.where(np.abs(x) > 3.0, np.nan, -x) if t < 1.0 else -x

    model = fg.ScoreModel(score, ndim=1, name="holey")
    with pytest.raises(NumericalError, match="holey is not finite"):
        fg.sample(model, fg.CFG(w=1.0, cond=GOOD), n=20000, seed=0, t_min=1e-3)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fg.CFG(label=1, w=1.0).bind(GOOD), ValueError, "no classes"),
        (
            lambda: fg.CFG(w=1.0, cond=GOOD, cond_error=lambda x, t: 0 * x).bind(GOOD),
            ValueError,
            "no cond_error",
        ),
        (lambda: fg.solve(GOOD, fg.CFG(w=1.0, cond=GOOD), start="exact"), ValueError, "exact"),
        (
            lambda: fg.CFG(w=1.0, cond=fg.ScoreModel(lambda x, t: -x, ndim=2)).bind(GOOD),
            ValueError,
            "dimension",
        ),
        (
            lambda: fg.solve(
                fg.ScoreModel(lambda x, t: -x, ndim=2),
                fg.CFG(w=1.0, cond=fg.ScoreModel(lambda x, t: -x, ndim=2)),
                reduce=True,
            ),
            ValueError,
            "closed-form targets",
        ),
    ],
)
def test_refusals(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_records_cannot_rerun():
    ds = fg.solve(GOOD, fg.CFG(w=1.0, cond=GOOD), t_min=0.2, n_save=2)
    with pytest.raises(ValueError, match="cannot rebuild it"):
        fg.rerun(ds)


def test_a_mixture_condition_keeps_the_exact_start():
    cond = TARGET_1D.condition(1)
    ref = fg.solve(TARGET_1D, fg.CFG(w=1.0, cond=cond), start="exact", t_min=0.1, T=2.0)
    ds = fg.solve(wrap(TARGET_1D), fg.CFG(w=1.0, cond=cond), start="exact", t_min=0.1, T=2.0)
    np.testing.assert_allclose(ds.density, ref.density, rtol=1e-9, atol=1e-12)


# --- PyTorch modules


def test_torch_module_gives_the_same_dataset():
    torch = pytest.importorskip("torch")

    class Exact(torch.nn.Module):
        """A mixture's score as a module, in float64 (an MLP would not be exact)."""

        def __init__(self, mixture):
            super().__init__()
            self.mixture = mixture
            self.register_buffer("unit", torch.ones((), dtype=torch.float64))

        def forward(self, x, t):
            assert x.dtype == torch.float64 and t.shape == x.shape[:1]
            return self.unit * torch.as_tensor(self.mixture.score(x.numpy(), float(t[0])))

    cond = TARGET_2D.condition(1)
    ls = float(np.sqrt(TARGET_2D.component_table().ext.min()))
    guidance = fg.CFG(w=2.0, cond=fg.ScoreModel.from_torch(Exact(cond).eval(), 2, length_scale=ls))
    model = fg.ScoreModel.from_torch(Exact(TARGET_2D).eval(), 2, length_scale=ls, batch_size=1000)
    ds = fg.solve(model, guidance, t_min=0.2, n_save=2)
    ref = fg.solve(wrap(TARGET_2D), fg.CFG(w=2.0, cond=wrap(cond)), t_min=0.2, n_save=2)
    assert common_variables_equal(ref, ds) == set()


def test_torch_float32_mlp_and_classifier():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, t):
            return self.net(x) - x

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x, t):
            return torch.nn.functional.logsigmoid(self.lin(x))

    model = fg.ScoreModel.from_torch(
        Net().eval(), 2, classifier=Classifier().eval(), time=lambda t: 2 * t
    )
    x = np.random.default_rng(0).normal(size=(10, 2))
    with torch.no_grad():
        expected = net(torch.tensor(x, dtype=torch.float32)).double().numpy() - x
    np.testing.assert_allclose(model.evaluate_score(x, 0.3, fg.OU()), expected, rtol=1e-6)
    assert model.log_class_posterior(x, 0.3, fg.OU()).shape == (10,)
    assert repr(model) == "ScoreModel(Net, ndim=2, classifier)"


def test_torch_modules_with_integer_buffers_in_evaluation_mode():
    torch = pytest.importorskip("torch")

    class Normed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.norm = torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)
            self.register_buffer("label", torch.tensor(1))  # an integer buffer

        def forward(self, x, t):
            return self.norm(self.lin(x))

    module = Normed()
    with pytest.raises(ValueError, match=r"training mode.*call module.eval\(\)"):
        fg.ScoreModel.from_torch(module, 2)
    model = fg.ScoreModel.from_torch(module.eval(), 2, device="cpu")
    x = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(
        model.evaluate_score(x, 0.3, fg.OU()), model.evaluate_score(x, 0.3, fg.OU())
    )


def test_torch_bad_modules():
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(2, 2).double().eval()
    with pytest.raises(ValueError, match="not dtype=torch.float32"):
        fg.ScoreModel.from_torch(net, 2, dtype=torch.float32)
    with pytest.raises(ValueError, match="not on device='meta'"):
        fg.ScoreModel.from_torch(net, 2, device="meta")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fg.ScoreModel.from_torch(lambda x, t: x, 2)

    class Listy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x, t):
            return self.lin(x).tolist()

    with pytest.raises(TypeError, match="must return a torch.Tensor"):
        fg.ScoreModel.from_torch(Listy().eval(), 2).evaluate_score(np.zeros((3, 2)), 0.5, fg.OU())
