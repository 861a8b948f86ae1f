"""Reproducibility: identical inputs give bit-identical Datasets, and rerun(ds) reproduces ds from
its record."""

import numpy as np
import pytest
import xarray as xr

import fpguide as fg

GM = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[0, 1])
UM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[0, 1])
G2 = fg.GaussianMixture(
    means=[[-1.0, 0.0], [1.0, 0.5]],
    covariances=[[[1.0, 0.3], [0.3, 0.5]], np.eye(2)],
    labels=[0, 1],
)
G5 = fg.GaussianMixture(
    means=[[0.5] + [0.0] * 4, [-0.5] + [0.0] * 4], covariances=1.0, labels=[1, 0]
)

RUNS = {
    "solve-1d": lambda: fg.solve(GM, fg.CFG(label=1, w=3.0), n_save=5),
    "solve-sde-uniform-vp": lambda: fg.solve(
        UM, fg.CFG(label=1, w=2.0), "sde", eta=0.5, process="VP", T=1.0, n_save=4, t_min=1e-2
    ),
    "solve-given-grid-plm": lambda: fg.solve(
        GM,
        fg.CFG(label=1, w=1.0),
        grid=fg.Grid(-8.0, 8.0, 300),
        scheme="plm",
        thresholds=[0.5, 1.0],
        n_save=3,
    ),
    "solve-sweep": lambda: fg.solve(
        GM, fg.CFG(label=1, w=[0.0, 4.0]), sampler=["ode", "sde"], n_save=3
    ),
    "solve-sweep-t_min": lambda: fg.solve(UM, fg.CFG(label=1, w=2.0), t_min=[1e-2, 1e-3], n_save=3),
    "solve-error-estimate": lambda: fg.solve(
        GM, fg.CFG(label=1, w=2.0), n_save=3, error_estimate=True
    ),
    "solve-2d": lambda: fg.solve(G2, fg.CFG(label=1, w=2.0), n_save=3, t_min=0.05),
    "solve-reduced-5d": lambda: fg.solve(G5, fg.CFG(label=1, w=2.0), n_save=3),
    "sample": lambda: fg.sample(GM, fg.CFG(label=1, w=3.0), "sde", n=2000, seed=7, n_save=3),
    "sample-time-grid": lambda: fg.sample(
        GM, fg.CFG(label=1, w=3.0), n=500, seed=3, n_save=3, time_grid=np.geomspace(10.0, 1e-3, 40)
    ),
    "solve-pc": lambda: fg.solve_pc(
        GM, fg.CFG(label=1, gamma=2.0), fg.PredictorCorrector(3, langevin=0.5)
    ),
    "sample-pc": lambda: fg.sample_pc(
        GM, fg.CFG(label=1, gamma=2.0), fg.PredictorCorrector(3), n=500, seed=1, substeps=4
    ),
    "solve-discrete-ddim": lambda: fg.solve_discrete(
        GM, fg.CFG(label=1, w=2.0), fg.DDIM(5, eta=0.5)
    ),
    "solve-discrete-ddpm": lambda: fg.solve_discrete(
        UM,
        fg.CFG(label=1, w=2.0),
        fg.DDPM(4, fg.NoiseSchedule(beta_schedule="scaled_linear"), variance_type="fixed_large"),
        compare=False,
        grid=fg.Grid(-10.0, 16.0, 1040),
    ),
    "sample-discrete": lambda: fg.sample_discrete(
        GM, fg.CFG(label=1, w=2.0), fg.DDIM(5), n=500, seed=2
    ),
}


# the discrete DDPM case's grid: not the point
@pytest.mark.filterwarnings("ignore::fpguide.CoarseGridWarning")
@pytest.mark.parametrize("make", RUNS.values(), ids=RUNS.keys())
def test_identical_inputs_give_identical_datasets_and_rerun_reproduces_them(make):
    ds = make()
    xr.testing.assert_identical(make(), ds)
    xr.testing.assert_identical(fg.rerun(ds), ds)


def test_rerun_survives_a_file_and_takes_changes(tmp_path):
    ds = fg.solve(GM, fg.CFG(label=1, w=3.0), n_save=3)
    ds.to_netcdf(tmp_path / "run.nc")
    with xr.open_dataset(tmp_path / "run.nc") as saved:
        xr.testing.assert_identical(fg.rerun(saved), ds)
    other = fg.rerun(ds, sampler="sde")
    assert fg.rerun(other).density.equals(other.density) and not other.density.equals(ds.density)


def test_what_a_record_cannot_rebuild_is_named():
    family = fg.solve(
        fg.Family(lambda s: fg.GaussianMixture(means=[-s, s], labels=[0, 1]), s=[1.0, 2.0]),
        fg.CFG(label=1, w=1.0),
        n_save=2,
    )
    with pytest.raises(ValueError, match=r"Family of targets \(parameters \['s'\]\)"):
        fg.rerun(family)
    with pytest.raises(ValueError, match=r"seed=None.*rerun\(ds, seed=\.\.\.\)"):
        fg.rerun(fg.sample(GM, fg.CFG(label=1, w=1.0), n=100, n_save=2))
    unknown = fg.solve(GM, fg.CFG(label=1, w=1.0), n_save=2)
    unknown.attrs["config"] = unknown.attrs["config"].replace(
        '"function": "solve"', '"function": "mine"'
    )
    with pytest.raises(ValueError, match=r"function='mine'"):
        fg.rerun(unknown)
    with pytest.raises(TypeError, match="ds must be an xarray.Dataset made by fpguide"):
        fg.rerun(xr.Dataset())
