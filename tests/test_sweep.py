"""Sweeps: a sequence for a parameter gives one Dataset whose items are the single calls, number for
number."""

import inspect
import json

import numpy as np
import pytest
import xarray as xr

import fpguide as fg

GM = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1])
UM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
WEIGHTS = [0.0, 1.0, 3.0, 7.0]


def _grid_of(ds):
    return fg.Grid(float(ds.x_bounds[0, 0]), float(ds.x_bounds[-1, 1]), ds.sizes["x"])


def _single(ds, index: dict, target=GM, **kwargs):
    """The single solve of one item, with the settings the sweep made common (grid, saved times,
    thresholds)."""
    item = ds.sel(index)
    t = item.t.values[np.isfinite(item.entropy.values)]
    w = float(index.get("w", kwargs.pop("w", 3.0)))
    return item, fg.solve(
        target,
        fg.CFG(label=1, w=w),
        grid=_grid_of(ds),
        t_eval=t,
        thresholds=ds.threshold.values,
        **kwargs,
    )


SPEED_MONITORS = ["cfl", "peclet"]


def _max_difference(a, b):
    """The largest difference of the float variables both have (equal values, infinities included,
    differ by 0)."""
    return max(
        float(np.nanmax(_difference(a[name].values, b[name].values)))
        for name in b.data_vars
        if name in a.data_vars and a[name].dtype.kind == "f"
    )


def _difference(x, y):
    with np.errstate(invalid="ignore"):
        return np.where(x == y, 0.0, np.abs(x - y))


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_batched_weights_equal_single_solves_with_the_same_steps(sampler):
    """With steps set by the log-SNR grid alone (a large lipschitz), the batched weights take
    exactly the single solves' steps: every variable agrees to round-off. Only cells below 1e-13 of
    the peak may be traced differently (the batch traces the window of all its members), which
    E[1/p(c|x)] weights by up to e^20 in the far tail; and the CFL and Péclet monitors take their
    speeds where the mass is above 1e-13 of the batch's peak, not the member's."""
    ds = fg.solve(GM, fg.CFG(label=1, w=WEIGHTS), sampler, n_save=5, lipschitz=50.0)
    assert ds.density.dims == ("w", "t", "x") and ds.w.values.tolist() == WEIGHTS
    runs = json.loads(ds.attrs["run"])["items"]
    assert all(size == len(WEIGHTS) for run in runs for size in run["batch_sizes"])
    for w in WEIGHTS:
        item, one = _single(
            ds, {"w": w}, lipschitz=50.0, **({} if sampler == "ode" else {"sampler": "sde"})
        )
        assert json.loads(one.attrs["run"])["n_steps"] == runs[0]["n_steps"]
        assert (
            _max_difference(
                item.drop_vars(["inverse_confidence", *SPEED_MONITORS], errors="ignore"), one
            )
            < 1e-13
        )
        assert np.allclose(item.inverse_confidence, one.inverse_confidence, rtol=1e-11, atol=0)
        for name in SPEED_MONITORS:
            if name in one:
                assert np.allclose(
                    item[name], one[name], rtol=0.05, atol=0
                )  # diagnostics: nothing acts on them
        assert float(item.mass[-1]) == pytest.approx(1.0, abs=1e-12)


def test_batched_grid_covers_every_weights_own_grid_at_its_finest_cells():
    """The batch's one grid spans each weight's automatic grid (that of its single solve) with
    cells no wider than the finest of them, so that no weight is solved more coarsely in a sweep
    than alone (w = 0 and 12 here have different extents; both single grids have the minimum cell
    count)."""
    weights = [0.0, 12.0]
    grid = _grid_of(fg.solve(GM, fg.CFG(label=1, w=weights), n_save=2))
    singles = [_grid_of(fg.solve(GM, fg.CFG(label=1, w=w), n_save=2)) for w in weights]
    assert grid.dx <= min(single.dx for single in singles)
    assert grid.lower <= min(single.lower for single in singles)
    assert grid.upper >= max(single.upper for single in singles)


def test_batches_split_when_their_weights_need_different_steps():
    """A batch steps at the rate of its strongest weight; the reverse SDE on the uniform mixture
    needs 4x more steps at w = 30 than at w = 0 near t_min, so the batch is split at the saved time
    where that shows. Each item is then about as accurate as its single solve (both measured against
    a solve with 2x shorter steps)."""
    weights = [0.0, 30.0]
    ds = fg.solve(UM, fg.CFG(label=1, w=weights), "sde", t_min=1e-2, n_save=11)
    runs = json.loads(ds.attrs["run"])["items"]
    assert [run["batch_sizes"][0] for run in runs] == [2, 2] and [
        run["batch_sizes"][-1] for run in runs
    ] == [1, 1]
    dx = float(ds.x[1] - ds.x[0])
    for w, run in zip(weights, runs):
        item, one = _single(ds, {"w": w}, target=UM, w=w, sampler="sde", t_min=1e-2)
        fine = fg.solve(
            UM,
            fg.CFG(label=1, w=w),
            "sde",
            grid=_grid_of(ds),
            t_eval=item.t.values,
            t_min=1e-2,
            thresholds=ds.threshold.values,
            log_snr_step=0.025,
            lipschitz=0.5,
        )
        error_single = float(np.abs(one.density[-1] - fine.density[-1]).sum()) * dx
        error_batch = float(np.abs(item.density[-1] - fine.density[-1]).sum()) * dx
        single_steps = json.loads(one.attrs["run"])["n_steps"]
        assert (
            run["n_steps"] == pytest.approx(single_steps, rel=0.02)
            if w == max(weights)
            else run["n_steps"] > single_steps
        )  # the weak weight shares the strong one's steps until the split
        assert error_batch <= 1.2 * error_single
        assert float(np.abs(item.density[-1] - one.density[-1]).sum()) * dx <= 2 * error_single


def test_sweep_over_sampler_and_t_min_equals_the_single_calls():
    """Items that are not batched are the single calls exactly; a t_min sweep holds the union of
    saved times, NaN outside an item's own range, and fg.outputs picks each item's output."""
    t_mins = [1e-2, 1e-3]
    ds = fg.solve(GM, fg.CFG(label=1, w=3.0), ["ode", "sde"], t_min=t_mins, n_save=5)
    assert ds.entropy.dims == ("sampler", "t_min", "t")
    assert ds.sizes["t"] == 9  # T shared, four other times each
    for sampler in ("ode", "sde"):
        for t_min in t_mins:
            item, one = _single(
                ds, {"sampler": sampler, "t_min": t_min}, sampler=sampler, t_min=t_min
            )
            assert all(
                np.array_equal(item[name].dropna("t", how="all").values, one[name].values)
                for name in ("density", "entropy", "confidence", "tail_probability")
            )
            assert np.isnan(item.entropy.sel(t=min(t_mins))) == (t_min > min(t_mins))
    out = ds.sel(t=ds.t_min)
    assert np.all(np.isfinite(out.entropy.values))
    assert np.array_equal(fg.outputs(ds).entropy.values, out.entropy.values)


def test_sweep_over_a_rule_parameter_equals_the_single_calls():
    """A sequence of rules of one kind that differ in one parameter is the dimension rule_<name>;
    its items (not batched with each other) are the single calls on the sweep's grid, and the
    record rebuilds the rules."""
    rules = [fg.rules.PowerLaw(alpha=a) for a in (0.0, 0.5, 0.9)]
    ds = fg.solve(UM, fg.CFG(label=1, w=3.0, rule=rules), t_min=1e-2, n_save=4)
    assert ds.density.dims[0] == "rule_alpha"
    np.testing.assert_array_equal(ds.rule_alpha, [0.0, 0.5, 0.9])
    item = ds.sel(rule_alpha=0.5)
    one = fg.solve(
        UM,
        fg.CFG(label=1, w=3.0, rule=rules[1]),
        grid=_grid_of(ds),
        t_eval=item.t.values,
        thresholds=ds.threshold.values,
        t_min=1e-2,
    )
    for name in ("density", "entropy", "support_mass", "edge_mass"):
        np.testing.assert_array_equal(item[name].values, one[name].values)
    xr.testing.assert_identical(fg.rerun(ds), ds)
    both = fg.solve(UM, fg.CFG(label=1, w=[1.0, 3.0], rule=rules[:2]), t_min=0.1, n_save=2)
    assert both.density.dims[:2] == ("w", "rule_alpha")
    # rules of different kinds: the dimension "rule", named by their reprs
    mixed = [fg.rules.PowerLaw(), fg.rules.MagnitudeAware(alpha=1.0)]
    ps = fg.sample(UM, fg.CFG(label=1, w=2.0, rule=mixed), n=500, seed=0, n_save=2)
    assert ps.position.dims[0] == "rule"
    assert list(ps.rule.values) == [repr(rule) for rule in mixed]


def test_family_of_targets_is_a_sweep_over_its_parameters():
    family = fg.Family(
        lambda separation: fg.GaussianMixture(
            means=[-separation / 2, separation / 2], covariances=1.0, labels=[-1, 1]
        ),
        separation=[1.0, 4.0],
    )
    ds = fg.solve(family, fg.CFG(label=1, w=3.0), "ode", n_save=3)
    assert ds.entropy.dims == ("separation", "t") and ds.separation.values.tolist() == [1.0, 4.0]
    assert json.loads(ds.attrs["config"])["sweep"] == {"separation": [1.0, 4.0]}
    target = fg.GaussianMixture(means=[-2.0, 2.0], covariances=1.0, labels=[-1, 1])
    item, one = _single(ds, {"separation": 4.0}, target=target)
    assert _max_difference(item, one) == 0.0
    confidence = ds.confidence.isel(t=-1).values
    assert confidence[1] > confidence[0]  # separated classes are easier to tell apart


def test_sample_sweep_uses_the_same_seed_for_every_item():
    ps = fg.sample(GM, fg.CFG(label=1, w=[0.0, 3.0]), "sde", n=500, seed=3, n_save=3)
    assert ps.position.dims == ("w", "t", "particle")
    one = fg.sample(
        GM,
        fg.CFG(label=1, w=3.0),
        "sde",
        n=500,
        seed=3,
        t_eval=ps.t.values,
        thresholds=ps.threshold.values,
    )
    assert np.array_equal(ps.position.sel(w=3.0).values, one.position.values)
    assert float(ps["mean"].sel(w=3.0)[-1]) > float(ps["mean"].sel(w=0.0)[-1])


def test_sweep_dataset_round_trips_through_netcdf(tmp_path):
    ds = fg.solve(GM, fg.CFG(label=1, w=[1.0, 3.0]), ["ode", "sde"], n_save=3)
    ds.to_netcdf(tmp_path / "sweep.nc", engine="h5netcdf")
    back = xr.open_dataset(tmp_path / "sweep.nc", engine="h5netcdf").load()
    xr.testing.assert_identical(back, ds)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fg.CFG(label=1, w=[]), "w must be a number or a non-empty sequence"),
        (lambda: fg.CFG(label=1, w=[1.0, 1.0]), "distinct"),
        (lambda: fg.CFG(label=1, gamma=[0.5, -1.0]), "gamma must be >= 0"),
        (
            lambda: fg.solve(GM, fg.CFG(label=1, w=1.0), "ode", t_min=[]),
            "t_min must be a non-empty sequence",
        ),
        (
            lambda: fg.solve(GM, fg.CFG(label=1, w=1.0), "ode", T=[[10.0]]),
            "T must have 1 dimension",
        ),
        (
            lambda: fg.solve(GM, fg.CFG(label=1, w=1.0), []),
            "sampler must be a name or a non-empty sequence",
        ),
        (lambda: fg.solve(GM, fg.CFG(label=1, w=1.0), ["ode", "euler"]), "sampler must be one of"),
        (
            lambda: fg.solve(GM, fg.CFG(label=1, w=1.0), "ode", store="x.zarr"),
            "client and store are for sweeps",
        ),
        (lambda: fg.Family(3.0, separation=[1.0]), "make must be a callable"),
        (lambda: fg.Family(lambda separation: GM), "at least one swept parameter"),
        (lambda: fg.CFG(label=1, w=[1.0, 2.0]).bind(GM), "holds 2 weights"),
        (
            lambda: fg.CFG(label=1, rule=[fg.rules.PowerLaw(), fg.rules.PowerLaw()]),
            "distinct",
        ),
        (lambda: fg.CFG(label=1, rule=[]), "non-empty sequence"),
        (lambda: fg.CFG(label=1, rule=[fg.rules.PowerLaw(), "cfg"]), "holding str"),
        (
            lambda: fg.CFG(label=1, rule=[fg.rules.PowerLaw(alpha=a) for a in (0, 1)]).bind(GM),
            "holds 2 rules",
        ),
        (
            lambda: fg.solve_discrete(
                GM, fg.CFG(label=1, rule=[fg.rules.PowerLaw(alpha=a) for a in (0, 1)]), fg.DDIM(5)
            ),
            "holds 2 rules",
        ),
    ],
)
def test_bad_sweeps_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_batched_evolve_members_equal_single_evolves():
    """evolve(batch=True) on 1-D and 2-D grids: each member is its single evolution (same steps) to
    round-off, and wall losses are reported per member."""
    rates = np.array([0.5, 1.0, 2.0])
    steps = np.linspace(0.0, 1.0, 41)
    g = fg.Grid(-9.0, 9.0, 300)
    q0 = np.exp(-0.5 * (g.centres - 1.0) ** 2) / np.sqrt(2 * np.pi)
    batch = fg.evolve(
        np.stack([q0] * 3),
        lambda x, t, m: -rates[m] * x,
        grid=g,
        t_span=(0.0, 1.0),
        diffusion=0.5,
        time_grid=steps,
        lipschitz=1e9,
        batch=True,
    )
    for b, rate in enumerate(rates):
        one = fg.evolve(
            q0,
            lambda x, t: -rate * x,
            grid=g,
            t_span=(0.0, 1.0),
            diffusion=0.5,
            time_grid=steps,
            lipschitz=1e9,
        )
        member = batch.member(b)
        assert np.abs(member.q - one.q).max() < 1e-16 and member.mass[-1] == pytest.approx(
            one.mass[-1], abs=1e-15
        )
    grid2 = fg.TensorGrid.from_bounds([-9.0, -9.0], [9.0, 9.0], 48)
    mesh = grid2.mesh()
    q2 = np.exp(-0.5 * ((mesh[..., 0] - 1.0) ** 2 + mesh[..., 1] ** 2)) / (2 * np.pi)
    batch = fg.evolve(
        np.stack([q2] * 3),
        lambda p, t, m: -rates[m][:, None] * p,
        grid=grid2,
        t_span=(0.0, 1.0),
        diffusion=0.3,
        time_grid=steps,
        lipschitz=1e9,
        batch=True,
    )
    for b, rate in enumerate(rates):
        one = fg.evolve(
            q2,
            lambda p, t: -rate * p,
            grid=grid2,
            t_span=(0.0, 1.0),
            diffusion=0.3,
            time_grid=steps,
            lipschitz=1e9,
        )
        assert np.abs(batch.q[:, b] - one.q).max() < 1e-14
    with pytest.raises(fg.WallMassError, match="in member 1"):
        fg.evolve(
            np.stack([q0, np.roll(q0, 200)]),
            lambda x, t, m: 0.0 * x,
            grid=g,
            t_span=(0.0, 1.0),
            diffusion=2.0,
            batch=True,
        )
    with pytest.raises(ValueError, match=r"shape \(B, 300\)"):
        fg.evolve(q0, lambda x, t, m: x, grid=g, t_span=(0.0, 1.0), batch=True)


def test_typed_calls_hold_the_signatures():
    """solve and sample bind their arguments into SolveCall / SampleCall, whose fields must be their
    parameters with the same defaults: checked when decorated, so a renamed argument fails at
    import."""
    from fpguide.sweeps.calls import SampleCall, SolveCall
    from fpguide.sweeps.sweepable import sweepable

    def renamed(target, guidance, sampler="ode", *, eta=None, steps=10):
        pass

    with pytest.raises(TypeError, match=r"SampleCall must hold the parameters of renamed.*'steps'"):
        sweepable(SampleCall)(renamed)

    def other_default(target, guidance, sampler="sde", *, eta=None):
        pass

    with pytest.raises(TypeError, match=r"\('sampler', 'sde'\), \('sampler', 'ode'\)"):
        sweepable(SampleCall)(other_default)
    assert (
        list(SolveCall(target=None, guidance=None).arguments())
        == list(inspect.signature(fg.solve).parameters)[:-2]
    )  # solve's wrapper adds client and store, which are not part of a call
    with pytest.raises(TypeError, match="steps"):
        SolveCall(target=None, guidance=None).replace(steps=3)
