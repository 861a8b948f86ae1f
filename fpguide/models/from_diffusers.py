"""fpguide's sampler of a diffusers scheduler: :func:`from_diffusers` reads a scheduler object or
its ``config`` dict (no import of diffusers or torch) and builds the :class:`~fpguide.DDIM`,
:class:`~fpguide.DDPM` or :class:`~fpguide.FlowMatchEuler` that runs the same arithmetic, refusing
by name a class or a setting it cannot reproduce exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .discrete import DDIM, DDPM, FlowMatchEuler, NoiseSchedule

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
_IGNORED_WITHOUT_THRESHOLDING = {"dynamic_thresholding_ratio": 0.995, "sample_max_value": 1.0}
SCHEDULERS: dict[str, dict[str, Any]] = {
    "DDIMScheduler": _SCHEDULE
    | _CLIP
    | _NOT_REPRODUCED
    | _IGNORED_WITHOUT_THRESHOLDING
    | {"set_alpha_to_one": True},
    "DDPMScheduler": _SCHEDULE
    | _CLIP
    | _NOT_REPRODUCED
    | _IGNORED_WITHOUT_THRESHOLDING
    | {"variance_type": "fixed_small"},
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
}


def from_diffusers(
    scheduler: Any, steps: int, *, eta: float = 0.0, mu: float | None = None
) -> DDIM | DDPM | FlowMatchEuler:
    """The fpguide sampler that runs a diffusers scheduler's arithmetic.

    ``DDIMScheduler`` → :class:`~fpguide.DDIM`, ``DDPMScheduler`` → :class:`~fpguide.DDPM`,
    ``FlowMatchEulerDiscreteScheduler`` → :class:`~fpguide.FlowMatchEuler`, with every setting of
    the configuration carried over: the β schedule, timestep spacing and offset, the prediction
    type, ``clip_sample`` (on by default in diffusers: x̂0 clipped to [−``clip_sample_range``,
    ``clip_sample_range``]), ``set_alpha_to_one``, ``variance_type``; ``shift``,
    ``use_dynamic_shifting`` and ``time_shift_type``. Keys that start with ``_`` (diffusers' own
    bookkeeping) are skipped, and a flow-matching pipeline's ``base_shift``, ``max_shift`` and image
    sequence lengths only serve to compute ``mu``, which is given here.

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
    DDIM, DDPM or FlowMatchEuler
        The sampler, for :func:`~fpguide.solve_discrete` and :func:`~fpguide.sample_discrete`.

    Raises
    ------
    ValueError
        For a class fpguide does not reproduce (named, with the ones it does), a configuration key
        the class does not have, a setting fpguide reproduces only at its default (``thresholding``,
        ``trained_betas``, ``rescale_betas_zero_snr``; Karras, exponential or beta sigmas,
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
    clip = settings["clip_sample_range"] if settings["clip_sample"] else None
    common = {"prediction_type": settings["prediction_type"], "clip_sample": clip}
    if name == "DDIMScheduler":
        return DDIM(steps, eta, schedule, set_alpha_to_one=settings["set_alpha_to_one"], **common)
    return DDPM(steps, schedule, variance_type=settings["variance_type"], **common)


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
