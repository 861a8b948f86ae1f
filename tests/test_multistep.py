"""diffusers' DPMSolverMultistepScheduler as an exact chain: its orders and sigmas against
diffusers' own, the chain against linear-Gaussian recursions written in diffusers' variables, the
scheduler's arithmetic on particles, the order of its gap to the probability-flow ODE, and bad
input."""

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.models.samplers import sampler_from_dict


def test_orders_and_sigmas_are_diffusers():
    """Orders and values printed by diffusers 0.42.1 after ``set_timesteps``."""
    assert fg.DPMSolverMultistep(10).orders().tolist() == [1] + [2] * 8 + [1]
    assert fg.DPMSolverMultistep(10, solver_order=3).orders().tolist() == [1, 2] + [3] * 6 + [2, 1]
    assert fg.DPMSolverMultistep(28, solver_order=3).orders().tolist() == [1, 2] + [3] * 25 + [1]
    late = fg.DPMSolverMultistep(
        10, solver_order=3, final_sigmas_type="sigma_min", lower_order_final=False
    )
    assert late.orders().tolist() == [1, 2] + [3] * 8
    sampler = fg.DPMSolverMultistep(10)
    np.testing.assert_array_equal(
        sampler.timesteps, [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    )
    euler = fg.Euler(10)  # the same training sigmas: S_999 and S_0
    assert sampler.sigmas[0] == euler.sigmas[0] and sampler.sigmas[-1] == 0.0
    karras = fg.DPMSolverMultistep(10, use_karras_sigmas=True, final_sigmas_type="sigma_min")
    assert karras.sigmas[0] == euler.sigmas[0]
    # Karras' ramp ends at S_0, and so does the run: its last step is the identity (left out)
    assert karras.sigmas[-2] == karras.sigmas[-1] == euler.sigmas[-2]
    assert len(karras.plan()) == 9


# p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b), guided with w: (a, b, μ_c, w)
LINEAR = (0.5, 1.0, 1.5, 2.0)


def _linear_gaussian_chain(sampler, grid=None):
    """The chain's densities for the linear-Gaussian case LINEAR, on ``grid`` (default [−10, 10]
    with 4000 cells)."""
    a, b, mu_c, w = LINEAR
    target = fg.GaussianMixture(means=[0.0], covariances=b)
    guide = fg.CFG(w=w, cond=fg.GaussianMixture(means=[mu_c], covariances=a))
    grid = fg.Grid(-10.0, 10.0, 4000) if grid is None else grid
    return fg.solve_discrete(target, guide, sampler, grid=grid, compare=False)


def _moments(sampler, a, b, mu_c, w):
    """Mean and variance of every state for p_0(x|c) = N(μ_c, a), p_0(x) = N(0, b), from N(0, 1):
    at sigma s (α = 1/sqrt(1 + s²), σ = s α) the guided x̂0 = (1 + w) x̂0_c − w x̂0_u is affine in the
    sample, so every state is P y_0 + Q; each step is diffusers' update written with D0, D1, D2 of
    the model outputs (x̂0, or ε̂ = (y − α x̂0)/σ for "dpmsolver")."""
    s = sampler.sigmas
    alpha = 1 / np.hypot(s, 1)
    sigma, lam = s * alpha, -np.log(np.where(s > 0, s, 1.0))

    def output(state, j):  # the model output as (P, Q) of y_0
        al, sg = alpha[j], sigma[j]
        kc, ku = al * a / (al**2 * a + sg**2), al * b / (al**2 * b + sg**2)
        slope, offset = (1 + w) * kc - w * ku, (1 + w) * (mu_c - kc * al * mu_c)
        x0 = slope * state + np.array([0.0, offset])
        return x0 if sampler.algorithm_type == "dpmsolver++" else (state - al * x0) / sg

    states, outputs = [np.array([1.0, 0.0])], []
    plus = sampler.algorithm_type == "dpmsolver++"
    for j, order in enumerate(sampler.orders()):
        y = states[-1]
        outputs.append(output(y, j))
        if s[j + 1] == 0:
            states.append(outputs[-1])
            continue
        h = lam[j + 1] - lam[j]
        d0 = outputs[-1]
        if plus:
            new = sigma[j + 1] / sigma[j] * y - alpha[j + 1] * np.expm1(-h) * d0
        else:
            new = alpha[j + 1] / alpha[j] * y - sigma[j + 1] * np.expm1(h) * d0
        if order >= 2:
            r0 = (lam[j] - lam[j - 1]) / h
            d1 = (d0 - outputs[-2]) / r0
            if order == 3:
                r1 = (lam[j - 1] - lam[j - 2]) / h
                d1_1 = (outputs[-2] - outputs[-3]) / r1
                d1, d2 = d1 + r0 / (r0 + r1) * (d1 - d1_1), (d1 - d1_1) / (r0 + r1)
            if order == 2 and sampler.solver_type == "midpoint":
                factor = (
                    -0.5 * alpha[j + 1] * np.expm1(-h)
                    if plus
                    else -0.5 * sigma[j + 1] * np.expm1(h)
                )
            elif plus:
                factor = alpha[j + 1] * (np.expm1(-h) / h + 1)
            else:
                factor = -sigma[j + 1] * (np.expm1(h) / h - 1)
            new = new + factor * d1
            if order == 3:
                if plus:
                    new = new - alpha[j + 1] * ((np.expm1(-h) + h) / h**2 - 0.5) * d2
                else:
                    new = new - sigma[j + 1] * ((np.expm1(h) - h) / h**2 - 0.5) * d2
        states.append(new)
    states = np.array(states)
    return states[:, 1], states[:, 0] ** 2


@pytest.mark.parametrize(
    "sampler",
    [
        fg.DPMSolverMultistep(12),
        fg.DPMSolverMultistep(12, solver_type="heun"),
        fg.DPMSolverMultistep(20, solver_order=3, use_karras_sigmas=True),
        fg.DPMSolverMultistep(
            16, solver_order=3, algorithm_type="dpmsolver", final_sigmas_type="sigma_min"
        ),
        fg.DPMSolverMultistep(
            9, algorithm_type="dpmsolver", solver_type="heun", final_sigmas_type="sigma_min"
        ),
    ],
    ids=repr,
)
def test_chain_against_its_linear_gaussian_recursion(sampler):
    ds = _linear_gaussian_chain(sampler)
    mean, var = _moments(sampler, *LINEAR)
    # measured: means within 1e-12, variances within 2e-12 relative
    np.testing.assert_allclose(ds["mean"].values, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds["variance"].values, var, rtol=1e-10, atol=0)


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"solver_order": 3, "solver_type": "heun"},
        {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"},
    ],
    ids=repr,
)
def test_diffusers_arithmetic_is_the_path_map(prediction, options):
    """The particles' trajectories (network output of each prediction type → x̂0 or ε̂ →
    diffusers' updates) equal the grid's maps of the first state."""
    sampler = fg.DPMSolverMultistep(8, prediction_type=prediction, **options)
    plan = sampler.plan()
    x = np.random.default_rng(1).normal(size=40) * 2

    def score(y, t):  # any smooth function of (y, t) will do
        return -y / (1.0 + t) + np.sin(y)

    path = sampler.literal_path(x, score, plan)
    for j in range(len(plan)):
        np.testing.assert_allclose(
            path[j + 1], sampler.path_map(x, score, plan, j), rtol=1e-10, atol=1e-10
        )


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("target", ["gm", "um"])
def test_chain_against_particles(order, target, request):
    mixture = request.getfixturevalue(target)
    guide, sampler = fg.CFG(label=1, w=3.0), fg.DPMSolverMultistep(12, solver_order=order)
    grid = fg.Grid(-10.0, 10.0, 8000) if target == "um" else None  # faces on the support's edges
    ds = fg.solve_discrete(mixture, guide, sampler, grid=grid, compare=False)
    ps = fg.sample_discrete(mixture, guide, sampler, n=20_000, seed=12)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "order, steps, low, high", [(1, 16, 1.7, 2.3), (2, 32, 3.4, 4.6), (3, 32, 5.5, 10.0)]
)
def test_gap_to_the_ode_has_the_solver_order(gm, order, steps, low, high):
    """The gap to the probability-flow ODE (same grid) at the last state (S_0, ending at
    sigma_min) shrinks by 2^order when the steps double. Measured for 16 → 32 → 64 steps: order 1
    2.04, 2.02; order 2 3.48, 4.11; order 3 9.3, 6.3 (3M's gap at 16 steps, 1.24, is five times
    2M's: the third-order extrapolation is unstable on so few steps)."""
    guide, grid = fg.CFG(label=1, w=3.0), fg.Grid(-12.0, 12.0, 2400)
    gaps = [
        float(
            fg.solve_discrete(
                gm,
                guide,
                fg.DPMSolverMultistep(n, solver_order=order, final_sigmas_type="sigma_min"),
                grid=grid,
            )["gap_l1"][-1]
        )
        for n in (steps, 2 * steps)
    ]
    assert low < gaps[0] / gaps[1] < high, gaps


def _sde_moments(sampler, a, b, mu_c, w):
    """Mean and variance of every state of the first-order SDE variants, written with diffusers'
    update: y' = A y + B m + C z, m = x̂0 or ε̂ affine in y, so the state is N(mean, var)."""
    s = sampler.sigmas
    alpha = 1 / np.hypot(s, 1)
    sigma = s * alpha
    mean, var, moments = 0.0, 1.0, [(0.0, 1.0)]
    for j in range(sampler.steps):
        al, sg = alpha[j], sigma[j]
        kc, ku = al * a / (al**2 * a + sg**2), al * b / (al**2 * b + sg**2)
        slope, offset = (1 + w) * kc - w * ku, (1 + w) * (mu_c - kc * al * mu_c)  # x̂0
        if s[j + 1] == 0:
            big_a, big_b, noise = slope, offset, 0.0
        elif sampler.algorithm_type == "sde-dpmsolver++":
            h = np.log(s[j] / s[j + 1])
            weight = alpha[j + 1] * (1 - np.exp(-2 * h))
            big_a = sigma[j + 1] / sg * np.exp(-h) + weight * slope
            big_b, noise = weight * offset, sigma[j + 1] ** 2 * (1 - np.exp(-2 * h))
        else:  # ε̂ = (y − α x̂0)/σ
            h = np.log(s[j] / s[j + 1])
            weight = -2 * sigma[j + 1] * (np.exp(h) - 1)
            big_a = alpha[j + 1] / al + weight * (1 - al * slope) / sg
            big_b, noise = -weight * al * offset / sg, sigma[j + 1] ** 2 * (np.exp(2 * h) - 1)
        mean, var = big_a * mean + big_b, big_a**2 * var + noise
        moments.append((mean, var))
    return np.array(moments).T


@pytest.mark.parametrize(
    "sampler",
    [
        fg.DPMSolverMultistep(12, solver_order=1, algorithm_type="sde-dpmsolver++"),
        fg.DPMSolverMultistep(
            10, solver_order=1, algorithm_type="sde-dpmsolver", final_sigmas_type="sigma_min"
        ),
    ],
    ids=repr,
)
def test_sde_variants_against_their_linear_gaussian_recursion(sampler):
    # the ε form's first step spreads the law to ±25 before its drift brings it back
    ds = _linear_gaussian_chain(sampler, fg.Grid(-40.0, 40.0, 16000))
    mean, var = _sde_moments(sampler, *LINEAR)
    # measured: means within 7.3e-13, variances within 2.6e-13 relative
    np.testing.assert_allclose(ds["mean"].values, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds["variance"].values, var, rtol=1e-10, atol=0)


@pytest.mark.parametrize("target", ["gm", "um"])
def test_sde_variant_against_particles(target, request):
    mixture, guide = request.getfixturevalue(target), fg.CFG(label=1, w=3.0)
    sampler = fg.DPMSolverMultistep(12, solver_order=1, algorithm_type="sde-dpmsolver++")
    grid = fg.Grid(-10.0, 10.0, 8000) if target == "um" else None  # faces on the support's edges
    ds = fg.solve_discrete(mixture, guide, sampler, grid=grid, compare=False)
    ps = fg.sample_discrete(mixture, guide, sampler, n=20_000, seed=14)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_record_and_rerun(gm):
    sampler = fg.DPMSolverMultistep(
        6, solver_order=3, algorithm_type="dpmsolver", final_sigmas_type="sigma_min"
    )
    assert sampler_from_dict(sampler.to_dict()) == sampler
    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), fg.DPMSolverMultistep(5))
    xr.testing.assert_identical(fg.rerun(ds), ds)
    ds = fg.sample_discrete(gm, fg.CFG(label=1, w=1.0), sampler, n=100, seed=2)
    xr.testing.assert_identical(fg.rerun(ds), ds)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: fg.DPMSolverMultistep(5, solver_order=4), "solver_order must be 1, 2 or 3"),
        (lambda: fg.DPMSolverMultistep(5, solver_order=0), "solver_order must be"),
        (
            lambda: fg.DPMSolverMultistep(5, algorithm_type="sde-dpmsolver++"),
            "the pair \\(y_j, y_\\{j-1\\}\\)",
        ),
        (
            lambda: fg.DPMSolverMultistep(5, solver_order=1, algorithm_type="sde-dpmsolver"),
            "needs final_sigmas_type",
        ),
        (lambda: fg.DPMSolverMultistep(5, algorithm_type="sde"), "algorithm_type"),
        (lambda: fg.DPMSolverMultistep(5, solver_type="bh2"), "solver_type"),
        (lambda: fg.DPMSolverMultistep(5, algorithm_type="dpmsolver"), "needs final_sigmas_type"),
        (lambda: fg.DPMSolverMultistep(5).step_map(0.0, None, None, 1), "step 1 is of order 2"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# UniPC


def test_unipc_orders():
    """The predictor's orders as diffusers 0.42.1 runs them (min(order, i + 1, N − i))."""
    assert fg.UniPCMultistep(10, solver_order=3).orders().tolist() == [1, 2] + [3] * 6 + [2, 1]
    assert fg.UniPCMultistep(6).orders().tolist() == [1, 2, 2, 2, 2, 1]
    late = fg.UniPCMultistep(
        6, solver_order=3, lower_order_final=False, final_sigmas_type="sigma_min"
    )
    assert late.orders().tolist() == [1, 2, 3, 3, 3, 3]


def _unipc1_moments(sampler, a, b, mu_c, w):
    """Mean and variance of every state of UniPC-1 (bh2) for p_0(x|c) = N(μ_c, a), p_0(x) = N(0,
    b), from N(0, 1), with its closed forms: the predictor is DDIM's step x_{i+1} = (σ_{i+1}/σ_i)
    xc_i + α_{i+1} (1 − e^{−h}) m_i and the corrector the trapezoid xc_i = (σ_i/σ_{i−1}) xc_{i−1} +
    α_i (1 − e^{−h}) (m_{i−1} + m_i)/2, m = x̂0 at the uncorrected states; every state is P y_0 +
    Q."""
    s = sampler.sigmas
    alpha = 1 / np.hypot(s, 1)
    sigma = s * alpha

    def x0(state, j):
        al, sg = alpha[j], sigma[j]
        kc, ku = al * a / (al**2 * a + sg**2), al * b / (al**2 * b + sg**2)
        return ((1 + w) * kc - w * ku) * state + np.array([0.0, (1 + w) * (mu_c - kc * al * mu_c)])

    def step(frm, to, y, m):
        if s[to] == 0:
            return m
        return sigma[to] / sigma[frm] * y + alpha[to] * (1 - s[to] / s[frm]) * m

    states, outputs, corrected = [np.array([1.0, 0.0])], [], None
    for i in range(sampler.steps):
        m = x0(states[-1], i)
        y = states[-1]
        if i > 0:
            y = step(i - 1, i, corrected, 0.5 * (outputs[-1] + m))
        outputs.append(m)
        corrected = y
        states.append(step(i, i + 1, y, m))
    states = np.array(states)
    return states[:, 1], states[:, 0] ** 2


@pytest.mark.parametrize(
    "sampler",
    [
        fg.UniPCMultistep(12, solver_order=1),
        fg.UniPCMultistep(9, solver_order=1, use_karras_sigmas=True),
        fg.UniPCMultistep(10, solver_order=1, final_sigmas_type="sigma_min"),
    ],
    ids=repr,
)
def test_unipc_order_one_against_its_closed_form(sampler):
    ds = _linear_gaussian_chain(sampler)
    mean, var = _unipc1_moments(sampler, *LINEAR)
    # measured: means within 2.5e-13, variances within 1.8e-12 relative
    np.testing.assert_allclose(ds["mean"].values, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds["variance"].values, var, rtol=1e-10, atol=0)


def _unipc2_moments(sampler, a, b, mu_c, w):
    """Mean and variance of every state of UniPC-2 (bh2, x̂0 outputs) for p_0(x|c) = N(μ_c, a),
    p_0(x) = N(0, b), from N(0, 1), written out from UniPC's order conditions: the predictor of
    order 2 (ρ = 1/2) x' = (σ'/σ) xc + α' (1 − e^{−h}) (m_0 + (m_1 − m_0)/(2 r)), the corrector of
    order 2 with ρ solving [[1, 1], [r, 1]] ρ = (b_1, b_2) (by Cramer's rule), b_1 = (φ/(−h) −
    1)/φ, b_2 = 2((φ/(−h) − 1)/(−h) − 1/2)/φ, φ = e^{−h} − 1; every state is P y_0 + Q."""
    s = sampler.sigmas
    alpha = 1 / np.hypot(s, 1)
    sigma, lam = s * alpha, -np.log(np.where(s > 0, s, 1.0))
    orders = sampler.orders()

    def x0(state, j):
        al, sg = alpha[j], sigma[j]
        kc, ku = al * a / (al**2 * a + sg**2), al * b / (al**2 * b + sg**2)
        return ((1 + w) * kc - w * ku) * state + np.array([0.0, (1 + w) * (mu_c - kc * al * mu_c)])

    def predict(i, y, ms):  # ms: m_i, m_{i-1}
        if s[i + 1] == 0:
            return ms[0]
        h = lam[i + 1] - lam[i]
        out = sigma[i + 1] / sigma[i] * y - alpha[i + 1] * np.expm1(-h) * ms[0]
        if orders[i] == 2:
            r = (lam[i - 1] - lam[i]) / h
            out = out - alpha[i + 1] * np.expm1(-h) * (ms[1] - ms[0]) / (2 * r)
        return out

    def correct(i, y, ms, latest):  # from i − 1 to i; ms: m_{i-1}, m_{i-2}
        h = lam[i] - lam[i - 1]
        phi = np.expm1(-h)
        out = sigma[i] / sigma[i - 1] * y - alpha[i] * phi * ms[0]
        if orders[i - 1] == 1:
            return out - alpha[i] * phi * 0.5 * (latest - ms[0])
        r = (lam[i - 2] - lam[i - 1]) / h
        b1 = (phi / -h - 1) / phi
        b2 = 2 * ((phi / -h - 1) / -h - 0.5) / phi
        rho0 = (b1 - b2) / (1 - r)
        rho1 = b1 - rho0
        return out - alpha[i] * phi * (rho0 * (ms[1] - ms[0]) / r + rho1 * (latest - ms[0]))

    states, outputs, corrected = [np.array([1.0, 0.0])], [], None
    for i in range(sampler.steps):
        m = x0(states[-1], i)
        y = states[-1] if i == 0 else correct(i, corrected, outputs[::-1], m)
        outputs.append(m)
        corrected = y
        states.append(predict(i, y, outputs[::-1]))
    states = np.array(states)
    return states[:, 1], states[:, 0] ** 2


@pytest.mark.parametrize(
    "sampler", [fg.UniPCMultistep(12), fg.UniPCMultistep(16, use_karras_sigmas=True)], ids=repr
)
def test_unipc_order_two_against_its_order_conditions(sampler):
    ds = _linear_gaussian_chain(sampler)
    mean, var = _unipc2_moments(sampler, *LINEAR)
    # measured: means within 6.8e-13, variances within 1.7e-12 relative
    np.testing.assert_allclose(ds["mean"].values, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds["variance"].values, var, rtol=1e-10, atol=0)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("target", ["gm", "um"])
def test_unipc_against_particles(order, target, request):
    mixture = request.getfixturevalue(target)
    guide = fg.CFG(label=1, w=3.0)
    sampler = fg.UniPCMultistep(12, solver_order=order, disable_corrector=[4])
    grid = fg.Grid(-10.0, 10.0, 8000) if target == "um" else None  # faces on the support's edges
    ds = fg.solve_discrete(mixture, guide, sampler, grid=grid, compare=False)
    ps = fg.sample_discrete(mixture, guide, sampler, n=20_000, seed=13)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)


def test_unipc_gap_is_third_order_at_order_two(gm):
    """The corrector raises the order by one: UniPC-2's gap to the probability-flow ODE at S_0
    shrinks by about 8 when the steps double (measured for 16 → 32 → 64: 8.9, 7.1; UniPC-1 2.98,
    3.08; UniPC-3 2.5, 1.96, its gap 0.011 at 16 steps the smallest, then a plateau at 2e-3 that
    diffusers' own trajectories share, to 2e-6)."""
    guide, grid = fg.CFG(label=1, w=3.0), fg.Grid(-12.0, 12.0, 2400)
    gaps = [
        float(
            fg.solve_discrete(
                gm, guide, fg.UniPCMultistep(n, final_sigmas_type="sigma_min"), grid=grid
            )["gap_l1"][-1]
        )
        for n in (16, 32)
    ]
    assert 6.0 < gaps[0] / gaps[1] < 10.0, gaps


def test_unipc_record_and_rerun(gm):
    sampler = fg.UniPCMultistep(
        6, solver_order=3, use_karras_sigmas=True, sigma_min=0.05, disable_corrector=[1, 3]
    )
    assert sampler_from_dict(sampler.to_dict()) == sampler
    ds = fg.solve_discrete(gm, fg.CFG(label=1, w=1.0), sampler)
    xr.testing.assert_identical(fg.rerun(ds), ds)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: fg.UniPCMultistep(5, solver_order=4), "solver_order must be 1, 2 or 3"),
        (lambda: fg.UniPCMultistep(5, solver_type="bh1"), "solver_type='bh1' needs"),
        (lambda: fg.UniPCMultistep(5, predict_x0=False), "predict_x0=False needs"),
        (lambda: fg.UniPCMultistep(5, lower_order_final=False), "lower_order_final=False"),
        (
            lambda: fg.UniPCMultistep(5, use_karras_sigmas=True, final_sigmas_type="sigma_min"),
            "returns the corrected sample",
        ),
        (lambda: fg.UniPCMultistep(5, disable_corrector=[-1]), "disable_corrector must be"),
        (
            lambda: fg.UniPCMultistep(5).step_map(0.0, None, fg.UniPCMultistep(5).plan(), 1),
            "step 1",
        ),
    ],
)
def test_unipc_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
