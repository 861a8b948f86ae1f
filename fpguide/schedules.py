"""Guidance schedules, the public namespace: the weight w(t) = w · p(t) of a :class:`~fpguide.CFG`
with a profile p(t) ∈ [0, 1] of the diffusion time.

* :class:`Interval` (t_lo, t_hi): guidance only inside [t_lo, t_hi];
* :class:`Linear` and :class:`Cosine` (t_from, p_from, t_to, p_to): a ramp between two times;
* :class:`Step` (t_switch, before, after): one value before a time, another after;
* :class:`Custom`: any callable p(t) (plain callables are wrapped).

The classes and their maths are in :mod:`fpguide.models.schedules`.
"""

from .models.schedules import Cosine, Custom, Interval, Linear, Schedule, Step

__all__ = ["Cosine", "Custom", "Interval", "Linear", "Schedule", "Step"]
