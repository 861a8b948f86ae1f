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
from typing import TYPE_CHECKING

import numpy as np

from ..tools.records import Recorded, as_recorded, from_record
from ..tools.validation import check_in_range, check_real
from .processes import make_process

if TYPE_CHECKING:
    from .processes import Process

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
    """A guidance profile p(t) ∈ [0, 1]; subclasses implement ``profile`` and ``to_dict``.

    Calling a schedule, ``schedule(t)``, gives ``float(profile(float(t)))``; the guidance weight at
    diffusion time t is w · p(t). Schedules are recorded by their ``to_dict()`` (a ``"type"`` key
    and the constructor's arguments) and compare equal when their records do.
    """

    def profile(self, t: float) -> float:
        """The profile p(t) (defined by subclasses).

        Parameters
        ----------
        t : float
            A diffusion time.

        Returns
        -------
        float
            p(t), which :meth:`check` requires to be finite and in [0, 1].

        Raises
        ------
        NotImplementedError
            Always, in this base class.
        """
        raise NotImplementedError

    def __call__(self, t: float) -> float:
        return float(self.profile(float(t)))

    def breakpoints(self) -> tuple[float, ...]:
        """Times where the profile changes its form.

        They are checked to lie in [t_min, T], and the solvers' steps land on them.

        Returns
        -------
        tuple of float
            The breakpoints (none in this base class).
        """
        return ()

    def jumps(self) -> tuple[float, ...]:
        """The breakpoints where the profile is discontinuous.

        No operator-splitting step straddles them.

        Returns
        -------
        tuple of float
            The jumps (none in this base class).
        """
        return ()

    def check(self, t_min: float, T: float) -> None:
        """Raise if a breakpoint lies outside [t_min, T] or the profile is not finite and in [0, 1].

        The profile is evaluated at 257 times log-spaced over [t_min, T] and at every breakpoint.

        Parameters
        ----------
        t_min, T : float
            The run's final and initial diffusion times, 0 < t_min < T.

        Raises
        ------
        ValueError
            If a breakpoint lies outside [t_min, T], or the profile at one of those times is not a
            finite number in [0, 1].
        """
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
    """Guidance only for t ∈ [t_lo, t_hi]; plain conditional sampling (w = 0) outside.

    p(t) = 1 for t_lo ≤ t ≤ t_hi, 0 otherwise; both ends are jumps of the profile.
    :meth:`from_sigma` takes the interval in noise levels σ instead.

    Parameters
    ----------
    t_lo, t_hi : float
        The ends of the interval, diffusion times 0 < t_lo < t_hi.

    Raises
    ------
    ValueError
        If a time is not a real number > 0, or t_lo ≥ t_hi.

    Examples
    --------
    >>> from fpguide.schedules import Interval
    >>> guide = Interval(0.1, 1.0)
    >>> guide(0.5), guide(2.0)
    (1.0, 0.0)
    >>> guide.jumps()
    (0.1, 1.0)
    """

    def __init__(self, t_lo: float, t_hi: float):
        self.t_lo, self.t_hi = _times(t_lo=t_lo, t_hi=t_hi)
        if not self.t_lo < self.t_hi:
            raise ValueError(f"Interval needs t_lo < t_hi, got t_lo={self.t_lo}, t_hi={self.t_hi}")

    @classmethod
    def from_sigma(
        cls, sigma_lo: float, sigma_hi: float, process: Process | str | dict | None = None
    ) -> Interval:
        """Guidance for the noise levels σ(t) ∈ [sigma_lo, sigma_hi] of ``process``.

        σ increases with t, and σ < 1 for the variance-preserving processes: the interval is that
        of the times t where σ(t) lies, found through the log-SNR λ = log((1 − σ²)/σ²) and
        :meth:`~fpguide.models.processes.Process.t_of_log_snr`.

        Parameters
        ----------
        sigma_lo, sigma_hi : float
            The noise levels, 0 < sigma_lo < sigma_hi < 1.
        process : Process, str, dict or None, optional
            The process whose σ(t) is meant (anything :func:`~fpguide.models.processes.make_process`
            accepts; default None, the OU process).

        Returns
        -------
        Interval
            The schedule of the times [t(sigma_lo), t(sigma_hi)].

        Raises
        ------
        ValueError
            If a noise level is not a real number in (0, 1), or sigma_lo ≥ sigma_hi.

        Examples
        --------
        >>> from fpguide.schedules import Interval
        >>> Interval.from_sigma(0.1, 0.9)  # OU: t = ½ log(1 + σ²/(1 − σ²))
        Interval(t_lo=0.00502516792675..., t_hi=0.830365603410...)
        """
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

    def profile(self, t: float) -> float:
        """p(t) = 1 for t_lo ≤ t ≤ t_hi, 0 otherwise.

        Parameters
        ----------
        t : float
            A diffusion time.

        Returns
        -------
        float
            1.0 or 0.0.
        """
        return 1.0 if self.t_lo <= t <= self.t_hi else 0.0

    def breakpoints(self) -> tuple[float, ...]:
        """The breakpoints: the two ends of the interval.

        Returns
        -------
        tuple of float
            (t_lo, t_hi).
        """
        return (self.t_lo, self.t_hi)

    def jumps(self) -> tuple[float, ...]:
        """The jumps: the profile jumps at both ends of the interval.

        Returns
        -------
        tuple of float
            (t_lo, t_hi).
        """
        return self.breakpoints()

    def to_dict(self) -> dict:
        """The schedule's record.

        Returns
        -------
        dict
            ``{"type": "Interval", "t_lo": ..., "t_hi": ...}``.
        """
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

    def profile(self, t: float) -> float:
        """p(t) = p_from + (p_to − p_from) · ease(u), u = (t − t_from)/(t_to − t_from) in [0, 1].

        u is clipped to [0, 1], so the profile is constant beyond the ramp.

        Parameters
        ----------
        t : float
            A diffusion time.

        Returns
        -------
        float
            p(t).
        """
        u = min(max((t - self.t_from) / (self.t_to - self.t_from), 0.0), 1.0)
        return self.p_from + (self.p_to - self.p_from) * self.ease(u)

    @staticmethod
    def ease(u: float) -> float:
        raise NotImplementedError

    def breakpoints(self) -> tuple[float, ...]:
        """The breakpoints: the ramp's two ends.

        Returns
        -------
        tuple of float
            (t_from, t_to).
        """
        return (self.t_from, self.t_to)

    def to_dict(self) -> dict:
        """The schedule's record.

        Returns
        -------
        dict
            ``"type"`` (the class's name), ``"t_from"``, ``"p_from"``, ``"t_to"`` and ``"p_to"``.
        """
        return {
            "type": type(self).__name__,
            "t_from": self.t_from,
            "p_from": self.p_from,
            "t_to": self.t_to,
            "p_to": self.p_to,
        }


class Linear(_Ramp):
    """Linear in t from p_from at t_from to p_to at t_to.

    Held constant beyond: p(t) = p_from + (p_to − p_from) u, u = (t − t_from)/(t_to − t_from)
    clipped to [0, 1]. Either time may be the larger.

    Parameters
    ----------
    t_from, t_to : float
        The ramp's ends, diffusion times > 0 with t_from ≠ t_to.
    p_from, p_to : float
        The profile at t_from and at t_to, in [0, 1].

    Raises
    ------
    ValueError
        If a time is not a real number > 0, t_from = t_to, or a profile value lies outside [0, 1].

    Examples
    --------
    >>> from fpguide.schedules import Linear
    >>> ramp = Linear(t_from=1.0, p_from=0.0, t_to=0.1, p_to=1.0)  # no guidance early, full late
    >>> ramp(2.0), round(ramp(0.55), 6), ramp(0.05)
    (0.0, 0.5, 1.0)
    """

    @staticmethod
    def ease(u: float) -> float:
        """The linear ease, u itself.

        Parameters
        ----------
        u : float
            The ramp's progress, in [0, 1].

        Returns
        -------
        float
            u.
        """
        return u


class Cosine(_Ramp):
    """Half-cosine ease (1 − cos πu)/2 from p_from at t_from to p_to at t_to.

    Held constant beyond: p(t) = p_from + (p_to − p_from)(1 − cos πu)/2, u = (t − t_from)/(t_to −
    t_from) clipped to [0, 1]. Either time may be the larger.

    Parameters
    ----------
    t_from, t_to : float
        The ramp's ends, diffusion times > 0 with t_from ≠ t_to.
    p_from, p_to : float
        The profile at t_from and at t_to, in [0, 1].

    Raises
    ------
    ValueError
        If a time is not a real number > 0, t_from = t_to, or a profile value lies outside [0, 1].

    Examples
    --------
    >>> from fpguide.schedules import Cosine
    >>> ramp = Cosine(t_from=1.0, p_from=0.0, t_to=0.1, p_to=1.0)
    >>> round(ramp(0.55), 6), round(ramp(0.9), 6)  # half-way; slow start
    (0.5, 0.030154)
    """

    @staticmethod
    def ease(u: float) -> float:
        """The half-cosine ease (1 − cos πu)/2.

        Parameters
        ----------
        u : float
            The ramp's progress, in [0, 1].

        Returns
        -------
        float
            (1 − cos πu)/2.
        """
        return 0.5 * (1.0 - math.cos(math.pi * u))


class Step(Schedule):
    """``before`` for t > t_switch, ``after`` for t ≤ t_switch.

    ``before`` applies early in sampling (the sampler runs from T down to t_min); t_switch is a
    jump of the profile unless the two values are equal.

    Parameters
    ----------
    t_switch : float
        The switching time, a diffusion time > 0.
    before, after : float
        The profile for t > t_switch and for t ≤ t_switch, in [0, 1] (defaults 0 and 1).

    Raises
    ------
    ValueError
        If t_switch is not a real number > 0 or a profile value lies outside [0, 1].

    Examples
    --------
    >>> from fpguide.schedules import Step
    >>> late = Step(0.5)  # guidance only for t ≤ 0.5
    >>> late(0.7), late(0.5)
    (0.0, 1.0)
    """

    def __init__(self, t_switch: float, before: float = 0.0, after: float = 1.0):
        (self.t_switch,) = _times(t_switch=t_switch)
        self.before, self.after = (
            check_in_range(name, value, 0.0, 1.0, _PROFILE)
            for name, value in (("before", before), ("after", after))
        )

    def profile(self, t: float) -> float:
        """p(t) = ``before`` for t > t_switch, ``after`` for t ≤ t_switch.

        Parameters
        ----------
        t : float
            A diffusion time.

        Returns
        -------
        float
            p(t).
        """
        return self.before if t > self.t_switch else self.after

    def breakpoints(self) -> tuple[float, ...]:
        """The breakpoints: the switching time.

        Returns
        -------
        tuple of float
            (t_switch,).
        """
        return (self.t_switch,)

    def jumps(self) -> tuple[float, ...]:
        """The jumps: the switching time, unless ``before`` = ``after``.

        Returns
        -------
        tuple of float
            (t_switch,), or () when ``before`` = ``after``.
        """
        return self.breakpoints() if self.before != self.after else ()

    def to_dict(self) -> dict:
        """The schedule's record.

        Returns
        -------
        dict
            ``{"type": "Step", "t_switch": ..., "before": ..., "after": ...}``.
        """
        return {
            "type": "Step",
            "t_switch": self.t_switch,
            "before": self.before,
            "after": self.after,
        }


class Custom(Schedule):
    """A user profile p(t) (a callable of the diffusion time).

    Recorded by its repr; a Dataset made with it cannot be re-run from its configuration. It has no
    breakpoints; :meth:`Schedule.check` checks that its values are finite and in [0, 1].

    Parameters
    ----------
    func : callable
        p(t): takes a diffusion time (a float), returns the profile there.

    Raises
    ------
    TypeError
        If ``func`` is not callable.

    Examples
    --------
    >>> from fpguide.schedules import Custom
    >>> Custom(lambda t: min(1.0, t))(0.25)
    0.25
    """

    def __init__(self, func: Callable[[float], float]):
        if not callable(func):
            raise TypeError(
                f"Custom needs a callable p(t) for func, got {type(func).__name__} {func!r}"
            )
        self.func = func

    def profile(self, t: float) -> float:
        """p(t) = func(t).

        Parameters
        ----------
        t : float
            A diffusion time.

        Returns
        -------
        float
            What ``func`` returns.
        """
        return self.func(t)

    def to_dict(self) -> dict:
        """The schedule's record (which cannot rebuild it).

        Returns
        -------
        dict
            ``{"type": "Custom", "func": repr(func)}``.
        """
        return {"type": "Custom", "func": repr(self.func)}


_BUILT_IN = {cls.__name__: cls for cls in (Interval, Linear, Cosine, Step)}


def as_schedule(schedule: Schedule | Callable[[float], float] | None) -> Schedule | None:
    """None, a :class:`Schedule`, or a plain callable (wrapped as :class:`Custom`).

    Parameters
    ----------
    schedule : Schedule, callable or None
        A schedule (returned as it is), a callable p(t), or None (no schedule: a constant weight).

    Returns
    -------
    Schedule or None
        The schedule, a :class:`Custom` for a plain callable.

    Raises
    ------
    TypeError
        If ``schedule`` is none of these.
    """
    return as_recorded(
        "schedule",
        schedule,
        Schedule,
        Custom,
        "a fpguide schedule (Interval, Linear, Cosine, Step)",
        "p(t)",
    )


def schedule_from_dict(spec: dict | None) -> Schedule | None:
    """Rebuild a schedule from its record (:meth:`~Schedule.to_dict`); None stays None.

    Parameters
    ----------
    spec : dict or None
        A record of an Interval, Linear, Cosine or Step schedule, or None.

    Returns
    -------
    Schedule or None
        The schedule, or None.

    Raises
    ------
    ValueError
        If the record is that of a :class:`Custom` schedule (its callable is recorded only by its
        repr: pass the callable again) or of an unknown type.

    Examples
    --------
    >>> from fpguide.models.schedules import Step, schedule_from_dict
    >>> schedule_from_dict(Step(0.5).to_dict())
    Step(t_switch=0.5, before=0.0, after=1.0)
    """
    return from_record("schedule", spec, _BUILT_IN)
