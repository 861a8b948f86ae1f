"""Score-error models: error fields e(x, t) added to the exact scores of a guided sampler.

``CFG(..., cond_error=e_c, uncond_error=e_u)`` guides with the scores the model has learned, s_c +
e_c and s_u + e_u:

    s_w = (1 + w)(s_c + e_c) − w (s_u + e_u),

so guidance amplifies the error by (1 + w) (and by w the unconditional one). For compactly supported
classes, large w with any nonzero error drives the samples out of the support (the seeds' third
theorem); :func:`~fpguide.score_errors.error_size` states how large an error is, ‖e(·, t)‖ in
L²(p_t), as ``solve`` also reports. Shapes of e (flat like x in 1-D, (N, d) in d-D):

* :class:`Scaled` (eps): e = ε s, the exact score scaled (over- or under-confident model);
* :class:`Bump` (size, centre, width): e(x) = size · exp(−|x − centre|²/(2 width²)), a local error
  anywhere (in the tails, where the model saw no data); in d-D ``size`` is a vector, the error's
  direction times its size;
* :class:`Smoothed` (rho): the model learned the data smoothed by N(0, ρ² I), so its noised score is
  the exact one with σ(t) replaced by sqrt(σ(t)² + m(t)² ρ²), and e = s(x; m, σ_eff) − s(x; m, σ);
* :class:`Custom` (a callable e(x, t) returning an array shaped like x; plain callables are
  wrapped).

For the VE and EDM processes, which fpguide evolves in the frame y = x/sqrt(1 + σ²)
(:mod:`fpguide.models.processes`), x, the scores and the errors are those of that frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np

from ..tools.records import Recorded, as_recorded, from_record
from ..tools.validation import as_finite_array, check_positive_real, check_real
from .processes import Process

__all__ = [
    "as_score_error",
    "Bump",
    "Custom",
    "Scaled",
    "score_error_from_dict",
    "ScoreError",
    "Smoothed",
]


class ScoredModel(Protocol):
    """What an error field may ask of the guided model it perturbs
    (:class:`~fpguide.models.guidance.GuidedModel`): its exact scores, optionally those of the
    models smoothed by N(0, ρ² I)."""

    def scores(
        self, x: np.ndarray, t: float, process: Process, smoothing: float = 0.0
    ) -> tuple: ...


class ScoreError(Recorded):
    """An error field e(x, t) added to one score of a guidance; subclasses implement :meth:`field`
    and ``to_dict``."""

    needs_score: ClassVar[bool] = False  # whether :meth:`field` reads the exact score it perturbs

    def field(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        model: ScoredModel,
        which: str,
        score: np.ndarray | None,
    ) -> np.ndarray:
        """e(x, t) at the points x (flat in 1-D, (N, d) otherwise) for the ``which`` ("cond" or
        "uncond") score of ``model``, whose exact value at x is ``score`` (given when
        :attr:`needs_score`)."""
        raise NotImplementedError

    def check(self, name: str, ndim: int) -> None:
        """Raise if the error, given as the argument ``name``, cannot act in ``ndim`` dimensions."""


class Scaled(ScoreError):
    """e = ε s: the exact score s scaled by 1 + ε."""

    needs_score = True

    def __init__(self, eps: float):
        self.eps = check_real("eps", eps)

    def field(self, x, t, process, model, which, score):
        return self.eps * score

    def to_dict(self):
        return {"type": "Scaled", "eps": self.eps}


class Bump(ScoreError):
    """e(x) = size · exp(−|x − centre|²/(2 width²)); size and centre are numbers in 1-D (the sign of
    size is the direction of the error) and vectors of length d in d-D. The automatic grid of
    ``solve`` sizes its cells from the target and the flow, not from ``width``: pass a grid that
    resolves a narrow bump."""

    def __init__(self, size, centre, width: float):
        self.size, self.centre = as_finite_array("size", size), as_finite_array("centre", centre)
        for name, value in (("size", self.size), ("centre", self.centre)):
            if value.ndim > 1 or value.size == 0:
                raise ValueError(
                    f"Bump {name} must be a number (1-D) or a vector of length d, got "
                    f"{value.tolist()!r}"
                )
        if self.size.shape != self.centre.shape:
            raise ValueError(
                "Bump size and centre must have one shape (numbers in 1-D, vectors "
                "of length d), got "
                f"size={self.size.tolist()!r}, centre={self.centre.tolist()!r}"
            )
        self.width = check_positive_real("width", width)

    def check(self, name, ndim):
        if self.centre.size != ndim:
            wanted = "numbers" if ndim == 1 else f"vectors of length {ndim}"
            raise ValueError(
                f"{name}: Bump size and centre must be {wanted} for this {ndim}-D "
                "target, got "
                f"centre={self.centre.tolist()!r}"
            )

    def field(self, x, t, process, model, which, score):
        offset = (np.reshape(x, (-1, self.centre.size)) - self.centre.ravel()) / self.width
        bump = np.exp(-0.5 * np.einsum("ij,ij->i", offset, offset))
        return (bump[:, None] * self.size.ravel()).reshape(np.shape(x))

    def to_dict(self):
        return {
            "type": "Bump",
            "size": self.size.tolist(),
            "centre": self.centre.tolist(),
            "width": self.width,
        }


class Smoothed(ScoreError):
    """The score of the model smoothed by N(0, ρ² I): e = s(x; m, sqrt(σ² + m²ρ²)) − s(x; m, σ)."""

    needs_score = True

    def __init__(self, rho: float):
        self.rho = check_real("rho", rho)
        if self.rho < 0.0:
            raise ValueError(
                f"rho must be >= 0 (the standard deviation of the smoothing), got {self.rho}"
            )

    def field(self, x, t, process, model, which, score):
        _, s_u, _, s_c = model.scores(x, t, process, smoothing=self.rho)
        return (s_c if which == "cond" else s_u) - score

    def to_dict(self):
        return {"type": "Smoothed", "rho": self.rho}


class Custom(ScoreError):
    """A user error field ``func(x, t)`` returning an array shaped like x (flat in 1-D, (N, d) in
    d-D), checked finite at every evaluation. Recorded by its repr; a Dataset made with it cannot be
    re-run from its configuration."""

    def __init__(self, func: Callable[[np.ndarray, float], np.ndarray]):
        if not callable(func):
            raise TypeError(
                f"Custom needs a callable e(x, t) for func, got {type(func).__name__} {func!r}"
            )
        self.func = func

    def field(self, x, t, process, model, which, score):
        where = f"{which}_error {self!r} at t={t:.6g}"
        value = self.func(x, t)
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{where} must return an array of real numbers, got {value!r}"
            ) from err
        if value.shape != np.shape(x):
            raise ValueError(
                f"{where} must return an array shaped like x {np.shape(x)}, got shape {value.shape}"
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"{where} returned non-finite values (e.g. {value[~np.isfinite(value)].flat[0]})"
            )
        return value

    def to_dict(self):
        return {"type": "Custom", "func": repr(self.func)}


_BUILT_IN = {cls.__name__: cls for cls in (Scaled, Bump, Smoothed)}


def as_score_error(name: str, error) -> ScoreError | None:
    """None, a :class:`ScoreError`, or a plain callable e(x, t) (wrapped as :class:`Custom`);
    ``name`` is the argument's name in messages."""
    return as_recorded(
        name, error, ScoreError, Custom, "a fpguide score error (Scaled, Bump, Smoothed)", "e(x, t)"
    )


def score_error_from_dict(spec: dict | None) -> ScoreError | None:
    return from_record("score error", spec, _BUILT_IN)
