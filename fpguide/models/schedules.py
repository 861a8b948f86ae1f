"""Guidance weight schedules: w(t) = w · p(t) with a profile p(t) ∈ [0, 1] of the diffusion time t.

``CFG(label=c, w=w, schedule=...)`` guides with weight w·p(t) at diffusion time t (w is the peak
weight; it also names the tilted law and sizes the automatic grid). Profiles, all functions of the
diffusion time t (the sampler runs from T down to t_min):

* :class:`Interval` (t_lo, t_hi): 1 inside [t_lo, t_hi], 0 outside — guidance limited to an interval
  of noise levels (:meth:`Interval.from_sigma` takes the interval in σ);
* :class:`Linear` and :class:`Cosine` (t_from, p_from, t_to, p_to): from p_from at t_from to p_to at
  t_to, held constant beyond (cosine: the half-cosine ease between them);
* :class:`Step` (t_switch, before, after): ``before`` for t > t_switch (early in sampling),
  ``after`` for t ≤ t_switch;
* :class:`Custom` (a callable p(t)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..tools.records import Recorded, as_recorded, from_record
from ..tools.validation import check_in_range, check_real
from .processes import make_process

__all__ = [
    "as_schedule",
    "Cosine",
    "Custom",
    "Interval",
    "Linear",
    "Schedule",
    "schedule_from_dict",
    "Step",
]

_PROFILE = "(a profile value: the weight is w times it)"
# times (log-spaced over [t_min, T], plus every breakpoint) at which a profile is validated
_CHECK_POINTS = 257


class Schedule(Recorded):
    """A guidance profile p(t) ∈ [0, 1]; subclasses implement ``profile`` and ``to_dict``."""

    def profile(self, t: float) -> float:
        raise NotImplementedError

    def __call__(self, t: float) -> float:
        return float(self.profile(float(t)))

    def breakpoints(self) -> tuple[float, ...]:
        """Times where the profile changes its form (checked to lie in [t_min, T]; the solvers'
        steps land on them)."""
        return ()

    def jumps(self) -> tuple[float, ...]:
        """The breakpoints where the profile is discontinuous (no operator-splitting step straddles
        them)."""
        return ()

    def check(self, t_min: float, T: float) -> None:
        """Raise if a breakpoint lies outside [t_min, T] or the profile is not finite and in [0, 1]
        there."""
        for t in self.breakpoints():
            if not t_min <= t <= T:
                raise ValueError(
                    f"schedule {self!r}: the time {t} lies outside the run's [t_min, "
                    "T] = "
                    f"[{t_min}, {T}]"
                )
        times = np.union1d(np.geomspace(t_min, T, _CHECK_POINTS), self.breakpoints())
        for t in times:
            value = self.profile(float(t))
            try:
                ok = math.isfinite(float(value)) and 0.0 <= float(value) <= 1.0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(
                    f"schedule {self!r} must return a finite profile in [0, 1] (the "
                    "weight is w times "
                    f"it), got {value!r} at t={t:.6g}"
                )


def _times(**named) -> list[float]:
    values = [check_real(name, value) for name, value in named.items()]
    for name, value in zip(named, values):
        if value <= 0:
            raise ValueError(f"{name} must be a diffusion time > 0, got {value}")
    return values


class Interval(Schedule):
    """Guidance only for t ∈ [t_lo, t_hi]; plain conditional sampling (w = 0) outside."""

    def __init__(self, t_lo: float, t_hi: float):
        self.t_lo, self.t_hi = _times(t_lo=t_lo, t_hi=t_hi)
        if not self.t_lo < self.t_hi:
            raise ValueError(f"Interval needs t_lo < t_hi, got t_lo={self.t_lo}, t_hi={self.t_hi}")

    @classmethod
    def from_sigma(cls, sigma_lo: float, sigma_hi: float, process=None) -> Interval:
        """Guidance for the noise levels σ(t) ∈ [sigma_lo, sigma_hi] of ``process`` (default OU; σ
        increases with t, and σ < 1 for these variance-preserving processes): the interval of t
        where σ(t) lies, through the log-SNR λ = log((1 − σ²)/σ²)."""
        process = make_process(process)
        bounds = []
        for name, sigma in (("sigma_lo", sigma_lo), ("sigma_hi", sigma_hi)):
            sigma = check_real(name, sigma)
            if not 0.0 < sigma < 1.0:
                raise ValueError(
                    f"{name} must lie in (0, 1) (the noise scale of a "
                    "variance-preserving process), "
                    f"got {sigma}"
                )
            bounds.append(
                float(process.t_of_log_snr(math.log1p(-sigma * sigma) - 2.0 * math.log(sigma)))
            )
        if not sigma_lo < sigma_hi:
            raise ValueError(
                f"sigma_lo must be < sigma_hi, got sigma_lo={sigma_lo}, sigma_hi={sigma_hi}"
            )
        return cls(*bounds)

    def profile(self, t):
        return 1.0 if self.t_lo <= t <= self.t_hi else 0.0

    def breakpoints(self):
        return (self.t_lo, self.t_hi)

    def jumps(self):
        return self.breakpoints()

    def to_dict(self):
        return {"type": "Interval", "t_lo": self.t_lo, "t_hi": self.t_hi}


class _Ramp(Schedule):
    """From p_from at t_from to p_to at t_to (either time may be the larger), constant beyond."""

    def __init__(self, t_from: float, p_from: float, t_to: float, p_to: float):
        self.t_from, self.t_to = _times(t_from=t_from, t_to=t_to)
        if self.t_from == self.t_to:
            raise ValueError(f"{type(self).__name__} needs t_from != t_to, got {self.t_from}")
        self.p_from, self.p_to = (
            check_in_range(name, value, 0.0, 1.0, _PROFILE)
            for name, value in (("p_from", p_from), ("p_to", p_to))
        )

    def profile(self, t):
        u = min(max((t - self.t_from) / (self.t_to - self.t_from), 0.0), 1.0)
        return self.p_from + (self.p_to - self.p_from) * self.ease(u)

    @staticmethod
    def ease(u: float) -> float:
        raise NotImplementedError

    def breakpoints(self):
        return (self.t_from, self.t_to)

    def to_dict(self):
        return {
            "type": type(self).__name__,
            "t_from": self.t_from,
            "p_from": self.p_from,
            "t_to": self.t_to,
            "p_to": self.p_to,
        }


class Linear(_Ramp):
    """Linear in t from p_from at t_from to p_to at t_to."""

    @staticmethod
    def ease(u):
        return u


class Cosine(_Ramp):
    """Half-cosine ease (1 − cos πu)/2 from p_from at t_from to p_to at t_to."""

    @staticmethod
    def ease(u):
        return 0.5 * (1.0 - math.cos(math.pi * u))


class Step(Schedule):
    """``before`` for t > t_switch, ``after`` for t ≤ t_switch."""

    def __init__(self, t_switch: float, before: float = 0.0, after: float = 1.0):
        (self.t_switch,) = _times(t_switch=t_switch)
        self.before, self.after = (
            check_in_range(name, value, 0.0, 1.0, _PROFILE)
            for name, value in (("before", before), ("after", after))
        )

    def profile(self, t):
        return self.before if t > self.t_switch else self.after

    def breakpoints(self):
        return (self.t_switch,)

    def jumps(self):
        return self.breakpoints() if self.before != self.after else ()

    def to_dict(self):
        return {
            "type": "Step",
            "t_switch": self.t_switch,
            "before": self.before,
            "after": self.after,
        }


class Custom(Schedule):
    """A user profile p(t) (a callable of the diffusion time). Recorded by its repr; a Dataset made
    with it cannot be re-run from its configuration."""

    def __init__(self, func: Callable[[float], float]):
        if not callable(func):
            raise TypeError(
                f"Custom needs a callable p(t) for func, got {type(func).__name__} {func!r}"
            )
        self.func = func

    def profile(self, t):
        return self.func(t)

    def to_dict(self):
        return {"type": "Custom", "func": repr(self.func)}


_BUILT_IN = {cls.__name__: cls for cls in (Interval, Linear, Cosine, Step)}


def as_schedule(schedule) -> Schedule | None:
    """None, a :class:`Schedule`, or a plain callable (wrapped as :class:`Custom`)."""
    return as_recorded(
        "schedule",
        schedule,
        Schedule,
        Custom,
        "a fpguide schedule (Interval, Linear, Cosine, Step)",
        "p(t)",
    )


def schedule_from_dict(spec: dict | None) -> Schedule | None:
    return from_record("schedule", spec, _BUILT_IN)
