"""Errors and warnings fpguide raises when a run cannot be trusted."""

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

__all__ = [
    "caller_stacklevel",
    "CoarseGridWarning",
    "CollapsedMassWarning",
    "in_diffusion_time",
    "NumericalError",
    "wall_time_explained",
    "WallMassError",
    "WallMassWarning",
]


class _WithTime(Exception):
    """An error that knows when it happened: ``time``, in the time of the run that raised it (the
    engine's, for :func:`~fpguide.evolve`), if known."""

    def __init__(self, message: str, time: float | None = None):
        super().__init__(message)
        self.time = time


class WallMassError(_WithTime, RuntimeError):
    """More mass than the tolerance left the grid through its walls: the domain is too narrow."""


class NumericalError(_WithTime, FloatingPointError):
    """The density of a run became non-finite or negative, or lost mass the scheme conserves; the
    message says when, where and what to change."""


@contextmanager
def wall_time_explained(explain: Callable[[float], str]):
    """Re-raise a :class:`WallMassError` or :class:`NumericalError` of :func:`~fpguide.evolve` with
    what its time means to the caller: ``explain(time)`` is appended in brackets (e.g. the diffusion
    time t = T − τ of a sampler run in τ)."""
    try:
        yield
    except _WithTime as err:
        if err.time is None:
            raise
        raise type(err)(f"{err} [t above: {explain(err.time)}]") from None


def in_diffusion_time(T: float):
    """:func:`wall_time_explained` for a sampler evolved in the reverse time τ = T − t."""
    return wall_time_explained(
        lambda tau: f"the engine's time T - t; diffusion time t={T - tau:.6g}"
    )


class WallMassWarning(UserWarning):
    """The mass that left through the walls came close to the tolerance ``wall_tol``."""


class CoarseGridWarning(UserWarning):
    """The grid resolves the density's narrowest feature with too few cells."""


class CollapsedMassWarning(UserWarning):
    """A map put mass on single points (an atom), which a density on a grid can only hold as a
    one-cell spike."""


def caller_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` that points at the first frame outside fpguide
    (the user's call), however deep inside fpguide the warning is raised."""
    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package + os.sep
    ):
        level, frame = level + 1, frame.f_back
    return level
