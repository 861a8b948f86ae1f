"""The grid solution against particles of the same dynamics (cross_check), and a negative
control."""

import json

import numpy as np
import pytest

import fpguide as fg

N_PARTICLES = 20_000


@pytest.mark.parametrize("w", [0.0, 3.0])
@pytest.mark.parametrize("sampler", ["ode", "sde"])
@pytest.mark.parametrize("which", ["gm", "um"])
def test_pde_agrees_with_particles(which, sampler, w, request):
    target = request.getfixturevalue(which)
    guide = fg.CFG(label=1, w=w)
    ds = fg.solve(target, guide, sampler=sampler, n_save=5)
    ps = fg.sample(target, guide, sampler=sampler, n=N_PARTICLES, seed=11, n_save=5)
    report = fg.cross_check(ds, ps)
    assert report.passed, str(report)
    assert report.ks < report.ks_bound
    names = {row["name"] for row in report.rows}
    assert {"mean", "variance", "confidence"} <= names
    if which == "um":
        assert {"support_mass", "edge_mass", "outside_mass"} <= names


def test_cross_check_detects_a_different_sampler(gm):
    """Negative control: particles of w = 3 against the grid solution of w = 4 (relabelled) must
    fail."""
    ds = fg.solve(gm, fg.CFG(label=1, w=4.0), sampler="ode", n_save=2)
    ps = fg.sample(gm, fg.CFG(label=1, w=3.0), sampler="ode", n=N_PARTICLES, seed=3, n_save=2)
    config = json.loads(ds.attrs["config"])
    config["guidance"]["w"] = 3.0
    ds.attrs["config"] = json.dumps(config)
    report = fg.cross_check(ds, ps)
    assert not report.passed
    assert report.ks > report.ks_bound


def test_cross_check_refuses_different_configurations(gm):
    ds = fg.solve(gm, fg.CFG(label=1, w=1.0), sampler="ode", n_save=2)
    ps = fg.sample(gm, fg.CFG(label=1, w=1.0), sampler="sde", n=200, seed=0, n_save=2)
    with pytest.raises(ValueError, match="sampler"):
        fg.cross_check(ds, ps)


def test_particles_are_seeded_and_report_standard_errors(um):
    a = fg.sample(um, fg.CFG(label=1, w=1.0), sampler="sde", n=500, seed=5, n_save=3)
    b = fg.sample(um, fg.CFG(label=1, w=1.0), sampler="sde", n=500, seed=5, n_save=3)
    np.testing.assert_array_equal(a.position.values, b.position.values)
    p = a.support_mass.values[-1]
    assert a.support_mass_se.values[-1] == pytest.approx(np.sqrt(p * (1 - p) / 500), rel=0.01)
    assert a.position.sizes == {"t": 3, "particle": 500}
