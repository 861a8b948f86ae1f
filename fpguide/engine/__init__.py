"""The generic 1-D engine: positive, conservative evolution of a density under a drift and a diffusion."""

from .evolve import EvolveResult, evolve
from .remap import SCHEMES

__all__ = ["EvolveResult", "evolve", "SCHEMES"]
