"""Score-error models, the public namespace: error fields e(x, t) added to the exact scores of a
guidance, and the size of an error without a solve.

* :class:`Scaled` (eps), :class:`Bump` (size, centre, width), :class:`Smoothed` (rho),
  :class:`Custom` (any callable e(x, t)): see :mod:`fpguide.models.score_errors`;
* :func:`error_size`: ‖e(·, t)‖ in L²(p_t), as ``solve`` records it (see
  :mod:`fpguide.results.error_size`).
"""

from .models.score_errors import Bump, Custom, Scaled, ScoreError, Smoothed
from .results.error_size import error_size

__all__ = ["Bump", "Custom", "Scaled", "ScoreError", "Smoothed", "error_size"]
