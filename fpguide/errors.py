"""Errors and warnings fpguide raises when a run cannot be trusted."""


class WallMassError(RuntimeError):
    """More mass than the tolerance left the grid through its walls: the domain is too narrow."""


class CoarseGridWarning(UserWarning):
    """The grid resolves the density's narrowest feature with too few cells."""


class CollapsedMassWarning(UserWarning):
    """A map put mass on single points (an atom), which a density on a grid can only hold as a one-cell spike."""
