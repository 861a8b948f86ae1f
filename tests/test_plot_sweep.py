"""Sweep figures and the outputs of a sweep's items: observables against the swept parameter, one
line per sampler, output densities faceted over the parameter, labelled from the Dataset's long
names and units."""

import json

import matplotlib
import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.plot import plot_dataset, plot_sweep, plot_sweep_densities, sweep_parameter

matplotlib.use("Agg")
# a coarse grid keeps it fast
pytestmark = pytest.mark.filterwarnings("ignore::fpguide.CoarseGridWarning")


@pytest.fixture(scope="module")
def sweep(um):
    """The uniform mixture (support and edge mass present), both samplers, two weights."""
    return fg.solve(
        um,
        fg.CFG(label=1, w=[0.0, 1.0]),
        sampler=["ode", "sde"],
        n_save=5,
        log_snr_step=0.2,
        grid=fg.Grid(-8.0, 8.0, 1024),
    )


@pytest.fixture(scope="module")
def particles(gm):
    """Particles with t_min swept: each item's output is at its own t_min."""
    return fg.sample(gm, fg.CFG(label=1, w=[0.0, 3.0]), t_min=[1e-2, 1e-3], n=200, seed=0, n_save=5)


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]


def test_outputs_are_each_items_last_saved_time(sweep, particles, gm):
    xr.testing.assert_identical(fg.outputs(sweep), sweep.isel(t=-1))
    out = fg.outputs(particles)
    assert out["t"].dims == ("t_min",) and np.array_equal(
        out["t"].values, particles["t_min"].values
    )
    for t_min in particles["t_min"].values:
        item = particles.sel(t_min=t_min, t=t_min)
        xr.testing.assert_identical(out.sel(t_min=t_min).drop_vars("t"), item.drop_vars("t"))
    # NaN outside
    assert np.all(np.isfinite(out["confidence"])) and np.isnan(particles["confidence"]).any()
    single = fg.sample(gm, fg.CFG(label=1, w=3.0), n=50, seed=0, n_save=3)
    xr.testing.assert_identical(fg.outputs(single), single.isel(t=-1))


def test_observables_against_w_one_line_per_sampler(sweep, tmp_path):
    fig = plot_sweep(sweep)
    panels = _panels(fig)
    assert [ax.get_ylabel().replace("\n", " ") for ax in panels] == [
        "differential entropy [nats]",
        "classification confidence E_q[p_t(c|x)] [1]",
        "mass inside the support of the class [1]",
        "mass within delta of the far edge of the class support [1]",
    ]
    assert all(ax.get_xlabel() == "guidance weight w [1]" for ax in panels)
    for ax, name in zip(panels, ("entropy", "confidence", "support_mass", "edge_mass")):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["sampler=ode", "sampler=sde"]
        assert np.array_equal(
            lines[1].get_ydata(), fg.outputs(sweep)[name].sel(sampler="sde").values
        )
    fig.savefig(tmp_path / "sweep.png")


def test_observables_against_the_sampler_and_chosen_variables(sweep):
    fig = plot_sweep(sweep, dim="sampler", variables=("entropy", "kl_tilted", "not_a_variable"))
    panels = _panels(fig)
    assert len(panels) == 2 and panels[1].get_ylabel().startswith("KL(q || tilted law")
    assert panels[0].get_xlabel().replace("\n", " ").startswith("sampler (ode: probability flow")
    assert [line.get_label() for line in panels[0].get_lines()] == ["w=0", "w=1"]
    with pytest.raises(ValueError, match="dim must be one of the swept parameters"):
        plot_sweep(sweep, dim="T")
    with pytest.raises(ValueError, match="none of"):
        plot_sweep(sweep, variables=("gap_l1",))


def test_output_densities_faceted_over_w(sweep):
    fig = plot_sweep_densities(sweep)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["w = 0", "w = 1"]
    assert panels[0].get_xlabel() == "position [1]" and panels[0].get_ylabel().startswith(
        "density of the sampler"
    )
    assert all(len(ax.get_lines()) == 2 for ax in panels)
    lower, upper = panels[0].get_xlim()
    # zoomed on the output's mass in [1, 2], not the grid [-8, 8]
    assert 0.0 < lower < 1.0 and 2.0 < upper < 3.0


def test_particle_sweeps_show_error_bands_and_no_densities(particles):
    fig = plot_sweep(particles)  # w is the default axis even though t_min is also swept
    panels = _panels(fig)
    assert panels[0].get_xlabel() == "guidance weight w [1]"
    assert [line.get_label() for line in panels[0].get_lines()] == ["t_min=0.01", "t_min=0.001"]
    assert len(panels[0].collections) == 2  # ±2 standard errors
    with pytest.raises(ValueError, match="needs the densities"):
        plot_sweep_densities(particles)


def test_sweep_parameter_default_and_errors(sweep, particles, gm):
    assert sweep_parameter(sweep) == "w" and sweep_parameter(particles, "t_min") == "t_min"
    assert (
        sweep_parameter(
            sweep.isel(w=0, drop=True).assign_attrs(
                config=json.dumps(
                    json.loads(sweep.attrs["config"]) | {"sweep": {"sampler": ["ode", "sde"]}}
                )
            )
        )
        == "sampler"
    )
    with pytest.raises(ValueError, match="not a sweep"):
        sweep_parameter(sweep.isel(sampler=0, w=0).assign_attrs(config="{}"))


def _sweep_2d() -> xr.Dataset:
    """A made-up 2-D sweep (sampler x w) of the right shape, with the configuration of a box
    target."""
    x = np.linspace(-4.0, 4.0, 40)
    bump = np.exp(-((x[:, None] - 1.5) ** 2 + (x[None, :] - 1.5) ** 2) / 0.1)
    density = (
        np.broadcast_to(bump, (2, 2, 3, 40, 40)) * np.arange(1.0, 3.0)[None, :, None, None, None]
    )
    config = {
        "target": {
            "type": "UniformMixture",
            "lows": [[1.0, 1.0], [-2.0, -2.0]],
            "highs": [[2.0, 2.0], [-1.0, -1.0]],
        },
        "sweep": {"sampler": ["ode", "sde"], "w": [0.0, 3.0]},
    }
    return xr.Dataset(
        {"density": (("sampler", "w", "t", "x", "y"), density)},
        coords={
            "sampler": ["ode", "sde"],
            "w": [0.0, 3.0],
            "t": [10.0, 1.0, 0.001],
            "x": x,
            "y": x,
        },
        attrs={"config": json.dumps(config)},
    )


def test_2d_output_densities_one_row_per_sampler(tmp_path):
    fig = plot_sweep_densities(_sweep_2d())
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "sampler = ode, w = 0",
        "sampler = ode, w = 3",
        "sampler = sde, w = 0",
        "sampler = sde, w = 3",
    ]
    # the two boxes
    assert panels[0].get_xlabel() == "position [1]" and all(len(ax.patches) == 2 for ax in panels)
    assert 0.5 < panels[0].get_xlim()[0] < 1.5  # zoomed on the mass
    fig.savefig(tmp_path / "sweep2d.png")


def test_plot_dataset_draws_observables_above_densities(sweep, tmp_path):
    fig = plot_dataset(sweep)
    assert [sub._suptitle.get_text() for sub in fig.subfigs] == [
        "outputs (at t_min)",
        "output densities (at t_min)",
    ]
    fig.savefig(tmp_path / "both.png")
    assert (tmp_path / "both.png").stat().st_size > 20_000
