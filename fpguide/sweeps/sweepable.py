"""The decorator that turns ``solve`` and ``sample`` into sweeps: a call with swept parameters is
split into its items (:class:`~fpguide.sweeps.sweep.Sweep`), made comparable, run here or on Dask
(:mod:`fpguide.sweeps.distributed`), and combined into one Dataset."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np
import xarray as xr

from ..grids.autogrid import widening
from ..tools.progress import progress_bar
from .calls import RunCall, check_signature
from .distributed import run_distributed
from .sweep import Sweep, common_times

__all__ = ["sweepable"]


def sweepable(
    call_type: type[RunCall],
    plan: Callable[[list[list[RunCall]], float], list[list[RunCall]]] | None = None,
    run_group: Callable[[Callable, list[RunCall]], list[xr.Dataset]] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorate ``solve`` or ``sample`` so that a call with swept parameters runs as a sweep.

    The arguments are bound into one ``call_type`` (the function's typed call), which is split
    into its items (:meth:`Sweep.of <fpguide.sweeps.sweep.Sweep.of>`), in groups
    of items that differ only in w, given common saved times and thresholds
    (:func:`~fpguide.sweeps.sweep.common_times`), run here (with a bar over the items) or on Dask,
    and combined into one Dataset (:meth:`~fpguide.sweeps.sweep.Sweep.combine`). A call that sweeps
    nothing runs the function itself. Where ``plan`` is given and the call's ``grid`` is None, the
    sweep is planned again wider while mass leaves through the walls
    (:func:`~fpguide.grids.autogrid.widening`).

    The decorated function takes two more keywords, for sweeps: ``client`` (a
    ``dask.distributed.Client`` or a Dask scheduler name: the groups run as tasks there) and
    ``store`` (a zarr path: every group is written there as it completes, and a rerun with the same
    store skips the groups already written); see :mod:`fpguide.sweeps.distributed`. The function's
    own ``progress`` keyword (None: on a terminal, for long runs; True; False) also shows a bar over
    the sweep's items.

    Parameters
    ----------
    call_type : type
        The typed call of the function (:class:`~fpguide.sweeps.calls.SolveCall`,
        :class:`~fpguide.sweeps.calls.SampleCall`): its fields must be the function's parameters.
    plan : callable, optional
        ``plan(groups, widen)`` returns the groups of calls (items that differ only in w) made
        comparable (by default, None: their common times only; a solver adds its common grid,
        ``widen`` times wider after mass reached the walls).
    run_group : callable, optional
        ``run_group(func, calls)`` runs one group and returns its Datasets (default: one call after
        another).

    Returns
    -------
    callable
        The decorator; the decorated function raises ValueError for ``client`` or ``store`` in a
        call that sweeps nothing. Decorating raises TypeError when the fields of ``call_type`` are
        not the function's parameters (:func:`~fpguide.sweeps.calls.check_signature`).
    """

    def wrap(func: Callable) -> Callable:
        signature = inspect.signature(func)
        check_signature(func, call_type)

        @functools.wraps(func)
        def run(*args, client=None, store=None, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            call = call_type(**bound.arguments)
            sweep = Sweep.of(call)
            if sweep is None:
                if client is not None or store is not None:
                    raise ValueError(
                        "client and store are for sweeps (a sequence for w, sampler, "
                        "T, t_min, ...); "
                        "this call sweeps nothing"
                    )
                return func(*args, **kwargs)
            return _run_sweep(func, call, sweep, plan, run_group, client, store)

        parameters = list(signature.parameters.values())
        parameters += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
            for name, kind in (
                ("client", "dask.distributed.Client | str | None"),
                ("store", "str | os.PathLike | None"),
            )
        ]
        run.__signature__ = signature.replace(parameters=parameters)
        return run

    return wrap


def _run_sweep(func, call: RunCall, sweep: Sweep, plan, run_group, client, store) -> xr.Dataset:
    """Run the items of ``sweep`` (of ``call``) in their groups, planned by ``plan``, here or on
    Dask, and combine them; planned again wider while mass leaves through the walls of an automatic
    grid."""
    groups = sweep.groups()
    calls = common_times(
        [sweep.item(index).replace(progress=False) for group in groups for index in group]
    )
    sizes = np.cumsum([0] + [len(group) for group in groups])
    plain = [calls[a:b] for a, b in zip(sizes[:-1], sizes[1:])]

    def run_calls(group_calls: list[RunCall]) -> list[xr.Dataset]:
        if run_group is not None:
            return run_group(func, group_calls)
        return [func(**item.arguments()) for item in group_calls]

    def run_planned(widen: float) -> xr.Dataset:
        planned = plain if plan is None else plan(plain, widen)
        if client is None and store is None:
            return _run_locally(sweep, groups, planned, run_calls, call.progress)
        return run_distributed(
            sweep, groups, planned, run_calls, client=client, store=store, progress=call.progress
        )

    return widening(run_planned, retry=plan is not None and getattr(call, "grid", None) is None)


def _run_locally(sweep: Sweep, groups, planned, run_calls, progress) -> xr.Dataset:
    """Run the groups one after another in this process, with a bar over the items."""
    results = {}
    with progress_bar(
        progress, total=sum(len(group) for group in groups), unit="item", desc="sweep"
    ) as bar:
        for group, group_calls in zip(groups, planned):
            results.update(zip(group, run_calls(group_calls)))
            bar.update(len(group))
    return sweep.combine(results)
