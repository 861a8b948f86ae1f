"""Sweeps on Dask and into zarr stores (fpguide.sweeps.distributed): the same numbers as the local
sweep, every chunk written exactly once across interruptions and resumes, a worker killed mid-sweep
costs nothing, and clear errors."""

import collections
import importlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import xarray as xr

import fpguide as fg
from fpguide.sweeps.distributed import SweepStore

distributed = pytest.importorskip("distributed")

GRID = fg.Grid(-8.0, 8.0, 256)
WEIGHTS = [0.0, 1.0, 3.0]
# 4 chunks of 3 weights
SWEEP = {"sampler": ["ode", "sde"], "t_min": [1e-2, 1e-3], "n_save": 5, "grid": GRID}


class Interrupted(Exception):
    """Stands for a crash or Ctrl-C of the process that runs the sweep."""


def run(gm, **kwargs):
    return fg.solve(gm, fg.CFG(label=1, w=WEIGHTS), **SWEEP, **kwargs)


@pytest.fixture(scope="module")
def local(gm):
    return run(gm)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


@pytest.fixture
def writes(monkeypatch):
    """Count the chunk writes (they all happen in this process); ``hooks`` run after each write."""
    counts = collections.Counter()
    hooks = []
    write = SweepStore.write

    def counting(self, k, items):
        write(self, k, items)
        counts[k] += 1
        for hook in hooks:
            hook(counts)

    monkeypatch.setattr(SweepStore, "write", counting)
    return counts, hooks


def wait_until(condition, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_same(ds, local):
    """Equal to the local sweep number for number, with the attributes the local sweep has."""
    xr.testing.assert_identical(ds.drop_attrs(deep=False), local.drop_attrs(deep=False))
    assert set(ds.attrs) == set(local.attrs)
    assert all(
        ds.attrs[name] == local.attrs[name]
        for name in ("title", "source", "Conventions", "config", "run")
    )


def test_cluster_sweep_equals_local_sweep(gm, local, client):
    assert_same(run(gm, client=client), local)
    assert dict(local.sizes) == {
        "sampler": 2,
        "w": 3,
        "t_min": 2,
        "t": 9,
        "threshold": 3,
        "x": 256,
        "nv": 2,
    }
    # NaN padding outside an item's [t_min, T]
    assert np.isnan(local.entropy.sel(t_min=1e-2, t=1e-3)).all()


def test_scheduler_name(gm, local, tmp_path):
    """A scheduler name starts a LocalCluster for the sweep (here of threads) and closes it
    after."""
    assert_same(run(gm, client="threads", store=tmp_path / "sweep.zarr"), local)


def test_interrupted_cluster_sweep_resumes_writing_each_chunk_once(
    gm, local, client, tmp_path, writes
):
    counts, hooks = writes
    store = tmp_path / "sweep.zarr"

    def interrupt(counts):
        raise Interrupted

    hooks.append(interrupt)
    with pytest.raises(Interrupted):
        run(gm, client=client, store=store)
    assert sum(counts.values()) == 1
    # the other chunks were cancelled
    assert wait_until(lambda: not any(client.processing().values()))
    hooks.clear()
    # resumed, through the address
    assert_same(run(gm, client=client.scheduler.address, store=store), local)
    assert counts == {k: 1 for k in range(4)}
    # a finished store: read back, nothing run
    assert_same(run(gm, client=client, store=store), local)
    assert sum(counts.values()) == 4


def test_worker_killed_mid_sweep(gm, local, client, tmp_path, writes):
    """A worker dies (os._exit) holding a chunk: the scheduler reruns it on a live worker, within
    the same call; nothing is lost or written twice, and the nanny restarts the worker."""
    counts, _ = writes
    lost = []

    def kill_the_first_busy_worker():
        deadline = time.monotonic() + 60
        while not lost and time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if keys:
                    lost.extend(keys)
                    client.run(os._exit, 1, workers=[address], on_error="ignore")
                    break
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_busy_worker)
    killer.start()
    try:
        ds = run(gm, client=client, store=tmp_path / "sweep.zarr")
    finally:
        killer.join()
    # chunks the scheduler had on the worker when it died: they were computed again elsewhere
    assert lost
    assert_same(ds, local)
    assert counts == {k: 1 for k in range(4)}
    client.wait_for_workers(2, timeout=60)


def test_store_without_client_resumes(gm, local, tmp_path, writes, monkeypatch):
    """Interrupted after two chunks, then after the data of the third but before its done mark
    (which the resumed run writes again): every chunk is written once, the third one's data
    twice."""
    counts, hooks = writes
    store = tmp_path / "sweep.zarr"

    def interrupt_after_two(counts):
        if sum(counts.values()) == 2:
            raise Interrupted

    hooks.append(interrupt_after_two)
    with pytest.raises(Interrupted):
        run(gm, store=store)
    assert counts == {0: 1, 1: 1}
    hooks.clear()

    to_zarr = xr.Dataset.to_zarr

    def crash_before_the_mark(ds, *args, **kwargs):
        if "_done" in ds and kwargs.get("region"):
            raise Interrupted
        return to_zarr(ds, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_zarr", crash_before_the_mark)
    with pytest.raises(Interrupted):
        run(gm, store=store)
    monkeypatch.setattr(xr.Dataset, "to_zarr", to_zarr)
    assert counts == {0: 1, 1: 1}
    stored = xr.open_zarr(store, consolidated=False)
    assert stored._done.sum() == 6 and not stored._done.isel(sampler=1, t_min=0).any()
    # chunk 2's data, not marked done
    assert not np.isnan(stored.entropy.isel(sampler=1, t_min=0, t=0)).any()

    assert_same(run(gm, store=store), local)
    assert counts == {k: 1 for k in range(4)}
    with warnings.catch_warnings():
        # consolidated at the end: opens like any ds.to_zarr(path) store
        warnings.simplefilter("error")
        back = xr.open_zarr(store)
    assert back.attrs["config"] == local.attrs["config"] and bool(back._done.all())


def test_a_store_remembers_wall_mass_errors(gm, tmp_path):
    narrow = {
        "sampler": "sde",
        "n_save": 3,
        "grid": fg.Grid(-1.0, 1.0, 32),
        "store": tmp_path / "sweep.zarr",
    }
    with pytest.raises(fg.WallMassError):
        fg.solve(gm, fg.CFG(label=1, w=[0.0, 1.0]), client="synchronous", **narrow)
    with pytest.raises(fg.WallMassError, match="recorded in the store"):
        fg.solve(gm, fg.CFG(label=1, w=[0.0, 1.0]), **narrow)


def test_a_store_resumes_a_sweep_that_widened_its_grid(gm, tmp_path, writes, monkeypatch):
    """Mass leaves the first automatic grid (made to happen here): the sweep widens it and starts
    the store afresh; interrupted, and run again, it skips the failed grid at once (recorded in the
    store) and resumes the wide one."""
    counts, hooks = writes
    solve_module = importlib.import_module("fpguide.runs.solve")  # (fpguide.solve is the function)
    # the weights of one t_min run batched
    batched_module = importlib.import_module("fpguide.runs.batched")
    evolve, grids = solve_module.evolve, []

    def first_grid_leaks(q0, drift, *args, grid, **kwargs):
        grids.append(grid.to_dict())
        if grid.to_dict() == grids[0]:
            raise fg.WallMassError("mass left the grid (a test)")
        return evolve(q0, drift, *args, grid=grid, **kwargs)

    monkeypatch.setattr(solve_module, "evolve", first_grid_leaks)
    monkeypatch.setattr(batched_module, "evolve", first_grid_leaks)
    sweep = {"sampler": "ode", "t_min": [1e-2, 1e-3], "n_save": 3}
    local = fg.solve(gm, fg.CFG(label=1, w=[0.0, 3.0]), **sweep)
    assert json.loads(local.attrs["config"])["grid"] != grids[0]

    def interrupt(counts):
        raise Interrupted

    store = tmp_path / "sweep.zarr"
    hooks.append(interrupt)
    with pytest.raises(Interrupted):
        fg.solve(gm, fg.CFG(label=1, w=[0.0, 3.0]), store=store, **sweep)
    hooks.clear()
    tried = len(grids)
    assert_same(fg.solve(gm, fg.CFG(label=1, w=[0.0, 3.0]), store=store, **sweep), local)
    # the failed grid was not run again
    assert counts == {0: 1, 1: 1} and grids[0] not in grids[tried:]


def test_bad_inputs(gm, tmp_path, monkeypatch):
    guide = fg.CFG(label=1, w=[0.0, 1.0])
    small = {"n_save": 3, "grid": fg.Grid(-8.0, 8.0, 64)}
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        fg.solve(gm, guide, client=42, **small)
    with pytest.raises(ValueError, match="one of 'synchronous', 'threads', 'processes'"):
        fg.solve(gm, guide, client="thread", **small)
    with pytest.raises(TypeError, match="store must be a path"):
        fg.solve(gm, guide, store=42, **small)
    with pytest.raises(ValueError, match="sweeps nothing"):
        fg.solve(gm, fg.CFG(label=1, w=1.0), store=tmp_path / "one.zarr", **small)
    with pytest.raises(ValueError, match="sweeps nothing"):
        fg.solve(gm, fg.CFG(label=1, w=1.0), client="threads", **small)

    store = tmp_path / "sweep.zarr"
    fg.solve(gm, guide, store=store, **small)
    with pytest.raises(
        ValueError,
        match=r"sweep.zarr' holds another sweep \(item \(0,\) has "
        r"n_save=3, this one 4\)",
    ):
        fg.solve(gm, guide, store=store, **(small | {"n_save": 4}))
    with pytest.raises(
        ValueError,
        match=r"holds another sweep \(its sweep is \{\"w\": \[0.0, "
        r"1.0\]\}, this one",
    ):
        fg.solve(gm, fg.CFG(label=1, w=[0.0, 2.0]), store=store, **small)
    assert json.loads(xr.open_zarr(store, consolidated=False).attrs["fpguide_sweep"])["axes"] == {
        "w": [0.0, 1.0]
    }

    (tmp_path / "other.zarr").mkdir()
    xr.Dataset({"a": ("x", [1.0])}).to_zarr(tmp_path / "other.zarr", mode="w", consolidated=False)
    with pytest.raises(ValueError, match="not made by an fpguide sweep"):
        fg.solve(gm, guide, store=tmp_path / "other.zarr", **small)
    (tmp_path / "file").write_text("not zarr")
    with pytest.raises(ValueError, match="is not a zarr group"):
        fg.solve(gm, guide, store=tmp_path / "file", **small)

    reduced = fg.GaussianMixture(
        means=[[-1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], covariances=1.0, labels=[0, 1]
    )
    with pytest.raises(ValueError, match="choose grids of their own .* pass grid="):
        fg.solve(reduced, guide, n_save=3, store=tmp_path / "reduced.zarr")

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ImportError, match='pip install "fpguide\\[dask\\]"'):
        fg.solve(gm, guide, client="processes", **small)


def test_import_does_not_import_dask():
    code = "import sys, fpguide; print(sorted({'dask', 'distributed', 'zarr'} & set(sys.modules)))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        == "[]\n"
    )
