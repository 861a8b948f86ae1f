"""2-D figures: density snapshots over t and output densities per guidance weight, labelled from the
Dataset."""

import matplotlib
import pytest

import fpguide as fg
from fpguide.plot import plot_density_snapshots, plot_outputs_2d

matplotlib.use("Agg")
# a coarse grid keeps it fast
pytestmark = pytest.mark.filterwarnings("ignore::fpguide.CoarseGridWarning")
BOX2 = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
GRID = fg.TensorGrid.from_bounds([-6.0, -6.0], [7.0, 6.0], [52, 48])


def _solve(w):
    return fg.solve(BOX2, fg.CFG(label=1, w=w), "ode", T=4.0, t_min=0.1, grid=GRID, n_save=5)


def test_snapshots_and_outputs_per_weight(tmp_path):
    runs = {f"w={w:g}": _solve(w) for w in (0.0, 3.0)}
    fig = plot_density_snapshots(runs["w=3"], n_panels=3)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("t = ")]
    assert len(panels) == 3
    assert panels[0].get_xlabel().startswith("position") and panels[0].get_ylabel().startswith(
        "second coordinate"
    )
    assert all(len(ax.patches) == 2 for ax in panels)  # the two class boxes
    fig.savefig(tmp_path / "snapshots.png")
    fig = plot_outputs_2d(runs)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["w=0", "w=3"]
    fig.savefig(tmp_path / "outputs.png")
    assert (tmp_path / "outputs.png").stat().st_size > 0


def test_2d_figures_refuse_1d_datasets():
    ds = fg.solve(
        fg.UniformMixture([1.0, -2.0], [2.0, -1.0], labels=[1, -1]),
        fg.CFG(label=1, w=1.0),
        "ode",
        T=4.0,
        t_min=0.1,
        n_save=3,
    )
    with pytest.raises(ValueError, match=r"2-D figures need a density on \(x, y\)"):
        plot_density_snapshots(ds)
