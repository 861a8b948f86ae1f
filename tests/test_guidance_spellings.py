"""The conventions that map onto CFG's weight w: γ = 1 + w (diffusers' guidance_scale) and
classifier guidance."""

import numpy as np
import pytest

import fpguide as fg


def test_gamma_is_one_plus_w(um):
    by_w, by_gamma = fg.CFG(label=1, w=3.0), fg.CFG(label=1, gamma=4.0)
    assert by_gamma.w == 3.0 and by_w.gamma == 4.0
    a = fg.solve(um, by_w, sampler="ode", n_save=2)
    b = fg.solve(um, by_gamma, sampler="ode", n_save=2)
    np.testing.assert_array_equal(a.density.values, b.density.values)


def test_classifier_guidance_is_the_unconditional_score_plus_scaled_classifier_gradient(gm):
    """∇log p_t(x) + λ ∇log p_t(c|x), with the classifier gradient by finite differences of the
    class posterior."""
    scale, t, h = 2.5, 0.3, 1e-5
    x = np.linspace(-4.0, 4.0, 41)
    process = fg.OU()
    guided = fg.CFG.classifier(label=1, scale=scale).bind(gm).guided_score(x, t, process)

    def log_classifier(y):
        return np.log(gm.class_posterior(y, t, label=1, process=process))

    gradient = (log_classifier(x + h) - log_classifier(x - h)) / (2 * h)
    np.testing.assert_allclose(
        guided, gm.score(x, t, process) + scale * gradient, rtol=1e-7, atol=1e-7
    )
    assert fg.CFG.classifier(label=1, scale=1.0).w == 0.0  # λ = 1: the conditional law


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"label": 1, "w": 1.0, "gamma": 2.0}, ValueError, "not both"),
        ({"label": 1, "gamma": -0.5}, ValueError, "gamma must be >= 0"),
        ({"label": 1, "gamma": "2"}, TypeError, "gamma must be a real number"),
    ],
)
def test_bad_spellings(kwargs, error, message):
    with pytest.raises(error, match=message):
        fg.CFG(**kwargs)


def test_bad_classifier_scale():
    with pytest.raises(ValueError, match="scale must be >= 0"):
        fg.CFG.classifier(label=1, scale=-1.0)
    with pytest.raises(TypeError, match="scale must be a real number"):
        fg.CFG.classifier(label=1, scale=None)
