"""Sweeps on a Dask cluster, written to a zarr store as they go and resumed from it.

A sweep (see :mod:`fpguide.sweeps.sweep`) runs in *chunks*: the items that differ only in the
guidance weight w, solved together. ``solve(..., client=..., store=...)`` (and ``sample``) hand the
chunks to :func:`run_distributed`:

* ``client``: a ``dask.distributed.Client``; the address of a Dask scheduler
  (``"tcp://host:8786"``); or a Dask scheduler name: ``"threads"`` or ``"processes"`` (a
  ``LocalCluster`` of threads or processes started for the sweep and closed after it) or
  ``"synchronous"`` (here, one chunk after another). Every chunk is one task. A task lost with its
  worker is rerun by the scheduler (up to its ``distributed.scheduler.allowed-failures``); errors
  raised by a solve are not retried, since they would only happen again.
* ``store``: a zarr path. The whole sweep is laid out there when its first chunk completes (NaN
  until written, one zarr chunk per sweep chunk), then every chunk is written into its region as it
  completes and, after its data, marked done in the bookkeeping variable ``_done`` (``_attrs`` keeps
  each item's attributes). A rerun with the same store runs only the chunks not yet marked done, so
  an interrupted sweep resumes where it stopped: every chunk is marked done once (one cut off
  between its data and its mark is run and written again). A store made by another sweep is refused,
  naming what differs. All writes come from this process (one writer: no locks). ``client=None``
  with a store runs here.

The result is the Dataset the local sweep returns, number for number, with the attributes
:meth:`Sweep.combine` gives (read back from the store when there is one; the store's own attributes
are set to them at the end).

Dask and zarr are imported only here, and only when asked for (``pip install "fpguide[dask]"``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numba
import numpy as np
import xarray as xr

from ..grids.grid import ADAPTIVE, UNIFORM, is_adaptive
from ..tools.errors import WallMassError
from ..tools.progress import progress_bar
from ..tools.records import json_default_or_type
from .calls import RunCall
from .sweep import Sweep

__all__ = ["run_distributed", "SweepStore"]

SCHEDULERS = ("synchronous", "threads", "processes")
DONE, ITEM_ATTRS = "_done", "_attrs"  # bookkeeping variables of a store
# store attributes: the sweep's calls, the plans that failed, and (once laid out) the variables in
# order
PLAN, FAILED, LAID_OUT = "fpguide_sweep", "fpguide_failed_plans", "fpguide_variables"
INSTALL = 'pip install "fpguide[dask]"'

Group = list[tuple[int, ...]]


def run_distributed(
    sweep: Sweep,
    groups: list[Group],
    planned: list[list[RunCall]],
    run_calls: Callable[[list[RunCall]], list[xr.Dataset]],
    *,
    client: Any = None,
    store: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Run the chunks of a sweep on Dask, writing each to a zarr store as it completes.

    Each chunk (the items of a group, which differ only in w) is one task; with a store, the chunks
    it marks done are skipped, and a plan that lost mass through the walls is recorded there (see
    the module's docstring).

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    groups : list of list of tuple of int
        The chunks: the positions of their items.
    planned : list of list of RunCall
        The items' calls, chunk by chunk.
    run_calls : callable
        ``run_calls(calls)`` runs one chunk's calls and returns their Datasets.
    client : dask.distributed.Client, str or None, default None
        A Client; the address of a Dask scheduler (``"tcp://host:8786"``); ``"threads"`` or
        ``"processes"`` (a ``LocalCluster`` started for the sweep and closed after it); or None or
        ``"synchronous"`` (here, one chunk after another).
    store : str, os.PathLike or None, default None
        A zarr path the chunks are written to as they complete.
    progress : bool or None, default None
        A bar over the items (None: on a terminal, for long runs).

    Returns
    -------
    xarray.Dataset
        The combined Dataset (:meth:`Sweep.combine`), the local sweep's number for number (read
        back from the store when there is one).

    Raises
    ------
    ValueError
        For a ``client`` string that is neither a scheduler name nor an address, and for a store
        that this sweep cannot use (see :meth:`SweepStore.open`).
    TypeError
        For a ``client`` of another type, or a ``store`` that is not a path.
    ImportError
        When Dask (for a client other than ``"synchronous"``) or zarr (for a store) is not
        installed.
    WallMassError
        When mass left through the walls of the sweep's grid (now, or in an earlier run recorded in
        the store).
    """
    _check_client(client)
    zarr_store = None if store is None else SweepStore.open(store, sweep, groups, planned)
    pending = {
        k: calls
        for k, calls in enumerate(planned)
        if zarr_store is None or k not in zarr_store.done
    }
    results = {}
    total = sum(len(group) for group in groups)
    done = total - sum(len(groups[k]) for k in pending)
    with (
        progress_bar(progress, total=total, initial=done, unit="item", desc="sweep") as bar,
        contextlib.closing(_completed(client, run_calls, pending)) as completed,
    ):
        try:
            for k, items in completed:
                if zarr_store is None:
                    results.update(zip(groups[k], items))
                else:
                    zarr_store.write(k, items)
                bar.update(len(items))
        except WallMassError:
            if zarr_store is not None:
                zarr_store.record_failure()
            raise
    return sweep.combine(results) if zarr_store is None else zarr_store.read()


def _check_client(client) -> None:
    """``client`` must be None, a scheduler name or address, or a ``dask.distributed.Client``; Dask
    must be installed for anything but None and ``"synchronous"``."""
    if isinstance(client, str):
        if client not in SCHEDULERS and ":" not in client:
            raise ValueError(
                "client must be a dask.distributed.Client, a scheduler address "
                "('tcp://host:8786') or "
                f"one of {', '.join(map(repr, SCHEDULERS))}; got {client!r}"
            )
        if client != "synchronous":
            _import("distributed", "client=")
    elif client is not None:
        distributed = sys.modules.get("distributed")
        if distributed is None or not isinstance(client, distributed.Client):
            raise TypeError(
                "client must be a dask.distributed.Client, a scheduler address or one "
                "of "
                f"{', '.join(map(repr, SCHEDULERS))}; got {type(client).__name__}"
            )


def _import(module: str, needed_by: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{needed_by} needs {module}, which is not installed: {INSTALL}") from err


def _completed(
    client, run_calls: Callable, pending: dict[int, list[RunCall]]
) -> Iterator[tuple[int, list]]:
    """(chunk number, its items' Datasets) for every pending chunk, as it completes: here, one after
    another, for ``client`` None or ``"synchronous"``; else as one Dask task per chunk, those not
    done cancelled when the caller stops early (an error, an interrupt)."""
    if client is None or client == "synchronous":
        for k, calls in pending.items():
            yield k, run_calls(calls)
        return
    if not pending:
        return
    distributed = _import("distributed", "client=")
    with _connected(client, distributed) as dask_client:
        futures = {
            dask_client.submit(
                run_chunk, run_calls, calls, key=f"fpguide-sweep-{k}-{os.urandom(4).hex()}"
            ): k
            for k, calls in pending.items()
        }
        try:
            for future in distributed.as_completed(list(futures)):
                yield futures.pop(future), future.result()
        finally:
            dask_client.cancel(list(futures))


def run_chunk(run_calls: Callable, calls: list[RunCall]) -> list[xr.Dataset]:
    """A chunk as a Dask task, on one numba thread: Dask runs a task per worker thread, and numba
    threads on top of that would oversubscribe the cores (stalled parallel regions cost far more
    than they gain)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)  # for this thread only
    try:
        return run_calls(calls)
    finally:
        numba.set_num_threads(previous)


@contextlib.contextmanager
def _connected(client, distributed):
    """The client to submit to: ``client`` itself, or one connected to a scheduler address or to a
    ``LocalCluster`` started for ``"threads"`` / ``"processes"``, closed afterwards."""
    if not isinstance(client, str):
        yield client
    elif client in SCHEDULERS:
        with (
            distributed.LocalCluster(
                processes=client == "processes", dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as dask_client,
        ):
            yield dask_client
    else:
        with distributed.Client(client) as dask_client:
            yield dask_client


class SweepStore:
    """The zarr store of one sweep: its layout, which chunks are done, and the writes.

    The group's attributes hold the sweep (every item's call, :func:`plan_record`) and the digests
    of plans that lost mass through the walls of their grid (a rerun raises :class:`WallMassError`
    for them at once, so that the sweep widens its automatic grid as the first run did, and resumes
    the widened plan). See the module docstring. Made by :meth:`open`.

    Parameters
    ----------
    path : str
        The store's path.
    sweep : Sweep
        The sweep.
    groups : list of list of tuple of int
        The chunks: the positions of their items.
    planned : list of list of RunCall
        The items' calls, chunk by chunk.
    plan : dict
        The sweep as JSON (:func:`plan_record`).
    failed : list of str
        The digests of the plans that lost mass through the walls.

    Attributes
    ----------
    layout : xarray.Dataset or None
        The store's variables (lazy), once laid out.
    done : set of int
        The chunks written and marked done.
    """

    def __init__(
        self,
        path: str,
        sweep: Sweep,
        groups: list[Group],
        planned: list[list[RunCall]],
        plan: dict,
        failed: list[str],
    ) -> None:
        self.path, self.sweep, self.groups, self.planned = path, sweep, groups, planned
        self.plan, self.failed = plan, failed
        self.layout: xr.Dataset | None = None  # the store's variables (lazy), once laid out
        self.done: set[int] = set()

    @classmethod
    def open(
        cls,
        store: str | os.PathLike,
        sweep: Sweep,
        groups: list[Group],
        planned: list[list[RunCall]],
    ) -> SweepStore:
        """The store at path ``store`` for this sweep.

        A new store is created empty, as is one whose plan lost mass through the walls of a grid
        that this plan widens; the one a run of the same sweep made is resumed, with the chunks it
        completed.

        Parameters
        ----------
        store : str or os.PathLike
            The zarr path.
        sweep : Sweep
            The sweep.
        groups : list of list of tuple of int
            The chunks: the positions of their items.
        planned : list of list of RunCall
            The items' calls, chunk by chunk.

        Returns
        -------
        SweepStore
            The store, new or resumed.

        Raises
        ------
        TypeError
            When ``store`` is not a path.
        ValueError
            When the items choose grids of their own (reduced solves, adaptive grids), which one
            store cannot hold; when the path exists and is not a zarr group of an fpguide sweep; or
            when it holds another sweep (the message names what differs).
        WallMassError
            When this plan lost mass through the walls of its grid in an earlier run.
        ImportError
            When zarr is not installed.
        """
        zarr = _import("zarr", "store=")
        if not isinstance(store, (str, os.PathLike)):
            raise TypeError(
                "store must be a path (str or os.PathLike) of a zarr store, got "
                f"{type(store).__name__}"
            )
        path = os.fspath(store)
        if any(
            hasattr(call, "grid") and (call.grid is None or is_adaptive(call.grid))
            for calls in planned
            for call in calls
        ):
            raise ValueError(
                "the items of this sweep choose grids of their own (reduced solves, d "
                "> 3, or "
                f"grid={ADAPTIVE!r}, the default in 2-D and 3-D), which one store "
                "cannot hold: pass "
                f"grid={UNIFORM!r} (one automatic grid for every item) or a Grid or "
                "TensorGrid (of the "
                "solved coordinates for a reduction) to use a store"
            )
        plan = plan_record(sweep, groups, planned)
        if os.path.exists(path) and not (os.path.isdir(path) and not os.listdir(path)):
            try:
                attrs = dict(zarr.open_group(path, mode="r").attrs)
            except (FileNotFoundError, ValueError) as err:
                raise ValueError(
                    f"store {path!r} exists and is not a zarr group: pass a new path"
                ) from err
            if PLAN not in attrs:
                raise ValueError(
                    f"store {path!r} was not made by an fpguide sweep: pass a new path"
                )
            stored, failed = json.loads(attrs[PLAN]), json.loads(attrs[FAILED])
            if _digest(plan) in failed:
                raise WallMassError(
                    "mass left through the walls of this sweep's grid in an "
                    "earlier run (recorded "
                    f"in the store {path!r})"
                )
            if stored == plan:
                resumed = cls(path, sweep, groups, planned, plan, failed)
                if LAID_OUT in attrs:
                    resumed._read_layout(json.loads(attrs[LAID_OUT]))
                return resumed
            if not (_digest(stored) in failed and _without_grids(stored) == _without_grids(plan)):
                raise ValueError(
                    f"store {path!r} holds another sweep "
                    f"({_difference(stored, plan)}): pass a new path, "
                    "or delete the store to start this sweep there"
                )
        else:
            failed = []
        # a new store, or one whose plan lost mass through the walls of a grid that this one widens:
        # start afresh
        zarr.open_group(path, mode="w").attrs.update(cls._attrs(plan, failed))
        return cls(path, sweep, groups, planned, plan, failed)

    @staticmethod
    def _attrs(plan: dict, failed: list[str]) -> dict:
        return {PLAN: json.dumps(plan, sort_keys=True), FAILED: json.dumps(failed)}

    def _read_layout(self, names: list[str]) -> None:
        """Read the layout (``names``: its data variables in order) and the chunks marked done."""
        with xr.open_zarr(self.path, consolidated=False, chunks=None) as stored:
            self.layout = _fixed_width_strings(stored[names])
            done = stored[DONE].values
        self.done = {
            k for k, group in enumerate(self.groups) if all(done[index] for index in group)
        }

    def record_failure(self) -> None:
        """Record that this plan lost mass through the walls of its grid."""
        self.failed.append(_digest(self.plan))
        _import("zarr", "store=").open_group(self.path, mode="r+").attrs.update(
            {FAILED: json.dumps(self.failed)}
        )

    def write(self, k: int, items: list[xr.Dataset]) -> None:
        """Write a chunk into its region, then mark it done.

        The whole sweep is laid out from the first chunk written (NaN until written).

        Parameters
        ----------
        k : int
            The chunk's number.
        items : list of xarray.Dataset
            Its items' Datasets.

        Raises
        ------
        ValueError
            When an item's coordinates or variables do not fit the store's layout.
        """
        if self.layout is None:
            self._lay_out(items[0])
        region = _region(self.sweep, self.groups[k])
        self._block(self.groups[k], items, region).to_zarr(
            self.path, region=region, consolidated=False
        )
        shape = tuple(r.stop - r.start for r in region.values())
        done = xr.Dataset({DONE: (tuple(region), np.ones(shape, bool))})
        done.to_zarr(self.path, region=region, consolidated=False)
        self.done.add(k)

    def _lay_out(self, item: xr.Dataset) -> None:
        """Lay out the whole sweep from one item: the Dataset :meth:`Sweep.combine` makes of items
        like it (each with its own saved times), NaN-filled, ``_done`` all False, one zarr chunk per
        sweep chunk; then record the variables (a store without that record is laid out again)."""
        saved = {
            index: call.prepared().t_save
            for group, calls in zip(self.groups, self.planned)
            for index, call in zip(group, calls)
        }
        layout = self.sweep.combine({index: item.reindex(t=t) for index, t in saved.items()})
        names = [axis.name for axis in self.sweep.axes]
        layout = layout.assign(
            {
                name: var.copy(data=np.full(var.shape, np.nan, var.dtype))
                for name, var in layout.data_vars.items()
            }
        )
        layout = layout.assign_coords(
            {
                name: var.astype(object)
                for name, var in layout.coords.items()
                # variable-length strings: zarr v3 specifies those
                if var.dtype.kind == "U"
            }
        )
        layout[ITEM_ATTRS] = (names, np.full(self.sweep.shape, "", object))
        layout[DONE] = (names, np.zeros(self.sweep.shape, bool))
        layout.attrs = self._attrs(self.plan, self.failed)
        one_chunk = _region(self.sweep, self.groups[0])
        encoding = {
            name: {
                "chunks": tuple(
                    one_chunk[dim].stop - one_chunk[dim].start if dim in one_chunk else size
                    for dim, size in var.sizes.items()
                )
            }
            for name, var in layout.data_vars.items()
        }
        # replaces the group's attributes
        layout.to_zarr(self.path, mode="a", consolidated=False, encoding=encoding)
        order = list(layout.data_vars)
        _import("zarr", "store=").open_group(self.path, mode="r+").attrs.update(
            {LAID_OUT: json.dumps(order)}
        )
        self._read_layout(order)

    def _block(self, group: Group, items: list[xr.Dataset], region: dict[str, slice]) -> xr.Dataset:
        """The data variables of one chunk, shaped as the store's region, and the items'
        attributes."""
        layout = self.layout.isel(region)
        n = len(self.sweep.axes)
        variables = [name for name in layout.data_vars if name != DONE]
        block = {
            name: np.full(layout[name].shape, np.nan, layout[name].dtype) for name in variables
        }
        for index, item in zip(group, items):
            at = tuple(i - r.start for i, r in zip(index, region.values()))
            block[ITEM_ATTRS][at] = json.dumps(item.attrs, sort_keys=True)
            for name, var in self._aligned(item).data_vars.items():
                block[name][at] = var.transpose(*layout[name].dims[n:]).values
        return xr.Dataset({name: (layout[name].dims, values) for name, values in block.items()})

    def _aligned(self, item: xr.Dataset) -> xr.Dataset:
        """``item`` on the store's coordinates (NaN at saved times outside its own); raises when it
        does not fit."""
        for dim, index in item.indexes.items():
            if not index.isin(self.layout.indexes[dim]).all():
                raise ValueError(
                    f"an item's coordinate {dim!r} does not fit the store "
                    f"{self.path!r}, laid out from "
                    "the first item done (items with grids of their own, e.g. reduced "
                    "solves on "
                    "automatic grids, cannot share a store: pass grid=)"
                )
        unknown = set(item.data_vars) - set(self.layout.data_vars)
        if unknown:
            raise ValueError(
                f"an item has variables {sorted(unknown)} that the store "
                f"{self.path!r}, laid out from "
                "the first item done, does not"
            )
        return item.reindex({dim: self.layout.indexes[dim] for dim in item.indexes})

    def read(self) -> xr.Dataset:
        """The finished sweep, in memory, with the attributes of :meth:`Sweep.combine`.

        The attributes are also set on the store, whose metadata is then consolidated:
        ``xr.open_zarr(store)`` opens it.

        Returns
        -------
        xarray.Dataset
            The sweep, as the local sweep returns it.

        Raises
        ------
        RuntimeError
            When chunks are missing.
        """
        with xr.open_zarr(self.path, consolidated=False, chunks=None) as stored:
            ds = stored.load()
        ds = _fixed_width_strings(
            ds[list(self.layout.data_vars)].assign_coords(ds.coords)
        ).drop_encoding()
        if not ds[DONE].all():
            raise RuntimeError(f"store {self.path!r}: chunks are missing after the sweep ran")
        item_attrs = [json.loads(value) for value in ds[ITEM_ATTRS].values.ravel()]
        # the sweep's coordinates and attributes as the local sweep makes them: Sweep.combine of the
        # items' attributes
        combined = self.sweep.combine(
            {index: xr.Dataset(attrs=attrs) for index, attrs in zip(self.sweep.indices, item_attrs)}
        )
        zarr = _import("zarr", "store=")
        zarr.open_group(self.path, mode="r+").attrs.update(combined.attrs)
        # consolidated, as ds.to_zarr(path) leaves a store (zarr v3 warns of that)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Consolidated metadata is currently not part")
            zarr.consolidate_metadata(self.path)
        ds = ds.drop_vars([DONE, ITEM_ATTRS]).assign_coords(combined.coords)
        ds.attrs = combined.attrs
        return ds


def _region(sweep: Sweep, group: Group) -> dict[str, slice]:
    """The slice of every sweep dimension that a chunk covers (one position, or all of w)."""
    return {
        axis.name: slice(min(index[j] for index in group), max(index[j] for index in group) + 1)
        for j, axis in enumerate(sweep.axes)
    }


def _fixed_width_strings(ds: xr.Dataset) -> xr.Dataset:
    """Variable-length strings read from zarr as fixed-width numpy strings (as the local sweep has
    them), except the items' attributes."""
    strings = {
        name: (var.dims, np.array(var.values.tolist()), var.attrs)
        for name, var in ds.variables.items()
        if var.dtype.kind in "OT" and name != ITEM_ATTRS
    }
    return ds.assign_coords(
        {name: value for name, value in strings.items() if name in ds.coords}
    ).assign({name: value for name, value in strings.items() if name not in ds.coords})


def plan_record(sweep: Sweep, groups: list[Group], planned: list[list[RunCall]]) -> dict:
    """The sweep as JSON: its axes and every item's call (objects by their ``to_dict``; arrays as
    lists; other objects, e.g. a random generator, only by type), in C order of the items."""
    by_index = {
        index: call for group, calls in zip(groups, planned) for index, call in zip(group, calls)
    }
    record = {
        "axes": {axis.name: list(axis.values) for axis in sweep.axes},
        "items": [
            {
                name: value
                for name, value in by_index[index].arguments().items()
                if name != "progress"
            }
            for index in sweep.indices
        ],
    }
    return json.loads(json.dumps(record, default=json_default_or_type))


def _digest(plan: dict) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def _without_grids(plan: dict) -> dict:
    return plan | {
        "items": [
            {name: value for name, value in item.items() if name != "grid"}
            for item in plan["items"]
        ]
    }


def _difference(stored: dict, plan: dict) -> str:
    """What differs between two plan records, for an error message."""

    def short(value) -> str:
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:76] + " ..."

    if stored["axes"] != plan["axes"]:
        return f"its sweep is {short(stored['axes'])}, this one {short(plan['axes'])}"
    shape = [len(values) for values in plan["axes"].values()]
    for k, (old, new) in enumerate(zip(stored["items"], plan["items"])):
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                index = tuple(int(i) for i in np.unravel_index(k, shape))
                return (
                    f"item {index} has {name}={short(old.get(name))}, "
                    f"this one {short(new.get(name))}"
                )
    return "its records differ"
