"""fpguide's sampler of a diffusers scheduler: :func:`from_diffusers` reads a scheduler object or
its ``config`` dict (no import of diffusers or torch) and builds the sampler that runs the same
arithmetic (:mod:`fpguide.models.samplers`), refusing by name a class or a setting it cannot
reproduce exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .discrete import DDIM, DDPM, ChainSampler, FlowMatchEuler, NoiseSchedule
from .euler_samplers import Euler, EulerAncestral, Heun
from .multistep import DPMSolverMultistep
from .unipc import UniPCMultistep

__all__ = ["from_diffusers", "SCHEDULERS"]

# the configuration of each scheduler fpguide reproduces: its fields and their defaults (diffusers
# 0.42); the fields fpguide takes as they are, those it maps, and those it reproduces only at the
# default value
_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "timestep_spacing": "leading",
    "steps_offset": 0,
}
_CLIP = {"clip_sample": True, "clip_sample_range": 1.0, "prediction_type": "epsilon"}
_NOT_REPRODUCED = {
    "trained_betas": None,
    "thresholding": False,
    "rescale_betas_zero_snr": False,
}
_SIGMAS = {"use_karras_sigmas": False, "use_exponential_sigmas": False, "use_beta_sigmas": False}
_IGNORED_WITHOUT_THRESHOLDING = {"dynamic_thresholding_ratio": 0.995, "sample_max_value": 1.0}
# the sigma-based and multistep schedulers' defaults for the spacing and the prediction
_LINSPACE = _SCHEDULE | {"timestep_spacing": "linspace", "prediction_type": "epsilon"}
_MULTISTEP = _LINSPACE | _SIGMAS | _NOT_REPRODUCED | _IGNORED_WITHOUT_THRESHOLDING
_DDPM_CHAIN = _SCHEDULE | _CLIP | _NOT_REPRODUCED | _IGNORED_WITHOUT_THRESHOLDING  # DDIM, DDPM
SCHEDULERS: dict[str, dict[str, Any]] = {
    "DDIMScheduler": _DDPM_CHAIN | {"set_alpha_to_one": True},
    "DDPMScheduler": _DDPM_CHAIN | {"variance_type": "fixed_small"},
    "FlowMatchEulerDiscreteScheduler": {
        "num_train_timesteps": 1000,
        "shift": 1.0,
        "use_dynamic_shifting": False,
        "time_shift_type": "exponential",
        # read by pipelines only (to compute mu from the image size)
        "base_shift": 0.5,
        "max_shift": 1.15,
        "base_image_seq_len": 256,
        "max_image_seq_len": 4096,
        # not reproduced: only their defaults are accepted
        "invert_sigmas": False,
        "shift_terminal": None,
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "stochastic_sampling": False,
    },
    "EulerDiscreteScheduler": _LINSPACE
    | _SIGMAS
    | {
        "trained_betas": None,
        "rescale_betas_zero_snr": False,
        "interpolation_type": "linear",
        "sigma_min": None,
        "sigma_max": None,
        "final_sigmas_type": "zero",
        # what a network is given for v-prediction: no effect on the chain with the exact score
        "timestep_type": "discrete",
    },
    "EulerAncestralDiscreteScheduler": _LINSPACE
    | {"trained_betas": None, "rescale_betas_zero_snr": False},
    "HeunDiscreteScheduler": _SCHEDULE
    | {"beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "linspace"}
    | {"prediction_type": "epsilon", "trained_betas": None}
    | _SIGMAS
    | {"clip_sample": False, "clip_sample_range": 1.0},
    "DPMSolverMultistepScheduler": _MULTISTEP
    | {
        "solver_order": 2,
        "algorithm_type": "dpmsolver++",
        "solver_type": "midpoint",
        "lower_order_final": True,
        "euler_at_final": False,
        "final_sigmas_type": "zero",
        # not reproduced: only their defaults are accepted
        "use_lu_lambdas": False,
        "use_flow_sigmas": False,
        "use_dynamic_shifting": False,
        "lambda_min_clipped": -math.inf,
        "variance_type": None,
        # used only with use_flow_sigmas or use_dynamic_shifting
        "flow_shift": 1.0,
        "time_shift_type": "exponential",
    },
    "UniPCMultistepScheduler": _MULTISTEP
    | {
        "solver_order": 2,
        "predict_x0": True,
        "solver_type": "bh2",
        "lower_order_final": True,
        "disable_corrector": [],
        "sigma_min": None,
        "sigma_max": None,
        "final_sigmas_type": "zero",
        # not reproduced: only their defaults are accepted
        "solver_p": None,
        "use_flow_sigmas": False,
        "use_dynamic_shifting": False,
        "shift_terminal": None,
        # used only with use_flow_sigmas or use_dynamic_shifting
        "flow_shift": 1.0,
        "time_shift_type": "exponential",
    },
}
_DEFAULT_ONLY = {
    "DDIMScheduler": tuple(_NOT_REPRODUCED),
    "DDPMScheduler": tuple(_NOT_REPRODUCED),
    "FlowMatchEulerDiscreteScheduler": (
        "invert_sigmas",
        "shift_terminal",
        "use_karras_sigmas",
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "stochastic_sampling",
    ),
    "EulerDiscreteScheduler": (
        "trained_betas",
        "rescale_betas_zero_snr",
        "interpolation_type",
        "use_exponential_sigmas",
        "use_beta_sigmas",
    ),
    "EulerAncestralDiscreteScheduler": ("trained_betas", "rescale_betas_zero_snr"),
    "DPMSolverMultistepScheduler": (
        *_NOT_REPRODUCED,
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "use_lu_lambdas",
        "use_flow_sigmas",
        "use_dynamic_shifting",
        "lambda_min_clipped",
        "variance_type",
    ),
    "UniPCMultistepScheduler": (
        *_NOT_REPRODUCED,
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "solver_p",
        "use_flow_sigmas",
        "use_dynamic_shifting",
        "shift_terminal",
    ),
    "HeunDiscreteScheduler": (
        "trained_betas",
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "clip_sample",
    ),
}


def from_diffusers(
    scheduler: Any, steps: int, *, eta: float = 0.0, mu: float | None = None
) -> ChainSampler:
    """The fpguide sampler that runs a diffusers scheduler's arithmetic.

    ``DDIMScheduler`` → :class:`~fpguide.DDIM`, ``DDPMScheduler`` → :class:`~fpguide.DDPM`,
    ``FlowMatchEulerDiscreteScheduler`` → :class:`~fpguide.FlowMatchEuler`,
    ``EulerDiscreteScheduler`` → :class:`~fpguide.Euler`, ``EulerAncestralDiscreteScheduler`` →
    :class:`~fpguide.EulerAncestral`, ``HeunDiscreteScheduler`` → :class:`~fpguide.Heun`,
    ``DPMSolverMultistepScheduler`` → :class:`~fpguide.DPMSolverMultistep`,
    ``UniPCMultistepScheduler`` → :class:`~fpguide.UniPCMultistep`, with every setting of the
    configuration carried over: the β schedule, timestep spacing and offset, the prediction type,
    ``clip_sample`` (on by default in DDIM and DDPM: x̂0 clipped to [−``clip_sample_range``,
    ``clip_sample_range``]), ``set_alpha_to_one``, ``variance_type``; ``shift``,
    ``use_dynamic_shifting`` and ``time_shift_type``; ``use_karras_sigmas``, ``sigma_min``,
    ``sigma_max`` and ``final_sigmas_type``; ``solver_order``, ``algorithm_type``, ``solver_type``,
    ``lower_order_final`` and ``euler_at_final``; ``predict_x0`` and ``disable_corrector``. Keys
    that start with ``_`` (diffusers' own bookkeeping) are skipped, and a flow-matching pipeline's
    ``base_shift``, ``max_shift`` and image sequence lengths only serve to compute ``mu``, which is
    given here.

    Parameters
    ----------
    scheduler : object or dict
        A diffusers scheduler (its class name and ``config`` are read; diffusers itself is not
        imported), or its configuration as a dict with ``"_class_name"`` (as diffusers saves it in
        ``scheduler_config.json``).
    steps : int
        The number of inference steps (``set_timesteps(steps)``).
    eta : float, default 0.0
        DDIM's η (an argument of ``step()``, not of the configuration); DDIM only.
    mu : float, optional
        The dynamic shift of a flow-matching pipeline (``set_timesteps(steps, mu=mu)``), required
        with ``use_dynamic_shifting``.

    Returns
    -------
    ChainSampler
        The sampler, for :func:`~fpguide.solve_discrete` and :func:`~fpguide.sample_discrete`.

    Raises
    ------
    ValueError
        For a class fpguide does not reproduce (named, with the ones it does), a configuration key
        the class does not have, a setting fpguide reproduces only at its default (``thresholding``,
        ``trained_betas``, ``rescale_betas_zero_snr``; exponential or beta sigmas, Euler's
        log-linear interpolation, Heun's ``clip_sample``; DPM-Solver's Lu lambdas, flow sigmas,
        dynamic shifting, ``lambda_min_clipped``, learned variance and its stochastic algorithms
        above order 1;
        UniPC's ``solver_p``, flow sigmas, dynamic shifting and ``shift_terminal``;
        for flow matching Karras sigmas,
        ``shift_terminal``, ``invert_sigmas``, ``stochastic_sampling``) at another value, ``eta``
        for a scheduler other than DDIM, and the errors of the samplers for values out of range.
    TypeError
        When ``scheduler`` is neither a dict nor an object with a ``config``.

    Examples
    --------
    >>> import fpguide as fg
    >>> config = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}
    >>> fg.from_diffusers(config, 28).sigmas[:3].round(4).tolist()
    [1.0, 0.9874, 0.9741]
    >>> ddim = fg.from_diffusers({"_class_name": "DDIMScheduler"}, 50)
    >>> ddim.clip_sample, ddim.schedule.timestep_spacing  # diffusers' defaults
    (1.0, 'leading')
    """
    name, config = _name_and_config(scheduler)
    if name not in SCHEDULERS:
        raise ValueError(
            f"fpguide reproduces the diffusers schedulers {sorted(SCHEDULERS)}, got {name!r}"
        )
    known = SCHEDULERS[name]
    unknown = sorted(key for key in config if key not in known)
    if unknown:
        raise ValueError(f"{name} has no configuration keys {unknown}: allowed {sorted(known)}")
    settings = known | config
    for key in _DEFAULT_ONLY[name]:
        if settings[key] != known[key]:
            raise ValueError(
                f"{name}: {key}={settings[key]!r} is not reproduced by fpguide (only "
                f"{key}={known[key]!r})"
            )
    if eta != 0.0 and name != "DDIMScheduler":
        raise ValueError(f"eta={eta} is an argument of DDIMScheduler.step, not of {name}")
    if name == "FlowMatchEulerDiscreteScheduler":
        return FlowMatchEuler(
            steps,
            settings["shift"],
            num_train_timesteps=settings["num_train_timesteps"],
            use_dynamic_shifting=settings["use_dynamic_shifting"],
            mu=mu,
            time_shift_type=settings["time_shift_type"],
        )
    if mu is not None:
        raise ValueError(f"mu={mu} is for FlowMatchEulerDiscreteScheduler, not {name}")
    schedule = NoiseSchedule(**{key: settings[key] for key in _SCHEDULE})
    if name in _SIGMA_SAMPLERS:
        return _sigma_sampler(name, settings, steps, schedule)
    if name == "DPMSolverMultistepScheduler":
        keys = ("solver_order", "algorithm_type", "solver_type", "lower_order_final")
        keys += ("euler_at_final", "use_karras_sigmas", "final_sigmas_type", "prediction_type")
        return DPMSolverMultistep(steps, schedule, **{key: settings[key] for key in keys})
    if name == "UniPCMultistepScheduler":
        keys = ("solver_order", "predict_x0", "solver_type", "lower_order_final")
        keys += ("disable_corrector", "use_karras_sigmas", "sigma_min", "sigma_max")
        keys += ("final_sigmas_type", "prediction_type")
        return UniPCMultistep(steps, schedule, **{key: settings[key] for key in keys})
    clip = settings["clip_sample_range"] if settings["clip_sample"] else None
    common = {"prediction_type": settings["prediction_type"], "clip_sample": clip}
    if name == "DDIMScheduler":
        return DDIM(steps, eta, schedule, set_alpha_to_one=settings["set_alpha_to_one"], **common)
    return DDPM(steps, schedule, variance_type=settings["variance_type"], **common)


_SIGMA_SAMPLERS = {
    "EulerDiscreteScheduler": Euler,
    "EulerAncestralDiscreteScheduler": EulerAncestral,
    "HeunDiscreteScheduler": Heun,
}


def _sigma_sampler(name: str, settings: dict, steps: int, schedule: NoiseSchedule) -> ChainSampler:
    """The Euler, EulerAncestral or Heun of a configuration, its sigma settings carried over."""
    kind = _SIGMA_SAMPLERS[name]
    options = {"prediction_type": settings["prediction_type"]}
    if kind is not EulerAncestral:
        options["use_karras_sigmas"] = settings["use_karras_sigmas"]
    if kind is Euler:
        options |= {key: settings[key] for key in ("sigma_min", "sigma_max", "final_sigmas_type")}
    return kind(steps, schedule, **options)


def _name_and_config(scheduler: Any) -> tuple[str, dict]:
    """The class name and the configuration (without diffusers' ``_`` keys) of a scheduler or of
    its configuration dict."""
    if isinstance(scheduler, Mapping):
        if "_class_name" not in scheduler:
            raise ValueError(
                "a scheduler configuration needs its '_class_name' (as diffusers saves it), got "
                f"keys {sorted(scheduler)}"
            )
        name, config = scheduler["_class_name"], scheduler
    elif hasattr(scheduler, "config"):
        name, config = type(scheduler).__name__, dict(scheduler.config)
    else:
        raise TypeError(
            "scheduler must be a diffusers scheduler or its config dict, got "
            f"{type(scheduler).__name__}"
        )
    return name, {key: value for key, value in config.items() if not key.startswith("_")}
