"""Layer 3, the generic engine: positive, conservative evolution of a density on 1-D to 3-D grids under a drift given
as a callable and a diffusion (:func:`evolve`, :func:`evolve_in_stages`), the exact push-forward of a discrete map,
and the exact cell integrals that move densities between grids. Imports only the tools and the grids.

Modules: ``evolve`` (the Strang-split driver), ``staged`` (runs across a sequence of grids), ``line_sweeps`` (the
dimension-split line sweeps), ``remap`` (the positive reconstructions and their exact cell integrals), ``heat``
(exact heat steps), ``steps`` (departure points and significant faces), ``coefficients`` (time integrals of the
diffusion), ``transfer`` (conservative transfer between grids), ``pushforward`` (discrete maps).
"""

from .evolve import EvolveResult, evolve, flush_checked
from .heat import heat_kernel, heat_step
from .line_sweeps import STAGE_INSIDE
from .pushforward import push_forward
from .remap import SCHEMES, cdf_values, mass_between, masses_between, reconstruct, scheme_code
from .staged import StagedResult, evolve_in_stages
from .transfer import collect_masses, transfer

__all__ = ["SCHEMES", "STAGE_INSIDE", "EvolveResult", "StagedResult", "cdf_values", "collect_masses", "evolve",
           "evolve_in_stages", "flush_checked", "heat_kernel", "heat_step", "mass_between", "masses_between",
           "push_forward", "reconstruct", "scheme_code", "transfer"]
