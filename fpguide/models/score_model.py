"""Score models you bring: a vectorised callable score(x, t) as a target or a conditional model.

A :class:`ScoreModel` wraps a function of the points x, shape (N, d), and the diffusion time t of
the process the solver runs (in the process's own variable: x = s(t) y for the variance-exploding
and flow-matching processes, which fpguide evolves in the variance-preserving frame y, see
:mod:`fpguide.models.processes`). The function returns what the network outputs, shape (N, d): the
score ∇log p_t(x) itself, or a prediction, each affine in the score (ε, x̂0, v or rectified flow's
velocity, converted with :func:`~fpguide.models.rules.prediction_coefficients` in the frame y):

    score:  s_y = s(t) · score(s(t) y, t);   a prediction P:  s_y = (P(s(t) y, t) − A y)/B.

Such a model gives scores only: the observables that need its density or its class posterior
(the conditional and the tilted law's KL and TV, the support masses) are left out of the Dataset,
with a note (:func:`omitted_observables`), unless a classifier log p_t(c|x) is given, which gives
the confidence. :func:`~fpguide.divergence_to` compares a run's densities with a reference law.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..tools.errors import NumericalError
from ..tools.validation import check_choice, check_int, check_real
from .processes import Process
from .rules import prediction_coefficients

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ModelOutput", "MODEL_OUTPUTS", "ScoreModel"]

ModelOutput = Literal["score", "epsilon", "sample", "v_prediction", "flow"]
MODEL_OUTPUTS: tuple[ModelOutput, ...] = get_args(ModelOutput)
PROBE_POINTS = 16  # points of the check before a run (standard normal, in the frame y)


def _describe(fn: Callable | None) -> str | None:
    """A readable name of a callable for records and messages."""
    if fn is None:
        return None
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return name if module in (None, "__main__") else f"{module}.{name}"


class ScoreModel:
    """A score model you bring: a vectorised callable of the points and the diffusion time.

    Usable as the target of :func:`~fpguide.solve`, :func:`~fpguide.sample` and the discrete
    samplers (the unconditional model) and as ``cond`` of :class:`~fpguide.CFG` (the conditional
    one), beside or instead of a closed-form mixture. Its scores are evaluated in batches of
    ``batch_size`` points; every output is checked (a numpy array of shape (N, d), finite).

    Parameters
    ----------
    score : callable
        ``score(x, t)``: x a float64 array of shape (N, d) (also (N, 1) in one dimension) in the
        process's own variable, t a float (the diffusion time); returns a real numpy array of
        shape (N, d): the network's ``output`` at x.
    ndim : int
        The dimension d >= 1.
    output : {"score", "epsilon", "sample", "v_prediction", "flow"}, default "score"
        What ``score`` returns: ∇log p_t(x), ε, x̂0, v (m ε − σ x̂0 in the frame y) or rectified
        flow's velocity ε − x̂0 (see :func:`~fpguide.models.rules.prediction_coefficients`).
    classifier : callable, optional
        ``classifier(x, t)``: log p_t(c|x) of the condition c this model is conditioned on, a real
        array of shape (N,); gives the confidence observables when this model is ``cond``.
    length_scale : float, default 0.0
        ℓ >= 0, the narrowest feature width of the law the model was trained on (of p_0): the grid
        resolves sqrt(m(t)² ℓ² + σ(t)²) at the run's end (0: the noise width σ(t) itself).
    batch_size : int, optional
        Evaluate at most this many points per call (>= 1); None (default): all at once.
    name : str, optional
        A name for records and messages; default the callable's qualified name.

    Attributes
    ----------
    ndim : int
        The dimension d.
    output : str
        What the callable returns.
    name : str
        The model's name.

    Raises
    ------
    TypeError
        If ``score`` or ``classifier`` is not callable.
    ValueError
        If ``ndim`` < 1, ``output`` is unknown, ``length_scale`` < 0 or ``batch_size`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> model = fg.ScoreModel(lambda x, t: -x, ndim=2)  # the score of N(0, I) at every t (VP)
    >>> model.evaluate_score(np.array([[1.0, -2.0]]), 0.5, fg.OU())
    array([[-1.,  2.]])
    """

    def __init__(
        self,
        score: Callable[[np.ndarray, float], np.ndarray],
        ndim: int,
        *,
        output: ModelOutput = "score",
        classifier: Callable[[np.ndarray, float], np.ndarray] | None = None,
        length_scale: float = 0.0,
        batch_size: int | None = None,
        name: str | None = None,
    ):
        for arg, fn in (("score", score), ("classifier", classifier)):
            if (arg == "score" or fn is not None) and not callable(fn):
                raise TypeError(
                    f"{arg} must be a callable {arg}(x, t) taking points (N, d) and a time, got "
                    f"{type(fn).__name__}"
                )
        self.ndim = check_int("ndim", ndim, 1)
        check_choice("output", output, MODEL_OUTPUTS)
        self.output = output
        self.length_scale_0 = check_real("length_scale", length_scale)
        if not self.length_scale_0 >= 0.0:
            raise ValueError(
                f"length_scale must be >= 0 (the narrowest feature of p_0), got {length_scale}"
            )
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, 1)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or _describe(score)
        self._score = score
        self._classifier = classifier

    @classmethod
    def from_torch(
        cls,
        module,
        ndim: int,
        *,
        output: ModelOutput = "score",
        classifier=None,
        time: Callable[[float], float] | None = None,
        length_scale: float = 0.0,
        batch_size: int | None = 65536,
        device: str | None = "cpu",
        dtype=None,
        name: str | None = None,
    ) -> ScoreModel:
        """A score model evaluating a PyTorch module in batches, gradients off, on its device.

        PyTorch is an optional dependency: ``pip install 'fpguide[torch]'`` (a CPU build is
        enough); the points go to the module's dtype and device, the outputs come back as float64
        numpy (:mod:`fpguide.models.torch_score`).

        Parameters
        ----------
        module : torch.nn.Module
            ``module(x, t)``: x a tensor (B, d) and t a tensor (B,) of the network's time (see
            ``time``), in the module's dtype on its device; returns a tensor (B, d), the
            ``output`` at x.
        ndim : int
            The dimension d.
        output : {"score", "epsilon", "sample", "v_prediction", "flow"}, default "score"
            What the module returns (as for the class).
        classifier : torch.nn.Module, optional
            ``classifier(x, t)`` returning log p_t(c|x), a tensor (B,) or (B, 1), on the module's
            device and in its dtype.
        time : callable, optional
            Maps fpguide's diffusion time t (of the process the run uses) to the module's time
            input; None (default): t itself.
        length_scale : float, default 0.0
            The narrowest feature of p_0 (as for the class).
        batch_size : int or None, default 65536
            The most points per forward pass; None: all at once.
        device : str or None, default "cpu"
            The device the module must be on (its parameters are checked); None: wherever it is.
        dtype : torch.dtype, optional
            The dtype the module's parameters must have; None (default): theirs.
        name : str, optional
            A name for records and messages; default the module's class name.

        Returns
        -------
        ScoreModel
            The score model.

        Raises
        ------
        ImportError
            If PyTorch is not installed.
        TypeError
            If ``module`` (or ``classifier``) is not a torch.nn.Module, or returns something other
            than a tensor.
        ValueError
            If the module is in training mode (call ``module.eval()``: dropout and batch norm
            would change its output from call to call), not on ``device`` or not of ``dtype``
            (and as the class for the other arguments).
        """
        from .torch_score import torch_callables

        score, log_posterior = torch_callables(module, classifier, time, device, dtype)
        return cls(
            score,
            ndim,
            output=output,
            classifier=log_posterior,
            length_scale=length_scale,
            batch_size=batch_size,
            name=name or type(module).__name__,
        )

    @property
    def has_classifier(self) -> bool:
        """Whether a classifier log p_t(c|x) is given."""
        return self._classifier is not None

    def evaluate_score(self, y: np.ndarray, t: float, process: Process) -> np.ndarray:
        """∇log p_t at the points y of the variance-preserving frame (see the module's docstring).

        Parameters
        ----------
        y : numpy.ndarray
            The points: flat in one dimension, shape (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        numpy.ndarray
            The score s_y, shaped like ``y``.

        Raises
        ------
        TypeError, ValueError
            If the callable returns something other than a real numpy array of shape (N, d).
        NumericalError
            If it returns a value that is not finite, naming the point and the time.
        """
        points = np.reshape(y, (-1, self.ndim))
        scale = float(process.frame_scale(t))
        out = self._call(self._score, "score", (points.shape[0], self.ndim), scale * points, t)
        if self.output == "score":
            s = scale * out
        else:
            a, b = prediction_coefficients(
                self.output, float(process.m(t)), float(process.sigma(t))
            )
            s = (out - a * points) / b
        return s.reshape(np.shape(y))

    def log_class_posterior(self, y: np.ndarray, t: float, process: Process) -> np.ndarray:
        """log p_t(c|x) from the classifier at the points y of the frame (x = s(t) y).

        Parameters
        ----------
        y : numpy.ndarray
            The points: any shape in one dimension, (..., d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        numpy.ndarray
            The log class posterior, shaped like the points less their last axis in d-D.

        Raises
        ------
        ValueError
            If no classifier is given (and as :meth:`evaluate_score` for its output).
        """
        if self._classifier is None:
            raise ValueError(f"the score model {self.name} has no classifier")
        points = np.reshape(y, (-1, self.ndim))
        scale = float(process.frame_scale(t))
        out = self._call(self._classifier, "classifier", (points.shape[0],), scale * points, t)
        return out.reshape(np.shape(y) if self.ndim == 1 else np.shape(y)[:-1])

    def _call(self, fn, what: str, shape: tuple, x: np.ndarray, t: float) -> np.ndarray:
        """fn at the points x in batches, each output checked: a real numpy array of ``shape``
        (per batch) with finite values."""
        x = np.ascontiguousarray(x, dtype=float)
        size = self.batch_size or max(x.shape[0], 1)
        parts = []
        for start in range(0, x.shape[0], size):
            batch = x[start : start + size]
            out = fn(batch, float(t))
            expected = (batch.shape[0], *shape[1:])
            if not isinstance(out, np.ndarray):
                raise TypeError(
                    f"the {what} of the score model {self.name} must return a numpy array of "
                    f"shape {expected}, got {type(out).__name__}"
                )
            if out.shape != expected:
                raise ValueError(
                    f"the {what} of the score model {self.name} must return shape {expected} for "
                    f"{batch.shape[0]} points of dimension {self.ndim}, got shape {out.shape}"
                )
            if out.dtype.kind not in "fiu":
                raise TypeError(
                    f"the {what} of the score model {self.name} must return real numbers, got "
                    f"dtype {out.dtype}"
                )
            values = out.reshape(batch.shape[0], -1)
            # a log-probability may be -inf (a class the point cannot belong to)
            finite = np.isfinite(values) | ((values == -np.inf) if what == "classifier" else False)
            bad = ~finite.all(axis=1)
            if bad.any():
                at = batch[np.flatnonzero(bad)[0]]
                raise NumericalError(
                    f"the {what} of the score model {self.name} is not finite at x={at.tolist()}, "
                    f"t={t} ({int(bad.sum())} of {batch.shape[0]} points)",
                    time=t,
                )
            parts.append(np.asarray(out, dtype=float))
        return np.concatenate(parts) if parts else np.empty(shape)

    def check(self, times: tuple[float, ...], process: Process) -> None:
        """Evaluate the model (and its classifier) at a few points at the given times before a
        run, so that a callable returning the wrong shape, type or NaN is named before the run.

        Parameters
        ----------
        times : tuple of float
            The diffusion times to evaluate at (the run's start and end).
        process : Process
            The noising process.

        Raises
        ------
        TypeError, ValueError
            As :meth:`evaluate_score`; a non-finite output is a ValueError here.
        """
        y = np.random.default_rng(0).standard_normal((PROBE_POINTS, self.ndim))
        for t in times:
            try:
                self.evaluate_score(y, t, process)
                if self.has_classifier:
                    self.log_class_posterior(y, t, process)
            except NumericalError as error:
                raise ValueError(f"{error} (checked before the run)") from None

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of p_t: sqrt(m(t)² ℓ² + σ(t)²).

        Parameters
        ----------
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        float
            The length scale at t.
        """
        m, sigma = float(process.m(t)), float(process.sigma(t))
        return math.hypot(m * self.length_scale_0, sigma)

    def supports(self, label: object = None) -> None:
        """None: a score model's support is not known.

        Parameters
        ----------
        label : object, optional
            Unused (the signature of :meth:`~fpguide.models.targets.Mixture.supports`).
        """
        return None

    def to_dict(self) -> dict:
        """The record: what describes the model (its callables are not recorded, so a run with
        it cannot be rerun from its record alone).

        Returns
        -------
        dict
            ``type`` "ScoreModel", ``name``, ``ndim``, ``output``, ``classifier`` (its name or
            None), ``length_scale`` and ``batch_size``.
        """
        return {
            "type": "ScoreModel",
            "name": self.name,
            "ndim": self.ndim,
            "output": self.output,
            "classifier": _describe(self._classifier),
            "length_scale": self.length_scale_0,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        extra = "" if self.output == "score" else f", output={self.output!r}"
        extra += ", classifier" if self.has_classifier else ""
        return f"ScoreModel({self.name}, ndim={self.ndim}{extra})"
