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
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from ..tools.records import Recorded, as_recorded, from_record
from ..tools.validation import as_finite_array, check_positive_real, check_real
from .processes import Process

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

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
    """An error field e(x, t) added to one score of a guidance.

    Subclasses implement :meth:`field` and ``to_dict``; they are recorded by their ``to_dict()`` (a
    ``"type"`` key and the constructor's arguments) and compare equal when their records do.

    Attributes
    ----------
    needs_score : bool
        Whether :meth:`field` reads the exact score it perturbs (class attribute; False here).
    """

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
        """e(x, t) at the points x for the ``which`` score of ``model``.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The forward process (x, the scores and the errors are those of its frame).
        model : ScoredModel
            The guided model whose score is perturbed.
        which : {"cond", "uncond"}
            Which of its scores, the conditional or the unconditional one.
        score : numpy.ndarray or None
            The exact value of that score at x, shaped like x (given when :attr:`needs_score`).

        Returns
        -------
        numpy.ndarray
            e(x, t), shaped like ``x``.

        Raises
        ------
        NotImplementedError
            Always, in this base class.
        """
        raise NotImplementedError

    def check(self, name: str, ndim: int) -> None:
        """Raise if the error, given as the argument ``name``, cannot act in ``ndim`` dimensions.

        Every error can, in this base class.

        Parameters
        ----------
        name : str
            The argument's name, for the message.
        ndim : int
            The dimension d of the target.
        """


class Scaled(ScoreError):
    """e = ε s: the exact score s scaled by 1 + ε (an over- or under-confident model).

    Parameters
    ----------
    eps : float
        ε, a real number (ε > 0 over-, ε < 0 under-confident).

    Raises
    ------
    ValueError
        If ``eps`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> from fpguide.score_errors import Scaled
    >>> Scaled(0.1).field(np.zeros(2), 1.0, None, None, "cond", np.array([1.0, -2.0]))
    array([ 0.1, -0.2])
    """

    needs_score = True

    def __init__(self, eps: float):
        self.eps = check_real("eps", eps)

    def field(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        model: ScoredModel,
        which: str,
        score: np.ndarray | None,
    ) -> np.ndarray:
        """e = ε s, the exact ``score`` times ε.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise (not read).
        t : float
            The diffusion time (not read).
        process : Process
            The forward process (not read).
        model : ScoredModel
            The guided model (not read).
        which : {"cond", "uncond"}
            Which of its scores (not read).
        score : numpy.ndarray
            The exact value of that score at x.

        Returns
        -------
        numpy.ndarray
            ε · ``score``.
        """
        return self.eps * score

    def to_dict(self) -> dict:
        """The error's record.

        Returns
        -------
        dict
            ``{"type": "Scaled", "eps": ...}``.
        """
        return {"type": "Scaled", "eps": self.eps}


class Bump(ScoreError):
    """e(x) = size · exp(−|x − centre|²/(2 width²)): a local error anywhere.

    size and centre are numbers in 1-D (the sign of size is the direction of the error) and vectors
    of length d in d-D (size: the error's direction times its size). The automatic grid of
    ``solve`` sizes its cells from the target and the flow, not from ``width``: pass a grid that
    resolves a narrow bump.

    Parameters
    ----------
    size, centre : float or array_like
        The bump's height (with its sign or direction) and centre: numbers in 1-D, vectors of one
        length d in d-D.
    width : float
        The bump's width, > 0.

    Raises
    ------
    ValueError
        If size or centre is not finite, empty or more than a vector, their shapes differ, or
        ``width`` is not a positive real number.

    Examples
    --------
    >>> import numpy as np
    >>> from fpguide.score_errors import Bump
    >>> bump = Bump(size=0.5, centre=2.0, width=0.1)
    >>> bump.field(np.array([2.0, 2.1]), 1.0, None, None, "cond", None)  # 0.5, 0.5 e^(−1/2)
    array([0.5       , 0.30326533])
    """

    def __init__(self, size: ArrayLike, centre: ArrayLike, width: float):
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

    def check(self, name: str, ndim: int) -> None:
        """Raise if size and centre do not have ``ndim`` components.

        Parameters
        ----------
        name : str
            The argument's name, for the message.
        ndim : int
            The dimension d of the target.

        Raises
        ------
        ValueError
            If centre (and so size) has not ``ndim`` components.
        """
        if self.centre.size != ndim:
            wanted = "numbers" if ndim == 1 else f"vectors of length {ndim}"
            raise ValueError(
                f"{name}: Bump size and centre must be {wanted} for this {ndim}-D "
                "target, got "
                f"centre={self.centre.tolist()!r}"
            )

    def field(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        model: ScoredModel,
        which: str,
        score: np.ndarray | None,
    ) -> np.ndarray:
        """e(x) = size · exp(−|x − centre|²/(2 width²)), the same at every t.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        t : float
            The diffusion time (not read).
        process : Process
            The forward process (not read).
        model : ScoredModel
            The guided model (not read).
        which : {"cond", "uncond"}
            Which of its scores (not read).
        score : numpy.ndarray or None
            The exact score (not read).

        Returns
        -------
        numpy.ndarray
            e(x), shaped like ``x``.
        """
        offset = (np.reshape(x, (-1, self.centre.size)) - self.centre.ravel()) / self.width
        bump = np.exp(-0.5 * np.einsum("ij,ij->i", offset, offset))
        return (bump[:, None] * self.size.ravel()).reshape(np.shape(x))

    def to_dict(self) -> dict:
        """The error's record.

        Returns
        -------
        dict
            ``"type"`` ("Bump"), ``"size"`` and ``"centre"`` (as lists) and ``"width"``.
        """
        return {
            "type": "Bump",
            "size": self.size.tolist(),
            "centre": self.centre.tolist(),
            "width": self.width,
        }


class Smoothed(ScoreError):
    """The score of the model smoothed by N(0, ρ² I): e = s(x; m, sqrt(σ² + m²ρ²)) − s(x; m, σ).

    The model learned the data smoothed by N(0, ρ² I), so its noised score is the exact one with
    σ(t) replaced by sqrt(σ(t)² + m(t)² ρ²).

    Parameters
    ----------
    rho : float
        ρ ≥ 0, the standard deviation of the smoothing.

    Raises
    ------
    ValueError
        If ``rho`` is not a real number ≥ 0.
    """

    needs_score = True

    def __init__(self, rho: float):
        self.rho = check_real("rho", rho)
        if self.rho < 0.0:
            raise ValueError(
                f"rho must be >= 0 (the standard deviation of the smoothing), got {self.rho}"
            )

    def field(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        model: ScoredModel,
        which: str,
        score: np.ndarray | None,
    ) -> np.ndarray:
        """e = (the ``which`` score of ``model`` smoothed by ρ) − ``score``.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The forward process.
        model : ScoredModel
            The guided model, whose ``scores(x, t, process, smoothing=rho)`` give the smoothed
            scores.
        which : {"cond", "uncond"}
            The conditional score ("cond") or the unconditional one (anything else).
        score : numpy.ndarray
            The exact value of that score at x.

        Returns
        -------
        numpy.ndarray
            e(x, t), shaped like ``x``.
        """
        _, s_u, _, s_c = model.scores(x, t, process, smoothing=self.rho)
        return (s_c if which == "cond" else s_u) - score

    def to_dict(self) -> dict:
        """The error's record.

        Returns
        -------
        dict
            ``{"type": "Smoothed", "rho": ...}``.
        """
        return {"type": "Smoothed", "rho": self.rho}


class Custom(ScoreError):
    """A user error field ``func(x, t)`` returning an array shaped like x.

    x is flat in 1-D, (N, d) in d-D; the value is checked finite at every evaluation. Recorded by
    its repr; a Dataset made with it cannot be re-run from its configuration.

    Parameters
    ----------
    func : callable
        e(x, t): takes the points x and the diffusion time t, returns an array shaped like x.

    Raises
    ------
    TypeError
        If ``func`` is not callable.

    Examples
    --------
    >>> import numpy as np
    >>> from fpguide.score_errors import Custom
    >>> tilt = Custom(lambda x, t: 0.1 * np.ones_like(x))
    >>> tilt.field(np.zeros(3), 1.0, None, None, "cond", None)
    array([0.1, 0.1, 0.1])
    """

    def __init__(self, func: Callable[[np.ndarray, float], np.ndarray]):
        if not callable(func):
            raise TypeError(
                f"Custom needs a callable e(x, t) for func, got {type(func).__name__} {func!r}"
            )
        self.func = func

    def field(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        model: ScoredModel,
        which: str,
        score: np.ndarray | None,
    ) -> np.ndarray:
        """e(x, t) = func(x, t), checked.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The forward process (not read).
        model : ScoredModel
            The guided model (not read).
        which : {"cond", "uncond"}
            Which of its scores (named in messages).
        score : numpy.ndarray or None
            The exact score (not read).

        Returns
        -------
        numpy.ndarray
            func(x, t) as an array of floats, shaped like ``x``.

        Raises
        ------
        ValueError
            If ``func`` returns something that is not an array of real numbers, not shaped like x,
            or not finite.
        """
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

    def to_dict(self) -> dict:
        """The error's record (which cannot rebuild it).

        Returns
        -------
        dict
            ``{"type": "Custom", "func": repr(func)}``.
        """
        return {"type": "Custom", "func": repr(self.func)}


_BUILT_IN = {cls.__name__: cls for cls in (Scaled, Bump, Smoothed)}


def as_score_error(
    name: str, error: ScoreError | Callable[[np.ndarray, float], np.ndarray] | None
) -> ScoreError | None:
    """None, a :class:`ScoreError`, or a plain callable e(x, t) (wrapped as :class:`Custom`).

    Parameters
    ----------
    name : str
        The argument's name in messages (e.g. "cond_error").
    error : ScoreError, callable or None
        An error (returned as it is), a callable e(x, t), or None (no error).

    Returns
    -------
    ScoreError or None
        The error, a :class:`Custom` for a plain callable.

    Raises
    ------
    TypeError
        If ``error`` is none of these.
    """
    return as_recorded(
        name, error, ScoreError, Custom, "a fpguide score error (Scaled, Bump, Smoothed)", "e(x, t)"
    )


def score_error_from_dict(spec: dict | None) -> ScoreError | None:
    """Rebuild a score error from its record (:meth:`~ScoreError.to_dict`); None stays None.

    Parameters
    ----------
    spec : dict or None
        A record of a Scaled, Bump or Smoothed error, or None.

    Returns
    -------
    ScoreError or None
        The error, or None.

    Raises
    ------
    ValueError
        If the record is that of a :class:`Custom` error (its callable is recorded only by its
        repr: pass the callable again) or of an unknown type.

    Examples
    --------
    >>> from fpguide.models.score_errors import Bump, score_error_from_dict
    >>> score_error_from_dict(Bump(0.5, 2.0, 0.1).to_dict())
    Bump(size=0.5, centre=2.0, width=0.1)
    """
    return from_record("score error", spec, _BUILT_IN)
