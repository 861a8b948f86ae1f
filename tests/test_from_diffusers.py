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


# EulerDiscreteScheduler's, likewise
EULER_DEFAULTS = {
    "_class_name": "EulerDiscreteScheduler",
    "_diffusers_version": "0.42.1",
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
    "sigma_min": None,
    "sigma_max": None,
    "timestep_spacing": "linspace",
    "timestep_type": "discrete",
    "steps_offset": 0,
    "rescale_betas_zero_snr": False,
    "final_sigmas_type": "zero",
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


def test_euler_family():
    assert fg.from_diffusers(EULER_DEFAULTS, 30) == fg.Euler(30)
    karras = EULER_DEFAULTS | {
        "use_karras_sigmas": True,
        "sigma_min": 0.03,
        "final_sigmas_type": "sigma_min",
        "timestep_type": "continuous",
        "prediction_type": "v_prediction",
    }
    expected = fg.Euler(
        30,
        prediction_type="v_prediction",
        use_karras_sigmas=True,
        sigma_min=0.03,
        final_sigmas_type="sigma_min",
    )
    assert fg.from_diffusers(karras, 30) == expected
    ancestral = {"_class_name": "EulerAncestralDiscreteScheduler", "timestep_spacing": "trailing"}
    assert fg.from_diffusers(ancestral, 20) == fg.EulerAncestral(
        20, fg.NoiseSchedule(timestep_spacing="trailing")
    )
    # Heun's own defaults: β from 0.00085 to 0.012
    heun = fg.from_diffusers({"_class_name": "HeunDiscreteScheduler", "use_karras_sigmas": True}, 9)
    assert heun == fg.Heun(9, use_karras_sigmas=True)
    assert heun.schedule.beta_start == 0.00085 and heun.schedule.beta_end == 0.012


def test_dpm_solver():
    # DPM++ 2M Karras, the most used configuration of Stable Diffusion web interfaces
    config = {
        "_class_name": "DPMSolverMultistepScheduler",
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "use_karras_sigmas": True,
        "steps_offset": 1,
        "lambda_min_clipped": -float("inf"),
        "variance_type": None,
    }
    schedule = fg.NoiseSchedule(
        "scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="linspace"
    )
    schedule = fg.NoiseSchedule(**(schedule.to_dict() | {"steps_offset": 1}))
    assert fg.from_diffusers(config, 25) == fg.DPMSolverMultistep(
        25, schedule, use_karras_sigmas=True
    )
    third = {
        "_class_name": "DPMSolverMultistepScheduler",
        "solver_order": 3,
        "algorithm_type": "dpmsolver",
        "final_sigmas_type": "sigma_min",
        "solver_type": "heun",
        "euler_at_final": True,
    }
    assert fg.from_diffusers(third, 12) == fg.DPMSolverMultistep(
        12,
        solver_order=3,
        algorithm_type="dpmsolver",
        solver_type="heun",
        euler_at_final=True,
        final_sigmas_type="sigma_min",
    )


def test_unipc():
    config = {
        "_class_name": "UniPCMultistepScheduler",
        "solver_order": 3,
        "disable_corrector": [0, 1],
        "use_karras_sigmas": True,
        "sigma_max": 80.0,
        "prediction_type": "v_prediction",
    }
    assert fg.from_diffusers(config, 18) == fg.UniPCMultistep(
        18,
        solver_order=3,
        disable_corrector=(0, 1),
        use_karras_sigmas=True,
        sigma_max=80.0,
        prediction_type="v_prediction",
    )


@pytest.mark.parametrize(
    "scheduler, kwargs, error, match",
    [
        ({"_class_name": "DPMSolverSDEScheduler"}, {}, ValueError, "'DPMSolverSDEScheduler'"),
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
        (
            EULER_DEFAULTS | {"interpolation_type": "log_linear"},
            {},
            ValueError,
            "interpolation_type='log_linear' is not reproduced",
        ),
        (EULER_DEFAULTS | {"use_beta_sigmas": True}, {}, ValueError, "use_beta_sigmas"),
        (
            {"_class_name": "HeunDiscreteScheduler", "clip_sample": True},
            {},
            ValueError,
            "clip_sample=True is not reproduced",
        ),
        (
            {"_class_name": "EulerAncestralDiscreteScheduler", "use_karras_sigmas": True},
            {},
            ValueError,
            r"no configuration keys \['use_karras_sigmas'\]",
        ),
        (
            {"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"},
            {},
            ValueError,
            "with solver_order=2 is not reproduced",
        ),
        (
            {"_class_name": "DPMSolverMultistepScheduler", "use_lu_lambdas": True},
            {},
            ValueError,
            "use_lu_lambdas=True is not reproduced",
        ),
        (
            {"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -5.1},
            {},
            ValueError,
            "lambda_min_clipped=-5.1",
        ),
        (
            {"_class_name": "UniPCMultistepScheduler", "solver_p": "DPMSolverMultistepScheduler"},
            {},
            ValueError,
            "solver_p='DPMSolverMultistepScheduler' is not reproduced",
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
