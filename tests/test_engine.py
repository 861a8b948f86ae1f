"""The generic engine (evolve): exactness checks, measured convergence orders, mass and
positivity."""

import math

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import norm

import fpguide as fg
from fpguide.engine import Integrable
from fpguide.engine.coefficients import Coefficient
from fpguide.engine.heat import heat_kernel, heat_step
from fpguide.results.exact import characteristic_masses


def smooth_drift(x, t):
    return 0.8 * np.sin(x) - 0.3 * x


def _continuity_error(n, scheme):
    drift = smooth_drift
    g = fg.Grid(-8, 8, n)
    res = fg.evolve(
        g.cell_averages(norm.logpdf), drift, grid=g, t_span=(0, 1.0), max_step=0.05, scheme=scheme
    )
    exact = characteristic_masses(drift, ndtr, g.faces, (0, 1.0))
    return np.abs(res.q[-1] * g.dx - exact).sum()


@pytest.mark.parametrize("scheme, order", [("ppm", 3.0), ("plm", 2.0), ("pcm", 0.9)])
def test_space_convergence_order_against_characteristics(scheme, order):
    errors = np.array([_continuity_error(n, scheme) for n in (100, 200, 400, 800)])
    observed = np.log2(errors[:-1] / errors[1:])
    assert np.all(observed[1:] >= order), observed


@pytest.mark.parametrize("ou_drift", [False, True])
def test_time_convergence_order_of_the_splitting(ou_drift):
    """Fokker–Planck with a nonlinear drift on a fine grid: the Strang-split step is second order in
    dt, also with the drift's linear part −x integrated exactly."""
    g = fg.Grid(-8, 8, 2000)
    q0 = g.cell_averages(lambda x: norm.logpdf(x, 2, 0.5))
    drift = lambda x, t: -x - 0.3 * np.sin(x)  # noqa: E731
    options = {"grid": g, "t_span": (0, 1), "diffusion": 1.0, "ou_drift": ou_drift}
    ref = fg.evolve(q0, drift, max_step=1 / 640, **options).q[-1]
    errors = np.array(
        [
            np.abs(fg.evolve(q0, drift, max_step=1 / s, **options).q[-1] - ref).sum() * g.dx
            for s in (10, 20, 40)
        ]
    )
    observed = np.log2(errors[:-1] / errors[1:])
    assert np.all(observed >= 1.9), observed


def test_ou_drift_makes_ornstein_uhlenbeck_steps_exact():
    """dX = −D(t) X dt + sqrt(2 D(t)) dW from N(2, 0.5²), D(t) = 1 + t (a VP-like schedule): with
    ou_drift the split steps are exact however long, so three steps of 0.5 end at the closed-form
    N(2e^{−A}, 1 − 0.75 e^{−2A}), A = ∫D, to the space discretisation's error (L1 below 1e-6 on cell
    averages); without it they are off by more than 1e-2."""
    g = fg.Grid(-14, 14, 1400)
    q0 = g.cell_averages(lambda x: norm.logpdf(x, 2, 0.5))
    rate = lambda t: 1.0 + t  # noqa: E731
    A = 1.5 + 0.5 * 1.5**2
    mean, var = 2.0 * np.exp(-A), 1.0 - 0.75 * np.exp(-2 * A)
    exact = np.diff(norm.cdf(g.faces, mean, np.sqrt(var))) / g.dx
    for ou_drift in (True, False):
        res = fg.evolve(
            q0,
            lambda x, t: -rate(t) * x,
            grid=g,
            t_span=(0, 1.5),
            diffusion=rate,
            ou_drift=ou_drift,
            max_step=0.5,
            lipschitz=10.0,
            wall_tol=1.0,
        )
        error = np.abs(res.q[-1] - exact).sum() * g.dx
        assert res.n_steps == 3
        assert error < 1e-6 if ou_drift else error > 1e-2, (ou_drift, error)


def test_ou_drift_keeps_the_standard_normal_in_2d_on_walls_placed_for_it():
    """v = −x, D = 1 on a 2-D grid from N(0, I): with ou_drift, steps of 2 keep the law to 1e-6 in
    L1, and walls at 7.5 standard deviations hold it: each step carries out about the law's mass
    beyond them, 1.3e-13 (in the true positions the density between a step's half sweeps would be
    e^{A₂} = e times as wide, 1.2e-2 of it past the walls)."""
    grid = fg.TensorGrid.from_bounds([-7.5, -7.5], [7.5, 7.5], 240)
    masses = [np.diff(norm.cdf(axis.faces)) for axis in grid.axes]
    q0 = np.multiply.outer(*masses) / grid.cell_volume
    res = fg.evolve(
        q0,
        lambda x, t: -x,
        grid=grid,
        t_span=(0, 8),
        diffusion=1.0,
        ou_drift=True,
        max_step=2.0,
        lipschitz=10.0,
        wall_tol=1e-12,
    )
    assert res.n_steps == 4
    # 5.1e-13; 4.5e-2 in the true positions
    assert (res.outflow_lower + res.outflow_upper)[-1] < 1e-12
    assert np.abs(res.q[-1] - q0).sum() * grid.cell_volume < 1e-6


def test_coefficient_quadratic_is_exact_for_quadratics_and_calls_each_time_once():
    """A callable coefficient's quadratic through an interval's ends and middle reproduces a
    quadratic D(t) and its integrals at any fraction of the interval, Simpson's rule integrates a
    cubic exactly, and consecutive intervals call D once per distinct time."""
    calls = []

    def rate(t):
        calls.append(t)
        return 1.0 + 2.0 * t + 3.0 * t * t

    antiderivative = lambda t: t + t * t + t**3  # noqa: E731
    coefficient = Coefficient("diffusion", rate)
    quad = coefficient.piece(0.5, 1.5)
    for theta in (0.0, 0.3, 0.5, 1.0):
        assert quad.value(theta) == pytest.approx(rate(0.5 + theta), rel=1e-14)
        assert quad.integral(theta) == pytest.approx(
            antiderivative(0.5 + theta) - antiderivative(0.5), rel=1e-14
        )
    calls.clear()
    assert coefficient.integral(0.5, 1.5) == pytest.approx(
        antiderivative(1.5) - antiderivative(0.5), rel=1e-14
    )
    coefficient.piece(1.5, 2.5)
    assert calls == [2.0, 2.5]
    cubic = Coefficient("diffusion", lambda t: t**3)
    assert cubic.integral(1.0, 3.0) == pytest.approx((3.0**4 - 1.0) / 4.0, rel=1e-14)


def test_integrable_coefficient_is_integrated_exactly():
    """D(t) = 1/(1 − t) changes a thousandfold over [0, 0.999]: Simpson's rule is off by 8x, the
    antiderivative −log(1 − t) is exact, also over fractions of the interval (the Strang halves and
    the traces' linear part)."""
    rate = lambda t: 1.0 / (1.0 - t)  # noqa: E731
    antiderivative = lambda t: -math.log1p(-t)  # noqa: E731
    exact = Coefficient("diffusion", Integrable(rate, antiderivative))
    simpson = Coefficient("diffusion", rate)
    assert exact.integral(0.0, 0.999) == pytest.approx(math.log(1000.0), rel=1e-13)
    assert simpson.integral(0.0, 0.999) > 8 * math.log(1000.0)
    piece = exact.piece(0.0, 0.999)
    assert piece.integral(0.5) == pytest.approx(antiderivative(0.4995), rel=1e-13)
    assert piece.value(0.5) == rate(0.4995)


def test_ou_anchor_against_closed_form():
    """DESIGN §4 anchor: ∂_t q = ∂_x(x q) + ∂_xx q from N(2, 1/4) to t = 1 on [−8, 8], N = 1000."""
    g = fg.Grid(-8.0, 8.0, 1000)
    res = fg.evolve(
        g.cell_averages(lambda x: norm.logpdf(x, 2, 0.5)),
        lambda x, t: -x,
        grid=g,
        t_span=(0, 1),
        diffusion=1.0,
        max_step=1 / 80,
    )
    mean, var = 2 * np.exp(-1), 0.25 * np.exp(-2) + 1 - np.exp(-2)
    exact = g.cell_averages(lambda x: norm.logpdf(x, mean, np.sqrt(var)))
    # py-pde's scipy solver reached 2.6e-5 here
    assert np.abs(res.q[-1] - exact).sum() * g.dx < 2.6e-5


@pytest.mark.parametrize("r", [1e-4, 0.1, 1 / 6, 0.3, 0.7, 1.9, 2.1, 40.0, 900.0])
def test_heat_kernel_has_unit_mass_and_exact_variance(r):
    k = heat_kernel(r)
    lags = np.arange(k.size)
    assert k[0] + 2 * k[1:].sum() == pytest.approx(1.0, abs=1e-14)
    assert 2 * np.sum(k[1:] * lags[1:] ** 2) == pytest.approx(2 * r, rel=1e-12)
    assert np.all(k >= 0)
    # the Gaussian's fourth moment too (fourth order in dx); impossible for a positive kernel below
    if r >= 1 / 6:
        assert 2 * np.sum(k[1:] * lags[1:] ** 4) == pytest.approx(12 * r * r, rel=1e-12)


def test_heat_step_counts_what_leaves():
    q = np.zeros(50)
    q[[0, 25, 49]] = [1.0, 2.0, 3.0]
    out = np.empty(50)
    lower, upper = heat_step(q, heat_kernel(5.0), out)
    assert out.sum() + lower + upper == pytest.approx(q.sum(), rel=1e-14)
    assert lower > 0.4 and upper > 1.2 and np.all(out >= 0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("diffusion", [0.0, 0.7])
def test_mass_balance_and_positivity_under_hostile_drift(seed, diffusion):
    """Random steep, rough drifts and a rough start: mass on the grid plus outflow equals the start
    to 1e-12."""
    rng = np.random.default_rng(seed)
    g = fg.Grid(-5.0, 5.0, 300)
    q0 = rng.random(300) * (np.abs(g.centres) < 3)
    amps, freqs = rng.normal(0, 20, 4), rng.uniform(0.5, 6, 4)

    def drift(x, t):
        return sum(a * np.sin(f * x + t) for a, f in zip(amps, freqs)) - 3 * x

    res = fg.evolve(
        q0,
        drift,
        grid=g,
        t_span=(0, 0.5),
        diffusion=diffusion,
        t_eval=np.linspace(0, 0.5, 6),
        wall_tol=1.0,
    )
    balance = res.mass + res.outflow_lower + res.outflow_upper
    assert np.max(np.abs(balance - balance[0])) < 1e-12
    assert np.all(res.q >= 0)


def test_outflow_is_counted_and_wall_error_raised():
    g = fg.Grid(-2.0, 2.0, 200)
    q0 = g.cell_averages(lambda x: norm.logpdf(x, 0, 0.3))
    res = fg.evolve(q0, lambda x, t: np.full_like(x, 3.0), grid=g, t_span=(0, 1), wall_tol=1.0)
    assert res.outflow_upper[-1] > 0.99 and res.mass[-1] < 0.01
    assert res.mass[-1] + res.outflow_upper[-1] + res.outflow_lower[-1] == pytest.approx(
        res.mass[0], abs=1e-13
    )
    with pytest.raises(fg.WallMassError, match="widen the grid on the upper side"):
        fg.evolve(q0, lambda x, t: np.full_like(x, 3.0), grid=g, t_span=(0, 1))


@pytest.mark.parametrize("trace_order", [3, 4])
def test_trace_order_in_time_on_the_continuity_equation(trace_order):
    """In 1-D the continuity equation has no splitting: with a fine grid the error in dt is the
    departure trace's, of the Runge–Kutta order chosen (RK3 is what the engine uses with diffusion,
    RK4 without)."""
    g = fg.Grid(-8, 8, 4000)

    def drift(x, t):  # time-dependent, so every stage matters
        return 0.8 * np.sin(x + t) - 0.3 * x

    q0 = g.cell_averages(norm.logpdf)
    exact = characteristic_masses(drift, ndtr, g.faces, (0, 1.0))
    errors = np.array(
        [
            np.abs(
                fg.evolve(
                    q0,
                    drift,
                    grid=g,
                    t_span=(0, 1.0),
                    max_step=1 / s,
                    lipschitz=10.0,
                    trace_order=trace_order,
                ).q[-1]
                * g.dx
                - exact
            ).sum()
            for s in (4, 8, 16)
        ]
    )
    observed = np.log2(errors[:-1] / errors[1:])
    assert np.all(observed >= trace_order - 0.3), (errors, observed)
    with pytest.raises(ValueError, match="trace_order must be 3 or 4"):
        fg.evolve(q0, drift, grid=g, t_span=(0, 1.0), trace_order=2)
