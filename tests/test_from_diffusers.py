"""fg.from_diffusers: diffusers' scheduler configurations (as diffusers 0.42 writes them) to
fpguide's samplers, and the settings it refuses by name."""

import pytest

import fpguide as fg

# DDIMScheduler's configuration with its defaults, as diffusers 0.42.1 lists it
DDIM_DEFAULTS = {
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.42.1",
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "clip_sample": True,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "epsilon",
    "thresholding": False,
    "dynamic_thresholding_ratio": 0.995,
    "clip_sample_range": 1.0,
    "sample_max_value": 1.0,
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}


class FlowMatchEulerDiscreteScheduler:
    """A stand-in with the class name and ``config`` of diffusers' scheduler object."""

    def __init__(self, **config):
        self.config = {"num_train_timesteps": 1000, "shift": 1.0, "_use_default_values": []}
        self.config.update(config)


def test_ddim_defaults_and_a_stable_diffusion_configuration():
    assert fg.from_diffusers(DDIM_DEFAULTS, 50) == fg.DDIM(50, clip_sample=1.0)
    stable = {
        "_class_name": "DDIMScheduler",
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "clip_sample": False,
        "prediction_type": "v_prediction",
    }
    schedule = fg.NoiseSchedule("scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1)
    expected = fg.DDIM(25, 0.5, schedule, prediction_type="v_prediction", set_alpha_to_one=False)
    assert fg.from_diffusers(stable, 25, eta=0.5) == expected


def test_ddpm_and_flow_matching():
    config = {
        "_class_name": "DDPMScheduler",
        "variance_type": "fixed_large",
        "clip_sample_range": 2.0,
        "timestep_spacing": "trailing",
    }
    expected = fg.DDPM(
        10,
        fg.NoiseSchedule(timestep_spacing="trailing"),
        variance_type="fixed_large",
        clip_sample=2.0,
    )
    assert fg.from_diffusers(config, 10) == expected
    sd3 = fg.from_diffusers(FlowMatchEulerDiscreteScheduler(shift=3.0), 28)
    assert sd3 == fg.FlowMatchEuler(28, shift=3.0)
    flux = {"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": True}
    assert fg.from_diffusers(flux, 20, mu=1.15) == fg.FlowMatchEuler(
        20, use_dynamic_shifting=True, mu=1.15
    )


@pytest.mark.parametrize(
    "scheduler, kwargs, error, match",
    [
        ({"_class_name": "EulerDiscreteScheduler"}, {}, ValueError, "'EulerDiscreteScheduler'"),
        (
            DDIM_DEFAULTS | {"skip_prk_steps": True},
            {},
            ValueError,
            r"no configuration keys \['skip_prk",
        ),
        (
            DDIM_DEFAULTS | {"thresholding": True},
            {},
            ValueError,
            "thresholding=True is not reproduced",
        ),
        (
            DDIM_DEFAULTS | {"rescale_betas_zero_snr": True},
            {},
            ValueError,
            "rescale_betas_zero_snr=True",
        ),
        (
            FlowMatchEulerDiscreteScheduler(use_karras_sigmas=True),
            {},
            ValueError,
            "use_karras_sigmas=True is not reproduced",
        ),
        (
            FlowMatchEulerDiscreteScheduler(stochastic_sampling=True),
            {},
            ValueError,
            "stochastic_sampling",
        ),
        ({"_class_name": "DDPMScheduler"}, {"eta": 0.5}, ValueError, "eta=0.5 is an argument"),
        ({"_class_name": "DDIMScheduler"}, {"mu": 1.0}, ValueError, "mu=1.0 is for"),
        (
            {"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": True},
            {},
            ValueError,
            "mu is required",
        ),
        ({"beta_start": 0.001}, {}, ValueError, "needs its '_class_name'"),
        ("DDIMScheduler", {}, TypeError, "scheduler must be a diffusers scheduler"),
    ],
)
def test_refused_by_name(scheduler, kwargs, error, match):
    with pytest.raises(error, match=match):
        fg.from_diffusers(scheduler, 10, **kwargs)
