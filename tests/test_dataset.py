"""The Dataset layout of DESIGN §6 and exact round trips through netCDF and zarr."""

import json

import numpy as np
import pytest
import xarray as xr

import fpguide as fg


@pytest.fixture(scope="module")
def ds(um):
    return fg.solve(um, fg.CFG(label=1, w=3.0), sampler="sde", n_save=6)


def test_layout(ds):
    assert set(ds.density.dims) == {"t", "x"}
    assert (
        ds.t.values[0] == 10.0
        and ds.t.values[-1] == pytest.approx(1e-3)
        and np.all(np.diff(ds.t.values) < 0)
    )
    assert ds.x.attrs["bounds"] == "x_bounds"
    np.testing.assert_allclose(ds.x_bounds.mean("nv"), ds.x)
    for name in (
        "density",
        "mass",
        "outflow",
        "entropy",
        "confidence",
        "inverse_confidence",
        "mean",
        "variance",
        "support_mass",
        "edge_mass",
        "outside_mass",
        "tail_probability",
        "kl_conditional",
        "tv_conditional",
        "kl_tilted",
        "tv_tilted",
    ):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    for key in ("title", "source", "history", "config", "run"):
        assert key in ds.attrs
    assert ds.attrs["source"] == f"fpguide {fg.__version__}"


def test_configuration_reruns_to_the_same_dataset(ds, um):
    config = json.loads(ds.attrs["config"])
    assert fg.models.targets.target_from_dict(config["target"]) == um
    guidance = fg.models.guidance.CFG.from_dict(config["guidance"])
    again = fg.solve(
        um,
        guidance,
        sampler=config["sampler"],
        T=config["T"],
        t_min=config["t_min"],
        grid=fg.Grid(**config["grid"]),
        t_eval=config["t_eval"],
    )
    xr.testing.assert_identical(again.drop_attrs(), ds.drop_attrs())


def test_netcdf_round_trip_is_exact(ds, tmp_path):
    path = tmp_path / "run.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_zarr_round_trip_is_exact(ds, tmp_path):
    path = tmp_path / "run.zarr"
    ds.to_zarr(path, consolidated=False)
    with xr.open_zarr(path, consolidated=False) as back:
        xr.testing.assert_identical(back.load(), ds)


def test_divergences_at_the_output_time(ds, gm):
    assert float(ds.kl_conditional) > 0 and 0 < float(ds.tv_conditional) < 1
    unguided = fg.solve(gm, fg.CFG(label=1, w=0.0), start="exact", sampler="ode", n_save=2)
    # w = 0 from the exact start: q = p_t(·|c) and the tilted law is p_t(·|c) itself
    assert float(unguided.kl_conditional) < 1e-8 and float(unguided.tv_tilted) < 1e-4
