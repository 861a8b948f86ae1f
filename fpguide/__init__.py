"""fpguide: the exact output distribution of guided diffusion samplers, from their Fokker–Planck equation."""

__version__ = "0.1.0"

from . import schedules, score_errors
from .crosscheck import CrossCheck, cross_check
from .engine import EvolveResult, evolve
from .errors import CoarseGridWarning, WallMassError
from .grid import Grid, TensorGrid
from .guidance import CFG
from .observables_nd import marginal
from .particles import sample
from .processes import OU, VP
from .solve import solve
from .targets import GaussianMixture, UniformMixture

__all__ = ["CFG", "OU", "VP", "CoarseGridWarning", "CrossCheck", "EvolveResult", "GaussianMixture", "Grid", "TensorGrid",
           "UniformMixture", "WallMassError", "__version__", "cross_check", "evolve", "marginal", "sample", "schedules",
           "score_errors", "solve"]
