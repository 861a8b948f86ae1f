"""Run configurations: a TOML file describing one call of :func:`~fpguide.solve` or
:func:`~fpguide.sample`, checked key by key before anything runs (``examples/sweep.toml`` documents
every key).

Tables: ``[run]`` (``solver`` = "solve" or "sample" and the solver's keywords: ``T``, ``t_min``,
``n_save``, …; ``n`` and ``seed`` for "sample"), ``[target]`` (``type`` and the target's fields),
``[guidance]`` (the arguments of :class:`~fpguide.CFG`; ``schedule``, ``cond``, ``cond_error``,
``uncond_error`` and ``rule`` as inline tables with a ``type``), ``[sampler]`` (``name``,
``eta``), ``[process]`` (``type`` and its parameters), ``[grid]`` (``lower``, ``upper``, ``n``;
lists for a tensor grid; or ``type = "adaptive"``) and ``[dask]`` (``scheduler``).

Sweeps: a list where the API takes a sequence (``guidance.w`` or ``gamma``, ``guidance.rule`` as a
list of inline tables, ``sampler.name``,
``sampler.eta`` and ``run.T``, ``t_min``, ``delta``, ``log_snr_step``, ``lipschitz``,
``cells_per_width``); a target field as ``{ sweep = [v1, v2, …] }``, each v a full value of the
field, which becomes a :class:`~fpguide.Family`: its dimension is the field's name when the values
are numbers, else ``<field>_index`` (0, 1, …, the positions in the list).

Every error is a :class:`ConfigError` naming the key (``table.key``), the value and what is allowed.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from .grids.grid import ADAPTIVE, UNIFORM, Grid, TensorGrid
from .models.guidance import CFG
from .models.processes import PROCESSES
from .models.rules import RULES
from .models.schedules import Cosine, Interval, Linear, Step
from .models.score_errors import Bump, Scaled, Smoothed
from .models.targets import TARGETS
from .results.dataset import attach
from .runs.particles import check_sample, sample
from .runs.solve import check_solve, solve
from .sweeps.calls import RunCall, SampleCall, SolveCall
from .sweeps.family import Family
from .sweeps.sweep import Sweep

__all__ = ["ConfigError", "load", "parse"]

SOLVERS = {"solve": solve, "sample": sample}
# the solver's typed call, and every check the solver makes on it before it runs
CALLS = {"solve": SolveCall, "sample": SampleCall}
CHECKS = {"solve": check_solve, "sample": check_sample}
TABLES = ("run", "target", "guidance", "sampler", "process", "grid", "dask")
SCHEDULES = {cls.__name__: cls for cls in (Interval, Linear, Cosine, Step)}
SCORE_ERRORS = {cls.__name__: cls for cls in (Scaled, Bump, Smoothed)}
NOT_IN_RUN = (
    "target",
    "guidance",
    "sampler",
    "eta",
    "grid",
    "process",
    "progress",
    "client",
    "store",
)


class ConfigError(ValueError):
    """A bad configuration: the message names the key (``table.key``), the value and what is
    allowed."""


@dataclass
class RunConfig:
    """A checked configuration: ``solver(**call.arguments())`` is the run (with
    ``client=scheduler`` on Dask)."""

    solver: str
    call: RunCall
    scheduler: str | None = None
    # {dimension of a swept target field: (long_name, units)}
    labels: dict = field(default_factory=dict)
    sweep: Sweep | None = None

    @property
    def function(self):
        return SOLVERS[self.solver]

    def describe(self) -> str:
        if self.sweep is None:
            return f"one {self.solver} run"
        what = ", ".join(f"{axis.name} ({len(axis.values)})" for axis in self.sweep.axes)
        return f"a {self.solver} sweep over {what}: {len(self.sweep.indices)} items"

    def run(self, store: str | Path | None = None) -> xr.Dataset:
        """Run it (on Dask when ``[dask]`` was given, writing into the zarr ``store`` as items
        complete)."""
        dask = {} if self.scheduler is None else {"client": self.scheduler, "store": store}
        ds = attach(self.function(**self.call.arguments(), **dask))
        for dim, (long_name, units) in self.labels.items():
            ds[dim].attrs.update(long_name=long_name, units=units)
        return ds


def load(path: str | Path) -> RunConfig:
    """Read and check a TOML configuration.

    Parameters
    ----------
    path : str or Path
        The TOML file (``examples/sweep.toml`` documents every key).

    Returns
    -------
    RunConfig
        The checked configuration: ``config.run()`` runs it.

    Raises
    ------
    ConfigError
        When the file cannot be read, is not valid TOML, or fails a check of :func:`parse`.
    """
    try:
        with open(path, "rb") as file:
            doc = tomllib.load(file)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    return parse(doc)


def parse(doc: dict) -> RunConfig:
    """Check a configuration (the parsed TOML) and turn it into the solver's arguments.

    Every key is checked, and every item of a sweep is checked as the solver will check it (without
    running it); runs nothing.

    Parameters
    ----------
    doc : dict
        The parsed TOML: the tables ``run``, ``target`` and ``guidance`` (required), ``sampler``,
        ``process``, ``grid`` and ``dask`` (see the module docstring).

    Returns
    -------
    RunConfig
        The checked configuration: ``solver(**kwargs)`` is the run (with ``client=scheduler`` on
        Dask).

    Raises
    ------
    ConfigError
        Naming the key (``table.key``), the value and what is allowed, for an unknown or missing
        key, a bad value, ``[grid]`` with ``run.solver = "sample"``, or ``[dask]`` in a
        configuration that sweeps nothing or without Dask installed.

    Examples
    --------
    >>> from fpguide.config import parse
    >>> config = parse(
    ...     {
    ...         "target": {"type": "GaussianMixture", "means": [-1.0, 1.0], "labels": [0, 1]},
    ...         "guidance": {"label": 1, "w": [0.0, 3.0]},
    ...     }
    ... )
    >>> config.describe()
    'a solve sweep over w (2): 2 items'
    """
    _check_keys("", doc, TABLES, required=("target", "guidance"))
    tables = {name: _table(name, doc.get(name, {})) for name in TABLES}
    run = dict(tables["run"])
    solver = run.pop("solver", "solve")
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ConfigError(f"run.solver must be one of {tuple(SOLVERS)}, got {solver!r}")
    run_keys = [
        name for name in inspect.signature(SOLVERS[solver]).parameters if name not in NOT_IN_RUN
    ]
    _check_keys("run", run, run_keys, shown=("solver", *run_keys))
    kwargs = dict(run)
    kwargs["target"], labels = _target("target", tables["target"], sweep=True)
    kwargs["guidance"] = _guidance(tables["guidance"])
    _check_keys("sampler", tables["sampler"], ("name", "eta"))
    kwargs["sampler"] = tables["sampler"].get("name", "ode")
    if "eta" in tables["sampler"]:
        kwargs["eta"] = tables["sampler"]["eta"]
    if "process" in doc:
        kwargs["process"] = _typed("process", tables["process"], PROCESSES)
    if "grid" in doc:
        if solver != "solve":
            raise ConfigError(
                "[grid] is for run.solver = 'solve' (particles need no grid), got "
                f"solver {solver!r}"
            )
        kwargs["grid"] = _grid(tables["grid"])
    scheduler = None
    if "dask" in doc:
        _check_keys("dask", tables["dask"], ("scheduler",), required=("scheduler",))
        scheduler = tables["dask"]["scheduler"]
        if not isinstance(scheduler, str) or not scheduler:
            raise ConfigError(
                "dask.scheduler must be a Dask scheduler name ('threads', "
                "'processes', "
                "'synchronous') or a scheduler address ('tcp://host:8786'), got "
                f"{scheduler!r}"
            )
    sources = {name: f"run.{name}" for name in run_keys} | {
        "sampler": "sampler.name",
        "eta": "sampler.eta",
        "process": "process",
        "grid": "grid",
        "label": "guidance.label",
    }
    call = CALLS[solver](**kwargs)
    sweep = _dry_run(solver, call, sources)
    if scheduler is not None and sweep is None:
        raise ConfigError(
            "dask.scheduler: Dask runs the items of a sweep, and this configuration "
            "sweeps nothing "
            "(give a list for guidance.w, sampler.name, run.T, ...)"
        )
    if scheduler is not None and importlib.util.find_spec("distributed") is None:
        raise ConfigError('dask.scheduler: Dask is not installed (pip install "fpguide[dask]")')
    return RunConfig(solver, call, scheduler, labels, sweep)


# --- keys, tables and objects
# --------------------------------------------------------------------------------------------------
def _check_keys(
    path: str,
    spec: dict,
    allowed: Iterable[str],
    required: Iterable[str] = (),
    shown: Iterable[str] | None = None,
) -> None:
    """Every key of ``spec`` allowed, every required one present (errors list the keys allowed)."""
    allowed, shown = list(allowed), list(allowed if shown is None else shown)
    where = (lambda key: f"{path}.{key}") if path else (lambda key: f"[{key}]")
    listing = ", ".join(where(key) for key in shown)
    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {where(close[0])}?)" if close else ""
            raise ConfigError(f"unknown key {where(key)}{hint}; allowed: {listing}")
    for key in required:
        if key not in spec:
            raise ConfigError(f"missing key {where(key)} (required); allowed: {listing}")


def _table(path: str, value) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path} must be a table ([{path}] or {path} = {{ ... }}), got "
            f"{type(value).__name__} "
            f"{value!r}"
        )
    return value


def _leading_name(err: Exception) -> str:
    match = re.match(r"\w+", str(err))
    return match.group(0) if match else ""


def _construct(path: str, cls, spec: dict, shown_extra: tuple[str, ...] = ()):
    """``cls(**spec)``: unknown and missing keys, and the constructor's own errors, reported at
    ``path``."""
    params = {
        name: p
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    _check_keys(
        path,
        spec,
        params,
        required=[name for name, p in params.items() if p.default is p.empty],
        shown=(*shown_extra, *params),
    )
    try:
        return cls(**spec)
    except (TypeError, ValueError) as err:
        key = _leading_name(err)
        raise ConfigError(f"{path}.{key}: {err}" if key in spec else f"{path}: {err}") from None


def _typed(path: str, spec, kinds: dict):
    """An object from an inline table ``{ type = "<kind>", <its arguments> }``."""
    spec = dict(_table(path, spec))
    if "type" not in spec:
        raise ConfigError(f"missing key {path}.type (required), one of {tuple(kinds)}")
    kind = spec.pop("type")
    if kind not in kinds:
        raise ConfigError(f"{path}.type must be one of {tuple(kinds)}, got {kind!r}")
    return _construct(path, kinds[kind], spec, shown_extra=("type",))


def _target(path: str, spec, sweep: bool):
    """A target, or a :class:`Family` over its fields given as ``{ sweep = [...] }``; and the labels
    of the Family's dimensions."""
    spec = _table(path, spec)
    swept = {name: value for name, value in spec.items() if isinstance(value, dict)}
    if not swept:
        return _typed(path, spec, TARGETS), {}
    if not sweep:
        raise ConfigError(f"{path}.{next(iter(swept))}: only the fields of [target] can be swept")
    for name, value in swept.items():
        _check_keys(f"{path}.{name}", value, ("sweep",), required=("sweep",))
        if not isinstance(value["sweep"], list) or not value["sweep"]:
            raise ConfigError(
                f"{path}.{name}.sweep must be a non-empty list of values of {name}, "
                "got "
                f"{value['sweep']!r}"
            )
    fixed = {name: value for name, value in spec.items() if name not in swept}
    first = {name: value["sweep"][0] for name, value in swept.items()}
    kind = type(_typed(path, fixed | first, TARGETS))
    fixed.pop("type")
    # every value, with the other swept fields at their first value
    for name, value in swept.items():
        for k, item in enumerate(value["sweep"][1:], start=1):
            try:
                kind(**(fixed | first | {name: item}))
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{path}.{name}.sweep[{k}]: {err}") from None
    fields, values, labels = {}, {}, {}
    for name, value in swept.items():
        items = value["sweep"]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            fields[name], values[name] = (name, None), items
            labels[name] = (f"target {name}", "1")
        else:
            dim = f"{name}_index"
            fields[dim], values[dim] = (name, items), list(range(len(items)))
            labels[dim] = (
                f"position in the swept values of target {name}: {json.dumps(items)}",
                "1",
            )
    try:
        family = Family(TargetFamily(kind, fixed, fields), **values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}.{_leading_name(err)}.sweep: {err}") from None
    return family, labels


@dataclass(frozen=True, eq=False)
class TargetFamily:
    """The target of one item of a swept ``[target]`` (a class, so that it pickles for Dask)."""

    kind: type
    fixed: dict
    # {dimension: (field, its values, or None when the dimension holds the values themselves)}
    fields: dict

    def __call__(self, **chosen):
        spec = dict(self.fixed)
        for dim, value in chosen.items():
            name, values = self.fields[dim]
            spec[name] = value if values is None else values[int(value)]
        return self.kind(**spec)


def _guidance(spec: dict) -> CFG:
    spec = _table("guidance", spec)
    params = inspect.signature(CFG).parameters
    _check_keys("guidance", spec, params)
    args = dict(spec)
    if "schedule" in args:
        args["schedule"] = _typed("guidance.schedule", args["schedule"], SCHEDULES)
    if "cond" in args:
        args["cond"], _ = _target("guidance.cond", args["cond"], sweep=False)
    for name in ("cond_error", "uncond_error"):
        if name in args:
            args[name] = _typed(f"guidance.{name}", args[name], SCORE_ERRORS)
    if isinstance(args.get("rule"), list):  # a sweep over rules
        args["rule"] = [
            _typed(f"guidance.rule[{k}]", rule, RULES) for k, rule in enumerate(args["rule"])
        ]
    elif "rule" in args:
        args["rule"] = _typed("guidance.rule", args["rule"], RULES)
    return _construct("guidance", CFG, args)


def _grid(spec: dict) -> Grid | TensorGrid | str:
    """``Grid(lower, upper, n)``, a :class:`TensorGrid` when ``lower`` and ``upper`` are lists, or
    ``"adaptive"`` or ``"uniform"`` for that ``type`` (and no other key)."""
    if "type" in spec:
        if spec["type"] not in (ADAPTIVE, UNIFORM):
            raise ConfigError(
                f"grid.type must be {ADAPTIVE!r} or {UNIFORM!r} (a grid of your own "
                "is given by lower, "
                f"upper and n, without a type), got {spec['type']!r}"
            )
        _check_keys("grid", spec, ("type",), required=("type",))
        return spec["type"]
    if isinstance(spec.get("lower"), list):
        _check_keys("grid", spec, ("lower", "upper", "n"), required=("lower", "upper", "n"))
        try:
            return TensorGrid.from_bounds(**spec)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"grid: {err}") from None
    return _construct("grid", Grid, spec)


def _dry_run(solver: str, call: RunCall, sources: dict) -> Sweep | None:
    """Check every item of the call as the solver will (without running it); errors name the key in
    the file."""
    try:
        sweep = Sweep.of(call)
        for item in [call] if sweep is None else [sweep.item(index) for index in sweep.indices]:
            CHECKS[solver](item)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{sources.get(_leading_name(err), 'configuration')}: {err}") from None
    return sweep
