"""The generic 1-D engine: positive, conservative evolution of a density under a drift and a diffusion."""

from .evolve import EvolveResult, evolve
from .remap import SCHEMES
from .staged import StagedResult, evolve_in_stages

__all__ = ["EvolveResult", "evolve", "SCHEMES", "StagedResult", "evolve_in_stages"]
