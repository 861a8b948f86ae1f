"""The discrete samplers fpguide reproduces, and their records.

Every sampler is a :class:`~fpguide.models.discrete.ChainSampler`, the interface
:func:`~fpguide.solve_discrete` and :func:`~fpguide.sample_discrete` use: ``plan()`` (the steps,
with their diffusion times, noise levels and coefficients in fpguide's frame), ``step_map`` (the
deterministic part of a step, through the guided score), ``literal_step`` (the scheduler's own
arithmetic, on particles), ``prior_law`` (the law of the first state from the pipeline's noise),
``process()`` (the continuous counterpart), ``eta`` (the stochasticity of its continuous limit),
``pure_noise_start``, ``kind`` and ``to_dict()``. A ``multistep`` sampler, whose steps use earlier
states of the trajectory, also gives ``path_map`` (a state as a map of the first state) and
``literal_path`` (whole trajectories of particles); its ``step_map`` serves only the steps that
are maps of their own state.
"""

from __future__ import annotations

from .discrete import DDIM, DDPM, ChainSampler, FlowMatchEuler, NoiseSchedule
from .euler_samplers import Euler, EulerAncestral, Heun
from .multistep import DPMSolverMultistep
from .unipc import UniPCMultistep

__all__ = ["sampler_from_dict"]

_BY_KIND = {
    kind.kind: kind
    for kind in (
        DDIM,
        DDPM,
        FlowMatchEuler,
        Euler,
        EulerAncestral,
        Heun,
        DPMSolverMultistep,
        UniPCMultistep,
    )
}


def sampler_from_dict(spec: dict) -> ChainSampler:
    """The sampler that ``to_dict()`` recorded.

    Parameters
    ----------
    spec : dict
        The record: ``type`` (the class name: "DDIM", "DDPM", "FlowMatchEuler", "Euler",
        "EulerAncestral", "Heun", "DPMSolverMultistep" or "UniPCMultistep"), ``steps``,
        ``schedule`` (the schedule's record, all but FlowMatchEuler) and the other constructor
        arguments.

    Returns
    -------
    ChainSampler
        The sampler.

    Raises
    ------
    ValueError
        If ``type`` is not one of those.

    Examples
    --------
    >>> import fpguide as fg
    >>> from fpguide.models.samplers import sampler_from_dict
    >>> sampler = fg.DDIM(10, eta=0.5)
    >>> sampler_from_dict(sampler.to_dict()) == sampler
    True
    """
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _BY_KIND:
        raise ValueError(f"sampler type must be one of {sorted(_BY_KIND)}, got {kind!r}")
    if "schedule" in spec:
        spec["schedule"] = NoiseSchedule(**spec["schedule"])
    return _BY_KIND[kind](**spec)
