"""fpguide: the exact output distribution of guided diffusion samplers, from their Fokker–Planck
equation.

The front doors: :func:`solve` (the density on a grid, with its observables; sweeps over its
parameters), :func:`sample` (particles of the same dynamics), :func:`solve_pc` and
:func:`sample_pc` (predictor–corrector guidance), :func:`solve_discrete` and
:func:`sample_discrete` (the N-step chains of diffusers' schedulers: :class:`DDIM`,
:class:`DDPM`, :class:`FlowMatchEuler`, :class:`Euler`, :class:`EulerAncestral`, :class:`Heun`,
:class:`DPMSolverMultistep`, :class:`UniPCMultistep`),
:func:`rerun` (the run a Dataset records, run again) and :func:`cross_check` (a grid solve
against particles).
"""

import os

# numba's OpenMP threads spin while they wait for work. Where cores are shared (pytest -n, several
# solves at once, a busy machine) the spinning starves the threads that have work: 2-D solves and
# batched sweeps ran 5-30x slower on 2 busy cores (benchmarks/README.md). Threads that sleep while
# they wait cost a wake-up per parallel region instead. Set before numba starts its threads; a value
# the user chose is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import rules, schedules, score_errors
from ._version import __version__
from .engine import EvolveResult, evolve
from .grids.grid import GradedGrid, Grid, TensorGrid
from .models.discrete import DDIM, DDPM, FlowMatchEuler, NoiseSchedule
from .models.euler_samplers import Euler, EulerAncestral, Heun
from .models.from_diffusers import from_diffusers
from .models.guidance import CFG
from .models.multistep import DPMSolverMultistep
from .models.processes import EDM, OU, VE, VP, FlowMatching
from .models.score_model import ScoreModel
from .models.targets import EmpiricalMixture, GaussianMixture, UniformMixture
from .models.unipc import UniPCMultistep
from .rerun import rerun
from .results.crosscheck import CrossCheck, cross_check
from .results.observables_nd import marginal
from .results.reference import divergence_to
from .results.resample import resample
from .runs.discrete_run import sample_discrete, solve_discrete
from .runs.particles import sample
from .runs.predictor_corrector import PredictorCorrector, sample_pc, solve_pc
from .runs.solve import solve
from .sweeps.family import Family
from .sweeps.sweep import outputs
from .tools.errors import (
    CoarseGridWarning,
    CollapsedMassWarning,
    NumericalError,
    WallMassError,
    WallMassWarning,
)

__all__ = [
    "CFG",
    "DDIM",
    "DDPM",
    "DPMSolverMultistep",
    "EDM",
    "OU",
    "VE",
    "VP",
    "CoarseGridWarning",
    "CollapsedMassWarning",
    "CrossCheck",
    "Euler",
    "EulerAncestral",
    "EvolveResult",
    "Family",
    "FlowMatchEuler",
    "FlowMatching",
    "EmpiricalMixture",
    "GaussianMixture",
    "GradedGrid",
    "Grid",
    "Heun",
    "NoiseSchedule",
    "NumericalError",
    "PredictorCorrector",
    "ScoreModel",
    "TensorGrid",
    "UniformMixture",
    "UniPCMultistep",
    "WallMassError",
    "WallMassWarning",
    "__version__",
    "cross_check",
    "divergence_to",
    "evolve",
    "from_diffusers",
    "marginal",
    "outputs",
    "resample",
    "rerun",
    "sample",
    "sample_discrete",
    "sample_pc",
    "rules",
    "schedules",
    "score_errors",
    "solve",
    "solve_discrete",
    "solve_pc",
]
