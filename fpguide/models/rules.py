"""Guidance rules beyond the linear CFG combination, as diffusers' guiders compute them.

A diffusers guider combines the conditional and the unconditional *predictions* of a model, c and u
(ε, x̂0, v or a flow velocity, whatever the network outputs), point by point. In fpguide every
prediction is affine in the score s of the state y (in the variance-preserving frame, m² + σ² = 1):

    P = A y + B s,   ε: (0, −σ),  x̂0 ("sample"): (1/m, σ²/m),  v: (−σ/m, −σ/m),
    flow (rectified flow's ε − x̂0): (−1/m, −σ − σ²/m),  the score itself: (0, 1),

so a rule acts on P_c = A y + B s_c and P_u = A y + B s_u and its output P gives the guided score
s_w = (P − A y)/B. For the linear combination u + γ(c − u) (γ = 1 + w, diffusers'
``guidance_scale``) the prediction does not matter; for the rules here it does. Each reduction
diffusers takes over the dimensions of a sample (a norm, a dot product, a standard deviation, an
SVD) is taken over the d coordinates of the point. ``guidance_rescale`` φ > 0, which every guider
has, then mixes in the prediction rescaled to the standard deviation of c over the coordinates:
P ← φ P std(c)/std(P) + (1 − φ) P (diffusers' ``rescale_noise_cfg``, unbiased standard deviations).

The rules are passed to :class:`~fpguide.CFG` as ``rule=``; the weight stays CFG's: ``gamma`` =
1 + w is diffusers' ``guidance_scale`` (with APG's ``use_original_formulation=True``, diffusers'
``guidance_scale`` is w). They are computed in float64 (diffusers computes CFG-Zero*'s
projection and TCFG's SVD in float32). The step windows of diffusers' guiders (``start``, ``stop``)
and CFG-Zero*'s ``zero_init_steps`` count the steps of a discrete chain
(:meth:`GuidanceRule.step_mode`); a continuous sampler has no steps: a window of its diffusion time
is :class:`~fpguide.schedules.Interval`, and the zeroed first steps have zero length in its limit.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..tools.errors import NumericalError
from ..tools.validation import check_choice, check_real

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "AdaptiveProjected",
    "CFGPlusPlus",
    "ClassifierFree",
    "ClassifierFreeZeroStar",
    "GuidanceRule",
    "MagnitudeAware",
    "PowerLaw",
    "PREDICTIONS",
    "Prediction",
    "RULES",
    "TangentialClassifierFree",
    "prediction_coefficients",
    "rule_from_dict",
]

Prediction = Literal["epsilon", "sample", "v_prediction", "flow", "score"]
PREDICTIONS = ("epsilon", "sample", "v_prediction", "flow", "score")


def prediction_coefficients(prediction: Prediction, m: float, sigma: float) -> tuple[float, float]:
    """(A, B) with P = A y + B s: the prediction of a model with score s at y, at the noise level
    (m, σ) of the variance-preserving frame.

    Parameters
    ----------
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}
        ε = −σ s, x̂0 = (y + σ² s)/m, v = m ε − σ x̂0 = −(σ/m)(y + s), rectified flow's velocity
        ε − x̂0, or the score s itself.
    m, sigma : float
        The signal and noise scales, m > 0, σ > 0.

    Returns
    -------
    A, B : float
        The coefficients (B ≠ 0).
    """
    if prediction == "epsilon":
        return 0.0, -sigma
    if prediction == "sample":
        return 1.0 / m, sigma * sigma / m
    if prediction == "v_prediction":
        return -sigma / m, -sigma / m
    if prediction == "score":
        return 0.0, 1.0
    return -1.0 / m, -sigma - sigma * sigma / m


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """⟨a, b⟩ over the last axis, kept as an axis of length 1."""
    return np.sum(a * b, axis=-1, keepdims=True)


class GuidanceRule:
    """A per-point combination of the conditional and the unconditional prediction (base class).

    Subclasses give :meth:`combine` (diffusers' guider without its rescale), their parameters and
    :meth:`check` for the dimensions where diffusers' rule degenerates.

    Parameters
    ----------
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1]: mix in the prediction rescaled to the conditional prediction's standard
        deviation over the coordinates (needs d ≥ 2: in 1-D diffusers' standard deviation of one
        coordinate is NaN).
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rule acts on (see :func:`prediction_coefficients`).
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain of N steps: the rule at steps i with int(start·N) ≤ i
        < int(stop·N), the conditional prediction at the others (diffusers' ``start``, ``stop``:
        0 ≤ start < 1, start ≤ stop ≤ 1). A continuous sampler has no steps and takes only the
        defaults (a window of its diffusion time is :class:`~fpguide.schedules.Interval`).

    Raises
    ------
    ValueError
        For φ outside [0, 1], an unknown prediction, or a window outside its range.
    """

    kind = "GuidanceRule"
    # where, in 1-D, the prediction changes within a region far narrower than the density's features
    # (None: nowhere): the push-forward of a chain's step would miss the fold it makes
    sharp_in_1d: str | None = None
    chain_only: str | None = None  # the one chain the rule is defined on (None: every sampler)

    def __init__(
        self,
        guidance_rescale: float = 0.0,
        prediction: Prediction = "epsilon",
        start: float = 0.0,
        stop: float = 1.0,
    ):
        self.guidance_rescale = check_real("guidance_rescale", guidance_rescale)
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {guidance_rescale}")
        check_choice("prediction", prediction, PREDICTIONS)
        self.prediction = prediction
        self.start, self.stop = check_real("start", start), check_real("stop", stop)
        if not (0.0 <= self.start < 1.0 and self.start <= self.stop <= 1.0):
            raise ValueError(
                f"start and stop must satisfy 0 <= start < 1 and start <= stop <= 1 (fractions of "
                f"a chain's steps), got start={start}, stop={stop}"
            )

    def params(self) -> dict:
        """The rule's own parameters (those of :meth:`to_dict` but the type).

        Returns
        -------
        dict
            The constructor's arguments.
        """
        return {
            "guidance_rescale": self.guidance_rescale,
            "prediction": self.prediction,
            "start": self.start,
            "stop": self.stop,
        }

    @property
    def path_dependent(self) -> bool:
        """Whether the rule's output depends on the chain's earlier steps of each sample (APG's
        momentum): only particles of a discrete chain follow such a path."""
        return False

    @property
    def windowed(self) -> bool:
        """Whether the rule acts on some steps of a chain only (``start``, ``stop`` not 0, 1)."""
        return (self.start, self.stop) != (0.0, 1.0)

    def step_mode(self, step: int | None, n_steps: int | None) -> Literal["rule", "cond", "zero"]:
        """What step ``step`` of a chain of ``n_steps`` outputs, as diffusers' guider decides it:
        the rule inside the window, the conditional prediction outside it.

        Parameters
        ----------
        step : int or None
            The 0-based step of the chain; None for a continuous sampler (the rule).
        n_steps : int or None
            The chain's number of steps N.

        Returns
        -------
        {"rule", "cond", "zero"}
            The rule, the conditional prediction, or a zero prediction.
        """
        if step is None:
            return "rule"
        inside = int(self.start * n_steps) <= step < int(self.stop * n_steps)
        return "rule" if inside else "cond"

    def step_combine(
        self, c: np.ndarray, u: np.ndarray, w: ArrayLike, state: dict | None, step: int | None
    ) -> np.ndarray:
        """:meth:`combine` at a chain's step, for a rule that keeps a state along each sample's
        path (``state``, one per run); the others ignore it.

        Parameters
        ----------
        c, u : numpy.ndarray
            The conditional and the unconditional prediction, shape (..., d).
        w : array_like
            The CFG weight w = γ − 1.
        state : dict or None
            The run's state (empty at its first step).
        step : int or None
            The chain's 0-based step.

        Returns
        -------
        numpy.ndarray
            The guided prediction, before the rescale.
        """
        return self.combine(c, u, w)

    def combine(self, c: np.ndarray, u: np.ndarray, w: ArrayLike) -> np.ndarray:
        """The guided prediction from the two predictions, before the rescale.

        Parameters
        ----------
        c, u : numpy.ndarray
            The conditional and the unconditional prediction, shape (..., d).
        w : array_like
            The CFG weight w = γ − 1, broadcasting against (..., 1).

        Returns
        -------
        numpy.ndarray
            The guided prediction, shape (..., d) broadcast against w.
        """
        raise NotImplementedError

    def check(self, d: int) -> None:
        """Raise where the rule is undefined in d dimensions, warn where it degenerates.

        Parameters
        ----------
        d : int
            The dimension of the target.

        Raises
        ------
        ValueError
            With ``guidance_rescale`` > 0 in 1-D.
        """
        if d == 1 and self.guidance_rescale > 0.0:
            raise ValueError(
                f"{self.kind}: guidance_rescale={self.guidance_rescale} needs d >= 2 (diffusers "
                "divides by the standard deviation of the prediction's coordinates, NaN for one "
                "coordinate)"
            )
        if self.guidance_rescale > 0.0:
            warnings.warn(
                f"{self.kind}: guidance_rescale in {d}-D divides by the standard deviation of the "
                f"prediction's {d} coordinates, which vanishes where they are equal: the drift is "
                "unbounded near that set (measured |s_w| 2e6 within 1e-3 of it in 2-D, against 7 "
                "for CFG), and a run that meets it stops with an error",
                UserWarning,
                stacklevel=4,
            )

    def guided_score(
        self,
        y: np.ndarray,
        s_c: np.ndarray,
        s_u: np.ndarray,
        w: ArrayLike,
        m: float,
        sigma: float,
        ndim: int,
        step: int | None = None,
        n_steps: int | None = None,
        state: dict | None = None,
    ) -> np.ndarray:
        """The guided score: the two scores as predictions, combined (at a chain's step: as
        :meth:`step_mode` says), rescaled, as a score again.

        Parameters
        ----------
        y : numpy.ndarray
            The points: flat in 1-D, shape (N, d) otherwise.
        s_c, s_u : numpy.ndarray
            The conditional and the unconditional score at y (score errors included), shaped like
            y.
        w : array_like
            The weight, broadcasting against the scores (a batch of weights: leading axes).
        m, sigma : float
            The noise level of the frame.
        ndim : int
            The dimension d.
        step, n_steps : int or None, optional
            The 0-based step of a discrete chain and its number of steps; None (default): a
            continuous sampler.
        state : dict or None, optional
            A path-dependent rule's state along the particles of one chain run (see
            :attr:`path_dependent`); None (default) for the others.

        Returns
        -------
        numpy.ndarray
            s_w = (P − A y)/B, shaped like the scores broadcast against w.

        Raises
        ------
        NumericalError
            Where the rule's output is not finite (e.g. a zero standard deviation in the rescale, or
            ‖u‖ = 0 in MAMBO-G), naming the rule and a point.
        """
        a, b = prediction_coefficients(self.prediction, m, sigma)
        flat = ndim == 1
        y_, c_, u_ = (v[..., None] if flat else v for v in (y, s_c, s_u))
        w_ = np.asarray(w, dtype=float)
        w_ = w_[..., None] if flat and w_.ndim else w_  # in d-D w already broadcasts as (..., 1)
        c, u = a * y_ + b * c_, a * y_ + b * u_
        mode = self.step_mode(step, n_steps)
        if mode == "rule":
            # at γ = 1 (w = 0: outside a schedule's window too) diffusers' guider is off and returns
            # c (math.isclose(guidance_scale, 1.0)); APG's combination would not
            with np.errstate(divide="ignore", invalid="ignore"):
                pred = np.where(np.abs(w_) <= 1e-9, c, self.step_combine(c, u, w_, state, step))
        else:  # diffusers' rescale runs on these steps too
            pred = np.broadcast_to(
                c if mode == "cond" else 0.0 * c, np.broadcast_shapes(c.shape, np.shape(w_))
            )
        if self.guidance_rescale > 0.0:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.std(c, axis=-1, ddof=1, keepdims=True) / np.std(
                    pred, axis=-1, ddof=1, keepdims=True
                )
                pred = self.guidance_rescale * pred * ratio + (1.0 - self.guidance_rescale) * pred
        score = (pred - a * y_) / b
        if not np.isfinite(score).all():
            bad = np.argwhere(~np.isfinite(score))[0]
            point = np.broadcast_to(y_, score.shape)[tuple(bad[:-1])]
            raise NumericalError(
                f"{self.kind} gave a non-finite prediction at the point {point.tolist()} (noise "
                f"level sigma={sigma:.6g}): diffusers' rule divides by zero there"
            )
        return score[..., 0] if flat else score

    def to_dict(self) -> dict:
        """The record, which :func:`rule_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` (the class name) and :meth:`params`.
        """
        return {"type": self.kind} | self.params()

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self) -> str:
        return f"{self.kind}(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"


class ClassifierFree(GuidanceRule):
    """diffusers' ``ClassifierFreeGuidance``: u + γ(c − u), then the rescale (the rule of
    :class:`~fpguide.CFG` itself, for ``guidance_rescale`` > 0).

    Parameters
    ----------
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rescale acts on.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.ClassifierFree(guidance_rescale=1.0)
    >>> rule.combine(np.array([2.0, 4.0]), np.array([1.0, 3.0]), 1.0)  # u + 2 (c − u)
    array([3., 5.])
    """

    kind = "ClassifierFree"

    def combine(self, c, u, w):
        return u + (1.0 + w) * (c - u)


class ClassifierFreeZeroStar(GuidanceRule):
    """diffusers' ``ClassifierFreeZeroStarGuidance`` (CFG-Zero*): the unconditional prediction
    scaled by α = ⟨c, u⟩/(‖u‖² + 1e-8) first, then αu + γ(c − αu) = (1 + w) c − w α u.

    In 1-D α u = c u²/(u² + 1e-8) ≈ c: the rule returns the conditional prediction (no guidance),
    which :meth:`check` warns of.

    Parameters
    ----------
    zero_init_steps : int, default 1
        The first steps i < ``zero_init_steps`` of a discrete chain, whose prediction diffusers sets
        to zero (before and whatever the window); a continuous sampler, whose first step has zero
        length, does not see them.
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rule acts on.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.ClassifierFreeZeroStar()
    >>> rule.combine(np.array([2.0, 1.0]), np.array([1.0, 3.0]), 2.0).round(6)  # α = 1/2, γ = 3
    array([5., 0.])
    """

    kind = "ClassifierFreeZeroStar"
    sharp_in_1d = "within |u| ~ 1e-4 of u = 0, where alpha u drops from c to 0"

    def __init__(
        self,
        zero_init_steps: int = 1,
        guidance_rescale: float = 0.0,
        prediction: Prediction = "epsilon",
        start: float = 0.0,
        stop: float = 1.0,
    ):
        super().__init__(guidance_rescale, prediction, start, stop)
        zero_init_steps = check_real("zero_init_steps", zero_init_steps)
        if zero_init_steps < 0 or zero_init_steps != int(zero_init_steps):
            raise ValueError(f"zero_init_steps must be an integer >= 0, got {zero_init_steps}")
        self.zero_init_steps = int(zero_init_steps)

    def params(self) -> dict:
        return {"zero_init_steps": self.zero_init_steps} | super().params()

    def step_mode(self, step, n_steps):
        """As :meth:`GuidanceRule.step_mode`, with a zero prediction at the steps i <
        ``zero_init_steps`` first (diffusers tests them before the window)."""
        if step is not None and step < self.zero_init_steps:
            return "zero"
        return super().step_mode(step, n_steps)

    def combine(self, c, u, w):
        alpha = _dot(c, u) / (_dot(u, u) + 1e-8)
        return alpha * u + (1.0 + w) * (c - alpha * u)

    def check(self, d: int) -> None:
        super().check(d)
        if d == 1:
            warnings.warn(
                "ClassifierFreeZeroStar in 1-D: alpha = c u/(u^2 + 1e-8) makes alpha u = c, so the "
                "rule returns the conditional prediction (no guidance, as diffusers computes it)",
                UserWarning,
                stacklevel=4,
            )


class AdaptiveProjected(GuidanceRule):
    """diffusers' ``AdaptiveProjectedGuidance`` (APG): D = c − u (or its running average, with a
    momentum), clipped to norm
    r (D·min(1, r/‖D‖) for r > 0), split into its part along ĉ = c/max(‖c‖, 1e-12) and the rest,
    update = D⊥ + η D∥; then u + γ·update (or c + w·update with ``use_original_formulation``).

    In 1-D D⊥ = 0: APG is CFG with the weight γη on the clipped difference.

    Parameters
    ----------
    adaptive_projected_guidance_momentum : float or None, default None
        β: D is replaced by the running average R_i = D_i + β R_{i−1} (R = 0 before the chain's
        first step; updated on the steps where the rule acts and γ ≠ 1, as diffusers'
        ``MomentumBuffer``). It depends on each sample's path, which only the particles of a
        discrete chain follow (:func:`~fpguide.sample_discrete`); the density solvers and the
        continuous samplers refuse it. None (default): no momentum.
    adaptive_projected_guidance_rescale : float, default 15.0
        The norm threshold r >= 0 of the clip (0: no clip).
    eta : float, default 1.0
        The weight η of the parallel part.
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    use_original_formulation : bool, default False
        Start from c with the weight w instead of from u with γ (they differ when η ≠ 1 or the
        clip acts); diffusers' ``guidance_scale`` is then w, not γ.
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rule acts on.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Raises
    ------
    ValueError
        For a momentum that is not a finite number, or r < 0.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.AdaptiveProjected(eta=0.0)
    >>> rule.combine(np.array([2.0, 1.0]), np.array([1.0, 3.0]), 2.0)  # D ⟂ c: u + 3 D
    array([ 4., -3.])
    """

    kind = "AdaptiveProjected"

    def __init__(
        self,
        adaptive_projected_guidance_momentum: float | None = None,
        adaptive_projected_guidance_rescale: float = 15.0,
        eta: float = 1.0,
        guidance_rescale: float = 0.0,
        use_original_formulation: bool = False,
        prediction: Prediction = "epsilon",
        start: float = 0.0,
        stop: float = 1.0,
    ):
        super().__init__(guidance_rescale, prediction, start, stop)
        self.momentum = (
            None
            if adaptive_projected_guidance_momentum is None
            else check_real(
                "adaptive_projected_guidance_momentum", adaptive_projected_guidance_momentum
            )
        )
        self.adaptive_projected_guidance_rescale = check_real(
            "adaptive_projected_guidance_rescale", adaptive_projected_guidance_rescale
        )
        if self.adaptive_projected_guidance_rescale < 0.0:
            raise ValueError(
                "adaptive_projected_guidance_rescale must be >= 0 (0: no clip), got "
                f"{adaptive_projected_guidance_rescale}"
            )
        self.eta = check_real("eta", eta)
        if not isinstance(use_original_formulation, (bool, np.bool_)):
            raise TypeError(
                f"use_original_formulation must be a bool, got {use_original_formulation!r}"
            )
        self.use_original_formulation = bool(use_original_formulation)

    def params(self) -> dict:
        return {
            "adaptive_projected_guidance_momentum": self.momentum,
            "adaptive_projected_guidance_rescale": self.adaptive_projected_guidance_rescale,
            "eta": self.eta,
            "use_original_formulation": self.use_original_formulation,
        } | super().params()

    @property
    def path_dependent(self) -> bool:
        return self.momentum is not None

    def step_combine(self, c, u, w, state, step):
        if self.momentum is None:
            return self.combine(c, u, w)
        if state is None or step is None or np.size(w) != 1:
            raise ValueError(
                f"{self!r}: the momentum's running average follows each sample's path along a "
                "chain's steps, one weight at a time: only fpguide.sample_discrete runs it"
            )
        if abs(float(np.reshape(w, -1)[0])) <= 1e-9:  # diffusers' guider is off: no update
            return c
        if state.get("step") != step:  # a new step: the running average moves on
            state["previous"], state["step"] = state.get("current", 0.0), step
        state["current"] = (c - u) + self.momentum * state["previous"]
        return self.combine(c, u, w, state["current"])

    def combine(self, c, u, w, diff=None):
        diff = c - u if diff is None else diff
        r = self.adaptive_projected_guidance_rescale
        if r > 0.0:
            norm = np.sqrt(_dot(diff, diff))
            with np.errstate(divide="ignore"):
                diff = diff * np.minimum(1.0, r / norm)
        unit = c / np.maximum(np.sqrt(_dot(c, c)), 1e-12)
        parallel = _dot(diff, unit) * unit
        update = diff - parallel + self.eta * parallel
        if self.use_original_formulation:
            return c + w * update
        return u + (1.0 + w) * update


class TangentialClassifierFree(GuidanceRule):
    """diffusers' ``TangentialClassifierFreeGuidance`` (TCFG): the unconditional prediction replaced
    by its projection u' = ⟨u, v₁⟩ v₁ on the top right-singular vector v₁ of the 2 × d matrix
    [c; u], then u' + γ(c − u').

    Undefined in 1-D (diffusers indexes a second singular vector that does not exist): refused.
    v₁ is computed in closed form from the 2 × 2 Gram matrix of c and u. Where the two singular
    values are equal (c ⟂ u, ‖c‖ = ‖u‖) v₁ is not unique: diffusers gets LAPACK's choice, here it is
    c/‖c‖ (what torch's SVD returned for c = (1, 0), u = (0, 1)).

    Parameters
    ----------
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rule acts on.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.TangentialClassifierFree()
    >>> rule.combine(np.array([2.0, 0.0]), np.array([1.0, 0.0]), 1.0)  # c ∥ u: plain CFG
    array([3., 0.])
    """

    kind = "TangentialClassifierFree"

    def combine(self, c, u, w):
        # v₁ ∝ a₀ c + a₁ u with (a₀, a₁) the top eigenvector of the Gram matrix [[p, q], [q, r]]
        # of c and u (the right singular vectors of [c; u] span c and u), in closed form
        p, q, r = _dot(c, c), _dot(c, u), _dot(u, u)
        top = 0.5 * (p + r) + np.hypot(0.5 * (p - r), q)
        first = p >= r  # the eigenvector formula without cancellation
        a0, a1 = np.where(first, top - r, q), np.where(first, q, top - p)
        direction = a0 * c + a1 * u
        norm2 = _dot(direction, direction)
        tie = norm2 == 0.0  # equal singular values (or c = u = 0): v₁ = c/‖c‖, as torch's SVD took
        direction = np.where(tie, c, direction)
        norm2 = np.where(tie, p, norm2)
        with np.errstate(invalid="ignore", divide="ignore"):
            projected = np.where(norm2 > 0.0, _dot(u, direction) / norm2, 0.0) * direction
        return projected + (1.0 + w) * (c - projected)

    def check(self, d: int) -> None:
        super().check(d)
        if d == 1:
            raise ValueError(
                "TangentialClassifierFree needs d >= 2: the projection drops the second singular "
                "vector of [c; u], which does not exist in 1-D (diffusers raises IndexError)"
            )


class MagnitudeAware(GuidanceRule):
    """diffusers' ``MagnitudeAwareGuidance`` (MAMBO-G): the weight damped by the relative size of
    the guidance, ρ = ‖c − u‖/‖u‖: u + (1 + w e^{−αρ})(c − u) = c + w e^{−αρ}(c − u) (diffusers'
    native formulation with ``guidance_scale`` γ = 1 + w, and its original one with
    ``guidance_scale`` w). ‖u‖ = 0 with c = u gives NaN in diffusers: reported as an error.

    Parameters
    ----------
    alpha : float, default 8.0
        The damping α >= 0.
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        The prediction the rule acts on.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Raises
    ------
    ValueError
        For α < 0.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.MagnitudeAware(alpha=0.0)  # no damping: plain CFG
    >>> rule.combine(np.array([2.0]), np.array([1.0]), 9.0)
    array([11.])
    """

    kind = "MagnitudeAware"
    sharp_in_1d = "within |u| ~ alpha |c - u| of u = 0, where the weight drops to 0"

    def __init__(
        self,
        alpha: float = 8.0,
        guidance_rescale: float = 0.0,
        prediction: Prediction = "epsilon",
        start: float = 0.0,
        stop: float = 1.0,
    ):
        super().__init__(guidance_rescale, prediction, start, stop)
        self.alpha = check_real("alpha", alpha)
        if self.alpha < 0.0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")

    def params(self) -> dict:
        return {"alpha": self.alpha} | super().params()

    def combine(self, c, u, w):
        diff = c - u
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(_dot(diff, diff)) / np.sqrt(_dot(u, u))
        return c + w * np.exp(-self.alpha * ratio) * diff


class PowerLaw(GuidanceRule):
    """Power-law CFG (Lehman Pavasovic, Verbeek, Biroli and Mézard, arXiv 2502.07849, ICLR 2026):
    the guidance term scaled by a power of its own size, c + w ‖c − u‖^α (c − u), on the scores
    (``prediction="score"``, as the paper writes it: S_c + ω (S_c − S_u) ‖S_c − S_u‖^α with ω = w,
    the Euclidean norm over the d coordinates). α = 0 is CFG; α > 0 guides more where the two
    models differ more. The term tends to 0 with ‖c − u‖ for α > −1 (the paper's condition
    lim s φ(s) = 0), its value at c = u. Not in diffusers.

    The size of ‖c − u‖ depends on the quantity: on an ε prediction it is σ times the scores', so
    the same α and w guide differently there. The scores are those of fpguide's variance-preserving
    frame y: for VE, EDM and flow matching s(t) times the process's own (X = s(t) Y), so there this
    rule is the paper's on ∇ₓ log p with the weight w s(t)^α, which changes with t (on ε, x̂0 and
    flow predictions, the same in both frames, it does not). For −1 < α < 0 the term, of size
    ‖c − u‖^{1+α}, is not Lipschitz at c = u: a round-off δ in c − u changes it by δ^{1+α} (1e-8
    for α = −1/2).

    Parameters
    ----------
    alpha : float, default 0.9
        The exponent α > −1 (0.9: the value the paper reports effective for latent models).
    guidance_rescale : float, default 0.0
        φ ∈ [0, 1] (see :class:`GuidanceRule`).
    prediction : {"score", "epsilon", "sample", "v_prediction", "flow"}, default "score"
        The quantity whose difference is measured and combined.
    start, stop : float, default 0.0 and 1.0
        The step window of a discrete chain (see :class:`GuidanceRule`).

    Raises
    ------
    ValueError
        For α <= −1.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> rule = fg.rules.PowerLaw(alpha=1.0)
    >>> rule.combine(np.array([3.0, 4.0]), np.array([0.0, 0.0]), 2.0)  # c + 2·5·(c − u)
    array([33., 44.])
    """

    kind = "PowerLaw"

    def __init__(
        self,
        alpha: float = 0.9,
        guidance_rescale: float = 0.0,
        prediction: Prediction = "score",
        start: float = 0.0,
        stop: float = 1.0,
    ):
        super().__init__(guidance_rescale, prediction, start, stop)
        self.alpha = check_real("alpha", alpha)
        if not self.alpha > -1.0:
            raise ValueError(
                f"alpha must be > -1 (the guidance term |c - u|^(1 + alpha) must vanish with "
                f"c - u), got {alpha}"
            )

    def params(self) -> dict:
        return {"alpha": self.alpha} | super().params()

    def combine(self, c, u, w):
        diff = c - u
        norm = np.sqrt(_dot(diff, diff))
        with np.errstate(divide="ignore"):
            scale = np.where(norm > 0.0, norm**self.alpha, 0.0)
        return c + w * scale * diff


class CFGPlusPlus(ClassifierFree):
    """CFG++ (Chung et al. 2024) on diffusers' DDIM chain: x̂0 from ε_λ = ε_u + λ(ε_c − ε_u), the
    re-noising direction from ε_u alone, x' = m' x̂0(ε_λ) + d' ε_u + s_η Z (λ = ``gamma``, in [0, 1]
    in the paper).

    In the chain's map x' = a x + b s this is the linear combination at a weight of its own per
    step: with P = m' σ²/m (the x̂0 term's coefficient of the score) and b = P − d' σ DDIM's,
    γ_j = λ P/b (:meth:`step_gamma`). As the steps shrink P/b grows without bound (b → 0), so CFG++
    has no continuous sampler: it runs on ``DDIM`` chains only (``solve_discrete`` with
    ``compare=False``, and ``sample_discrete``). diffusers does not ship it (a DDIM hook that did
    this was removed before its guiders were released).

    Parameters
    ----------
    prediction : {"epsilon", "sample", "v_prediction", "flow", "score"}, default "epsilon"
        Unused: the combination is linear (kept for the common record).
    start, stop : float, default 0.0 and 1.0
        The step window of the chain (see :class:`GuidanceRule`); outside it DDIM with ε_c.

    Examples
    --------
    >>> import fpguide as fg
    >>> plan = fg.DDIM(4).plan()
    >>> rule = fg.rules.CFGPlusPlus()
    >>> [round(rule.step_gamma(0.6, plan, j), 4) for j in range(4)]  # the last step: λ
    [0.7482, 0.8313, 0.6063, 0.6]
    """

    kind = "CFGPlusPlus"
    chain_only = "DDIM"

    def __init__(self, prediction: Prediction = "epsilon", start: float = 0.0, stop: float = 1.0):
        super().__init__(0.0, prediction, start, stop)

    def params(self) -> dict:
        params = super().params()
        del params["guidance_rescale"]
        return params

    @staticmethod
    def step_gamma(gamma: float, plan, j: int) -> float:
        """γ_j = λ P_j/b_j, the linear weight of step j of a DDIM ``plan`` (:class:`Steps`).

        Parameters
        ----------
        gamma : float
            λ, CFG's ``gamma``.
        plan : Steps
            The DDIM chain's steps.
        j : int
            The step.

        Returns
        -------
        float
            γ_j.
        """
        x0_part = plan.m_next[j] * plan.sigma[j] ** 2 / plan.m[j]
        return float(gamma * x0_part / plan.b[j])


RULES = {
    rule.kind: rule
    for rule in (
        ClassifierFree,
        ClassifierFreeZeroStar,
        AdaptiveProjected,
        TangentialClassifierFree,
        MagnitudeAware,
        PowerLaw,
        CFGPlusPlus,
    )
}


def rule_from_dict(spec: dict | None) -> GuidanceRule | None:
    """Rebuild a rule from :meth:`GuidanceRule.to_dict` (None stays None).

    Parameters
    ----------
    spec : dict or None
        The record: ``type`` (a name in ``RULES``) and the constructor's arguments.

    Returns
    -------
    GuidanceRule or None
        The rule.

    Raises
    ------
    ValueError
        For an unknown type.
    """
    if spec is None:
        return None
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in RULES:
        raise ValueError(f"rule type must be one of {tuple(RULES)}, got {kind!r}")
    return RULES[kind](**spec)
