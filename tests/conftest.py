"""Shared fixtures: the papers' two standard targets. Tests run one numba thread per process:
``pytest -n 2`` already keeps both cores busy, and oversubscribed parallel regions stall (measured:
40 ms per region instead of 0.2 ms)."""

import os

import numba
import pytest
from hypothesis import HealthCheck, Phase, settings

import fpguide as fg

numba.set_num_threads(1)

# Hypothesis profiles (tests/test_properties.py), chosen by FPGUIDE_HYPOTHESIS: "ci" (default;
# reproducible: fixed examples, no database, no shrinking: a failure prints its example unshrunk, in
# seconds; 60 per unit share, 180 in all, sized to keep the suite under 15 minutes on 2 cores) or
# "nightly" (1000 per unit share, fresh random ones each run, shrunk to a minimal example; a failure
# prints its seed/blob).
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
settings.register_profile(
    "nightly", settings.get_profile("ci"), max_examples=1000, derandomize=False, phases=list(Phase)
)
settings.load_profile(os.environ.get("FPGUIDE_HYPOTHESIS", "ci"))


@pytest.fixture(scope="session")
def gm():
    return fg.GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    )


@pytest.fixture(scope="session")
def um():
    return fg.UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    )
