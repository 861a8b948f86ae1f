"""The command line and the demo job."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.cli import main, run_demo, write_atomically


def test_demo_writes_table_netcdf_and_figure(tmp_path, capsys):
    tree = run_demo(tmp_path, weights=(0.0, 3.0))
    out = capsys.readouterr().out
    assert "P(x>=sqrt w)" in out and out.count("\n") >= 10
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    back = xr.open_datatree(tmp_path / "demo.nc", engine="h5netcdf")
    assert set(back.children) == {"gaussian", "uniform"}
    xr.testing.assert_identical(
        back["uniform/sde/w=3"].to_dataset().load(), tree["uniform/sde/w=3"].to_dataset()
    )


def test_help_and_bad_arguments(capsys):
    result = subprocess.run(
        [sys.executable, "-m", "fpguide.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "demo" in result.stdout
    try:
        main(["demo", "--t-min", "-1"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--t-min must be in (0, T)" in capsys.readouterr().err


# --- fpguide run / plot
# --------------------------------------------------------------------------------------------------
GM_TOML = """
[run]
n_save = 5
log_snr_step = 0.2
[target]
type = "GaussianMixture"
means = [-1.0, 1.0]
covariances = 1.0
weights = [0.5, 0.5]
labels = [-1, 1]
[guidance]
label = 1
w = [0, 3]
[sampler]
name = ["ode", "sde"]
[grid]
lower = -8.0
upper = 8.0
n = 256
"""
SAMPLE_TOML = """
[run]
solver = "sample"
n = 200
seed = 0
n_save = 5
[target]
type = "GaussianMixture"
means = [-1.0, 1.0]
covariances = { sweep = [0.5, 1.0] }
labels = [-1, 1]
[guidance]
label = 1
w = [0, 3]
"""


def _config(tmp_path, text: str, name: str = "config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _assert_same_data(back: xr.Dataset, api: xr.Dataset) -> None:
    assert set(back.data_vars) == set(api.data_vars) and dict(back.sizes) == dict(api.sizes)
    for name in api.variables:
        assert np.array_equal(
            back[name].values, api[name].values, equal_nan=back[name].dtype.kind == "f"
        ), name
    assert back.attrs["config"] == api.attrs["config"]


@pytest.fixture(scope="module")
def sweep_nc(tmp_path_factory):
    """The GM sweep (2 samplers x 2 weights) run by the command line into a netCDF file."""
    folder = tmp_path_factory.mktemp("run")
    out = folder / "sweep.nc"
    assert main(["run", str(_config(folder, GM_TOML)), "-o", str(out)]) == 0
    return out


def test_run_writes_what_the_api_computes(sweep_nc, gm, capsys):
    back = xr.open_dataset(sweep_nc, engine="h5netcdf").load()
    api = fg.solve(
        gm,
        fg.CFG(label=1, w=[0.0, 3.0]),
        sampler=["ode", "sde"],
        n_save=5,
        log_snr_step=0.2,
        grid=fg.Grid(-8.0, 8.0, 256),
    )
    _assert_same_data(back, api)
    assert (
        back["w"].attrs["long_name"] == "guidance weight w"
        and back["sampler"].attrs["units"] == "1"
    )
    assert not list(sweep_nc.parent.glob(".sweep.nc*"))  # no temporary left behind


@pytest.mark.parametrize("kind", ["adaptive", "uniform"])
def test_run_on_a_grid_type_writes_what_the_api_computes(tmp_path, gm, capsys, kind):
    text = GM_TOML.replace("lower = -8.0\nupper = 8.0\nn = 256\n", f'type = "{kind}"\n')
    out = tmp_path / f"{kind}.nc"
    assert main(["run", str(_config(tmp_path, text)), "-o", str(out)]) == 0
    back = xr.open_dataset(out, engine="h5netcdf").load()
    api = fg.solve(
        gm,
        fg.CFG(label=1, w=[0.0, 3.0]),
        sampler=["ode", "sde"],
        n_save=5,
        log_snr_step=0.2,
        grid=kind,
    )
    _assert_same_data(back, api)


def test_run_samples_a_target_family_into_zarr(tmp_path, capsys):
    out = tmp_path / "particles.zarr"
    assert main(["run", str(_config(tmp_path, SAMPLE_TOML)), "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "covariances" in table and "confidence" in table and f"wrote {out}" in table
    back = xr.open_zarr(out).load()
    family = fg.Family(
        lambda covariances: fg.GaussianMixture(
            means=[-1.0, 1.0], covariances=covariances, labels=[-1, 1]
        ),
        covariances=[0.5, 1.0],
    )
    api = fg.sample(family, fg.CFG(label=1, w=[0.0, 3.0]), n=200, seed=0, n_save=5)
    _assert_same_data(back, api)
    assert back["covariances"].attrs["long_name"] == "target covariances"
    # a particle sweep: observables
    assert main(["plot", str(out), "-o", str(tmp_path / "particles.png")]) == 0
    assert (tmp_path / "particles.png").stat().st_size > 10_000


def test_plot_a_sweep_and_a_single_run(sweep_nc, tmp_path, capsys):
    assert main(["plot", str(sweep_nc), "-o", str(tmp_path / "sweep.png")]) == 0
    assert (tmp_path / "sweep.png").stat().st_size > 20_000
    single = GM_TOML.replace("w = [0, 3]", "w = 3").replace('name = ["ode", "sde"]', 'name = "ode"')
    out = tmp_path / "single.nc"
    assert main(["run", str(_config(tmp_path, single)), "-o", str(out)]) == 0
    assert "one solve run" in capsys.readouterr().out
    assert main(["plot", str(out), "-o", str(tmp_path / "single.png")]) == 0
    assert (tmp_path / "single.png").stat().st_size > 10_000
    assert main(["plot", str(tmp_path / "missing.nc"), "-o", str(tmp_path / "missing.png")]) == 1
    assert "no such file" in capsys.readouterr().err and not (tmp_path / "missing.png").exists()


BAD_CONFIGS = {
    "unknown key": (
        GM_TOML.replace("w = [0, 3]", "wieght = 3"),
        ["guidance.wieght", "guidance.w,", "guidance.label", "guidance.gamma"],
    ),
    "unknown table": (
        GM_TOML.replace("[sampler]", "[samplers]"),
        ["[samplers]", "did you mean [sampler]?", "[process]"],
    ),
    "wrong type": (
        GM_TOML.replace("n_save = 5", 'T = "ten"'),
        ["run.T", "must be a real number", "'ten'"],
    ),
    "bad sampler": (
        GM_TOML.replace('"sde"]', '"dde"]'),
        ["sampler.name", "('ode', 'sde')", "'dde'"],
    ),
    "missing target type": (
        GM_TOML.replace('type = "GaussianMixture"\n', ""),
        ["target.type", "GaussianMixture", "UniformMixture"],
    ),
    "bad target type": (
        GM_TOML.replace('"GaussianMixture"', '"Gaussian"'),
        ["target.type", "'Gaussian'", "('GaussianMixture', 'EmpiricalMixture', 'UniformMixture')"],
    ),
    "bad swept value": (
        GM_TOML.replace("covariances = 1.0", "covariances = { sweep = [1.0, -2.0] }"),
        ["target.covariances.sweep[1]", "covariances must be > 0"],
    ),
    "bad process": (
        GM_TOML + '[process]\ntype = "VE"\nsigma_min = "small"\n',
        ["process.sigma_min", "real number"],
    ),
    "T beyond the process": (GM_TOML + '[process]\ntype = "VE"\n', ["run.T", "T must be <= 1"]),
    # caught before any run by the solver's own checks (fpguide.runs.solve.check_solve)
    "too many dimensions for a grid": (
        GM_TOML.replace("means = [-1.0, 1.0]", "means = [[-1.0, 0, 0, 0], [1.0, 0, 0, 0]]").replace(
            "n_save = 5", "n_save = 5\nreduce = false"
        ),
        ["d=4 dimensions", "a grid holds at most 3", "reduce=None"],
    ),
    "grid for particles": (
        SAMPLE_TOML + "[grid]\nlower = -8.0\nupper = 8.0\nn = 256\n",
        ["[grid]", "'solve'"],
    ),
    "bad grid type": (
        GM_TOML.replace("lower = -8.0\n", 'type = "graded"\n'),
        ["grid.type", "'adaptive'", "'uniform'", "'graded'"],
    ),
    "adaptive with cells": (
        GM_TOML.replace("lower = -8.0\n", 'type = "adaptive"\n'),
        ["unknown key grid.upper", "grid.type"],
    ),
    "key of the other solver": (
        GM_TOML.replace("n_save = 5", "seed = 0"),
        ["run.seed", "run.n_save"],
    ),
    "dask without a sweep": (
        SAMPLE_TOML.replace("w = [0, 3]", "w = 3").replace("{ sweep = [0.5, 1.0] }", "1.0")
        + "[dask]\nscheduler = "
        '"threads"\n',
        ["dask.scheduler", "sweeps nothing"],
    ),
    "not TOML": ("[run\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_fail_cleanly_and_write_nothing(case, tmp_path, capsys):
    text, expected = BAD_CONFIGS[case]
    out = tmp_path / "out.nc"
    assert main(["run", str(_config(tmp_path, text)), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    for part in expected:
        assert part in err, (part, err)
    assert list(tmp_path.iterdir()) == [tmp_path / "config.toml"]


def test_a_run_that_fails_writes_nothing(tmp_path, capsys):
    narrow = GM_TOML.replace("lower = -8.0", "lower = -5.0").replace("upper = 8.0", "upper = 5.0")
    assert main(["run", str(_config(tmp_path, narrow)), "-o", str(tmp_path / "out.nc")]) == 1
    assert "left the grid" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "config.toml"]


def test_bad_output_suffix_and_missing_output(tmp_path, capsys):
    config = _config(tmp_path, GM_TOML)
    for argv in (["run", str(config), "-o", str(tmp_path / "out.csv")], ["run", str(config)]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert ".nc or .zarr, got" in err and "out.csv" in err and "-o OUT.nc" in err
    assert list(tmp_path.iterdir()) == [config]


def test_example_config_is_valid_and_subcommands_have_help(capsys):
    example = Path(__file__).parents[1] / "examples" / "sweep.toml"
    assert main(["run", str(example), "--check"]) == 0
    assert "sweep over sampler (2), w (4): 8 items" in capsys.readouterr().out
    for command in ("run", "plot"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "-o" in capsys.readouterr().out


def test_written_atomically(tmp_path, monkeypatch):
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    out = tmp_path / "out.zarr"
    write_atomically(ds, out)
    write_atomically(ds * 2, out)  # replaces a previous result folder
    assert xr.open_zarr(out)["a"].values.tolist() == [0.0, 2.0, 4.0]

    def fail(self, path, **kwargs):
        Path(path).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(ds, tmp_path / "out.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
