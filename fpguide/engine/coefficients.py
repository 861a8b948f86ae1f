"""Time-dependent coefficients of the evolution equation (the diffusion D(t)): a constant ≥ 0 or a callable of t."""

from __future__ import annotations

import math

import numpy as np

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(3)


class Coefficient:
    """A coefficient ``name`` (e.g. ``"diffusion"``) given as a finite constant ≥ 0 or a callable of t:
    its value at t and its integral over an interval (3-point Gauss–Legendre for callables, exact to O(h⁶))."""

    def __init__(self, name: str, value):
        self.name = name
        self.func = value if callable(value) else None
        self._last = (None, None, 0.0)
        if self.func is None:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must be a finite number >= 0 or a callable, got "
                                f"{type(value).__name__} {value!r}")
            self.const = float(value)
            if not (math.isfinite(self.const) and self.const >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 or a callable, got {value!r}")

    @property
    def active(self) -> bool:
        return self.func is not None or self.const > 0

    def at(self, t: float) -> float:
        if self.func is None:
            return self.const
        value = float(self.func(t))
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{self.name}(t) must be finite and >= 0, got {value} at t={t}")
        return value

    def integral(self, a: float, b: float) -> float:
        """∫_a^b of the coefficient (b ≥ a)."""
        if self.func is None:
            return self.const * (b - a)
        if self._last[:2] == (a, b):  # the heat step and the Péclet monitor ask for the same step
            return self._last[2]
        mid, half = 0.5 * (a + b), 0.5 * (b - a)
        values = np.array([float(self.func(mid + half * node)) for node in _GL_NODES])
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{self.name}(t) must be finite and >= 0, got {values.tolist()} on [{a}, {b}]")
        self._last = (a, b, half * float(values @ _GL_WEIGHTS))
        return self._last[2]
