"""Sweeps: :func:`~fpguide.solve` and :func:`~fpguide.sample` with a sequence for a parameter return
one Dataset with that parameter as a leading dimension.

Swept parameters (any combination; the result spans their outer product, dimensions in this order):

* target parameters, through :class:`Family` (dimensions named after its keywords);
* ``sampler`` (a sequence of sampler names);
* the guidance weight, ``CFG(label, w=[...])`` (or ``gamma=[...]``): dimension ``w``;
* the guidance rule, ``CFG(..., rule=[...])``: dimension ``rule_<parameter>`` when the rules are of
  one kind and differ in one parameter (its values the coordinate), else ``rule`` (their reprs);
* the numeric keywords in :data:`SWEEPABLE` (``T``, ``t_min``, ``eta``, ``delta``, …).

Every item of a sweep is the single call with those values, with what makes the items comparable
made common: one grid (covering every item's automatic grid at the finest item's cells), the union
of the items' saved times (an item holds NaN at times outside its own [t_min, T]; :func:`outputs`
picks every item's output) and of their default tail thresholds. A single call with those (recorded)
settings gives the item's numbers exactly. Items that differ only in w run together where the solver
supports it (1-D solves: :class:`~fpguide.models.dynamics.WeightBatch` shares the score
evaluations); they step together, at the rate of the strongest weight, so that an item equals its
single solve exactly when the steps agree (the log-SNR grid sets them) and is otherwise the more
accurate of the two. Reduced solves (d > 3) keep each item's own grid of the solved coordinates:
``x`` is then the union of the items' cells, NaN where an item has none.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..grids.grid import is_adaptive
from ..models.guidance import rule_axis
from ..results.dataset import attach, config_of, global_attrs
from ..results.resample import on_common_grid
from ..tools.validation import check_swept
from .calls import RunCall
from .family import Family

__all__ = ["SWEEPABLE", "common_times", "outputs", "Sweep", "sweep_dims"]

# filled in per item
PER_ITEM = ("n_save", "t_eval", "thresholds", "eta", "log_snr_step", "lipschitz")
SWEEPABLE = ("T", "t_min", "eta", "delta", "log_snr_step", "lipschitz", "cells_per_width")


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its dimension name, values and where it goes in a call."""

    name: str
    values: tuple
    where: str  # "target" (a Family parameter), "guidance" (w), "rule" or "call" (a keyword)


@dataclass(frozen=True)
class Sweep:
    """The outer product of the swept parameters of one call; the items are the single calls, in C
    order.

    Parameters
    ----------
    axes : tuple of Axis
        The swept parameters, in the order of the sweep's dimensions.
    call : RunCall
        The call with the swept values.
    """

    axes: tuple[Axis, ...]
    call: RunCall

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values of every swept parameter."""
        return tuple(len(axis.values) for axis in self.axes)

    @classmethod
    def of(cls, call: RunCall) -> Sweep | None:
        """The sweep of a call of solve or sample.

        Swept (in this order of the dimensions): the parameters of a :class:`Family` target, a
        sequence of ``sampler`` names, the guidance's weights (dimension ``w``) and rules (see
        :func:`~fpguide.models.guidance.rule_axis`), and a sequence for any keyword in
        :data:`SWEEPABLE`.

        Parameters
        ----------
        call : RunCall
            The call (:class:`~fpguide.sweeps.calls.SolveCall` or
            :class:`~fpguide.sweeps.calls.SampleCall`).

        Returns
        -------
        Sweep or None
            The sweep; None when nothing is swept.

        Raises
        ------
        ValueError
            For an empty sequence of samplers or one with repeated names, and for swept values that
            are not a non-empty 1-D sequence of distinct real numbers.
        """
        axes = []
        target = call.target
        if isinstance(target, Family):
            axes += [
                Axis(name, tuple(values.tolist()), "target")
                for name, values in target.values.items()
            ]
        sampler = call.sampler
        if isinstance(sampler, (list, tuple)):
            if len(sampler) == 0 or len(set(sampler)) != len(sampler):
                raise ValueError(
                    "sampler must be a name or a non-empty sequence of distinct "
                    f"names, got {sampler!r}"
                )
            axes.append(Axis("sampler", tuple(sampler), "call"))
        if getattr(call.guidance, "swept", False):
            axes.append(Axis("w", tuple(call.guidance.w.tolist()), "guidance"))
        if getattr(call.guidance, "rules_swept", False):
            axes.append(Axis(*rule_axis(call.guidance.rule), "rule"))
        for name in SWEEPABLE:
            value = getattr(call, name, None)  # sample has no cells_per_width, no lipschitz
            if value is not None and np.ndim(value) > 0:
                values = check_swept(name, value)
                axes.append(Axis(name, tuple(values.tolist()), "call"))
        return cls(tuple(axes), call) if axes else None

    def item(self, index: tuple[int, ...]) -> RunCall:
        """The single call at ``index``.

        Parameters
        ----------
        index : tuple of int
            One position per axis.

        Returns
        -------
        RunCall
            The call with every swept parameter at its value there (the target made by the
            Family, the guidance at its weight).
        """
        changes, family = {}, {}
        for axis, k in zip(self.axes, index):
            value = axis.values[k]
            guidance = changes.get("guidance", self.call.guidance)
            if axis.where == "target":
                family[axis.name] = value
            elif axis.where == "guidance":
                changes["guidance"] = guidance.at_weight(value)
            elif axis.where == "rule":
                changes["guidance"] = guidance.with_rule(self.call.guidance.rule[k])
            else:
                changes[axis.name] = value
        if family:
            changes["target"] = self.call.target(**family)
        return self.call.replace(**changes)

    @property
    def indices(self) -> list[tuple[int, ...]]:
        """The positions of all items, in C order."""
        return list(itertools.product(*[range(len(axis.values)) for axis in self.axes]))

    def groups(self) -> list[list[tuple[int, ...]]]:
        """The items in groups that differ only in w.

        Returns
        -------
        list of list of tuple of int
            The groups of positions (one group per item when w is not swept).
        """
        names = [axis.name for axis in self.axes]
        if "w" not in names:
            return [[index] for index in self.indices]
        k = names.index("w")
        outer = [range(len(axis.values)) for j, axis in enumerate(self.axes) if j != k]
        return [
            [(*rest[:k], j, *rest[k:]) for j in range(self.shape[k])]
            for rest in itertools.product(*outer)
        ]

    def combine(self, results: dict[tuple[int, ...], xr.Dataset]) -> xr.Dataset:
        """One Dataset from the items' Datasets.

        The items' variables are stacked along the sweep's dimensions when they share their
        coordinates, else combined by an outer join (NaN where an item has no value; the saved
        times then sorted from T down to t_min); items on adaptive grids are first put on one grid
        (:func:`~fpguide.results.resample.on_common_grid`). The configuration is the first item's,
        with ``sweep`` (the swept values) and ``sweep_arguments`` (the arguments the sweep filled
        in per item, as given); the run record holds every item's (``items``).

        Parameters
        ----------
        results : dict
            The items' Datasets by position.

        Returns
        -------
        xarray.Dataset
            The sweep's dimensions lead, with the values as coordinates.
        """
        items = [results[index] for index in self.indices]
        if all(is_adaptive(config_of(ds).get("grid")) for ds in items):  # each on a grid of its own
            items = on_common_grid(items)
        names = [axis.name for axis in self.axes]
        ds = _stacked(items, names, self.shape)
        if ds is None:  # items on different coordinates (t_min, T or reduced sweeps): an outer join
            ds = xr.combine_nested(
                _nest(items, self.shape),
                concat_dim=names,
                data_vars="all",
                coords="different",
                compat="equals",
                join="outer",
                combine_attrs="drop_conflicts",
            )
        ds = ds.assign_coords({axis.name: (axis.name, list(axis.values)) for axis in self.axes})
        ds = ds.transpose(*names, ...)
        # an outer join sorts the union of the saved times: restore "from T down to t_min"
        if "t" in ds.dims:
            ds = ds.sortby("t", ascending=False)
        first = results[self.indices[0]]
        config = config_of(first)
        config["sweep"] = {axis.name: list(axis.values) for axis in self.axes}
        rules = [axis.name for axis in self.axes if axis.where == "rule"]
        if rules:  # the rules themselves, which the dimension's values only name
            config["guidance"]["rule"] = [rule.to_dict() for rule in self.call.guidance.rule]
            config["sweep_rule"] = rules[0]
        # what the items' records cannot say: the arguments the sweep filled in per item (saved
        # times and thresholds common to all, eta and step settings per sampler), as given
        # (fpguide.rerun)
        config["sweep_arguments"] = {
            name: getattr(self.call, name) for name in PER_ITEM if hasattr(self.call, name)
        }
        runs = [json.loads(results[index].attrs["run"]) for index in self.indices]
        what = ", ".join(f"{axis.name} ({len(axis.values)} values)" for axis in self.axes)
        ds.attrs = global_attrs(
            f"{first.attrs.get('title', 'fpguide')}; sweep over {what}", config, {"items": runs}
        ) | ({"omitted": first.attrs["omitted"]} if "omitted" in first.attrs else {})
        return attach(ds)


def outputs(ds: xr.Dataset) -> xr.Dataset:
    """The output (the values at the output time t_min) of every item of a Dataset.

    A single run's output is its last saved time, ``ds.isel(t=-1)``. A sweep's items share their
    saved times; when ``t_min`` is swept, each item's output is at its own t_min (``t`` becomes a
    coordinate along ``t_min``).

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset from :func:`~fpguide.solve`, :func:`~fpguide.sample` (and the discrete chains),
        or their sweeps.

    Returns
    -------
    xarray.Dataset
        ``ds`` at the smallest saved time (at every item's own t_min when ``t_min`` is swept).

    Raises
    ------
    TypeError
        When ``ds`` is not an ``xarray.Dataset``.
    ValueError
        When ``ds`` has no time dimension ``t``.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import fpguide as fg
    >>> ds = xr.Dataset({"entropy": ("t", [1.4, 1.1, 0.9])}, coords={"t": [10.0, 1.0, 0.001]})
    >>> float(fg.outputs(ds)["entropy"])
    0.9
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset made by fpguide, got {type(ds).__name__}")
    if "t" not in ds.dims:
        raise ValueError(
            f"outputs needs a Dataset with a time dimension t, got dims {tuple(ds.dims)}"
        )
    if "t_min" in ds.dims:
        return ds.sel(t=ds["t_min"])
    return ds.sel(t=ds["t"].min())  # the last saved time of every item, whatever the order of t


def sweep_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The swept parameters of a Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset of fpguide.

    Returns
    -------
    tuple of str
        Its leading dimensions that its configuration records as swept (empty for a single run).
    """
    sweep = config_of(ds).get("sweep", {}) if "config" in ds.attrs else {}
    return tuple(dim for dim in sweep if dim in ds.dims)


def _stacked(
    items: list[xr.Dataset], names: list[str], shape: tuple[int, ...]
) -> xr.Dataset | None:
    """The items' variables stacked along the sweep's dimensions when they all have the same
    coordinates (the common case, and much faster than xarray's combine); None otherwise."""
    first = items[0]
    for ds in items[1:]:
        if set(ds.variables) != set(first.variables) or any(
            not np.array_equal(ds[name].values, coord.values)
            for name, coord in first.coords.items()
        ):
            return None
    data = {
        name: (
            (*names, *var.dims),
            np.stack([ds[name].values for ds in items]).reshape(shape + var.shape),
            var.attrs,
        )
        for name, var in first.data_vars.items()
    }
    return xr.Dataset(data, coords=first.coords)


def _nest(flat: list, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return list(flat)
    size = math.prod(shape[1:])
    return [_nest(flat[k * size : (k + 1) * size], shape[1:]) for k in range(shape[0])]


def common_times(calls: list[RunCall]) -> list[RunCall]:
    """The calls with one set of saved times and tail thresholds.

    Parameters
    ----------
    calls : list of RunCall
        The items' calls.

    Returns
    -------
    list of RunCall
        The calls with ``t_eval`` the union of the items' own saved times, each item keeping those
        inside its [t_min, T] (from T down), and, where none were given, ``thresholds`` the union of
        the items' default tail thresholds.
    """
    runs = [call.prepared() for call in calls]
    times = np.unique(np.concatenate([prepared.t_save for prepared in runs]))
    thresholds = np.unique(np.concatenate([prepared.thresholds for prepared in runs]))
    out = []
    for call, prepared in zip(calls, runs):
        inside = times[(times >= prepared.t_min) & (times <= prepared.dyn.T)]
        out.append(
            call.replace(
                t_eval=inside[::-1],
                thresholds=call.thresholds if call.thresholds is not None else thresholds,
            )
        )
    return out
