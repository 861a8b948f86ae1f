"""Time-dependent coefficients of the evolution equation (the diffusion D(t)): a constant ≥ 0, a
callable of t, or a callable with its antiderivative (:class:`Integrable`), integrated exactly."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..tools.integrable import Integrable

__all__ = ["Coefficient"]

# how many recent values a callable coefficient keeps: consecutive steps share their end points, and
# a step's heat kernel, its Péclet monitor and its traces ask for the same few times
_REMEMBERED = 16


@dataclass(frozen=True)
class Quadratic:
    """The quadratic through a coefficient's values at the start, middle and end of [start, start +
    length], with θ ∈ [0, 1] the fraction of the interval from its start: p(θ) through (0,
    values[0]), (½, values[1]), (1, values[2]), and its integral (Simpson's rule at θ = 1: exact to
    O(length⁵) per interval)."""

    start: float
    length: float
    values: tuple[float, float, float]

    def value(self, theta: float) -> float:
        """p(θ), the coefficient at start + θ·length, by the Lagrange basis on θ = 0, ½, 1."""
        a0, am, a1 = self.values
        u = theta
        return (
            a0 * 2.0 * (u - 0.5) * (u - 1.0) - am * 4.0 * u * (u - 1.0) + a1 * 2.0 * u * (u - 0.5)
        )

    def integral(self, theta: float) -> float:
        """∫ from start to start + θ·length of p."""
        a0, am, a1 = self.values
        u = theta
        basis = (
            2.0 * (u**3 / 3.0 - 0.75 * u * u + 0.5 * u),
            -4.0 * (u**3 / 3.0 - 0.5 * u * u),
            2.0 * (u**3 / 3.0 - 0.25 * u * u),
        )
        return (a0 * basis[0] + am * basis[1] + a1 * basis[2]) * self.length


@dataclass(frozen=True)
class Exact:
    """A coefficient over [start, start + length] from its own values and antiderivative, with the
    interface of :class:`Quadratic` (θ ∈ [0, 1] the fraction of the interval)."""

    start: float
    length: float
    coefficient: Coefficient

    def value(self, theta: float) -> float:
        """The coefficient at start + θ·length."""
        return self.coefficient.at(self.start + theta * self.length)

    def integral(self, theta: float) -> float:
        """∫ from start to start + θ·length, exactly."""
        return self.coefficient.integral(self.start, self.start + theta * self.length)


class Coefficient:
    """A coefficient ``name`` (e.g. ``"diffusion"``) given as a finite constant ≥ 0, a callable of
    t or an :class:`Integrable`.

    It gives its value at t, its form over an interval (:meth:`piece`) and its integral there (exact
    for constants and :class:`Integrable`; for other callables Simpson's rule per interval, O(h⁵),
    below the O(h³) of a Strang step). A callable is called once per distinct time among the last
    few (16) asked for.

    Parameters
    ----------
    name : str
        The coefficient's name, for the error messages.
    value : float, callable or Integrable
        A finite number ≥ 0 (not a bool), a callable of t returning one, or one with its
        antiderivative.

    Raises
    ------
    TypeError
        When ``value`` is neither a real number nor callable.
    ValueError
        When ``value`` is a number that is negative or not finite.

    Examples
    --------
    >>> from fpguide.engine.coefficients import Coefficient
    >>> d = Coefficient("diffusion", lambda t: 2.0 * t)
    >>> d.at(1.5), d.integral(0.0, 1.0)
    (3.0, 1.0)
    """

    def __init__(self, name: str, value: float | Callable[[float], float]) -> None:
        self.name = name
        self.func = value if callable(value) else None
        self.antiderivative = value.antiderivative if isinstance(value, Integrable) else None
        self._values: dict[float, float] = {}
        self._last: Quadratic | None = None
        if self.func is None:
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise TypeError(
                    f"{name} must be a finite number >= 0 or a callable, got "
                    f"{type(value).__name__} {value!r}"
                )
            self.const = float(value)
            if not (math.isfinite(self.const) and self.const >= 0):
                raise ValueError(
                    f"{name} must be a finite number >= 0 or a callable, got {value!r}"
                )

    @property
    def active(self) -> bool:
        """Whether the coefficient may be non-zero: a callable, or a constant > 0."""
        return self.func is not None or self.const > 0

    def at(self, t: float) -> float:
        """The coefficient at time t.

        Parameters
        ----------
        t : float
            The time.

        Returns
        -------
        float
            The constant, or the callable's value at t as a float (remembered for the next
            calls).

        Raises
        ------
        ValueError
            When the callable's value at t is negative or not finite.
        """
        if self.func is None:
            return self.const
        value = self._values.get(t)
        if value is None:
            value = float(self.func(t))
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{self.name}(t) must be finite and >= 0, got {value} at t={t}")
            if len(self._values) >= _REMEMBERED:
                self._values.clear()
            self._values[t] = value
        return value

    def piece(self, a: float, b: float) -> Quadratic | Exact:
        """The coefficient over [a, b]: its values and integrals from a fraction θ of the interval.

        Parameters
        ----------
        a, b : float
            The interval's ends.

        Returns
        -------
        Quadratic or Exact
            :class:`Exact` with an antiderivative; else the :class:`Quadratic` through the
            coefficient at a, (a + b)/2 and b (the last one is kept and returned again for the
            same interval).
        """
        if self.antiderivative is not None:
            return Exact(a, b - a, self)
        last = self._last
        if last is None or last.start != a or last.length != b - a:
            self._last = last = Quadratic(
                a, b - a, (self.at(a), self.at(0.5 * (a + b)), self.at(b))
            )
        return last

    def integral(self, a: float, b: float) -> float:
        """∫_a^b of the coefficient (b ≥ a).

        Parameters
        ----------
        a, b : float
            The interval's ends, b ≥ a.

        Returns
        -------
        float
            const·(b − a) for a constant; F(b) − F(a) with an antiderivative F; for another
            callable, the integral of its quadratic (Simpson's rule, see :meth:`piece`).
        """
        if self.func is None:
            return self.const * (b - a)
        if self.antiderivative is not None:
            return float(self.antiderivative(b)) - float(self.antiderivative(a))
        return self.piece(a, b).integral(1.0)
