"""fpguide: the exact output distribution of guided diffusion samplers, from their Fokker–Planck equation."""

import os

__version__ = "0.1.0"

# numba's OpenMP threads spin while they wait for work. Where cores are shared (pytest -n, several solves at once, a
# busy machine) the spinning starves the threads that have work: 2-D solves and batched sweeps ran 5-30x slower on 2
# busy cores (benchmarks/README.md). Threads that sleep while they wait cost a wake-up per parallel region instead.
# Set before numba starts its threads; a value the user chose is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import schedules, score_errors
from .crosscheck import CrossCheck, cross_check
from .discrete import DDIM, DDPM, NoiseSchedule
from .discrete_run import sample_discrete, solve_discrete
from .engine import EvolveResult, evolve
from .errors import CoarseGridWarning, CollapsedMassWarning, NumericalError, WallMassError, WallMassWarning
from .grid import GradedGrid, Grid, TensorGrid
from .guidance import CFG
from .observables_nd import marginal
from .particles import sample
from .predictor_corrector import PredictorCorrector, sample_pc, solve_pc
from .processes import EDM, OU, VE, VP
from .rerun import rerun
from .resample import resample
from .solve import solve
from .sweep import Family, outputs
from .targets import GaussianMixture, UniformMixture

__all__ = ["CFG", "DDIM", "DDPM", "EDM", "OU", "VE", "VP", "CoarseGridWarning", "CollapsedMassWarning", "CrossCheck",
           "EvolveResult", "Family", "GaussianMixture", "GradedGrid", "Grid", "NoiseSchedule", "NumericalError",
           "PredictorCorrector", "TensorGrid", "UniformMixture", "WallMassError", "WallMassWarning", "__version__",
           "cross_check", "evolve", "marginal", "outputs", "resample", "rerun", "sample", "sample_discrete",
           "sample_pc", "schedules", "score_errors", "solve", "solve_discrete", "solve_pc"]
