"""Dataset assembly (DESIGN §6): labelled arrays with units, long names and the full configuration
as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .._version import __version__
from ..tools.records import json_default

if TYPE_CHECKING:
    from ..models.processes import Process

__all__ = ["attach", "config_attr", "config_of", "frame_variables", "global_attrs"]

# name: (long name, units)
VARIABLES = {
    "density": ("density of the sampler at diffusion time t", "1"),
    "mass": ("total mass on the grid", "1"),
    "outflow": ("cumulative mass that left through the walls", "1"),
    "entropy": ("differential entropy", "nats"),
    "confidence": ("classification confidence E_q[p_t(c|x)]", "1"),
    "inverse_confidence": ("inverse confidence E_q[1/p_t(c|x)]", "1"),
    "mean": ("mean", "1"),
    "variance": ("variance", "1"),
    "covariance": ("covariance", "1"),
    "projected_mean": ("mean of <x, direction> (the mean projected trajectory)", "1"),
    "direction": ("unit direction of the projected observables", "1"),
    "support_mass": ("mass inside the support of the class", "1"),
    "edge_mass": ("mass within delta of the far edge of the class support", "1"),
    "outside_mass": ("mass outside every support", "1"),
    "tail_probability": ("P(x >= threshold), normalised (in d-D, of <x, direction>)", "1"),
    "kl_conditional": ("KL(q || p_t(.|c)) at the output time", "nats"),
    "tv_conditional": ("total variation to p_t(.|c) at the output time", "1"),
    "kl_tilted": ("KL(q || tilted law p_t(x|c)^(1+w) p_t(x)^(-w)) at the output time", "nats"),
    "tv_tilted": ("total variation to the tilted law at the output time", "1"),
    "frame_scale": (
        "s(t) in x = s(t) y: VE, EDM and flow-matching densities and observables are those of "
        "y = x/s(t)",
        "1",
    ),
    # run monitors (fpguide.runs.monitors)
    "mass_balance_error": ("(mass on the grid + outflow - initial mass) / initial mass", "1"),
    "min_density": ("lowest cell average of the density since the previous saved time", "1"),
    "feature_cells": (
        "cells across the narrowest feature of the density (the narrowest marginal's width)",
        "1",
    ),
    "wall_mass": ("mass in the outer 2 % of the grid's extent at every wall", "1"),
    "cfl": ("largest CFL number max |v| dt/dx of the steps since the previous saved time", "1"),
    "peclet": (
        "largest cell Peclet number max |v| dx/D of the steps since the previous saved time "
        "(inf: D = 0)",
        "1",
    ),
    "l1_error": (
        "estimated L1 error of the density (from companion solves with half the cells and "
        "twice the steps)",
        "1",
    ),
    "gap_l1": ("L1 distance of the discrete chain's density to the continuous sampler's", "1"),
    "gap_entropy": ("entropy of the discrete chain minus that of the continuous sampler", "nats"),
    "position": ("particle position", "1"),
    "solved_mean": ("mean of the solved coordinates", "1"),
    "solved_covariance": ("covariance of the solved coordinates", "1"),
    "basis": ("solved coordinates as unit vectors: y_i = <basis_i, x>", "1"),
    "orthogonal_variance": (
        "variance of the law along every direction orthogonal to the solved span",
        "1",
    ),
    "cond_score_error": ("L2(p_t(.|c)) norm of the conditional score's error e_c", "1"),
    "uncond_score_error": ("L2(p_t) norm of the unconditional score's error e_u", "1"),
    "cond_score_error_relative": (
        "L2(p_t(.|c)) norm of e_c relative to that of the conditional score",
        "1",
    ),
    "uncond_score_error_relative": (
        "L2(p_t) norm of e_u relative to that of the unconditional score",
        "1",
    ),
}
COORDS = {
    "t": ("diffusion time (the sampler runs from T down to t_min)", "1"),
    "x": ("position", "1"),
    "y": ("second coordinate", "1"),
    "z": ("third coordinate", "1"),
    "dim": ("coordinate", "1"),
    "dim2": ("coordinate", "1"),
    "threshold": ("tail threshold", "1"),
    "timestep": ("training timestep of the state (-1: the clean data)", "1"),
    "solved": ("solved coordinate", "1"),
    "solved2": ("solved coordinate", "1"),
    # swept parameters (fpguide.sweeps.sweep)
    "sampler": ("sampler (ode: probability flow, sde: reverse SDE)", "1"),
    "w": ("guidance weight w", "1"),
    "T": ("start time T of the sampler", "1"),
    "t_min": ("output time t_min of the sampler (early stopping)", "1"),
    "eta": ("stochasticity eta of the sampler (0: probability flow, 1: reverse SDE)", "1"),
    "delta": ("half-width delta of the far-edge window", "1"),
    "log_snr_step": ("largest step in log-SNR", "1"),
    "lipschitz": ("largest step L dt", "1"),
    "cells_per_width": ("cells across the narrowest density feature", "1"),
}


def frame_variables(process: Process, t: np.ndarray) -> dict:
    """``frame_scale(t)`` for processes held in a scaled frame (VE, EDM, flow matching; see
    :mod:`fpguide.models.processes`), else nothing.

    Parameters
    ----------
    process : Process
        The noising process.
    t : numpy.ndarray
        The saved diffusion times.

    Returns
    -------
    dict
        ``{"frame_scale": (("t",), s(t))}`` when s(t) ≠ 1 at some time, else ``{}``.
    """
    scale = process.frame_scale(t)
    return {"frame_scale": (("t",), scale)} if np.any(scale != 1.0) else {}


# derived variables <name><suffix>: long name from the base variable's
DERIVED = {"_se": "standard error of the {}", "_error": "estimated error of the {}"}


def attach(ds: xr.Dataset) -> xr.Dataset:
    """Set long_name/units on every variable and coordinate that fpguide knows (and their ``_se``,
    ``_error``).

    Attributes already set are kept. A variable ``<name>_se`` or ``<name>_error`` of a known
    variable gets the long name "standard error of the …" or "estimated error of the …" and
    the base variable's units.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset, changed in place.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself.

    Examples
    --------
    >>> import xarray as xr
    >>> from fpguide.results.dataset import attach
    >>> ds = attach(xr.Dataset({"entropy_se": ("t", [0.1])}, coords={"t": [1.0]}))
    >>> ds["entropy_se"].attrs
    {'long_name': 'standard error of the differential entropy', 'units': 'nats'}
    """
    known = VARIABLES | COORDS
    for name, var in ds.variables.items():
        if name in known:
            long_name, units = known[name]
        else:
            suffix = next((suffix for suffix in DERIVED if name.endswith(suffix)), None)
            if suffix is None or name.removesuffix(suffix) not in VARIABLES:
                continue
            long_name, units = VARIABLES[name.removesuffix(suffix)]
            long_name = DERIVED[suffix].format(long_name)
        var.attrs.setdefault("long_name", long_name)
        var.attrs.setdefault("units", units)
    return ds


def global_attrs(title: str, config: dict, run: dict, omitted: dict | None = None) -> dict:
    """title, source, history and the configuration (to re-run) and run record (what happened), as
    JSON, and the note on the observables left out.

    No creation time: identical runs give identical Datasets (see :mod:`fpguide.rerun`).

    Parameters
    ----------
    title : str
        The Dataset's title.
    config : dict
        The configuration, stored as :func:`config_attr` makes it.
    run : dict
        The run record, stored as JSON (numpy values as plain ones, objects with a record by
        their ``to_dict()``).
    omitted : dict, optional
        ``{names: why}`` of the observables left out because the model does not give what they
        need (:func:`~fpguide.results.observables.omitted_observables`); stored, when not empty, as
        the attribute ``omitted`` ("names: why; ...").

    Returns
    -------
    dict
        The attributes ``title``, ``source`` and ``history`` (naming fpguide's version),
        ``Conventions`` (CF-1.10), ``config`` and ``run``, and ``omitted`` when given.

    Raises
    ------
    TypeError
        When the configuration or the run record holds a value that cannot be stored.
    """
    attrs = {
        "title": title,
        "source": f"fpguide {__version__}",
        "history": f"created by fpguide {__version__}",
        "Conventions": "CF-1.10",
        "config": config_attr(config),
        "run": json.dumps(run, sort_keys=True, default=json_default),
    }
    if omitted:
        attrs["omitted"] = "; ".join(f"{names}: {why}" for names, why in omitted.items())
    return attrs


def config_attr(config: dict) -> str:
    """The configuration as the ``config`` attribute holds it (JSON; numpy arrays and numbers as
    plain ones).

    Parameters
    ----------
    config : dict
        The configuration.

    Returns
    -------
    str
        Its JSON, keys sorted.

    Raises
    ------
    TypeError
        When a value cannot be stored.

    Examples
    --------
    >>> import numpy as np
    >>> from fpguide.results.dataset import config_attr
    >>> config_attr({"w": np.float64(3.0), "T": 1})
    '{"T": 1, "w": 3.0}'
    """
    return json.dumps(config, sort_keys=True, default=json_default)


def config_of(ds: xr.Dataset) -> dict:
    """The configuration a Dataset was made with (the inverse of what :func:`global_attrs`
    stored).

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset made by fpguide.

    Returns
    -------
    dict
        The configuration, read from the JSON of ``ds.attrs["config"]``.

    Raises
    ------
    KeyError
        When ``ds`` has no ``config`` attribute.
    """
    return json.loads(ds.attrs["config"])
