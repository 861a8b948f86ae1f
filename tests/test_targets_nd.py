"""d-dimensional targets against independent evaluations: scipy's multivariate normal, products of
the 1-D closed forms, finite differences, and the line restriction the engine sweeps with."""

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import multivariate_normal

import fpguide as fg
from fpguide.models.targets import (
    evaluate_mixtures,
    gaussian_layout,
    line_tables,
    line_velocity,
    line_velocity_gaussian,
    mixture_eval,
)

OU = fg.OU()
COV = np.array([[[1.0, 0.6, 0.1], [0.6, 0.8, -0.2], [0.1, -0.2, 0.5]], np.diag([0.3, 1.5, 0.7])])
GM3 = fg.GaussianMixture(
    means=[[1.0, -0.5, 0.2], [-1.0, 0.5, 0.0]], covariances=COV, weights=[0.3, 0.7], labels=[1, 2]
)
BOX3 = fg.UniformMixture(
    lows=[[1.0, -1.0, 0.0], [-2.0, -1.0, -0.5]],
    highs=[[2.0, 1.0, 0.5], [-1.0, 0.5, 0.5]],
    weights=[0.5, 0.5],
    labels=[1, 2],
)


def test_gaussian_full_covariances_against_scipy():
    x = np.random.default_rng(0).normal(size=(200, 3)) * 3
    for t in (1e-4, 0.3, 3.0):
        m, s2 = np.exp(-t), -np.expm1(-2 * t)
        comps = [
            multivariate_normal(m * mu, m * m * c + s2 * np.eye(3)) for mu, c in zip(GM3.means, COV)
        ]
        ref = np.log(0.3 * comps[0].pdf(x) + 0.7 * comps[1].pdf(x))
        np.testing.assert_allclose(GM3.log_density(x, t), ref, rtol=1e-12)
        np.testing.assert_allclose(GM3.log_density(x, t, label=1), comps[0].logpdf(x), rtol=1e-12)


def test_box_is_the_product_of_intervals():
    x = np.random.default_rng(1).uniform(-3, 3, size=(300, 3))
    for t in (1e-3, 0.5):
        logp = BOX3.log_density(x, t, label=1)
        ref = sum(
            fg.UniformMixture(lows=[lo], highs=[hi]).log_density(x[:, j], t)
            for j, (lo, hi) in enumerate(zip(BOX3.lows[0], BOX3.highs[0]))
        )
        np.testing.assert_allclose(logp, ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("target", [GM3, BOX3], ids=["gaussian", "box"])
@pytest.mark.parametrize("t", [1e-3, 0.4])
def test_scores_are_gradients(target, t):
    x = np.random.default_rng(2).uniform(-2.5, 2.5, size=(100, 3))
    _, score = target.evaluate(x, t)
    h = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd = (target.log_density(x + e, t) - target.log_density(x - e, t)) / (2 * h)
        np.testing.assert_allclose(score[:, j], fd, rtol=1e-5, atol=1e-5 * np.abs(score).max())


@pytest.mark.parametrize("target", [GM3, BOX3], ids=["gaussian", "box"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_line_restriction_reproduces_the_joint_density(target, axis):
    """Each component on a grid line is a 1-D law times a factor: their product is the joint
    density, and the line velocity is the axis component of the guided drift at the same points."""
    rng = np.random.default_rng(3)
    points = rng.uniform(-1.5, 1.5, size=(5, 3))
    xs = np.linspace(-2.5, 2.5, 7)
    t, m, s = 0.2, np.exp(-0.2), np.sqrt(-np.expm1(-0.4))
    model = fg.CFG(label=1, w=2.0).bind(target)
    shape = (5, target.n_components)
    p1, p2, offset = np.empty(shape), np.empty(shape), np.empty(shape)
    line_tables(axis, points, m, s, *model.table, p1, p2, offset)
    full = np.repeat(points[:, None, :], xs.size, axis=1)
    full[:, :, axis] = xs
    # lines through the same positions (their components' factors evaluated once, where
    # axis-aligned) and through positions of their own
    for shift in (0.0, 0.01):
        x = xs + shift * np.arange(5)[:, None]
        full[:, :, axis] = x
        velocity = model.velocity_along(axis, x, points, t, OU, -1.0, 0.5)
        ref = -full[..., axis] + 0.5 * model.guided_score(full.reshape(-1, 3), t, OU)[
            :, axis
        ].reshape(5, -1)
        np.testing.assert_allclose(velocity, ref, rtol=1e-10, atol=1e-10)
    full[:, :, axis] = xs
    for k in range(target.n_components):
        one = target.subset(np.arange(target.n_components) == k)
        # the 1-D factor along the line: a Gaussian with centre p1 and precision p2
        if target is GM3:
            line = -0.5 * (xs - p1[:, k : k + 1]) ** 2 * p2[:, k : k + 1]
        # a noised interval [p1, p2] with edge width σ: log(Φ(u) − Φ(v)), the upper tail reflected
        else:
            u, v = (xs - p1[:, k : k + 1]) / s, (xs - p2[:, k : k + 1]) / s
            line = np.log(np.where(v > 0, ndtr(-v) - ndtr(-u), ndtr(u) - ndtr(v)))
        np.testing.assert_allclose(
            line + offset[:, k : k + 1], one.log_density(full, t), rtol=1e-11, atol=1e-11
        )


RING_ANGLES = np.arange(8) * np.pi / 4
RING = fg.GaussianMixture(
    means=2.0 * np.stack([np.cos(RING_ANGLES), np.sin(RING_ANGLES)], axis=1),
    covariances=0.05,
    labels=[0, 1] * 4,
)


@pytest.mark.parametrize(
    "guidance",
    [
        fg.CFG(label=1, w=3.0),
        fg.CFG(
            cond=fg.GaussianMixture(
                means=[[0.5, 2.5], [-3.0, 0.0], [9.0, 9.0]], covariances=[0.02, 0.3, 0.3]
            ),
            w=3.0,
        ),
    ],
    ids=["label", "own conditional"],
)
@pytest.mark.parametrize("axis", [0, 1])
def test_line_velocity_of_narrow_components_far_from_them(guidance, axis):
    """Eight narrow Gaussians on a ring (at most points all but a few components are below e^-45 of
    the largest, and the line velocity skips them), with the target's class or a conditional model
    of components of its own: the line velocity is the axis component of the guided drift at the
    same points, near the components and far from them (near the conditional model's component at
    (9, 9) its density exceeds the target's by more than e^600)."""
    model = guidance.bind(RING)
    points = np.random.default_rng(4).uniform(-10.0, 10.0, size=(40, 2))
    xs = np.linspace(-10.0, 10.0, 101)
    t = 1e-3
    full = np.repeat(points[:, None, :], xs.size, axis=1)
    full[:, :, axis] = xs
    velocity = model.velocity_along(
        axis, np.tile(xs, (points.shape[0], 1)), points, t, OU, 1.0, 1.0
    )
    ref = full[..., axis] + model.guided_score(full.reshape(-1, 2), t, OU)[:, axis].reshape(
        points.shape[0], -1
    )
    np.testing.assert_allclose(velocity, ref, rtol=1e-10, atol=1e-10)


# a class of the target's, one far from the lines and points (class 2 below), a model of its own
GUIDANCES_3D = [
    fg.CFG(label=1, w=2.5),
    fg.CFG(label=2, w=2.5),
    fg.CFG(cond=fg.GaussianMixture([[0.3, 1.0, -4.0], [9.0, 9.0, 9.0]], [0.01, 0.2]), w=2.5),
]


@pytest.mark.parametrize("guidance", GUIDANCES_3D, ids=["label", "far label", "own conditional"])
@pytest.mark.parametrize("t", [1e-3, 0.3])
def test_vectorised_gaussian_kernel_equals_the_general_one(guidance, t):
    """The kernel for tables of Gaussians only (vectorised exponentials, reassociated sums) gives
    the general kernel's velocities to round-off, on lines through points of their own, with
    full and diagonal covariances of many widths: where the two models' largest terms are close
    (responsibilities on one scale) and more than e^655 apart (each on its own; checked)."""
    rng = np.random.default_rng(6)
    n = 60
    covariances = np.einsum("kij,klj->kil", a := rng.normal(size=(n, 3, 3)), a) * 0.02
    covariances[::2] = np.eye(3) * rng.uniform(1e-4, 0.1, (n // 2, 1, 1))
    means = rng.uniform(-2, 2, (n, 3))
    means[2::3] += 12.0  # class 2, far from the lines: its terms e^-655 below the others' and less
    target = fg.GaussianMixture(means, covariances, labels=[0, 1, 2] * 20)
    model = guidance.bind(target)
    points = rng.uniform(-4.0, 4.0, size=(30, 3))
    x = np.sort(rng.uniform(-4.0, 4.0, size=(30, 50)), axis=1)
    _assert_line_kernels_agree(model, points, x, t)
    full = np.repeat(points[:, None, :], x.shape[1], axis=1)
    full[..., 2] = x
    gap = target.log_density(full, t) - model.cond.log_density(full, t)
    if guidance.label == 2 and t < 0.01:
        assert (gap > 700).mean() > 0.5


@pytest.mark.parametrize(
    "guidance",
    [fg.CFG(label=1, w=3.0), fg.CFG(cond=fg.EmpiricalMixture([[0.5, 0.5], [-3.0, 2.0]]), w=3.0)],
    ids=["label", "own conditional"],
)
@pytest.mark.parametrize("t", [1e-3, 0.05, 0.5])
def test_pruned_chunks_give_the_sums_over_every_component(guidance, t):
    """400 training points spread over [-4, 4]²: at t = 1e-3 (σ = 0.045) each chunk of a line keeps
    a few of the components near it, at t = 0.5 (σ = 0.79) all of them; the velocities along both
    axes are the general kernel's sums over every component, to round-off, on lines of 101 points
    (a last chunk of 5) through points of their own."""
    rng = np.random.default_rng(8)
    target = fg.EmpiricalMixture(rng.uniform(-4, 4, (400, 2)), labels=rng.integers(0, 3, 400))
    points = rng.uniform(-5.0, 5.0, size=(40, 2))
    x = np.linspace(-5.0, 5.0, 101) + rng.normal(0.0, 0.01, (40, 101))
    _assert_line_kernels_agree(guidance.bind(target), points, x, t)


def _assert_line_kernels_agree(model, points, x, t):
    """The vectorised line kernel against the general one along every axis, OU at t, to round-off
    against the largest velocity."""
    kinds = model.table.kinds
    layout = gaussian_layout(kinds, model.logw_u, model.logw_c)
    m, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    p1, p2, offset = (np.empty((points.shape[0], kinds.size)) for _ in range(3))
    general, vectorised = np.empty_like(x), np.empty_like(x)
    weights = (model.logw_u, model.logw_c)
    for axis in range(points.shape[1]):
        line_tables(axis, points, m, s, *model.table, p1, p2, offset)
        line_velocity(x, s, kinds, p1, p2, offset, *weights, model.w, -1.0, 0.7, general)
        line_velocity_gaussian(x, p1, p2, offset, *weights, layout, model.w, -1.0, 0.7, vectorised)
        np.testing.assert_allclose(vectorised, general, rtol=1e-12, atol=1e-12 * abs(general).max())


@pytest.mark.parametrize("guidance", GUIDANCES_3D, ids=["label", "far label", "own conditional"])
@pytest.mark.parametrize("t", [1e-3, 0.3])
@pytest.mark.parametrize("n_points", [500, 5000], ids=["one thread", "threads"])
def test_vectorised_gaussian_points_equal_the_general_kernel(guidance, t, n_points):
    """Axis-aligned Gaussians (a data set and diagonal covariances of many widths) at points, on
    one thread and in parallel blocks: the log-densities and scores of the general kernel to
    round-off, with the two models' largest terms close and more than e^655 apart."""
    rng = np.random.default_rng(7)
    n = 60
    means = rng.uniform(-2, 2, (n, 3))
    means[2::3] += 12.0
    covariances = rng.uniform(1e-4, 0.1, (n, 3))[:, None, :] * np.eye(3)
    covariances[:20] = 1e-10 * np.eye(3)  # nearly training points
    target = fg.GaussianMixture(means, covariances, labels=[0, 1, 2] * 20)
    model = guidance.bind(target)
    x = rng.uniform(-4.0, 4.0, size=(n_points, 3))
    m, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))

    def outputs():
        return [np.empty(n_points), np.empty_like(x), np.empty(n_points), np.empty_like(x)]

    general, vectorised = outputs(), outputs()
    mixture_eval(x, m, s, *model.table, model.logw_u, model.logw_c, *general)
    evaluate_mixtures(x, m, s, model.table, model.logw_u, model.logw_c, *vectorised)
    for value, ref in zip(vectorised, general):  # round-off against the largest terms
        np.testing.assert_allclose(value, ref, rtol=1e-13, atol=1e-13 * abs(ref).max())


def test_gaussian_layout():
    """The vectorised kernel takes Gaussians only, the unconditional model's components first."""
    gm = fg.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], 0.1, labels=[0, 1])
    model = fg.CFG(label=1, w=1.0).bind(gm)
    n_lead, c_first, ratio, log_ratio_max = gaussian_layout(
        model.table.kinds, model.logw_u, model.logw_c
    )
    assert (n_lead, c_first) == (2, 1)
    np.testing.assert_allclose(ratio, [0.0, 2.0])
    assert log_ratio_max == pytest.approx(np.log(2.0))
    boxes = fg.UniformMixture([[0.0, 0.0]], [[1.0, 1.0]])
    mixed = fg.CFG(cond=boxes, w=1.0).bind(gm)
    assert gaussian_layout(mixed.table.kinds, mixed.logw_u, mixed.logw_c) is None
    kinds = np.zeros(3, dtype=np.int64)
    # a component of the conditional model only before one of the unconditional
    assert gaussian_layout(kinds, np.array([0.0, -np.inf, 0.0]), np.zeros(3)) is None
    # a component of neither last (a zero weight), a conditional one among the leading ones
    lead = np.array([0.0, 0.0, -np.inf])
    assert gaussian_layout(kinds, lead, np.array([0.0, -np.inf, -np.inf])) is None


@pytest.mark.parametrize("class_weight", [1e-250, 1e-305, 1e-310])
@pytest.mark.parametrize("t", [1e-6, 1e-4])
def test_tiny_class_weights(class_weight, t):
    """A class of weight down to 1e-310 (its ratio π^c/π^u overflows): the vectorised kernels keep
    the conditional responsibilities on a scale of their own and give the general kernels' scores
    and velocities, at points and along a line (1-D)."""
    target = fg.EmpiricalMixture([0.0, 1.0], weights=[class_weight, 1.0], labels=[1, 0])
    model = fg.CFG(label=1, w=2.0).bind(target)
    x = np.array([[0.0], [1e-3], [0.01], [0.02], [0.5]])
    m, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))

    def outputs():
        return [np.empty(5), np.empty_like(x), np.empty(5), np.empty_like(x)]

    general, vectorised = outputs(), outputs()
    mixture_eval(x, m, s, *model.table, model.logw_u, model.logw_c, *general)
    evaluate_mixtures(x, m, s, model.table, model.logw_u, model.logw_c, *vectorised)
    for value, ref in zip(vectorised, general):
        np.testing.assert_allclose(value, ref, rtol=1e-12)
    _assert_line_kernels_agree(model, np.zeros((1, 1)), x.T.copy(), t)


def test_non_finite_points_give_nan_where_they_are():
    """A NaN, an infinity or a coordinate whose square overflows gives NaN scores there, as the
    general kernels do, on one thread and in parallel blocks, not an exception; a NaN first in a
    chunk of a line leaves the chunk's other points as they were."""
    model = fg.CFG(label=1, w=2.0).bind(
        fg.EmpiricalMixture([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], labels=[0, 1, 1])
    )
    for n in (4, 4000):
        x = np.zeros((n, 2))
        x[:3, 0] = np.nan, np.inf, 1e200
        score = model.guided_score(x, 0.01, OU)
        assert np.isnan(score[:3]).any(axis=1).all() and np.isfinite(score[3:]).all()
    lines = np.array([[0.0, 0.3], [0.0, -0.2]])
    x = np.tile(np.linspace(-1.0, 2.0, 40), (2, 1))
    clean = model.velocity_along(0, x, lines, 0.01, OU, -1.0, 0.5)
    x[0, 16] = np.nan  # the first point of the second chunk
    velocity = model.velocity_along(0, x, lines, 0.01, OU, -1.0, 0.5)
    assert np.isnan(velocity[0, 16])
    velocity[0, 16] = clean[0, 16]
    np.testing.assert_allclose(velocity, clean, rtol=1e-14)


def test_zero_weights_take_the_general_kernels():
    """A component of zero weight (log-weight −inf in both models) among a data set's: the
    velocities and scores are those of the data set without it, at points near the class's
    components, where the chunks are pruned."""
    rng = np.random.default_rng(9)
    points = rng.uniform(-3, 3, (40, 2))
    labels = [1, 0] * 20
    weights = np.r_[np.ones(39), 0.0]
    with_zero = fg.CFG(label=1, w=2.0).bind(fg.EmpiricalMixture(points, weights, labels))
    without = fg.CFG(label=1, w=2.0).bind(fg.EmpiricalMixture(points[:39], labels=labels[:39]))
    lines = rng.uniform(-3.0, 3.0, size=(20, 2))
    x = np.tile(np.linspace(-3.0, 3.0, 64), (20, 1))
    for axis in range(2):
        np.testing.assert_allclose(
            with_zero.velocity_along(axis, x, lines, 1e-3, OU, -1.0, 0.5),
            without.velocity_along(axis, x, lines, 1e-3, OU, -1.0, 0.5),
            rtol=1e-12,
            atol=1e-12,
        )
    at = rng.uniform(-3.0, 3.0, size=(300, 2))
    np.testing.assert_allclose(
        with_zero.guided_score(at, 1e-3, OU), without.guided_score(at, 1e-3, OU), rtol=1e-12
    )


def test_shapes_sampling_and_serialisation():
    assert GM3.ndim == 3 and BOX3.ndim == 3
    draws = GM3.sample(200_000, np.random.default_rng(4), label=1)
    np.testing.assert_allclose(np.cov(draws.T), COV[0], atol=0.02)
    box = BOX3.sample(1000, np.random.default_rng(5), label=2)
    assert np.all((box >= BOX3.lows[1]) & (box <= BOX3.highs[1]))
    for target in (GM3, BOX3):
        assert fg.models.targets.target_from_dict(target.to_dict()) == target
    shared = fg.GaussianMixture(means=np.zeros((2, 2)), covariances=[[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(shared.covariances[1], [[2.0, 0.5], [0.5, 1.0]])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"covariances": [[1.0, 2.0], [2.0, 1.0]]}, r"positive definite"),
        ({"covariances": [[1.0, 0.2], [0.1, 1.0]]}, r"symmetric"),
        ({"covariances": np.ones((3, 2, 2))}, r"covariances must be .*\(2, 2, 2\)"),
        ({"covariances": np.ones(3)}, r"one entry per component"),
        ({"means": np.zeros((2, 0))}, r"means must be a non-empty"),
    ],
)
def test_bad_nd_gaussian(kw, match):
    with pytest.raises(ValueError, match=match):
        fg.GaussianMixture(**{"means": np.zeros((2, 2)), "covariances": 1.0, **kw})


def test_bad_boxes_and_points():
    with pytest.raises(ValueError, match=r"highs must have the same shape as lows"):
        fg.UniformMixture(lows=np.zeros((2, 2)), highs=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"lows must be below highs"):
        fg.UniformMixture(lows=[[0.0, 1.0]], highs=[[1.0, 1.0]])
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        BOX3.log_density(np.zeros((4, 2)), 0.1)
    with pytest.raises(ValueError, match=r"cond must have the dimension of the target \(3\)"):
        fg.CFG(w=1.0, cond=fg.GaussianMixture(means=[0.0])).bind(GM3)
