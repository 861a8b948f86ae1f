"""The push-forward of a density through a 1-D map (engine/pushforward.py) against closed forms."""

import numpy as np
import pytest
from scipy.stats import norm

import fpguide as fg
from fpguide.engine.pushforward import push_forward

GRID = fg.Grid(-10.0, 10.0, 800)
START = np.diff(norm.cdf(GRID.faces, 0.5, 1.0)) / GRID.dx  # N(0.5, 1), exact cell averages


def _l1(q, cdf_at_faces):
    return np.abs(q - np.diff(cdf_at_faces) / GRID.dx).sum() * GRID.dx


@pytest.mark.parametrize("a, b", [(2.0, 1.0), (-0.5, 1.0)], ids=["expanding", "reflecting"])
def test_affine_maps_push_gaussians_to_gaussians(a, b):
    pushed = push_forward(START, GRID, lambda x: a * x + b, 0)
    cdf = norm.cdf(GRID.faces, a * 0.5 + b, abs(a))
    assert _l1(pushed.q, cdf) < 2e-6
    assert pushed.q.sum() * GRID.dx + pushed.lower + pushed.upper == pytest.approx(1.0, abs=1e-13)
    assert pushed.turns == 0 and pushed.collapsed == 0.0


@pytest.mark.parametrize(
    "shift", [0.0, 0.1234, 0.0125], ids=["at a face", "inside a cell", "at a cell centre"]
)
def test_folding_maps_sum_both_branches(shift):
    """y = (x − s)² − 3 folds the line at x = s: P(Y ≤ y) = P(|X − s| ≤ sqrt(y + 3))."""
    pushed = push_forward(START, GRID, lambda x: (x - shift) ** 2 - 3.0, 0)
    root = np.sqrt(np.maximum(GRID.faces + 3.0, 0.0))
    cdf = norm.cdf(shift + root, 0.5, 1.0) - norm.cdf(shift - root, 0.5, 1.0)
    assert _l1(pushed.q, cdf) < 2e-7
    assert pushed.turns == 1 and pushed.collapsed == 0.0


def test_mass_beyond_the_walls_leaves_on_its_side():
    q = np.zeros(GRID.n)
    q[[0, -1]] = 1.0 / (2 * GRID.dx)
    pushed = push_forward(q, GRID, lambda x: 1e30 * x, 0)
    assert pushed.lower == pytest.approx(0.5, rel=1e-12) and pushed.upper == pytest.approx(
        0.5, rel=1e-12
    )


@pytest.mark.parametrize("point", [GRID.lower, 0.3, GRID.upper])
def test_constant_maps_make_point_masses(point):
    pushed = push_forward(START, GRID, lambda x: np.full_like(x, point), 0)
    assert pushed.collapsed == pytest.approx(1.0, abs=1e-12)
    # a point on a wall stays on the grid, on either wall
    assert pushed.lower == 0.0 and pushed.upper == 0.0
    assert np.count_nonzero(pushed.q) == 1
