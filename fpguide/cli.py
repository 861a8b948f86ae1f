"""fpguide: exact output densities of guided diffusion samplers.

  fpguide run CONFIG.toml -o OUT.nc|OUT.zarr  solve (or sample) what a TOML file describes
                                              (sweeps included)
  fpguide plot OUT.nc|OUT.zarr -o FIG.png     the figure of a result: observables and densities
  fpguide demo                                the papers' two standard cases: a table, demo.nc,
                                              demo.png

See "fpguide COMMAND --help" and examples/sweep.toml.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from ._version import __version__
from .models.guidance import CFG
from .models.targets import GaussianMixture, UniformMixture
from .runs.solve import solve
from .tools.errors import WallMassError

__all__ = ["main", "run_demo", "write_atomically"]

SUFFIXES = (".nc", ".zarr")
SUMMARY = ("entropy", "confidence", "support_mass", "edge_mass", "tail_probability", "kl_tilted")

DEMO_WEIGHTS = (0.0, 1.0, 3.0, 7.0, 15.0)
DEMO_TARGETS = {
    "gaussian": GaussianMixture(
        means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]
    ),
    "uniform": UniformMixture(
        lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]
    ),
}


def run_demo(
    out: Path, weights: Sequence[float] = DEMO_WEIGHTS, T: float = 10.0, t_min: float = 1e-3
) -> xr.DataTree:
    """Solve the papers' two standard cases (``fpguide demo``): print a table, write demo.nc and
    demo.png.

    Both targets of ``DEMO_TARGETS`` (the Gaussians N(−1, 1) and N(1, 1), the boxes [−2, −1] and
    [1, 2], equal weights, labels −1 and +1) are solved guided to class +1 on the OU process, with
    both samplers and every weight. The table has one row per run: the output entropy, confidence,
    support and edge mass, P(x ≥ √w), the grid's cells and the seconds it took.

    Parameters
    ----------
    out : Path
        The output folder (created if missing).
    weights : sequence of float, default DEMO_WEIGHTS
        The guidance weights w, (0, 1, 3, 7, 15) by default.
    T, t_min : float, default 10.0 and 1e-3
        The start and the early-stopping time.

    Returns
    -------
    xarray.DataTree
        The runs, by ``"<target>/<sampler>/w=<w>"``, as written to ``out/demo.nc``.
    """
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, xr.Dataset] = {}
    header = (
        f"{'target':<9}{'sampler':<8}{'w':>5}{'entropy':>10}{'confidence':>12}"
        f"{'support':>10}{'edge':>9}"
        f"{'P(x>=sqrt w)':>14}{'cells':>7}{'seconds':>9}"
    )
    print(
        f"fpguide {__version__} demo: guided to class +1, OU, T={T}, t_min={t_min}\n{header}",
        flush=True,
    )
    for name, target in DEMO_TARGETS.items():
        for sampler in ("ode", "sde"):
            for w in weights:
                start = time.perf_counter()
                ds = solve(target, CFG(label=1, w=w), sampler=sampler, T=T, t_min=t_min)
                seconds = time.perf_counter() - start
                runs[f"{name}/{sampler}/w={w:g}"] = ds
                final = ds.isel(t=-1)
                support = (
                    f"{final['support_mass'].item():10.4f}"
                    if "support_mass" in ds
                    else f"{'-':>10}"
                )
                edge = f"{final['edge_mass'].item():9.4f}" if "edge_mass" in ds else f"{'-':>9}"
                print(
                    f"{name:<9}{sampler:<8}{w:>5g}{final['entropy'].item():>10.4f}"
                    f"{final['confidence'].item():>12.4f}{support}{edge}"
                    f"{final['tail_probability'].isel(threshold=0).item():>14.4f}"
                    f"{ds.sizes['x']:>7d}"
                    f"{seconds:>9.2f}",
                    flush=True,
                )
    tree = xr.DataTree.from_dict(runs)
    tree.attrs = {
        "title": "fpguide demo: guided samplers on the papers' standard cases",
        "source": f"fpguide {__version__}",
    }
    tree.to_netcdf(out / "demo.nc", engine="h5netcdf")
    _demo_figure(runs, weights, out / "demo.png")
    print(f"wrote {out / 'demo.nc'} and {out / 'demo.png'}")
    return tree


def _demo_figure(runs, weights, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plot import plot_density_over_time, plot_output_densities

    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5), constrained_layout=True)
    w_show = weights[len(weights) // 2]
    for row, (name, xlim) in enumerate((("gaussian", (-4, 6)), ("uniform", (-3, 4)))):
        plot_density_over_time(runs[f"{name}/ode/w={w_show:g}"], ax=axes[row, 0])
        axes[row, 0].set_xlim(*xlim)
        for col, sampler in enumerate(("ode", "sde"), start=1):
            plot_output_densities(
                {f"w={w:g}": runs[f"{name}/{sampler}/w={w:g}"] for w in weights},
                ax=axes[row, col],
                xlim=xlim,
            )
            axes[row, col].set_title(f"{name}, {sampler}: output density per w")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_config(config_path: Path, out: Path | None, check_only: bool = False) -> int:
    """``fpguide run``: check the whole configuration, run it, write ``out`` (complete or not at
    all)."""
    from .config import ConfigError, load

    try:
        config = load(config_path)
    except ConfigError as err:
        print(f"fpguide run: error in {config_path}: {err}", file=sys.stderr)
        return 2
    print(f"{config_path}: {config.describe()}", flush=True)
    if check_only or out is None:
        return 0
    try:
        if config.scheduler is not None and out.suffix == ".zarr":
            # the store is the output, written as items complete: a rerun resumes it
            ds = config.run(store=out)
        else:
            ds = config.run()
            write_atomically(ds, out)
    except WallMassError as err:
        print(
            f"fpguide run: failed: {err} (widen [grid], or leave it out for the automatic grid)",
            file=sys.stderr,
        )
        return 1
    print(summary(ds))
    print(f"wrote {out}")
    return 0


def write_atomically(ds: xr.Dataset, path: Path) -> None:
    """Write a Dataset through a temporary sibling renamed into place.

    ``path`` then holds the complete result or what it held before.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset to write.
    path : Path
        The file: ``.nc`` (netCDF with h5netcdf) or, otherwise, a zarr store (``.zarr``); its
        folder is created if missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial, previous = (
        path.with_name(f".{path.name}.{what}-{os.getpid()}") for what in ("partial", "previous")
    )
    try:
        if path.suffix == ".nc":
            ds.to_netcdf(partial, engine="h5netcdf")
        else:
            # zarr 3 on string coordinates and consolidated metadata
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module="zarr")
                ds.to_zarr(partial, mode="w")
        if path.is_dir():  # os.replace cannot replace a non-empty folder
            os.replace(path, previous)
        os.replace(partial, path)
    finally:
        for leftover in (partial, previous):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)


def open_result(path: Path) -> xr.Dataset:
    """A Dataset written by ``fpguide run`` (.nc or .zarr), loaded into memory."""
    if path.suffix not in SUFFIXES:
        raise ValueError(f"expected a .nc or .zarr file, got {path}")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    opened = (
        xr.open_dataset(path, engine="h5netcdf") if path.suffix == ".nc" else xr.open_zarr(path)
    )
    with opened:
        return opened.load()


def summary(ds: xr.Dataset) -> str:
    """The outputs of every item (at t_min) as a table."""
    from .sweeps.sweep import outputs, sweep_dims

    out = outputs(ds)
    dims = set(sweep_dims(ds))
    columns = {}
    for name in SUMMARY:
        if name not in out:
            continue
        if name == "tail_probability" and out[name].dims[-1:] == ("threshold",):
            columns |= {
                f"P(x>={a:.3g})": out[name].sel(threshold=a) for a in out["threshold"].values
            }
        elif set(out[name].dims) <= dims:
            columns[name] = out[name]
    table = xr.Dataset({name: column.reset_coords(drop=True) for name, column in columns.items()})
    frame = table.expand_dims("item").to_dataframe() if not dims else table.to_dataframe()
    return frame.to_string(float_format=lambda v: f"{v:.6g}", index=bool(dims))


def plot_result(data: Path, out: Path, dim: str | None = None) -> None:
    """``fpguide plot``: the figure of a result file (see :func:`fpguide.plot.plot_dataset`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plot import plot_dataset

    fig = plot_dataset(open_result(data), dim)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line's parser, and those of its commands ``run`` and ``plot`` (for their
    errors)."""
    parser = argparse.ArgumentParser(
        prog="fpguide", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"fpguide {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _add_run_parser(commands)
    plot = _add_plot_parser(commands)
    _add_demo_parser(commands)
    return parser, run, plot


def _add_run_parser(commands) -> argparse.ArgumentParser:
    """The parser of ``fpguide run``."""
    run = commands.add_parser(
        "run",
        help="solve or sample what a TOML configuration describes (sweeps included), write "
        ".nc or .zarr",
        description="Solve (or sample) the run a TOML configuration describes: target, guidance, "
        "sampler, process, "
        "settings, grid; a list sweeps (see examples/sweep.toml). The whole "
        "configuration is checked "
        "first: a bad key or value stops with the key and what is allowed, and nothing "
        "is written. "
        "The output is written to a temporary sibling and renamed into place. With "
        "[dask] and a .zarr "
        "output, the sweep writes each group of items into OUT.zarr as it completes, "
        "and a rerun with "
        "the same OUT.zarr resumes it.",
    )
    run.add_argument("config", type=Path, help="TOML configuration")
    run.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output: OUT.nc (netCDF) or OUT.zarr (required unless --check)",
    )
    run.add_argument(
        "--check", action="store_true", help="only check the configuration and say what it runs"
    )
    return run


def _add_plot_parser(commands) -> argparse.ArgumentParser:
    """The parser of ``fpguide plot``."""
    plot = commands.add_parser(
        "plot",
        help="draw the figure of a result: a sweep's observables and output densities, or "
        "a single run",
        description="Draw a result of fpguide run (or of fpguide.solve / fpguide.sample saved as "
        ".nc or .zarr): "
        "for a sweep, the output entropy, confidence, support and edge mass against "
        "the swept "
        "parameter (one line per sampler) above the output densities, one panel per "
        "value; for a "
        "single run, the density over time.",
    )
    plot.add_argument("data", type=Path, help="a result: OUT.nc or OUT.zarr")
    plot.add_argument(
        "-o", "--out", type=Path, required=True, help="figure file (.png, .pdf, .svg)"
    )
    plot.add_argument(
        "--dim",
        help="swept parameter on the horizontal axis (default: w when "
        "swept, else the "
        "first swept parameter other than sampler)",
    )
    return plot


def _add_demo_parser(commands) -> argparse.ArgumentParser:
    """The parser of ``fpguide demo``."""
    demo = commands.add_parser(
        "demo",
        help="solve the two standard cases of the papers, print a "
        "table, "
        "write demo.nc and demo.png",
    )
    demo.add_argument("-o", "--out", type=Path, default=Path("fpguide_demo"), help="output folder")
    demo.add_argument(
        "--t-min", type=float, default=1e-3, help="early-stopping time (default 1e-3)"
    )
    demo.add_argument("--T", type=float, default=10.0, help="start time (default 10)")
    return demo


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``fpguide COMMAND ...`` (the module docstring lists the commands).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program's name; None (default) reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success; 1 when a run lost mass through the walls of its grid or a
        figure could not be drawn; 2 for an error in a configuration file. Bad arguments exit
        through argparse (status 2) with a message.
    """
    parser, run, plot = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run_command(args, run)
    if args.command == "plot":
        return _plot_command(args, plot)
    if args.command == "demo":
        _demo_command(args, parser)
    return 0


def _run_command(args: argparse.Namespace, run: argparse.ArgumentParser) -> int:
    """``fpguide run`` with the parsed ``args``."""
    if args.out is None and not args.check:
        run.error("the output -o OUT.nc or -o OUT.zarr is required (or --check)")
    if args.out is not None and args.out.suffix not in SUFFIXES:
        run.error(f"the output must end in .nc or .zarr, got {str(args.out)!r}")
    return run_config(args.config, args.out, args.check)


def _plot_command(args: argparse.Namespace, plot: argparse.ArgumentParser) -> int:
    """``fpguide plot`` with the parsed ``args``."""
    if args.data.suffix not in SUFFIXES:
        plot.error(f"the result must be a .nc or .zarr file, got {str(args.data)!r}")
    try:
        plot_result(args.data, args.out, args.dim)
    except (OSError, ValueError) as err:
        print(f"fpguide plot: error: {err}", file=sys.stderr)
        return 1
    return 0


def _demo_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``fpguide demo`` with the parsed ``args``."""
    if not (math.isfinite(args.T) and args.T > 0):
        parser.error(f"--T must be a finite number > 0, got {args.T}")
    if not (math.isfinite(args.t_min) and 0 < args.t_min < args.T):
        parser.error(f"--t-min must be in (0, T) = (0, {args.T:g}), got {args.t_min}")
    run_demo(args.out, T=args.T, t_min=args.t_min)


if __name__ == "__main__":
    sys.exit(main())
