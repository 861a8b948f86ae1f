"""Errors and warnings fpguide raises when a run cannot be trusted."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

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
    """More mass than the tolerance left the grid through its walls: the domain is too narrow.

    Parameters
    ----------
    message : str
        What happened, and what to change.
    time : float or None, optional
        When it happened, in the time of the run that raised it (the engine's, for
        :func:`~fpguide.evolve`), if known; default None. Kept as the attribute ``time``.

    Attributes
    ----------
    time : float or None
        The ``time`` given.
    """


class NumericalError(_WithTime, FloatingPointError):
    """The density of a run became non-finite or negative, or lost mass the scheme conserves.

    The message says when, where and what to change.

    Parameters
    ----------
    message : str
        What happened, when, where, and what to change.
    time : float or None, optional
        When it happened, in the time of the run that raised it (the engine's, for
        :func:`~fpguide.evolve`), if known; default None. Kept as the attribute ``time``.

    Attributes
    ----------
    time : float or None
        The ``time`` given.
    """


@contextmanager
def wall_time_explained(explain: Callable[[float], str]) -> Iterator[None]:
    """Re-raise an error of :func:`~fpguide.evolve` with what its time means to the caller.

    Inside the context, a :class:`WallMassError` or :class:`NumericalError` that knows its time is
    raised again, of the same type, with ``explain(time)`` appended to its message in brackets
    (``"[t above: ...]"``; e.g. the diffusion time t = T − τ of a sampler run in τ). One whose time
    is None passes unchanged.

    Parameters
    ----------
    explain : callable
        ``explain(time) -> str``: what the error's ``time`` means to the caller.

    Yields
    ------
    None
        The context in which the errors are explained.
    """
    try:
        yield
    except _WithTime as err:
        if err.time is None:
            raise
        raise type(err)(f"{err} [t above: {explain(err.time)}]") from None


def in_diffusion_time(T: float) -> AbstractContextManager[None]:
    """:func:`wall_time_explained` for a sampler evolved in the reverse time τ = T − t.

    The error's time τ is explained as the diffusion time t = T − τ.

    Parameters
    ----------
    T : float
        The diffusion's end time, where the reverse time τ is 0.

    Returns
    -------
    contextlib.AbstractContextManager
        The context of :func:`wall_time_explained` with that explanation.
    """
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
    """The ``stacklevel`` of :func:`warnings.warn` that points at the user's call.

    The level is counted from the caller's frame outwards to the first frame whose file lies
    outside the fpguide package, however deep inside fpguide the warning is raised.

    Returns
    -------
    int
        The ``stacklevel`` to pass to :func:`warnings.warn` from the calling function.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package + os.sep
    ):
        level, frame = level + 1, frame.f_back
    return level
