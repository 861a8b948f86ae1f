"""What users measure on a density q(x, t) held as cell averages (DESIGN §3).

Integrals over parts of a cell (support, edge and tail masses), the entropy −∫ q log q (0 log 0 = 0)
and the moments integrate the same positive sub-cell reconstruction the engine advects, so they are
consistent with the solver's own representation; expectations of the class posterior use the
midpoint rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

from ..engine import masses_between, reconstruct, scheme_code
from ..grids.grid import Grid
from ..models.guidance import GuidedModel, ScoreGuidedModel
from ..models.processes import Process

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..engine import Scheme

__all__ = [
    "class_supports",
    "far_edge",
    "omitted_observables",
    "Reconstruction",
]

_GL3_NODES, _GL3_WEIGHTS = np.polynomial.legendre.leggauss(3)


class Reconstruction:
    """The positive sub-cell reconstruction of one density (q of shape (n,)) or of several (rows of
    q, e.g. one per saved time), for masses of arbitrary intervals and integrals; results have q's
    leading shape.

    Inside cell k the density is q(s) = 6 q_k s(1 − s) + dL (1 − s)(1 − 3s) + dR s(3s − 2), s ∈
    [0, 1], with the face values dL, dR of the engine's reconstruction
    (:mod:`fpguide.engine.remap`).

    Parameters
    ----------
    grid : Grid
        The 1-D grid.
    q : numpy.ndarray
        The cell averages, shape (..., grid.n).
    scheme : {"ppm", "plm", "pcm"}, optional
        The reconstruction (default "ppm").

    Raises
    ------
    ValueError
        When ``scheme`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> from fpguide.results.observables import Reconstruction
    >>> rec = Reconstruction(fg.Grid(0.0, 1.0, 10), np.ones(10))
    >>> float(rec.mass(0.25, 0.5)), float(rec.mass(-1.0, 2.0))
    (0.25, 1.0)
    """

    def __init__(self, grid: Grid, q: np.ndarray, scheme: Scheme = "ppm") -> None:
        self.grid, self.q = grid, np.ascontiguousarray(q, dtype=float)
        self.d_left, self.d_right = np.empty_like(self.q), np.empty_like(self.q)
        code = scheme_code(scheme)
        for row, left, right in zip(
            self._rows(self.q), self._rows(self.d_left), self._rows(self.d_right)
        ):
            reconstruct(row, code, left, right)

    def _rows(self, values):
        return values.reshape(-1, self.grid.n)

    def mass(self, a: ArrayLike, b: ArrayLike) -> np.ndarray:
        """∫_a^b q dx (the part of [a, b] inside the grid) for every density (leading shape of q)
        and interval (the shape of a and b).

        Parameters
        ----------
        a, b : array_like
            The intervals' ends (broadcast against each other); empty where b ≤ a.

        Returns
        -------
        numpy.ndarray
            The masses, shape q.shape[:-1] + the broadcast shape of a and b.
        """
        g = self.grid
        xa = np.clip((np.asarray(a, dtype=float) - g.lower) / g.dx, 0.0, float(g.n))
        xb = np.clip((np.asarray(b, dtype=float) - g.lower) / g.dx, 0.0, float(g.n))
        shape = np.broadcast_shapes(xa.shape, xb.shape)
        xa, xb = (np.broadcast_to(v, shape).flatten() for v in (xa, xb))
        out = np.empty((self._rows(self.q).shape[0], xa.size))
        for row, left, right, into in zip(
            self._rows(self.q), self._rows(self.d_left), self._rows(self.d_right), out
        ):
            masses_between(row, left, right, g.dx, xa, xb, into)
        return out.reshape(self.q.shape[:-1] + shape)

    def values(self, s: np.ndarray) -> np.ndarray:
        """The reconstructed density at fractions s ∈ [0, 1] of every cell.

        Parameters
        ----------
        s : numpy.ndarray
            The fractions of the cell, a flat array in [0, 1].

        Returns
        -------
        numpy.ndarray
            The density, non-negative, shape q.shape + (len(s),).
        """
        s = np.asarray(s)
        q, dl, dr = self.q[..., None], self.d_left[..., None], self.d_right[..., None]
        return np.maximum(
            6.0 * q * s * (1 - s) + dl * (1 - s) * (1 - 3 * s) + dr * s * (3 * s - 2), 0.0
        )

    def _integrate(self, f):
        """∫ f(x, q(x)) dx over the reconstruction, 3-point Gauss–Legendre per cell (exact for
        quartic f·q)."""
        s = 0.5 * (1.0 + _GL3_NODES)
        x = self.grid.faces[:-1, None] + self.grid.dx * s[None, :]
        return (f(x, self.values(s)) @ (0.5 * _GL3_WEIGHTS)).sum(axis=-1) * self.grid.dx

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the normalised reconstruction.

        Exact: the integrands are polynomials of degree ≤ 4 in each cell, integrated by 3-point
        Gauss–Legendre; the cell-centre sums Σ q x² dx would miss the within-cell variance, about
        dx²/12.

        Returns
        -------
        mean, variance : numpy.ndarray
            One value per density (the leading shape of q).
        """
        mass = self.q.sum(axis=-1) * self.grid.dx
        mean = self._integrate(lambda x, v: x * v) / mass
        centred = np.asarray(mean)[..., None, None]
        return mean, self._integrate(lambda x, v: (x - centred) ** 2 * v) / mass

    def entropy(self) -> np.ndarray:
        """−∫ q log q of the reconstruction (3-point Gauss–Legendre per cell, 0 log 0 = 0).

        The entropy of the cell averages themselves, −Σ q̄ log q̄ dx, is biased by about +dx²/24 ·
        (Fisher information); integrating the sub-cell reconstruction removes that leading error.

        Returns
        -------
        numpy.ndarray
            The entropy of each density (the leading shape of q).
        """
        return -self._integrate(lambda x, v: v * np.log(np.where(v > 0, v, 1.0)))


def far_edge(model: GuidedModel) -> float | None:
    """The end of the class support farthest from the other classes (None without compact
    classes).

    Parameters
    ----------
    model : GuidedModel
        The guided 1-D model.

    Returns
    -------
    float or None
        The upper end of the class's support when its centre lies at or above the mass-weighted
        centre of the other classes' supports, else the lower end; None when the class has no
        compact support, there is no label or there is no other class.
    """
    supports = model.cond.supports()
    if supports is None or model.label is None:
        return None
    others = [lab for lab in set(model.uncond.labels) if lab != model.label]
    if not others:
        return None
    rest = model.uncond.subset(np.array([lab != model.label for lab in model.uncond.labels]))
    rest_centre = float(np.sum(rest.weights * 0.5 * (rest.lows + rest.highs)))
    lo, hi = supports[0][0], supports[-1][1]
    return hi if 0.5 * (lo + hi) >= rest_centre else lo


def class_supports(model: GuidedModel | ScoreGuidedModel) -> list | None:
    """The supports of the conditional model (intervals in 1-D, boxes in d-D), or None when it has
    none or a score model makes them unknown (its own, or the target's the outside mass needs).

    Parameters
    ----------
    model : GuidedModel or ScoreGuidedModel
        The guided model.

    Returns
    -------
    list or None
        ``model.cond.supports()``, or None.
    """
    return model.cond.supports() if model.has_densities else None


def omitted_observables(model: GuidedModel | ScoreGuidedModel) -> dict[str, str]:
    """The observables a run with this model leaves out because the model does not give what they
    need, each with why (the note a Dataset carries in ``attrs["omitted"]``).

    Parameters
    ----------
    model : GuidedModel or ScoreGuidedModel
        The guided model.

    Returns
    -------
    dict
        ``{names: why}``; empty for mixtures.
    """
    if model.has_densities:
        return {}
    out = {
        "kl_conditional, tv_conditional, kl_tilted, tv_tilted": (
            "a run with a score model computes no densities of the conditional or the tilted law "
            "(a score model gives none): compare with a law you give by fpguide.divergence_to"
        ),
        "support_mass, outside_mass, edge_mass": (
            "a run with a score model computes no support masses (support_mass needs the "
            "conditional model's support, outside_mass the target's, and a score model's is not "
            "known)"
        ),
    }
    if not model.has_class_posterior:
        out["confidence, inverse_confidence"] = (
            "the class posterior p_t(c|x) is not known: give the conditional model as a "
            "ScoreModel with a classifier"
        )
    return out


def time_series(
    grid: Grid,
    q: np.ndarray,
    t: np.ndarray,
    model: GuidedModel,
    process: Process,
    *,
    scheme: str,
    delta: float,
    thresholds: np.ndarray,
) -> dict[str, np.ndarray]:
    """Observables at every saved time; q has shape (n_t, n) and t holds the diffusion times."""
    x, dx = grid.centres, grid.dx
    rec = Reconstruction(grid, q, scheme)
    mean, var = rec.moments()
    out = {"mass": q.sum(axis=1) * dx, "entropy": rec.entropy(), "mean": mean, "variance": var}
    if model.has_class_posterior:
        log_post = np.array([model.log_class_posterior(x, float(tk), process) for tk in t])
        out["confidence"] = np.sum(q * np.exp(log_post), axis=1) * dx / out["mass"]
        # E[1/p(c|x)] is +inf where 1/p overflows: reported, not hidden
        with np.errstate(over="ignore", invalid="ignore"):
            inverse = np.where(q > 0, q * np.exp(-log_post), 0.0)
        out["inverse_confidence"] = np.sum(inverse, axis=1) * dx / out["mass"]
    out["tail_probability"] = rec.mass(thresholds, math.inf) / out["mass"][:, None]
    class_support = class_supports(model)
    if class_support is not None:
        out["support_mass"] = rec.mass(*np.transpose(class_support)).sum(axis=1)
        every = model.uncond.supports() or []
        out["outside_mass"] = out["mass"] - (
            rec.mass(*np.transpose(every)).sum(axis=1) if every else 0.0
        )
        edge = far_edge(model)
        if edge is not None:
            out["edge_mass"] = rec.mass(edge - delta, edge + delta)
    return out


def divergences(q: np.ndarray, log_reference: np.ndarray, dx: float) -> tuple[float, float]:
    """KL(q ‖ r) and total variation ½∫|q − r| between two densities on the same grid, r given as
    log r (finite in the tails where r itself underflows but q does not)."""
    ratio = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)) - log_reference, 0.0)
    kl = float(np.sum(q * ratio) * dx)
    return kl, float(0.5 * np.sum(np.abs(q - np.exp(log_reference))) * dx)


def reference_densities(
    grid, model: GuidedModel, t: float, process: Process
) -> dict[str, np.ndarray]:
    """The logarithms of the cell averages at time t (on a :class:`Grid` or :class:`TensorGrid`) of
    the conditional target p_t(·|c) and of the tilted law π_{w,t} ∝ p_t(x|c)^{1+w} p_t(x)^{−w}
    (normalised on the grid), both from one evaluation of the mixtures at the quadrature points."""
    d = model.ndim

    def logs(points):
        """(log p_t(x|c), log p_t(x|c)^{1+w} p_t(x)^{−w}) stacked, at points shaped (..., order) in
        1-D and (..., d) otherwise."""
        shape = points.shape if d == 1 else points.shape[:-1]
        logp_u, _, logp_c, _ = model.scores(
            points.reshape(-1, d) if d > 1 else points.ravel(), t, process
        )
        logp_u, logp_c = logp_u.reshape(shape), logp_c.reshape(shape)
        return np.stack([logp_c, (1.0 + model.w) * logp_c - model.w * logp_u])

    conditional, tilted = grid.log_cell_averages(logs)
    return {
        "conditional": conditional,
        "tilted": tilted - (logsumexp(tilted) + math.log(grid.cell_volume)),
    }
