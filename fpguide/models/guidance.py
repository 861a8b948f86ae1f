"""Guidance: the guided score s_w = (1 + w) ∇log p_t(x|c) − w ∇log p_t(x).

s_w is the gradient of the potential (1 + w) log p_t(x|c) − w log p_t(x). With ``CFG(label=c, w=w)``
both models come from one labelled mixture (the conditional is the class c sub-mixture); with
``CFG(w=w, cond=model)`` the target passed to the solver is the unconditional model and ``cond`` the
conditional one (autoguidance, exact Gaussian cases). Score errors (``cond_error``,
``uncond_error``, see :mod:`fpguide.score_errors`) make it s_w = (1 + w)(s_c + e_c) − w (s_u + e_u).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..tools.validation import check_number_or_swept, check_real
from .processes import Process
from .rules import GuidanceRule, rule_from_dict
from .schedules import Schedule, as_schedule, schedule_from_dict
from .score_errors import ScoreError, as_score_error, score_error_from_dict
from .score_model import ScoreModel
from .targets import (
    Components,
    Mixture,
    evaluate_mixtures,
    gaussian_layout,
    line_factors,
    line_tables,
    line_velocity,
    line_velocity_gaussian,
    line_velocity_shared,
    target_from_dict,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["CFG", "GuidedModel", "ScoreGuidedModel", "rule_axis"]

ERROR_ARGS = ("cond_error", "uncond_error")  # the score errors' argument (and attribute) names


class CFG:
    """Classifier-free guidance with weight ``w`` (w = 0: plain conditional sampling), or
    equivalently with ``gamma`` = γ = 1 + w (diffusers' ``guidance_scale``, the "γ-powered"
    convention); :meth:`classifier` spells classifier guidance with scale λ (γ = λ).

    Give either ``label`` (a class of the labelled target) or ``cond`` (an explicit conditional
    model: a mixture, or a :class:`~fpguide.ScoreModel` you bring). ``schedule`` (see
    :mod:`fpguide.schedules`) makes the weight w·p(t) with a profile p(t) ∈ [0, 1] of the
    diffusion time, e.g. ``Interval(t_lo, t_hi)`` for guidance limited to an
    interval of noise levels. ``cond_error`` and ``uncond_error`` (see :mod:`fpguide.score_errors`;
    a plain callable e(x, t) is wrapped as ``Custom``) are errors added to the conditional and the
    unconditional score: s_w = (1 + w)(s_c + e_c) − w (s_u + e_u).

    ``w`` (or ``gamma``) may be a sequence of weights: :func:`~fpguide.solve` and
    :func:`~fpguide.sample` then sweep over them (leading dimension ``w`` of the result; see
    :mod:`fpguide.sweeps.sweep`).

    Parameters
    ----------
    label : int or str, optional
        A class label of the labelled target: the conditional model is its class sub-mixture.
    w : float or array_like, optional
        The guidance weight w >= −1 (w = −1 samples the unconditional model), or a non-empty
        sequence of distinct weights (a sweep); default 0 (plain conditional sampling). Not
        together with ``gamma``.
    cond : Mixture or ScoreModel, optional
        An explicit conditional model (a GaussianMixture, EmpiricalMixture, UniformMixture or
        ScoreModel), the target then being the unconditional one. Exactly one of ``label`` and
        ``cond`` is given.
    gamma : float or array_like, optional
        γ = 1 + w >= 0 instead of ``w`` (γ = 0 samples the unconditional model), or a sequence.
    schedule : Schedule or callable, optional
        The profile p(t) ∈ [0, 1]: the weight at diffusion time t is w·p(t); a plain callable
        p(t) is wrapped as ``Custom``; None (default): the constant weight w.
    cond_error, uncond_error : ScoreError or callable, optional
        Errors e_c and e_u added to the conditional and the unconditional score; a plain callable
        e(x, t) is wrapped as ``Custom``; None (default): exact scores.
    rule : GuidanceRule or sequence of GuidanceRule, optional
        A rule of :mod:`fpguide.rules` (diffusers' guiders: CFG-Zero*, APG, TCFG, MAMBO-G, the
        rescale; power-law CFG, CFG++) combining the two predictions point by point instead of the
        linear combination, with this weight (``gamma`` is diffusers' ``guidance_scale``; w with
        APG's ``use_original_formulation``), or a sequence of distinct rules (a sweep:
        :func:`~fpguide.solve` and :func:`~fpguide.sample` give them a dimension, see
        :func:`rule_axis`); None (default): the linear combination.

    Attributes
    ----------
    w : float or np.ndarray
        The weight, or the (n,) weights of a sweep.
    label : int, str or None
        The class label (None with ``cond``).
    cond : Mixture, ScoreModel or None
        The explicit conditional model (None with ``label``).
    schedule : Schedule or None
        The weight profile.
    cond_error, uncond_error : ScoreError or None
        The score errors.
    rule : GuidanceRule, tuple of GuidanceRule or None
        The combination of the predictions (a tuple for a sweep); None: linear.

    Raises
    ------
    ValueError
        If both ``w`` and ``gamma`` are given, gamma < 0 or w < −1, or not exactly one of
        ``label`` and ``cond`` is given.
    TypeError
        If ``label`` is not an int or a string, or ``cond`` is not a mixture.

    Examples
    --------
    >>> import fpguide as fg
    >>> fg.CFG(label=1, gamma=4.0)  # diffusers' guidance_scale = 4
    CFG(label=1, w=3.0)
    >>> fg.CFG.classifier(label=1, scale=4.0).w  # classifier guidance with scale 4: the same weight
    3.0
    >>> fg.CFG(label=1, w=[0.0, 1.0, 3.0]).swept  # several weights: solve and sample sweep
    True
    """

    def __init__(
        self,
        label: int | str | None = None,
        w: float | ArrayLike | None = None,
        cond: Mixture | ScoreModel | None = None,
        *,
        gamma: float | ArrayLike | None = None,
        schedule: Schedule | Callable[[float], float] | None = None,
        cond_error: ScoreError | Callable | None = None,
        uncond_error: ScoreError | Callable | None = None,
        rule: GuidanceRule | Sequence[GuidanceRule] | None = None,
    ):
        if w is not None and gamma is not None:
            raise ValueError(
                "give the guidance weight as w or as gamma = 1 + w, not both (got "
                f"w={w!r}, "
                f"gamma={gamma!r})"
            )
        if gamma is not None:
            gamma = check_number_or_swept("gamma", gamma)
            if np.min(gamma) < 0.0:
                raise ValueError(
                    f"gamma must be >= 0 (gamma = 0 samples the unconditional model), got {gamma}"
                )
            w = gamma - 1.0
        self.w = check_number_or_swept("w", 0.0 if w is None else w)
        if np.min(self.w) < -1.0:
            raise ValueError(
                f"w must be >= -1 (w = -1 samples the unconditional model), got {self.w}"
            )
        if (label is None) == (cond is None):
            raise ValueError(
                "CFG needs exactly one of label (a class of the target) or cond (a "
                "conditional model), "
                f"got label={label!r}, cond={cond!r}"
            )
        label = label.item() if isinstance(label, np.generic) else label
        if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))):
            raise TypeError(
                f"label must be an int or a string (a class label of the target), got "
                f"{type(label).__name__} {label!r}"
            )
        if cond is not None and not isinstance(cond, (Mixture, ScoreModel)):
            raise TypeError(
                "cond must be a GaussianMixture, EmpiricalMixture, UniformMixture or ScoreModel, "
                f"got {type(cond).__name__}"
            )
        self.label = label
        self.cond = cond
        self.schedule = as_schedule(schedule)
        self.cond_error = as_score_error("cond_error", cond_error)
        self.uncond_error = as_score_error("uncond_error", uncond_error)
        self.rule = _checked_rules(rule)

    @classmethod
    def classifier(
        cls,
        label: int | str | None = None,
        scale: float = 1.0,
        cond: Mixture | ScoreModel | None = None,
    ) -> CFG:
        """Classifier guidance with scale λ: ∇log p_t(x) + λ ∇log p_t(c|x) = (1 − λ) ∇log p_t(x) + λ
        ∇log p_t(x|c), which is CFG with γ = λ (w = λ − 1); λ = 1 samples the conditional law.

        Parameters
        ----------
        label : int or str, optional
            A class label of the target (as for :class:`CFG`).
        scale : float, default 1.0
            The classifier's weight λ >= 0 (0 samples the unconditional model).
        cond : Mixture, optional
            An explicit conditional model instead of ``label``.

        Returns
        -------
        CFG
            The guidance with γ = λ.

        Raises
        ------
        ValueError
            If ``scale`` < 0.

        Examples
        --------
        >>> import fpguide as fg
        >>> fg.CFG.classifier(label=1, scale=4.0)
        CFG(label=1, w=3.0)
        """
        scale = check_real("scale", scale)
        if scale < 0.0:
            raise ValueError(
                "scale must be >= 0 (the classifier's weight λ; 0 samples the "
                "unconditional model), "
                f"got {scale}"
            )
        return cls(label=label, cond=cond, gamma=scale)

    def with_weight(
        self, label: int | str | None = None, cond: Mixture | ScoreModel | None = None
    ) -> CFG:
        """The same weight, schedule and score errors, guiding to another label or conditional
        model.

        Parameters
        ----------
        label : int or str, optional
            The class label to guide to.
        cond : Mixture, optional
            The conditional model to guide to (exactly one of ``label`` and ``cond``).

        Returns
        -------
        CFG
            The new guidance.
        """
        return CFG(label=label, w=self.w, cond=cond, schedule=self.schedule, **self._extras())

    @property
    def swept(self) -> bool:
        """Whether this guidance holds several weights (a sweep over w)."""
        return isinstance(self.w, np.ndarray)

    @property
    def rules_swept(self) -> bool:
        """Whether this guidance holds several rules (a sweep over them)."""
        return isinstance(self.rule, tuple)

    def with_rule(self, rule: GuidanceRule | None) -> CFG:
        """The same guidance with the single rule ``rule`` (e.g. one of a sweep's).

        Parameters
        ----------
        rule : GuidanceRule or None
            The rule.

        Returns
        -------
        CFG
            The guidance with the same weight, label or conditional model, schedule and errors.
        """
        return CFG(
            label=self.label,
            w=self.w.tolist() if self.swept else self.w,
            cond=self.cond,
            schedule=self.schedule,
            **self._errors(),
            rule=rule,
        )

    def at_weight(self, w: float) -> CFG:
        """The same guidance with the single weight ``w``.

        Parameters
        ----------
        w : float
            The weight (e.g. one of a sweep's).

        Returns
        -------
        CFG
            The guidance with the same label or conditional model, schedule and score errors.
        """
        return CFG(label=self.label, w=w, cond=self.cond, schedule=self.schedule, **self._extras())

    @property
    def gamma(self) -> float | np.ndarray:
        """γ = 1 + w."""
        return 1.0 + self.w

    def bind(self, target: Mixture | ScoreModel) -> GuidedModel | ScoreGuidedModel:
        """Combine with the target into the component table the kernels use.

        With ``label`` the table is the target's, with the weights log π_k (unconditional) and
        log π_k/π_c on the class's components (conditional); with ``cond`` it is the target's
        components followed by those of ``cond``, each mixture's weights −inf on the other's.
        When the target or ``cond`` is a :class:`~fpguide.ScoreModel`, the two models are kept
        apart and evaluated each by its own scores (:class:`ScoreGuidedModel`).

        Parameters
        ----------
        target : Mixture or ScoreModel
            The target (the unconditional model).

        Returns
        -------
        GuidedModel or ScoreGuidedModel
            The bound model.

        Raises
        ------
        TypeError
            If ``target`` is not a GaussianMixture, EmpiricalMixture, UniformMixture or
            ScoreModel.
        ValueError
            If this CFG holds several weights (take one with :meth:`at_weight`), ``cond`` does
            not have the target's dimension, a score model is given with score errors or with a
            label (it has no classes) (and as the score errors' checks and
            :meth:`Mixture.condition` for the label).

        Examples
        --------
        >>> import fpguide as fg
        >>> target = fg.GaussianMixture([-2.0, 2.0], 0.25, labels=[0, 1])
        >>> model = fg.CFG(label=1, w=2.0).bind(target)
        >>> model.weight(0.5), model.ndim
        (2.0, 1)
        """
        if not isinstance(target, (Mixture, ScoreModel)):
            raise TypeError(
                "target must be a GaussianMixture, EmpiricalMixture, UniformMixture or "
                f"ScoreModel, got {type(target).__name__}"
            )
        if self.swept:
            raise ValueError(
                f"this CFG holds {self.w.size} weights (a sweep): pass it to "
                "fpguide.solve or "
                "fpguide.sample, or take one with at_weight(w)"
            )
        if self.rules_swept:
            raise ValueError(
                f"this CFG holds {len(self.rule)} rules (a sweep): pass it to fpguide.solve or "
                "fpguide.sample, or take one with with_rule(rule)"
            )
        errors = self._errors()
        for name, error in errors.items():
            error.check(name, target.ndim)
        if self.rule is not None:
            self.rule.check(target.ndim)
        if self.cond is not None and self.cond.ndim != target.ndim:
            raise ValueError(
                f"cond must have the dimension of the target ({target.ndim}), got {self.cond.ndim}"
            )
        if isinstance(target, ScoreModel) or isinstance(self.cond, ScoreModel):
            return self._bind_scores(target)
        if self.cond is None:
            return GuidedModel(
                self.w,
                target.component_table(),
                target.log_weights(),
                target.log_weights(self.label),
                target,
                target.condition(self.label),
                math.log(target.class_weight(self.label)),
                self.label,
                self.schedule,
                rule=self.rule,
                **errors,
            )
        table = Components.concatenate([target.component_table(), self.cond.component_table()])
        n_u = target.n_components
        logw_u = np.concatenate([target.log_weights(), np.full(self.cond.n_components, -np.inf)])
        logw_c = np.concatenate([np.full(n_u, -np.inf), self.cond.log_weights()])
        return GuidedModel(
            self.w,
            table,
            logw_u,
            logw_c,
            target,
            self.cond,
            None,
            None,
            self.schedule,
            rule=self.rule,
            **errors,
        )

    def _bind_scores(self, target: Mixture | ScoreModel) -> ScoreGuidedModel:
        """The bound model of a target or ``cond`` that is a score model."""
        if self.cond is None:
            raise ValueError(
                f"the score model {target.name} has no classes to guide to with label="
                f"{self.label!r}: give the conditional model as cond= (a ScoreModel of the "
                "conditional network, or a mixture)"
            )
        if self._errors():
            raise ValueError(
                "a ScoreModel's scores are the model's own: they take no cond_error or "
                "uncond_error (add the error to the callable instead)"
            )
        return ScoreGuidedModel(self.w, target, self.cond, self.schedule, self.rule)

    def to_dict(self) -> dict:
        """The record (score errors and the rule only when given, so records without them are
        unchanged).

        Returns
        -------
        dict
            ``type`` "CFG", ``w`` (a list for a sweep), ``label``, ``cond`` and ``schedule`` (their
            records, or None), and ``cond_error``, ``uncond_error`` and ``rule`` when given.
        """
        spec = {
            "type": "CFG",
            "w": self.w.tolist() if self.swept else self.w,
            "label": self.label,
            "cond": None if self.cond is None else self.cond.to_dict(),
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
        }
        spec |= {name: extra.to_dict() for name, extra in self._errors().items()}
        if self.rule is not None:
            spec["rule"] = (
                [rule.to_dict() for rule in self.rule] if self.rules_swept else self.rule.to_dict()
            )
        return spec

    @classmethod
    def from_dict(cls, spec: dict) -> CFG:
        """Rebuild a CFG from :meth:`to_dict`.

        Parameters
        ----------
        spec : dict
            The record (``w`` required; ``label``, ``cond``, ``schedule``, ``cond_error``,
            ``uncond_error`` and ``rule`` optional).

        Returns
        -------
        CFG
            The guidance.

        Examples
        --------
        >>> import fpguide as fg
        >>> fg.CFG.from_dict(fg.CFG(label=1, w=2.0).to_dict())
        CFG(label=1, w=2.0)
        """
        cond = spec.get("cond")
        return cls(
            label=spec.get("label"),
            w=spec["w"],
            cond=None if cond is None else target_from_dict(cond),
            schedule=schedule_from_dict(spec.get("schedule")),
            **{name: score_error_from_dict(spec.get(name)) for name in ERROR_ARGS},
            rule=(
                [rule_from_dict(rule) for rule in spec["rule"]]
                if isinstance(spec.get("rule"), list)
                else rule_from_dict(spec.get("rule"))
            ),
        )

    def _errors(self) -> dict[str, ScoreError]:
        """The score errors given, by argument name."""
        return {name: getattr(self, name) for name in ERROR_ARGS if getattr(self, name) is not None}

    def _extras(self) -> dict:
        """The score errors and the rule given, by argument name."""
        return self._errors() | ({} if self.rule is None else {"rule": self.rule})

    def __repr__(self) -> str:
        what = f"label={self.label!r}" if self.cond is None else f"cond={self.cond!r}"
        when = "" if self.schedule is None else f", schedule={self.schedule!r}"
        errors = "".join(f", {name}={extra!r}" for name, extra in self._extras().items())
        w = self.w.tolist() if self.swept else self.w
        return f"CFG({what}, w={w}{when}{errors})"


def _checked_rules(
    rule: GuidanceRule | Sequence[GuidanceRule] | None,
) -> GuidanceRule | tuple[GuidanceRule, ...] | None:
    """A rule, None, or a sweep's non-empty tuple of distinct rules."""
    if rule is None or isinstance(rule, GuidanceRule):
        return rule
    if isinstance(rule, (list, tuple)) and rule:
        rules = tuple(rule)
        for item in rules:
            if not isinstance(item, GuidanceRule):
                raise TypeError(
                    "rule must be a guidance rule of fpguide.rules, a sequence of them (a sweep) "
                    f"or None, got a sequence holding {type(item).__name__}"
                )
        records = [json.dumps(item.to_dict(), sort_keys=True) for item in rules]
        if len(set(records)) != len(records):
            raise ValueError(f"a sweep's rules must be distinct, got {list(rules)!r}")
        return rules
    raise TypeError(
        "rule must be a guidance rule of fpguide.rules, a non-empty sequence of them (a sweep) or "
        f"None, got {type(rule).__name__} {rule!r}"
    )


def rule_axis(rules: Sequence[GuidanceRule]) -> tuple[str, tuple]:
    """The dimension of a sweep over rules: ``rule_<name>`` with the parameter's values when the
    rules are of one kind and differ in that one parameter, else ``rule`` with their reprs.

    Parameters
    ----------
    rules : sequence of GuidanceRule
        The swept rules (distinct).

    Returns
    -------
    name : str
        The dimension's name.
    values : tuple
        Its coordinate values, one per rule.

    Examples
    --------
    >>> import fpguide as fg
    >>> from fpguide.models.guidance import rule_axis
    >>> rule_axis([fg.rules.PowerLaw(alpha=a) for a in (0.0, 0.5)])
    ('rule_alpha', (0.0, 0.5))
    """
    params = [rule.params() for rule in rules]
    if len({type(rule) for rule in rules}) == 1:
        differ = [key for key in params[0] if len({repr(p[key]) for p in params}) > 1]
        if len(differ) == 1:
            return f"rule_{differ[0]}", tuple(p[differ[0]] for p in params)
    return "rule", tuple(repr(rule) for rule in rules)


def _line_points(axis: int, x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The (L·M, d) points of L grid lines along ``axis``: each line's point (``points``, (L, d))
    with its ``axis`` coordinate replaced by the line's positions (``x``, (L, M))."""
    on_lines = np.repeat(points[:, None, :], x.shape[1], axis=1)
    on_lines[..., axis] = x
    return on_lines.reshape(-1, points.shape[1])


class _Combination:
    """What both bound models share: the weight at t, the dimension, the combination of the two
    scores (linear, or the rule's), the guided score and the line velocity from full score vectors.
    Subclasses give the two scores (``score_pair``) and the models' length scales."""

    def weight(self, t: float, w: float | np.ndarray | None = None) -> float | np.ndarray:
        """The guidance weight at diffusion time t: w, or w·p(t) with a schedule (``w`` given:
        instead of self.w).

        Parameters
        ----------
        t : float
            The diffusion time.
        w : float or np.ndarray, optional
            Weights instead of ``self.w``.

        Returns
        -------
        float or np.ndarray
            w, or w·p(t).
        """
        w = self.w if w is None else w
        return w if self.schedule is None else w * self.schedule(t)

    @property
    def ndim(self) -> int:
        """The dimension d of the space."""
        return self.uncond.ndim

    @property
    def has_errors(self) -> bool:
        """Whether a score error (conditional or unconditional) is given."""
        return self.cond_error is not None or self.uncond_error is not None

    def combine(
        self,
        x: np.ndarray,
        s_u: np.ndarray,
        s_c: np.ndarray,
        t: float,
        process: Process,
        w: float | np.ndarray | None = None,
        step: int | None = None,
        n_steps: int | None = None,
        state: dict | None = None,
    ) -> np.ndarray:
        """s_w = (1 + w) s_c − w s_u at the weight :meth:`weight` (t), or the rule's combination.

        Parameters
        ----------
        x : np.ndarray
            The points: flat in one dimension, else reshaped to the scores' (N, d).
        s_u, s_c : np.ndarray
            The unconditional and the conditional score at x.
        t : float
            The diffusion time.
        process : Process
            The noising process.
        w : float or np.ndarray, optional
            Weights instead of self.w (see :meth:`GuidedModel.guided_score`).
        step, n_steps : int or None, optional
            A discrete chain's 0-based step and its number of steps (for a rule's window).
        state : dict or None, optional
            A path-dependent rule's state along one chain run's particles.

        Returns
        -------
        np.ndarray
            The guided score.
        """
        w = self.weight(t, w)
        if self.rule is not None:
            m, sigma = float(process.m(t)), float(process.sigma(t))
            points = x if self.ndim == 1 else np.reshape(x, s_u.shape)
            return self.rule.guided_score(
                points, s_c, s_u, w, m, sigma, self.ndim, step=step, n_steps=n_steps, state=state
            )
        return (1.0 + w) * s_c - w * s_u

    def guided_score(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        w: float | np.ndarray | None = None,
        step: int | None = None,
        n_steps: int | None = None,
        state: dict | None = None,
    ) -> np.ndarray:
        """s_w(x, t) = (1 + w) s_c − w s_u, or the rule's combination of the two.

        s_c and s_u are the conditional and the unconditional score of :meth:`score_pair` (a
        mixture's with its score errors, a score model's own), w = :meth:`weight` (t); with a
        ``rule``, its combination of the two scores' predictions
        (:meth:`~fpguide.models.rules.GuidanceRule.guided_score`).

        Parameters
        ----------
        x : np.ndarray
            The points: a flat array in one dimension, (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.
        w : float or np.ndarray, optional
            Weights instead of self.w, an array broadcasting against the scores (a batch of
            weights sharing one evaluation of the scores).
        step, n_steps : int or None, optional
            The 0-based step of a discrete chain and its number of steps, for a rule whose output
            depends on the step (:meth:`~fpguide.models.rules.GuidanceRule.step_mode`); None
            (default): a continuous sampler.
        state : dict or None, optional
            A path-dependent rule's state along one chain run's particles (APG's momentum); None
            (default) for the others.

        Returns
        -------
        np.ndarray
            The guided score, shaped like the scores (broadcast against ``w``).
        """
        s_u, s_c = self.score_pair(x, t, process)
        return self.combine(x, s_u, s_c, t, process, w, step, n_steps, state)

    def velocity_along(
        self,
        axis: int,
        x: np.ndarray,
        points: np.ndarray,
        t: float,
        process: Process,
        linear: float,
        factor: float,
        w: float | None = None,
    ) -> np.ndarray:
        """linear·x + factor·s_w,axis on grid lines, from the full guided score at the lines'
        points (L·M of them; a mixture without a rule is faster along its lines, see
        :meth:`GuidedModel.velocity_along`).

        Parameters
        ----------
        axis : int
            The sweep axis a.
        x : np.ndarray
            (L, M) positions along ``axis``.
        points : np.ndarray
            (L, d) points fixing the other coordinates of each line.
        t : float
            The diffusion time.
        process : Process
            The noising process.
        linear, factor : float
            The coefficients of x and of the guided score.
        w : float, optional
            The weight instead of self.w.

        Returns
        -------
        np.ndarray
            (L, M) linear·x + factor·s_w,axis.
        """
        score = self.guided_score(_line_points(axis, x, points), t, process, w)
        return linear * x + factor * score[:, axis].reshape(x.shape)

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of either model at t: the smaller of their length scales.

        Parameters
        ----------
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        float
            min of the unconditional and the conditional model's ``length_scale``.
        """
        return min(self.uncond.length_scale(t, process), self.cond.length_scale(t, process))


@dataclass(frozen=True)
class GuidedModel(_Combination):
    """A target and its guidance, bound: one component table, two weight vectors, the weight w.

    Made by :meth:`CFG.bind`. The unconditional model p_t(x) and the conditional one p_t(x|c) are
    the same components (``table``) with two weight vectors, so that every component is evaluated
    once per point for both; the guided score is s_w = (1 + w)(s_c + e_c) − w (s_u + e_u).

    Attributes
    ----------
    w : float
        The guidance weight.
    table : Components
        The component table of both models.
    logw_u, logw_c : np.ndarray
        (K,) log-weights of the unconditional and the conditional model (−inf off a model).
    uncond, cond : Mixture
        The unconditional and the conditional model.
    log_class_weight : float or None
        log π_c when the conditional is a class of the target, else None.
    label : object
        The class label (None for an explicit conditional model).
    schedule : Schedule or None
        The weight at diffusion time t is w·schedule(t); None: w.
    cond_error : ScoreError or None
        e_c, added to ∇log p_t(x|c).
    uncond_error : ScoreError or None
        e_u, added to ∇log p_t(x).
    rule : GuidanceRule or None
        The combination of the predictions; None: linear.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture([-2.0, 2.0], 0.25, labels=[0, 1])
    >>> model = fg.CFG(label=1, w=2.0).bind(target)
    >>> model.guided_score(np.array([0.0, 2.0]), 0.5, fg.OU())
    array([ 5.0258...,  -1.0785...])
    """

    w: float
    table: Components
    logw_u: np.ndarray
    logw_c: np.ndarray
    uncond: Mixture
    cond: Mixture
    # log π_c when the conditional is a class of the target, else None
    log_class_weight: float | None
    label: object
    schedule: Schedule | None = None  # the weight at diffusion time t is w·schedule(t)
    cond_error: ScoreError | None = None  # e_c, added to ∇log p_t(x|c)
    uncond_error: ScoreError | None = None  # e_u, added to ∇log p_t(x)
    rule: GuidanceRule | None = None  # None: the linear combination

    has_densities = True  # its log-densities are known (the conditional and tilted laws)

    @property
    def has_class_posterior(self) -> bool:
        """Whether the class posterior p_t(c|x) is known: the conditional is a class of the
        target."""
        return self.log_class_weight is not None

    def log_class_posterior(self, x: np.ndarray, t: float, process: Process) -> np.ndarray:
        """log p_t(c|x) = log π_c + log p_t(x|c) − log p_t(x).

        Parameters
        ----------
        x : numpy.ndarray
            The points (as :meth:`scores`).
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        numpy.ndarray
            The log class posterior at the points.
        """
        logp_u, _, logp_c, _ = self.scores(x, t, process)
        return self.log_class_weight + logp_c - logp_u

    def scores(
        self, x: np.ndarray, t: float, process: Process, smoothing: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(log p_t(x), ∇log p_t(x), log p_t(x|c), ∇log p_t(x|c)) at the points x.

        x is a flat array in 1-D (scores shaped like x), shape (N, d) otherwise (log-densities (N,),
        scores (N, d)). With ``smoothing`` ρ > 0, those of the models convolved with N(0, ρ² I):
        σ(t) replaced by sqrt(σ(t)² + m(t)² ρ²). Score errors are not included.

        Parameters
        ----------
        x : np.ndarray
            The points: any shape in one dimension, (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process (m(t), σ(t)).
        smoothing : float, default 0.0
            ρ >= 0, the standard deviation of the Gaussian the models are convolved with.

        Returns
        -------
        logp_u : np.ndarray
            log p_t(x): shaped like x in one dimension, (N,) otherwise.
        s_u : np.ndarray
            ∇log p_t(x), shaped like x.
        logp_c : np.ndarray
            log p_t(x|c), as ``logp_u``.
        s_c : np.ndarray
            ∇log p_t(x|c), shaped like x.
        """
        m, sigma = float(process.m(t)), float(process.sigma(t))
        if smoothing:
            sigma = math.hypot(sigma, m * smoothing)
        points = np.ascontiguousarray(x, dtype=float).reshape(-1, self.ndim)
        logp_u, logp_c = np.empty(points.shape[0]), np.empty(points.shape[0])
        s_u, s_c = np.empty_like(points), np.empty_like(points)
        evaluate_mixtures(
            points, m, sigma, self.table, self.logw_u, self.logw_c, logp_u, s_u, logp_c, s_c
        )
        if self.ndim == 1:
            return (
                logp_u.reshape(x.shape),
                s_u.reshape(x.shape),
                logp_c.reshape(x.shape),
                s_c.reshape(x.shape),
            )
        return logp_u, s_u, logp_c, s_c

    def score_errors(
        self,
        x: np.ndarray,
        t: float,
        process: Process,
        scores: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(e_u, e_c) at the points x (flat in 1-D, (N, d) otherwise; zeros for a score without
        error), given the exact ``scores`` (s_u, s_c) there or computing them when an error model
        needs them.

        Parameters
        ----------
        x : np.ndarray
            The points: flat in one dimension, else reshaped to (N, d).
        t : float
            The diffusion time.
        process : Process
            The noising process.
        scores : tuple of np.ndarray, optional
            The exact scores (s_u, s_c) at x; None (default): computed with :meth:`scores` when an
            error model reads them.

        Returns
        -------
        e_u, e_c : np.ndarray
            The errors of the unconditional and the conditional score, shaped like the points.
        """
        points = x if self.ndim == 1 else np.reshape(x, (-1, self.ndim))
        s_u = s_c = None
        if scores is not None:
            s_u, s_c = scores
        elif any(
            error is not None and error.needs_score
            for error in (self.cond_error, self.uncond_error)
        ):
            _, s_u, _, s_c = self.scores(points, t, process)

        def field(error, which, score):
            return (
                np.zeros(np.shape(points))
                if error is None
                else error.field(points, t, process, self, which, score)
            )

        return field(self.uncond_error, "uncond", s_u), field(self.cond_error, "cond", s_c)

    def score_pair(
        self, x: np.ndarray, t: float, process: Process
    ) -> tuple[np.ndarray, np.ndarray]:
        """(s_u + e_u, s_c + e_c): the unconditional and the conditional score with their errors
        (none by default), shaped like the points.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in one dimension, (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        s_u, s_c : numpy.ndarray
            The two scores the guidance combines.
        """
        _, s_u, _, s_c = self.scores(x, t, process)
        if self.has_errors:
            e_u, e_c = self.score_errors(x, t, process, (s_u, s_c))
            s_u, s_c = s_u + e_u, s_c + e_c
        return s_u, s_c

    def velocity_along(
        self,
        axis: int,
        x: np.ndarray,
        points: np.ndarray,
        t: float,
        process: Process,
        linear: float,
        factor: float,
        w: float | None = None,
    ) -> np.ndarray:
        """linear·x + factor·s_w,axis on grid lines: the velocity along ``axis``.

        x (L, M) are positions along ``axis`` and points (L, d) fix the other coordinates of each
        line (score errors are evaluated at the (L·M, d) points and added). Each component
        restricted to a line is a 1-D factor (:func:`~fpguide.models.targets.line_tables`). A
        table of Gaussians only runs the vectorised kernel
        (:func:`~fpguide.models.targets.line_velocity_gaussian`); with other kinds, lines through
        the same points with the same factors (a trace's first stage, axis-aligned components)
        compute the factors once and the mixing per line
        (:func:`~fpguide.models.targets.line_velocity_shared`).

        Parameters
        ----------
        axis : int
            The sweep axis a.
        x : np.ndarray
            (L, M) positions along ``axis``, one row per line.
        points : np.ndarray
            (L, d) points fixing the other coordinates of each line (their ``axis`` coordinate
            unused).
        t : float
            The diffusion time.
        process : Process
            The noising process.
        linear, factor : float
            The coefficients of x and of the guided score.
        w : float, optional
            The weight instead of self.w (then :meth:`weight` applies the schedule).

        Returns
        -------
        np.ndarray
            (L, M) linear·x + factor·s_w,axis.
        """
        if self.rule is not None:  # the rule needs every coordinate of both scores
            return super().velocity_along(axis, x, points, t, process, linear, factor, w)
        m, sigma = float(process.m(t)), float(process.sigma(t))
        shape = (points.shape[0], self.table.kinds.size)
        p1, p2, offset = np.empty(shape), np.empty(shape), np.empty(shape)
        line_tables(axis, points, m, sigma, *self.table, p1, p2, offset)
        out = np.empty_like(x)
        w = self.weight(t, w)
        layout = gaussian_layout(self.table.kinds, self.logw_u, self.logw_c)
        if layout is not None:  # Gaussians only: the vectorised kernel
            line_velocity_gaussian(
                x, p1, p2, offset, self.logw_u, self.logw_c, layout, w, linear, factor, out
            )
        elif (
            x.shape[0] > 1 and (x == x[:1]).all() and (p1 == p1[:1]).all() and (p2 == p2[:1]).all()
        ):
            # lines through the same points with the same 1-D factors (a trace's first stage,
            # axis-aligned components): the factors once, the mixing per line
            lc, grads = np.empty((x.shape[1], shape[1])), np.empty((x.shape[1], shape[1]))
            line_factors(
                x[0], sigma, self.table.kinds, p1[0], p2[0], self.logw_u, self.logw_c, lc, grads
            )
            line_velocity_shared(
                x[0], lc, grads, offset, self.logw_u, self.logw_c, w, linear, factor, out
            )
        else:
            line_velocity(
                x,
                sigma,
                self.table.kinds,
                p1,
                p2,
                offset,
                self.logw_u,
                self.logw_c,
                w,
                linear,
                factor,
                out,
            )
        if self.has_errors:
            e_u, e_c = self.score_errors(_line_points(axis, x, points), t, process)
            out += factor * ((1.0 + w) * e_c[:, axis] - w * e_u[:, axis]).reshape(x.shape)
        return out


@dataclass(frozen=True)
class ScoreGuidedModel(_Combination):
    """A target and its guidance, bound, when either model is a :class:`~fpguide.ScoreModel`.

    Made by :meth:`CFG.bind`. Each model gives its own score (a score model its callable's, a
    mixture its closed form), and s_w = (1 + w) s_c − w s_u (or the rule's combination). There
    are no densities: the observables that need them are left out of a run's Dataset.

    Attributes
    ----------
    w : float
        The guidance weight.
    uncond, cond : Mixture or ScoreModel
        The unconditional and the conditional model.
    schedule : Schedule or None
        The weight at diffusion time t is w·schedule(t); None: w.
    rule : GuidanceRule or None
        The combination of the predictions; None: linear.

    Examples
    --------
    >>> import numpy as np
    >>> import fpguide as fg
    >>> uncond = fg.ScoreModel(lambda x, t: -x, ndim=1)
    >>> cond = fg.ScoreModel(lambda x, t: 1.0 - x, ndim=1)
    >>> fg.CFG(w=2.0, cond=cond).bind(uncond).guided_score(np.array([0.0, 1.0]), 0.5, fg.OU())
    array([3., 2.])
    """

    w: float
    uncond: Mixture | ScoreModel
    cond: Mixture | ScoreModel
    schedule: Schedule | None = None
    rule: GuidanceRule | None = None
    # what a GuidedModel has and this one has not
    label = None
    log_class_weight = None
    cond_error = None
    uncond_error = None
    has_densities = False

    @property
    def has_class_posterior(self) -> bool:
        """Whether the class posterior is known: the conditional model is a score model with a
        classifier."""
        return isinstance(self.cond, ScoreModel) and self.cond.has_classifier

    def log_class_posterior(self, x: np.ndarray, t: float, process: Process) -> np.ndarray:
        """log p_t(c|x) from the conditional model's classifier.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in one dimension, (..., d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        numpy.ndarray
            The log class posterior at the points.
        """
        return self.cond.log_class_posterior(x, t, process)

    def score_pair(
        self, x: np.ndarray, t: float, process: Process
    ) -> tuple[np.ndarray, np.ndarray]:
        """(∇log p_t(x), ∇log p_t(x|c)), each model's own, shaped like the points.

        Parameters
        ----------
        x : numpy.ndarray
            The points: flat in one dimension, (N, d) otherwise.
        t : float
            The diffusion time.
        process : Process
            The noising process.

        Returns
        -------
        s_u, s_c : numpy.ndarray
            The unconditional and the conditional score.
        """
        return tuple(_score_of(model, x, t, process) for model in (self.uncond, self.cond))


def _score_of(model: Mixture | ScoreModel, x: np.ndarray, t: float, process: Process) -> np.ndarray:
    """A model's score at the points x (flat in 1-D, (N, d) otherwise), shaped like x."""
    if isinstance(model, ScoreModel):
        return model.evaluate_score(x, t, process)
    return model.evaluate(x, t, process)[1]
