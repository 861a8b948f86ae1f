"""Errors and warnings fpguide raises when a run cannot be trusted."""


class WallMassError(RuntimeError):
    """More mass than the tolerance left the grid through its walls: the domain is too narrow."""


class CoarseGridWarning(UserWarning):
    """The grid resolves the density's narrowest feature with too few cells."""
