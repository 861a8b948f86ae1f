"""Shared fixtures: the papers' two standard targets."""

import pytest

import fpguide as fg


@pytest.fixture(scope="session")
def gm():
    return fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1])


@pytest.fixture(scope="session")
def um():
    return fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
