"""Errors and warnings fpguide raises when a run cannot be trusted."""

import os
import sys


class WallMassError(RuntimeError):
    """More mass than the tolerance left the grid through its walls: the domain is too narrow."""


class CoarseGridWarning(UserWarning):
    """The grid resolves the density's narrowest feature with too few cells."""


class CollapsedMassWarning(UserWarning):
    """A map put mass on single points (an atom), which a density on a grid can only hold as a one-cell spike."""


def caller_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` that points at the first frame outside fpguide (the user's call),
    however deep inside fpguide the warning is raised."""
    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        level, frame = level + 1, frame.f_back
    return level
