"""Guidance rules, the public namespace: diffusers' guiders as per-point combinations of the
conditional and the unconditional prediction, passed to :class:`~fpguide.CFG` as ``rule=``.

* :class:`ClassifierFree`: u + γ(c − u), with ``guidance_rescale``;
* :class:`ClassifierFreeZeroStar`: CFG-Zero*, the unconditional prediction scaled by ⟨c, u⟩/‖u‖²;
* :class:`AdaptiveProjected`: APG without momentum, the difference clipped and its part along c
  weighted by η;
* :class:`TangentialClassifierFree`: TCFG, the unconditional prediction projected on the top
  singular direction of [c; u];
* :class:`MagnitudeAware`: MAMBO-G, the weight damped by e^{−α‖c − u‖/‖u‖};
* :class:`PowerLaw`: power-law CFG, the guidance term scaled by ‖c − u‖^α (on the scores);
* :class:`CFGPlusPlus`: CFG++ on DDIM chains, x̂0 from the guided ε, the direction from ε_u.

The classes and their maths are in :mod:`fpguide.models.rules`.
"""

from .models.rules import (
    AdaptiveProjected,
    CFGPlusPlus,
    ClassifierFree,
    ClassifierFreeZeroStar,
    GuidanceRule,
    MagnitudeAware,
    PowerLaw,
    TangentialClassifierFree,
)

__all__ = [
    "AdaptiveProjected",
    "CFGPlusPlus",
    "ClassifierFree",
    "ClassifierFreeZeroStar",
    "GuidanceRule",
    "MagnitudeAware",
    "PowerLaw",
    "TangentialClassifierFree",
]
