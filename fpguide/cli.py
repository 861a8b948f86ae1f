"""Command line: ``fpguide demo`` solves the papers' two standard cases and writes a table, a netCDF file and a
figure."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import xarray as xr

from . import __version__
from .guidance import CFG
from .solve import solve
from .targets import GaussianMixture, UniformMixture

DEMO_WEIGHTS = (0.0, 1.0, 3.0, 7.0, 15.0)
DEMO_TARGETS = {
    "gaussian": GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1]),
    "uniform": UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1]),
}


def run_demo(out: Path, weights=DEMO_WEIGHTS, T: float = 10.0, t_min: float = 1e-3) -> xr.DataTree:
    """Solve both targets, both samplers, every weight; print the table; write demo.nc and demo.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, xr.Dataset] = {}
    header = (f"{'target':<9}{'sampler':<8}{'w':>5}{'entropy':>10}{'confidence':>12}{'support':>10}{'edge':>9}"
              f"{'P(x>=sqrt w)':>14}{'cells':>7}{'seconds':>9}")
    print(f"fpguide {__version__} demo: guided to class +1, OU, T={T}, t_min={t_min}\n{header}", flush=True)
    for name, target in DEMO_TARGETS.items():
        for sampler in ("ode", "sde"):
            for w in weights:
                start = time.perf_counter()
                ds = solve(target, CFG(label=1, w=w), sampler=sampler, T=T, t_min=t_min)
                seconds = time.perf_counter() - start
                runs[f"{name}/{sampler}/w={w:g}"] = ds
                final = ds.isel(t=-1)
                support = f"{final['support_mass'].item():10.4f}" if "support_mass" in ds else f"{'-':>10}"
                edge = f"{final['edge_mass'].item():9.4f}" if "edge_mass" in ds else f"{'-':>9}"
                print(f"{name:<9}{sampler:<8}{w:>5g}{final['entropy'].item():>10.4f}"
                      f"{final['confidence'].item():>12.4f}{support}{edge}"
                      f"{final['tail_probability'].isel(threshold=0).item():>14.4f}{ds.sizes['x']:>7d}"
                      f"{seconds:>9.2f}", flush=True)
    tree = xr.DataTree.from_dict(runs)
    tree.attrs = {"title": "fpguide demo: guided samplers on the papers' standard cases", "source": f"fpguide {__version__}"}
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
            plot_output_densities({f"w={w:g}": runs[f"{name}/{sampler}/w={w:g}"] for w in weights},
                                  ax=axes[row, col], xlim=xlim)
            axes[row, col].set_title(f"{name}, {sampler}: output density per w")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fpguide", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fpguide {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="solve the two standard cases of the papers, print a table, "
                                            "write demo.nc and demo.png")
    demo.add_argument("-o", "--out", type=Path, default=Path("fpguide_demo"), help="output folder")
    demo.add_argument("--t-min", type=float, default=1e-3, help="early-stopping time (default 1e-3)")
    demo.add_argument("--T", type=float, default=10.0, help="start time (default 10)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if not (math.isfinite(args.t_min) and 0 < args.t_min < args.T):
            parser.error(f"--t-min must be in (0, T), got {args.t_min}")
        run_demo(args.out, T=args.T, t_min=args.t_min)
    return 0


if __name__ == "__main__":
    sys.exit(main())
