"""The command line and the demo job."""

import subprocess
import sys

import xarray as xr

from fpguide.cli import main, run_demo


def test_demo_writes_table_netcdf_and_figure(tmp_path, capsys):
    tree = run_demo(tmp_path, weights=(0.0, 3.0))
    out = capsys.readouterr().out
    assert "P(x>=sqrt w)" in out and out.count("\n") >= 10
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    back = xr.open_datatree(tmp_path / "demo.nc", engine="h5netcdf")
    assert set(back.children) == {"gaussian", "uniform"}
    xr.testing.assert_identical(back["uniform/sde/w=3"].to_dataset().load(), tree["uniform/sde/w=3"].to_dataset())


def test_help_and_bad_arguments(capsys):
    result = subprocess.run([sys.executable, "-m", "fpguide.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout
    try:
        main(["demo", "--t-min", "-1"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--t-min must be in (0, T)" in capsys.readouterr().err
