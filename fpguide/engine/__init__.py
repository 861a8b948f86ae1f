"""Layer 3, the generic engine: positive, conservative evolution of a density on 1-D to 3-D grids
under a drift given as a callable and a diffusion (:func:`evolve`, :func:`evolve_in_stages`), the
exact push-forward of a discrete map, and the exact cell integrals that move densities between
grids. Imports only the tools and the grids.

Modules: ``evolve`` (the driver: checked inputs, then the stepping loop), ``strang`` (one
Strang-split step), ``line_sweeps`` (the dimension-split sweeps along grid lines), ``result``
(:class:`EvolveResult` and the recorder of the run monitors), ``remap`` (the positive
reconstructions and their exact cell integrals), ``heat`` (exact heat steps), ``steps`` (departure
points, significant faces, the flush of sub-normal densities), ``coefficients`` (time integrals of
the diffusion), ``staged`` (runs across a sequence of grids), ``transfer`` (conservative transfer
between grids), ``pushforward`` (discrete maps).
"""

from ..tools.integrable import Integrable
from .evolve import evolve
from .heat import heat_kernel, heat_step
from .line_sweeps import STAGE_INSIDE
from .pushforward import push_forward
from .remap import (
    SCHEMES,
    Scheme,
    cdf_values,
    mass_between,
    masses_between,
    reconstruct,
    scheme_code,
)
from .result import EvolveResult
from .staged import StagedResult, evolve_in_stages
from .steps import flush_checked
from .transfer import collect_masses, transfer

__all__ = [
    "SCHEMES",
    "STAGE_INSIDE",
    "Scheme",
    "EvolveResult",
    "Integrable",
    "StagedResult",
    "cdf_values",
    "collect_masses",
    "evolve",
    "evolve_in_stages",
    "flush_checked",
    "heat_kernel",
    "heat_step",
    "mass_between",
    "masses_between",
    "push_forward",
    "reconstruct",
    "scheme_code",
    "transfer",
]
