"""One Strang-split step of the engine: the half sweeps along the axes around the innermost
operator, A_0(h/2) A_1(h/2) … H(h) … A_1(h/2) A_0(h/2), with the Ornstein–Uhlenbeck part of the
drift exact where asked.

The innermost operator takes one full step: the heat step (one exact kernel per step: halves would
not compose exactly), or, for the continuity equation, the last axis, so that a 2-D step is two
sweeps. The closing half sweep of axis 0 of one step and the opening one of the next are one sweep
(the flow composes), so a step costs one sweep of axis 0 and the inner composition; the driver
closes the pending half sweep where a step must end exactly (saved times, drift jumps).
"""

from __future__ import annotations

import math

import numpy as np

from .coefficients import Coefficient
from .line_sweeps import LineSweeper

__all__ = ["StrangStep"]


class StrangStep:
    """The split step of ``sweeper``'s advection along ``ndim`` axes and the diffusion ``diff``.

    The inner operators are the advection along axes 1 … ndim − 1 and, with active diffusion, the
    heat step; without any, a step is one sweep of axis 0.

    Parameters
    ----------
    sweeper : LineSweeper
        The sweeps along the grid lines.
    diff : Coefficient
        The diffusion coefficient D(t).
    ou_drift : bool
        Whether the drift's linear part −D(t)·x is treated exactly (see
        :func:`~.evolve.evolve`).
    ndim : int
        The grid's dimension.
    """

    def __init__(self, sweeper: LineSweeper, diff: Coefficient, ou_drift: bool, ndim: int) -> None:
        self.sweeper, self.diff, self.ou_drift = sweeper, diff, ou_drift
        self.ops = list(range(1, ndim)) + (["heat"] if diff.active else [])

    def advance(
        self, q: np.ndarray, t: float, dt: float, t_end: float, advected: float
    ) -> tuple[np.ndarray, float]:
        """One step from t to t_end of densities advected along axis 0 up to ``advected``.

        The opening half sweep of axis 0 runs from ``advected`` to t + dt/2 (it merges the
        previous step's closing half sweep), then the inner operators compose symmetrically over
        [t, t_end].

        Parameters
        ----------
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).
        t : float
            The step's start.
        dt : float
            The step's length.
        t_end : float
            The step's end: t + dt, or the break it lands on.
        advected : float
            The time up to which axis 0 is advected.

        Returns
        -------
        q : numpy.ndarray
            The densities after the step.
        advected : float
            The time up to which axis 0 is now advected: t + dt/2 (the closing half sweep left
            pending) where there are inner operators, else t_end.
        """
        if not self.ops:
            return self.sweeper.advect(q, 0, t, t_end), t_end
        q = self.sweeper.advect(q, 0, advected, t + 0.5 * dt, self.contracted(t, t_end))
        return self._inner(q, self.ops, t, t_end), t + 0.5 * dt

    def close(self, q: np.ndarray, advected: float, t: float) -> np.ndarray:
        """The pending half sweep of axis 0, from ``advected`` to t.

        Parameters
        ----------
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).
        advected : float
            The time up to which axis 0 is advected.
        t : float
            The time to close at.

        Returns
        -------
        numpy.ndarray
            The densities advected along axis 0 up to t.
        """
        return self.sweeper.advect(q, 0, advected, t)

    def halves(self, ta: float, tb: float) -> tuple[float, float]:
        """(A₁, A₂): ∫D over the first and the second half of the step [ta, tb], from one
        :meth:`~fpguide.engine.coefficients.Coefficient.piece`.

        Parameters
        ----------
        ta, tb : float
            The step's ends.

        Returns
        -------
        first, second : float
            ∫D over [ta, (ta + tb)/2] and over [(ta + tb)/2, tb]: exact for a constant or an
            :class:`~fpguide.engine.coefficients.Integrable`, else by the quadratic through D at
            ta, the middle and tb.
        """
        quad = self.diff.piece(ta, tb)
        first = quad.integral(0.5)
        return first, quad.integral(1.0) - first

    def contracted(self, ta: float, tb: float) -> float:
        """The frame the first half sweeps of the step [ta, tb] end in.

        With the linear part (``ou_drift`` and active diffusion), contracted by that part over
        the second half, e^{−A₂}, so that the heat step spreads them by (1 − e^{−2A})/2 ≤ ½ (A =
        ∫D over the step) and the density is never wider than at the step's end (in the true
        positions, the heat step's (e^{2A₂} − e^{−2A₁})/2 would leave it e^{A₂} as wide: 2.9x for
        a step of A = 2.1); 1 without.

        Parameters
        ----------
        ta, tb : float
            The step's ends.

        Returns
        -------
        float
            The frame c = e^{−A₂}, or 1.0.
        """
        if not (self.ou_drift and self.diff.active):
            return 1.0
        return math.exp(-self.halves(ta, tb)[1])

    def _apply(self, q: np.ndarray, op, ta: float, tb: float, frame: float = 1.0) -> np.ndarray:
        if op == "heat":
            if not self.ou_drift:
                return self.sweeper.diffuse(q, self.diff.integral(ta, tb))
            first, second = self.halves(ta, tb)
            return self.sweeper.diffuse(q, 0.5 * (math.exp(2.0 * second) - math.exp(-2.0 * first)))
        return self.sweeper.advect(q, op, ta, tb, frame)

    def _inner(self, q: np.ndarray, ops: list, ta: float, tb: float) -> np.ndarray:
        """Symmetric composition O_1(h/2) … O_n(h) … O_1(h/2) of the inner operators over [ta,
        tb]."""
        if len(ops) == 1:
            return self._apply(q, ops[0], ta, tb)
        mid = 0.5 * (ta + tb)
        q = self._apply(q, ops[0], ta, mid, self.contracted(ta, tb))
        return self._apply(self._inner(q, ops[1:], ta, tb), ops[0], mid, tb)
