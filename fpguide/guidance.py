"""Guidance: the guided score s_w = (1 + w) ∇log p_t(x|c) − w ∇log p_t(x).

s_w is the gradient of the potential (1 + w) log p_t(x|c) − w log p_t(x). With ``CFG(label=c, w=w)`` both models come
from one labelled mixture (the conditional is the class c sub-mixture); with ``CFG(w=w, cond=model)`` the target passed
to the solver is the unconditional model and ``cond`` the conditional one (autoguidance, exact Gaussian cases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_real
from .processes import Process
from .schedules import Schedule, as_schedule, schedule_from_dict
from .targets import Components, Mixture, line_tables, line_velocity, mixture_eval, target_from_dict


class CFG:
    """Classifier-free guidance with weight ``w`` (w = 0: plain conditional sampling), or equivalently with
    ``gamma`` = γ = 1 + w (diffusers' ``guidance_scale``, the "γ-powered" convention); :meth:`classifier` spells
    classifier guidance with scale λ (γ = λ).

    Give either ``label`` (a class of the labelled target) or ``cond`` (an explicit conditional model). ``schedule``
    (see :mod:`fpguide.schedules`) makes the weight w·p(t) with a profile p(t) ∈ [0, 1] of the diffusion time, e.g.
    ``Interval(t_lo, t_hi)`` for guidance limited to an interval of noise levels.
    """

    def __init__(self, label=None, w: float | None = None, cond: Mixture | None = None, *,
                 gamma: float | None = None, schedule=None):
        if w is not None and gamma is not None:
            raise ValueError(f"give the guidance weight as w or as gamma = 1 + w, not both (got w={w!r}, "
                             f"gamma={gamma!r})")
        if gamma is not None:
            gamma = check_real("gamma", gamma)
            if gamma < 0.0:
                raise ValueError(f"gamma must be >= 0 (gamma = 0 samples the unconditional model), got {gamma}")
            w = gamma - 1.0
        self.w = check_real("w", 0.0 if w is None else w)
        if self.w < -1.0:
            raise ValueError(f"w must be >= -1 (w = -1 samples the unconditional model), got {self.w}")
        if (label is None) == (cond is None):
            raise ValueError("CFG needs exactly one of label (a class of the target) or cond (a conditional model)")
        if cond is not None and not isinstance(cond, Mixture):
            raise TypeError(f"cond must be a GaussianMixture or UniformMixture, got {type(cond).__name__}")
        self.label = label
        self.cond = cond
        self.schedule = as_schedule(schedule)

    @classmethod
    def classifier(cls, label=None, scale: float = 1.0, cond: Mixture | None = None) -> CFG:
        """Classifier guidance with scale λ: ∇log p_t(x) + λ ∇log p_t(c|x) = (1 − λ) ∇log p_t(x) + λ ∇log p_t(x|c),
        which is CFG with γ = λ (w = λ − 1); λ = 1 samples the conditional law."""
        scale = check_real("scale", scale)
        if scale < 0.0:
            raise ValueError(f"scale must be >= 0 (the classifier's weight λ; 0 samples the unconditional model), "
                             f"got {scale}")
        return cls(label=label, cond=cond, gamma=scale)

    def with_weight(self, label=None, cond: Mixture | None = None) -> CFG:
        """The same weight and schedule, guiding to another label or conditional model."""
        return CFG(label=label, w=self.w, cond=cond, schedule=self.schedule)

    @property
    def gamma(self) -> float:
        """γ = 1 + w."""
        return 1.0 + self.w

    def bind(self, target: Mixture) -> GuidedModel:
        """Combine with the target into the component table the kernels use."""
        if not isinstance(target, Mixture):
            raise TypeError(f"target must be a GaussianMixture or UniformMixture, got {type(target).__name__}")
        if self.cond is None:
            return GuidedModel(self.w, target.component_table(), target.log_weights(), target.log_weights(self.label),
                               target, target.condition(self.label), math.log(target.class_weight(self.label)),
                               self.label, self.schedule)
        if self.cond.ndim != target.ndim:
            raise ValueError(f"cond must have the dimension of the target ({target.ndim}), got {self.cond.ndim}")
        table = Components.concatenate([target.component_table(), self.cond.component_table()])
        n_u = target.n_components
        logw_u = np.concatenate([target.log_weights(), np.full(self.cond.n_components, -np.inf)])
        logw_c = np.concatenate([np.full(n_u, -np.inf), self.cond.log_weights()])
        return GuidedModel(self.w, table, logw_u, logw_c, target, self.cond, None, None, self.schedule)

    def to_dict(self) -> dict:
        return {"type": "CFG", "w": self.w, "label": self.label,
                "cond": None if self.cond is None else self.cond.to_dict(),
                "schedule": None if self.schedule is None else self.schedule.to_dict()}

    @classmethod
    def from_dict(cls, spec: dict) -> CFG:
        cond = spec.get("cond")
        return cls(label=spec.get("label"), w=spec["w"], cond=None if cond is None else target_from_dict(cond),
                   schedule=schedule_from_dict(spec.get("schedule")))

    def __repr__(self) -> str:
        what = f"label={self.label!r}" if self.cond is None else f"cond={self.cond!r}"
        when = "" if self.schedule is None else f", schedule={self.schedule!r}"
        return f"CFG({what}, w={self.w}{when})"


@dataclass(frozen=True)
class GuidedModel:
    """A target and its guidance, bound: one component table, two weight vectors, the weight w."""

    w: float
    table: Components
    logw_u: np.ndarray
    logw_c: np.ndarray
    uncond: Mixture
    cond: Mixture
    log_class_weight: float | None  # log π_c when the conditional is a class of the target, else None
    label: object
    schedule: Schedule | None = None  # the weight at diffusion time t is w·schedule(t)

    def weight(self, t: float) -> float:
        """The guidance weight at diffusion time t: w, or w·p(t) with a schedule."""
        return self.w if self.schedule is None else self.w * self.schedule(t)

    @property
    def ndim(self) -> int:
        return self.uncond.ndim

    def scores(self, x: np.ndarray, t: float, process: Process):
        """(log p_t(x), ∇log p_t(x), log p_t(x|c), ∇log p_t(x|c)) at the points x: a flat array in 1-D (scores
        shaped like x), shape (N, d) otherwise (log-densities (N,), scores (N, d))."""
        m, sigma = float(process.m(t)), float(process.sigma(t))
        points = np.ascontiguousarray(x, dtype=float).reshape(-1, self.ndim)
        logp_u, logp_c = np.empty(points.shape[0]), np.empty(points.shape[0])
        s_u, s_c = np.empty_like(points), np.empty_like(points)
        mixture_eval(points, m, sigma, *self.table, self.logw_u, self.logw_c, logp_u, s_u, logp_c, s_c)
        if self.ndim == 1:
            return logp_u.reshape(x.shape), s_u.reshape(x.shape), logp_c.reshape(x.shape), s_c.reshape(x.shape)
        return logp_u, s_u, logp_c, s_c

    def guided_score(self, x: np.ndarray, t: float, process: Process) -> np.ndarray:
        """s_w(x, t) = (1 + w) ∇log p_t(x|c) − w ∇log p_t(x), w = :meth:`weight` (t)."""
        _, s_u, _, s_c = self.scores(x, t, process)
        w = self.weight(t)
        return (1.0 + w) * s_c - w * s_u

    def velocity_along(self, axis: int, x: np.ndarray, points: np.ndarray, t: float, process: Process,
                       linear: float, factor: float) -> np.ndarray:
        """linear·x + factor·s_w,axis on grid lines: x (L, M) are positions along ``axis`` and points (L, d) fix
        the other coordinates of each line."""
        m, sigma = float(process.m(t)), float(process.sigma(t))
        shape = (points.shape[0], self.table.kinds.size)
        p1, p2, offset = np.empty(shape), np.empty(shape), np.empty(shape)
        line_tables(axis, points, m, sigma, *self.table, p1, p2, offset)
        out = np.empty_like(x)
        line_velocity(x, sigma, self.table.kinds, p1, p2, offset, self.logw_u, self.logw_c, self.weight(t), linear,
                      factor, out)
        return out

    def length_scale(self, t: float, process: Process) -> float:
        return min(self.uncond.length_scale(t, process), self.cond.length_scale(t, process))
