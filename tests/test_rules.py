"""Guidance rules (fpguide.rules): each against a per-point reference written here from diffusers'
guider code, the documented 1-D degeneracies, grid against particles, records and bad input."""

import json
import warnings

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.models.rules import rule_from_dict
from fpguide.tools.errors import CoarseGridWarning, NumericalError

RULES = fg.rules


def _prediction(kind, y, s, m, sigma):
    """The model's prediction at y from its score s (diffusers' quantities in the VP frame)."""
    eps, x0 = -sigma * s, (y + sigma**2 * s) / m
    return {
        "epsilon": eps,
        "sample": x0,
        "v_prediction": m * eps - sigma * x0,
        "flow": eps - x0,
        "score": s,
    }[kind]


def _score(kind, y, pred, m, sigma):
    """The score whose prediction is ``pred``: the prediction is affine in s."""
    at0 = _prediction(kind, y, np.zeros_like(y), m, sigma)
    slope = _prediction(kind, y, np.ones_like(y), m, sigma) - at0
    return (pred - at0) / slope


def _std(v):
    return np.std(v, ddof=1)  # torch.std's default: unbiased


def _diffusers(rule, c, u, w, diff=None):
    """diffusers' guider for one point (c, u of shape (d,)), guidance_scale γ = 1 + w (APG: its
    difference ``diff``, the momentum's running average, when given)."""
    gs = 1.0 + w
    if isinstance(rule, RULES.ClassifierFreeZeroStar):
        alpha = float(c @ u) / (float(u @ u) + 1e-8)
        u = u * alpha
        pred = u + gs * (c - u)
    elif isinstance(rule, RULES.AdaptiveProjected):
        diff = c - u if diff is None else diff
        r = rule.adaptive_projected_guidance_rescale
        if r > 0:
            diff = diff * min(1.0, r / np.linalg.norm(diff)) if np.linalg.norm(diff) else diff
        v1 = c / max(np.linalg.norm(c), 1e-12)
        parallel = float(diff @ v1) * v1
        update = (diff - parallel) + rule.eta * parallel
        pred = c + w * update if rule.use_original_formulation else u + gs * update
    elif isinstance(rule, RULES.TangentialClassifierFree):
        _, _, vh = np.linalg.svd(np.stack([c, u]), full_matrices=False)
        vh_mod = vh.copy()
        vh_mod[1] = 0.0
        u = (u @ vh.T) @ vh_mod
        pred = u + gs * (c - u)
    elif isinstance(rule, RULES.MagnitudeAware):
        ratio = np.linalg.norm(c - u) / np.linalg.norm(u)
        pred = u + (1.0 + (gs - 1.0) * np.exp(-rule.alpha * ratio)) * (c - u)
    elif isinstance(rule, RULES.PowerLaw):  # the paper's S_c + ω (S_c − S_u) ‖S_c − S_u‖^α, ω = w
        norm = np.linalg.norm(c - u)  # at c = u the term is its limit 0 (alpha > -1)
        pred = c + w * (c - u) * norm**rule.alpha if norm > 0 else c
    else:
        pred = u + gs * (c - u)
    if rule.guidance_rescale > 0:
        rescaled = pred * (_std(c) / _std(pred))
        pred = rule.guidance_rescale * rescaled + (1 - rule.guidance_rescale) * pred
    return pred


GM3 = fg.GaussianMixture(
    means=[[2.0, 1.0, 0.5], [4.0, 1.5, -0.5], [3.0, 3.0, 0.0]],
    covariances=[[[0.3, 0.1, 0.0], [0.1, 0.4, 0.05], [0.0, 0.05, 0.2]], 0.5 * np.eye(3), np.eye(3)],
    labels=[0, 1, 1],
)
CASES = [
    RULES.ClassifierFree(guidance_rescale=0.7),
    RULES.ClassifierFreeZeroStar(),
    RULES.ClassifierFreeZeroStar(guidance_rescale=0.3),
    RULES.AdaptiveProjected(),
    RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=0.5, eta=0.3),
    RULES.AdaptiveProjected(eta=0.0, use_original_formulation=True),
    RULES.TangentialClassifierFree(),
    RULES.MagnitudeAware(),
    RULES.MagnitudeAware(alpha=0.5, guidance_rescale=1.0),
    RULES.PowerLaw(),
    # alpha = 0.5, not < 0: for alpha < 0 the term is not Lipschitz at c = u, where the round-off
    # of c - u (1e-16) becomes 1e-8; that case is tested against particles instead
    RULES.PowerLaw(alpha=0.5, guidance_rescale=0.4),
]


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction", "flow", "score"])
@pytest.mark.parametrize("rule", CASES, ids=repr)
@pytest.mark.parametrize("d", [2, 3])
def test_guided_score_is_diffusers_rule_on_the_predictions(rule, prediction, d):
    rule = rule_from_dict(rule.to_dict() | {"prediction": prediction})
    target = GM3 if d == 3 else GM3.marginal([0, 1])
    rng = np.random.default_rng(d)
    x = rng.normal([3.0, 1.5, 0.0][:d], 2.0, size=(60, d))
    for process, t in [(fg.OU(), 0.05), (fg.OU(), 0.8), (fg.FlowMatching(), 0.4)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the rescale's in 2-D and 3-D
            model = fg.CFG(label=1, w=3.0, rule=rule).bind(target)
        _, s_u, _, s_c = model.scores(x, t, process)
        m, sigma = float(process.m(t)), float(process.sigma(t))
        expected = np.array(
            [
                _score(
                    prediction,
                    y,
                    _diffusers(
                        rule,
                        _prediction(prediction, y, sc, m, sigma),
                        _prediction(prediction, y, su, m, sigma),
                        3.0,
                    ),
                    m,
                    sigma,
                )
                for y, sc, su in zip(x, s_c, s_u)
            ]
        )
        got = model.guided_score(x, t, process)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_power_law_is_cfg_at_alpha_zero_and_grows_with_the_difference(gm):
    x = np.linspace(-4.0, 4.0, 41)
    ou = fg.OU()
    plain = fg.CFG(label=1, w=2.0).bind(gm).guided_score(x, 0.2, ou)
    zero = fg.CFG(label=1, w=2.0, rule=RULES.PowerLaw(alpha=0.0)).bind(gm)
    np.testing.assert_allclose(zero.guided_score(x, 0.2, ou), plain, rtol=1e-12, atol=1e-12)
    # at c = u the term vanishes for every alpha > -1 (0 · |0|^alpha, taken as its limit)
    c = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(RULES.PowerLaw(alpha=-0.5).combine(c, c, 3.0), c)
    with pytest.raises(ValueError, match="alpha must be > -1"):
        RULES.PowerLaw(alpha=-1.0)


def test_a_batch_of_weights_is_the_rule_at_each_weight(gm):
    rule = RULES.MagnitudeAware(alpha=1.0)
    model = fg.CFG(label=1, w=0.0, rule=rule).bind(gm)
    x = np.linspace(-3.0, 3.0, 11)
    batch = model.guided_score(x, 0.3, fg.OU(), np.array([[1.0], [4.0]]))
    for row, w in zip(batch, (1.0, 4.0)):
        single = fg.CFG(label=1, w=w, rule=rule).bind(gm).guided_score(x, 0.3, fg.OU())
        np.testing.assert_allclose(row, single, rtol=1e-14)
    model2 = fg.CFG(label=1, w=0.0, rule=rule).bind(GM3)
    x3 = np.random.default_rng(0).normal(size=(7, 3))
    batch3 = model2.guided_score(x3, 0.3, fg.OU(), np.array([[1.0]] * 3 + [[4.0]] * 4))
    for rows, w in ((slice(0, 3), 1.0), (slice(3, 7), 4.0)):
        single = fg.CFG(label=1, w=w, rule=rule).bind(GM3).guided_score(x3[rows], 0.3, fg.OU())
        np.testing.assert_allclose(batch3[rows], single, rtol=1e-14)


def test_one_dimensional_degeneracies(gm):
    x = np.linspace(-4.0, 4.0, 41)
    ou = fg.OU()
    # APG in 1-D: no orthogonal part, so CFG with γη (no clip)
    apg = fg.CFG(label=1, w=3.0, rule=RULES.AdaptiveProjected(eta=0.5)).bind(gm)
    plain = fg.CFG(label=1, gamma=4.0 * 0.5).bind(gm)
    s_apg, s_plain = apg.guided_score(x, 0.2, ou), plain.guided_score(x, 0.2, ou)
    # the default clip r = 15 (in ε) does not act here
    np.testing.assert_allclose(s_apg, s_plain, rtol=1e-12, atol=1e-12)
    # CFG-Zero* in 1-D: the conditional prediction, except within |u| ~ 1e-4 of u = 0
    with pytest.warns(UserWarning, match="ClassifierFreeZeroStar in 1-D"):
        zero = fg.CFG(label=1, w=3.0, rule=RULES.ClassifierFreeZeroStar()).bind(gm)
    _, s_u, _, s_c = zero.scores(x, 0.2, ou)
    away = np.abs(float(ou.sigma(0.2)) * s_u) > 1e-2
    np.testing.assert_allclose(zero.guided_score(x, 0.2, ou)[away], s_c[away], rtol=1e-3)
    for rule, match in [
        (RULES.TangentialClassifierFree(), "needs d >= 2"),
        (RULES.ClassifierFree(guidance_rescale=0.5), "guidance_rescale=0.5 needs d >= 2"),
    ]:
        with pytest.raises(ValueError, match=match):
            fg.CFG(label=1, w=3.0, rule=rule).bind(gm)


@pytest.mark.parametrize(
    "rule, sampler",
    [
        (RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=1.0, eta=0.5), "ode"),
        (RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=1.0, eta=0.5), "sde"),
        (RULES.MagnitudeAware(alpha=2.0), "ode"),
        (RULES.MagnitudeAware(alpha=2.0), "sde"),
        (RULES.PowerLaw(alpha=0.9), "ode"),
        (RULES.PowerLaw(alpha=-0.5), "sde"),
    ],
    ids=repr,
)
def test_1d_grid_against_particles(rule, sampler, gm):
    guide = fg.CFG(label=1, w=3.0, rule=rule)
    ds = fg.solve(gm, guide, sampler, n_save=3)
    ps = fg.sample(gm, guide, sampler, n=20_000, seed=2, t_eval=ds.t.values)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


GM2 = fg.GaussianMixture(
    [[2.0, 1.0], [4.0, 1.5]], [[[0.3, 0.1], [0.1, 0.4]], np.eye(2)], labels=[0, 1]
)


@pytest.mark.parametrize(
    "rule, sampler",
    [
        (RULES.ClassifierFreeZeroStar(prediction="sample"), "ode"),
        (RULES.AdaptiveProjected(eta=0.5, prediction="sample"), "sde"),
        (RULES.TangentialClassifierFree(prediction="sample"), "ode"),
        (RULES.MagnitudeAware(alpha=2.0, prediction="sample"), "sde"),
        (RULES.PowerLaw(alpha=0.5), "ode"),
    ],
    ids=repr,
)
def test_2d_grid_against_particles(rule, sampler):
    """On x̂0 predictions (the data away from the origin, so that the directions the rules
    normalise are smooth where the mass is)."""
    guide = fg.CFG(label=1, w=2.0, rule=rule)
    kw = {"T": 3.0, "t_min": 0.1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseGridWarning)
        ds = fg.solve(GM2, guide, sampler, n_save=3, **kw)
    ps = fg.sample(GM2, guide, sampler, n=20_000, seed=1, t_eval=ds.t.values, **kw)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_records_rerun_and_refusals(gm):
    rule = RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=2.0, eta=0.2)
    guide = fg.CFG(label=1, w=[1.0, 3.0], rule=rule)
    assert fg.CFG.from_dict(json.loads(json.dumps(guide.to_dict()))).rule == rule
    assert "rule=AdaptiveProjected(" in repr(guide.at_weight(1.0))
    ds = fg.solve(gm, guide, n_save=3)
    assert ds.sizes["w"] == 2
    xr.testing.assert_identical(fg.rerun(ds), ds)
    big = fg.GaussianMixture(np.eye(4)[:2] * 2.0, 1.0, labels=[0, 1])
    with pytest.raises(ValueError, match="cannot carry the guidance rule"):
        fg.solve(big, fg.CFG(label=1, w=2.0, rule=rule))
    windowed = RULES.AdaptiveProjected(start=0.2, stop=0.7)
    for sampler, match in [
        (fg.Heun(10), "Heun does not take guidance rules .* calls the network 2 times a step"),
        (fg.FlowMatchEuler(10), "FlowMatchEuler does not take guidance rules .* from pure noise"),
    ]:
        with pytest.raises(ValueError, match=match):
            fg.solve_discrete(gm, fg.CFG(label=1, w=2.0, rule=rule), sampler)
    with pytest.raises(ValueError, match="compare=True needs the continuous sampler"):
        fg.solve_discrete(gm, fg.CFG(label=1, w=2.0, rule=windowed), fg.DDIM(10))
    with pytest.raises(ValueError, match="a continuous sampler has no steps"):
        fg.solve(gm, fg.CFG(label=1, w=2.0, rule=windowed))
    with pytest.raises(ValueError, match="from pure noise at T=1.0 cannot take the guidance rule"):
        fg.solve(gm, fg.CFG(label=1, w=2.0, rule=rule), process=fg.FlowMatching(), T=1.0)


def _ddim_with_guider(x, sampler, model, rule, w):
    """diffusers' DDIM loop (η = 0, ε-prediction) on particles with a guider: at step i the
    guider gets ε_c, ε_u and returns zero (i < zero_init_steps), ε_c outside int(start N) <= i <
    int(stop N), or its rule; written here from diffusers' loop, not from fpguide's chain."""
    plan, ou = sampler.plan(), sampler.process()
    n = len(plan)
    out = [x]
    momentum = getattr(rule, "momentum", None)
    running = 0  # diffusers' MomentumBuffer, made at step 0
    for i in range(n):
        t, t_prev = plan.t[i], plan.t_next[i]
        a, a_prev = float(ou.m(t)) ** 2, float(ou.m(t_prev)) ** 2 if t_prev > 0 else 1.0
        _, s_u, _, s_c = model.scores(x, t, ou)
        eps_c, eps_u = -np.sqrt(1 - a) * s_c, -np.sqrt(1 - a) * s_u
        zero = i < getattr(rule, "zero_init_steps", 0)
        inside = int(rule.start * n) <= i < int(rule.stop * n)
        if zero:
            eps = np.zeros_like(x)
        elif not inside:
            eps = eps_c
        elif momentum is not None:  # MomentumBuffer.update, then normalized_guidance on it
            running = (eps_c - eps_u) + momentum * running
            eps = np.array(
                [
                    _diffusers(rule, np.array([c]), np.array([u]), w, np.array([r]))[0]
                    for c, u, r in zip(eps_c, eps_u, running)
                ]
            )
        else:
            eps = np.array(
                [_diffusers(rule, np.array([c]), np.array([u]), w)[0] for c, u in zip(eps_c, eps_u)]
            )
        x0 = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
        x = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize(
    "rule",
    [
        RULES.MagnitudeAware(alpha=1.0, start=0.2, stop=0.7),
        RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=1.0, eta=0.5, start=0.35),
        RULES.ClassifierFreeZeroStar(zero_init_steps=2, stop=0.5),
        RULES.AdaptiveProjected(adaptive_projected_guidance_momentum=-0.5, eta=0.5, start=0.2),
        RULES.AdaptiveProjected(adaptive_projected_guidance_momentum=0.3),
    ],
    ids=repr,
)
def test_chain_steps_follow_diffusers_guider_loop(rule, gm):
    guide = fg.CFG(label=1, w=3.0, rule=rule)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # CFG-Zero* in 1-D, said elsewhere
        ps = fg.sample_discrete(gm, guide, fg.DDIM(10), n=200, seed=3)
        model = guide.bind(gm)
    positions = ps["position"].values
    expected = _ddim_with_guider(positions[0], fg.DDIM(10), model, rule, 3.0)
    np.testing.assert_allclose(positions, expected, rtol=1e-9, atol=1e-9)


def test_momentum_changes_the_path_and_is_refused_by_densities(gm):
    momentum = RULES.AdaptiveProjected(adaptive_projected_guidance_momentum=-0.5)
    guide = fg.CFG(label=1, w=3.0, rule=momentum)
    with_momentum = fg.sample_discrete(gm, guide, fg.DDIM(10), n=200, seed=3)
    plain = fg.sample_discrete(
        gm, fg.CFG(label=1, w=3.0, rule=RULES.AdaptiveProjected()), fg.DDIM(10), n=200, seed=3
    )
    assert np.abs(with_momentum.position - plain.position).max() > 1e-3
    for call in (
        lambda: fg.solve_discrete(gm, guide, fg.DDIM(10)),
        lambda: fg.solve(gm, guide),
        lambda: fg.sample(gm, guide, n=100),
    ):
        with pytest.raises(ValueError, match="path"):
            call()
    with pytest.raises(ValueError, match="only fpguide.sample_discrete runs it"):
        guide.bind(gm).guided_score(np.zeros(3), 0.5, fg.OU())
    with pytest.raises(ValueError, match="only fpguide.sample_discrete runs it"):
        guide.bind(gm).guided_score(np.zeros(3), 0.5, fg.OU(), state={})  # no step
    assert RULES.AdaptiveProjected(adaptive_projected_guidance_momentum=-0.5).path_dependent
    assert fg.CFG.from_dict(guide.to_dict()).rule == momentum


def test_chain_with_a_windowed_rule_grid_against_particles(gm):
    rule = RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=1.0, eta=0.5, start=0.35)
    guide = fg.CFG(label=1, w=3.0, rule=rule)
    ds = fg.solve_discrete(gm, guide, fg.DDIM(12), compare=False)
    ps = fg.sample_discrete(gm, guide, fg.DDIM(12), n=20_000, seed=5)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    unwindowed = fg.CFG(label=1, w=3.0, rule=RULES.AdaptiveProjected(eta=0.5))
    gap = fg.solve_discrete(gm, unwindowed, fg.DDIM(12))
    assert np.isfinite(gap.gap_l1.values).all() and gap.gap_l1.values[-1] > 0


def test_cfg_plus_plus_is_the_papers_ddim_loop(gm):
    """CFG++ (Chung et al.): x̂0 from ε_λ = ε_u + λ(ε_c − ε_u), re-noised with ε_u; particles of
    the chain against that loop written out, and the grid against the particles."""
    lam, sampler = 0.6, fg.DDIM(10)
    guide = fg.CFG(label=1, gamma=lam, rule=RULES.CFGPlusPlus())
    assert rule_from_dict(guide.rule.to_dict()) == RULES.CFGPlusPlus()
    ps = fg.sample_discrete(gm, guide, sampler, n=200, seed=2)
    x = ps["position"].values[0]
    plan, process, model = sampler.plan(), sampler.process(), guide.bind(gm)
    expected = [x]
    for t, t_prev in zip(plan.t, plan.t_next):
        a, a_prev = float(process.m(t)) ** 2, float(process.m(t_prev)) ** 2 if t_prev > 0 else 1.0
        _, s_u, _, s_c = model.scores(x, t, process)
        eps_u, eps_c = -np.sqrt(1 - a) * s_u, -np.sqrt(1 - a) * s_c
        eps_lam = eps_u + lam * (eps_c - eps_u)
        x0 = (x - np.sqrt(1 - a) * eps_lam) / np.sqrt(a)
        x = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps_u
        expected.append(x)
    np.testing.assert_allclose(ps["position"].values, np.array(expected), rtol=1e-9, atol=1e-9)
    ds = fg.solve_discrete(gm, guide, sampler, compare=False)
    report = fg.cross_check(ds, fg.sample_discrete(gm, guide, sampler, n=20_000, seed=3))
    assert report.passed, str(report)
    for make, match in [
        (lambda: fg.solve(gm, guide), "defined on DDIM chains only .* no continuous sampler"),
        (lambda: fg.solve_discrete(gm, guide, fg.DDPM(10)), "defined on DDIM chains only"),
        (lambda: fg.solve_discrete(gm, guide, sampler), "CFGPlusPlus has none"),
        (
            lambda: fg.solve_discrete(
                gm,
                fg.CFG(label=1, gamma=lam, rule=RULES.CFGPlusPlus(), schedule=lambda t: 1.0),
                sampler,
                compare=False,
            ),
            "schedule must be None",
        ),
    ]:
        with pytest.raises(ValueError, match=match):
            make()


def test_chains_refuse_rules_whose_1d_maps_fold_below_the_cells(gm):
    for rule in (RULES.MagnitudeAware(), RULES.ClassifierFreeZeroStar()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with pytest.raises(ValueError, match=f"cannot take {rule.kind} in 1-D"):
                fg.solve_discrete(gm, fg.CFG(label=1, w=3.0, rule=rule), fg.DDIM(12))


@pytest.mark.parametrize("rule", CASES, ids=repr)
def test_outside_a_schedule_window_every_rule_is_the_conditional_score(rule):
    """w(t) = 0 outside Interval(0.1, 1): diffusers' guider is off at γ = 1 and returns c (APG's
    combination alone would not: u + D⊥ + η D∥)."""
    guide = fg.CFG(label=1, w=3.0, rule=rule, schedule=fg.schedules.Interval(0.1, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the rescale's warning, said elsewhere
        model = guide.bind(GM3.marginal([0, 1]))
    x = np.random.default_rng(4).normal([3.0, 1.5], 2.0, size=(50, 2))
    _, _, _, s_c = model.scores(x, 2.0, fg.OU())
    np.testing.assert_allclose(model.guided_score(x, 2.0, fg.OU()), s_c, rtol=1e-13, atol=1e-13)
    assert not np.allclose(model.guided_score(x, 0.5, fg.OU()), model.scores(x, 0.5, fg.OU())[3])


@pytest.mark.parametrize("w", [2.0, [1.0, 2.0]])
def test_a_zero_division_is_reported(w):
    """MAMBO-G divides by ‖u‖: at the mode of a symmetric law guided to itself c = u = 0 (a sweep
    shares the points between its weights)."""
    target = fg.GaussianMixture([0.0], 1.0)
    guide = fg.CFG(w=w, cond=target, rule=RULES.MagnitudeAware())
    with pytest.raises(
        NumericalError, match=r"MagnitudeAware gave a non-finite prediction .*\[0.0\]"
    ):
        fg.solve(target, guide, grid=fg.Grid(-6.0, 6.0, 120))


def test_rule_runs_report_no_tilted_law_and_other_refusals(gm):
    rule = RULES.AdaptiveProjected(eta=0.5)
    ds = fg.solve(gm, fg.CFG(label=1, w=2.0, rule=rule), n_save=3)
    assert "kl_conditional" in ds and "kl_tilted" not in ds and "tv_tilted" not in ds
    with pytest.raises(ValueError, match="rule must be None"):
        fg.solve_pc(gm, fg.CFG(label=1, w=2.0, rule=rule), fg.PredictorCorrector(5, 1.0))
    with pytest.raises(ValueError, match="rule must be None"):
        fg.PredictorCorrector(5, 1.0).continuous_limit(fg.CFG(label=1, w=2.0, rule=rule))
    flow = fg.CFG(label=1, w=2.0, rule=RULES.AdaptiveProjected(prediction="flow"))
    with pytest.raises(ValueError, match="prediction='flow' is rectified flow's velocity"):
        fg.solve(gm, flow)
    assert fg.solve(gm, flow, process=fg.FlowMatching(), T=0.999, n_save=2).sizes["t"] == 2
    with pytest.warns(UserWarning, match="guidance_rescale in 2-D divides"):
        fg.CFG(label=1, w=2.0, rule=RULES.ClassifierFree(guidance_rescale=0.5)).bind(GM2)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: RULES.ClassifierFree(guidance_rescale=1.5), ValueError, "guidance_rescale"),
        (lambda: RULES.ClassifierFree(prediction="x0"), ValueError, "prediction"),
        (lambda: RULES.ClassifierFreeZeroStar(zero_init_steps=-1), ValueError, "zero_init"),
        (lambda: RULES.ClassifierFreeZeroStar(zero_init_steps=1.5), ValueError, "zero_init"),
        (
            lambda: RULES.AdaptiveProjected(adaptive_projected_guidance_momentum=float("nan")),
            ValueError,
            "momentum",
        ),
        (
            lambda: RULES.AdaptiveProjected(adaptive_projected_guidance_rescale=-1.0),
            ValueError,
            "adaptive_projected_guidance_rescale",
        ),
        (lambda: RULES.AdaptiveProjected(eta=float("nan")), ValueError, "eta"),
        (lambda: RULES.AdaptiveProjected(use_original_formulation="yes"), TypeError, "original"),
        (lambda: RULES.MagnitudeAware(alpha=-1.0), ValueError, "alpha"),
        (lambda: fg.CFG(label=1, w=1.0, rule="apg"), TypeError, "rule must be"),
        (lambda: rule_from_dict({"type": "PAG"}), ValueError, "rule type"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()
