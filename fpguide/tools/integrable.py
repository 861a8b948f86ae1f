"""A coefficient given with its antiderivative, so that its integrals over time steps are exact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Integrable"]


@dataclass(frozen=True)
class Integrable:
    """A coefficient D(t) given with an antiderivative F (F' = D): the engine integrates it exactly.

    Without one, a callable coefficient is integrated over a step by the quadratic through its
    values at the step's ends and middle; that fails where D changes by orders of magnitude within a
    step (the diffusion of a flow-matching path near its end t = 1 grows like 1/(1 − t)).

    Parameters
    ----------
    func : callable
        D(t), a finite number ≥ 0.
    antiderivative : callable
        F(t), with ∫_a^b D = F(b) − F(a).

    Examples
    --------
    >>> import math
    >>> from fpguide.engine import Integrable
    >>> from fpguide.engine.coefficients import Coefficient
    >>> d = Coefficient("diffusion", Integrable(lambda t: 1.0 / t, math.log))
    >>> round(d.integral(1.0, 100.0), 12)  # log(100); Simpson's rule would give 17.5
    4.605170185988
    """

    func: Callable[[float], float]
    antiderivative: Callable[[float], float]

    def __call__(self, t: float) -> float:
        """D(t).

        Parameters
        ----------
        t : float
            The time.

        Returns
        -------
        float
            ``func(t)``.
        """
        return self.func(t)
