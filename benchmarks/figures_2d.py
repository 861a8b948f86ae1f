"""Figures of the 2-D box mixture (classes [1,2]×[−1,1] and [−2,−1]×[−1,1], T = 10, t_min = 1e-3,
256² grid): the density over t for both samplers at w = 3, and the output density per guidance
weight (probability flow). Writes PNGs to benchmarks/figures/. Usage: python
benchmarks/figures_2d.py [n]
"""

import sys
import warnings
from pathlib import Path

import matplotlib

import fpguide as fg
from fpguide.plot import plot_density_snapshots, plot_outputs_2d

matplotlib.use("Agg")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 256
OUT = Path(__file__).parent / "figures"
BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
GRID = fg.TensorGrid.from_bounds([-7.5, -7.5], [8.5, 7.5], N)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    warnings.simplefilter("ignore", fg.CoarseGridWarning)
    for sampler in ("ode", "sde"):
        ds = fg.solve(BOX, fg.CFG(label=1, w=3.0), sampler, grid=GRID, n_save=41)
        fig = plot_density_snapshots(ds.sel(x=slice(-4, 6), y=slice(-4, 4)), n_panels=4)
        fig.savefig(OUT / f"box_2d_{sampler}_snapshots.png", dpi=110)
    runs = {
        f"w={w:g}": fg.solve(BOX, fg.CFG(label=1, w=w), "ode", grid=GRID, n_save=2)
        for w in (0, 1, 3, 7)
    }
    fig = plot_outputs_2d(
        {label: ds.sel(x=slice(-3, 5), y=slice(-3, 3)) for label, ds in runs.items()}
    )
    fig.savefig(OUT / "box_2d_outputs_per_w.png", dpi=110)
    print("wrote", *sorted(p.name for p in OUT.glob("box_2d_*.png")))


if __name__ == "__main__":
    main()
