"""Targets: labelled mixtures whose noised densities p_t are known in closed form.

Under X_t = m X_0 + σ Z a component N(μ, v) becomes N(mμ, m²v + σ²) and a uniform U[a, b] becomes
p_t(x) = [Φ((x − ma)/σ) − Φ((x − mb)/σ)] / (m(b − a)). Mixtures combine their components with log-sum-exp; the class
posterior is p_t(c|x) = Σ_{k∈c} π_k p_t^k(x) / p_t(x).

Every mixture is described to the compiled kernels by a *component table* (kind, a, b) per component, so one kernel
serves Gaussian, uniform and mixed models alike; see :func:`mixture_eval`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._validation import as_finite_array
from .processes import Process, make_process
from .special import LOG_SQRT_2PI, log_diff_ndtr

GAUSSIAN = 0  # a = mean, b = variance
UNIFORM = 1  # a = low, b = high


@nb.njit(cache=True)
def component_log_and_score(kind: int, a: float, b: float, x: float, m: float, sigma: float) -> tuple[float, float]:
    """log p_t^k(x) and its x-derivative for one component noised to scale m, noise σ."""
    if kind == GAUSSIAN:
        var = m * m * b + sigma * sigma
        d = x - m * a
        return -0.5 * d * d / var - 0.5 * math.log(var) - LOG_SQRT_2PI, -d / var
    logd, grad = log_diff_ndtr((x - m * a) / sigma, (x - m * b) / sigma)
    return logd - math.log(m * (b - a)), grad / sigma


@nb.njit(cache=True)
def _log_mix(logc, scores, logw):
    """log Σ_k w_k c_k and the weighted score Σ_k r_k s_k, r_k the responsibilities (log-sum-exp)."""
    top = -np.inf
    for k in range(logc.size):
        if logw[k] > -np.inf and logc[k] + logw[k] > top:
            top = logc[k] + logw[k]
    total = 0.0
    weighted = 0.0
    for k in range(logc.size):
        if logw[k] > -np.inf:
            e = math.exp(logc[k] + logw[k] - top)
            total += e
            weighted += e * scores[k]
    return top + math.log(total), weighted / total


@nb.njit(cache=True)
def mixture_eval(x, m, sigma, kinds, pa, pb, logw_u, logw_c, logp_u, s_u, logp_c, s_c):
    """Fill log p_t(x), ∇log p_t(x) for two mixtures over one component table (weights logw_u and logw_c).

    Components are evaluated once per point and shared by both mixtures: this is what makes guidance cheap
    (the unconditional and the conditional model of CFG are the same components with two weight vectors).
    Serial on purpose: on two noisy cores numba's thread pool made small calls up to 100x slower.
    """
    n_comp = kinds.size
    logc = np.empty(n_comp)
    scores = np.empty(n_comp)
    for i in range(x.size):
        for k in range(n_comp):
            if logw_u[k] > -np.inf or logw_c[k] > -np.inf:
                logc[k], scores[k] = component_log_and_score(kinds[k], pa[k], pb[k], x[i], m, sigma)
        logp_u[i], s_u[i] = _log_mix(logc, scores, logw_u)
        logp_c[i], s_c[i] = _log_mix(logc, scores, logw_c)


class Mixture:
    """A labelled mixture of components (base class of :class:`GaussianMixture` and :class:`UniformMixture`).

    Parameters common to both: ``weights`` (non-negative, normalised to sum 1; default equal) and ``labels`` (one
    class label per component, ints or strings; default: no labels, so CFG needs an explicit conditional model).
    """

    kind: int

    def __init__(self, n_components: int, weights, labels):
        if weights is None:
            weights = np.full(n_components, 1.0 / n_components)
        weights = as_finite_array("weights", weights, ndim=1)
        if weights.size != n_components:
            raise ValueError(f"weights must have one entry per component ({n_components}), got {weights.size}")
        if np.any(weights < 0):
            raise ValueError(f"weights must be non-negative, got {weights.tolist()}")
        if not weights.sum() > 0:
            raise ValueError(f"weights must have a positive sum, got {weights.tolist()}")
        self.weights = weights / weights.sum()
        if labels is None:
            self.labels = None
        else:
            labels = [label.item() if isinstance(label, np.generic) else label for label in np.ravel(labels)]
            if len(labels) != n_components:
                raise ValueError(f"labels must have one entry per component ({n_components}), got {len(labels)}")
            for label in labels:
                if isinstance(label, bool) or not isinstance(label, (int, str)):
                    raise TypeError(f"labels must be ints or strings, got {label!r}")
            self.labels = tuple(labels)

    # --- description ------------------------------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        return self.weights.size

    @property
    def ndim(self) -> int:
        return 1

    def component_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kinds, a, b) arrays that the compiled kernels read."""
        raise NotImplementedError

    def class_weight(self, label) -> float:
        """π_c, the total weight of the components labelled ``label``."""
        return float(self.weights[self._class_mask(label)].sum())

    def log_weights(self, label=None) -> np.ndarray:
        """log π_k (label None), or log π_k/π_c on the class's components and −inf elsewhere."""
        weights = self.weights if label is None else np.where(self._class_mask(label), self.weights, 0.0)
        with np.errstate(divide="ignore"):
            return np.log(weights / weights.sum())

    def _class_mask(self, label) -> np.ndarray:
        if self.labels is None:
            raise ValueError(f"label={label!r} given but this {type(self).__name__} has no labels")
        mask = np.array([lab == label for lab in self.labels])
        if not mask.any():
            raise ValueError(f"label must be one of {sorted(set(self.labels), key=str)}, got {label!r}")
        if not self.weights[mask].sum() > 0:
            raise ValueError(f"class {label!r} has zero total weight")
        return mask

    # --- closed-form evaluation -------------------------------------------------------------------------------
    def evaluate(self, x, t: float, process: Process | None = None, label=None):
        """(log p_t(x|label), ∇log p_t(x|label)) at points x; label None gives the whole mixture."""
        x = np.ascontiguousarray(x, dtype=float)
        process = make_process(process)
        m, sigma = float(process.m(t)), float(process.sigma(t))
        if not sigma > 0:
            raise ValueError(f"t must be > 0 for closed-form noised densities, got t={t}")
        kinds, pa, pb = self.component_table()
        logw = self.log_weights(label)
        flat = x.ravel()
        logp, score, logp_again, score_again = (np.empty_like(flat) for _ in range(4))
        mixture_eval(flat, m, sigma, kinds, pa, pb, logw, logw, logp, score, logp_again, score_again)
        return logp.reshape(x.shape), score.reshape(x.shape)

    def log_density(self, x, t: float, process: Process | None = None, label=None) -> np.ndarray:
        """log p_t(x) (or log p_t(x|c) with ``label=c``)."""
        return self.evaluate(x, t, process, label)[0]

    def score(self, x, t: float, process: Process | None = None, label=None) -> np.ndarray:
        """∇log p_t(x) (or ∇log p_t(x|c) with ``label=c``)."""
        return self.evaluate(x, t, process, label)[1]

    def class_posterior(self, x, t: float, label, process: Process | None = None) -> np.ndarray:
        """p_t(c|x) = π_c p_t(x|c) / p_t(x)."""
        logp_c = self.log_density(x, t, process, label)
        return np.exp(math.log(self.class_weight(label)) + logp_c - self.log_density(x, t, process))

    # --- derived models ---------------------------------------------------------------------------------------
    def condition(self, label) -> Mixture:
        """The class-conditional mixture p_0(·|c), weights renormalised."""
        return self.subset(self._class_mask(label))

    def subset(self, mask: np.ndarray) -> Mixture:
        """The mixture of the components where ``mask`` is true, weights renormalised."""
        labels = None if self.labels is None else [lab for lab, keep in zip(self.labels, mask) if keep]
        return self._with_components(mask, labels)

    def _with_components(self, mask: np.ndarray, labels) -> Mixture:
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator, label=None) -> np.ndarray:
        """n draws from p_0 (or p_0(·|c))."""
        model = self if label is None else self.condition(label)
        comp = rng.choice(model.n_components, size=n, p=model.weights)
        return model._draw(comp, rng)

    def _draw(self, comp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of p_t: the smallest component width (Gaussian) or edge width σ (uniform)."""
        raise NotImplementedError

    def bulk(self) -> tuple[float, float]:
        """An interval that holds all of p_0 but a negligible (< 1e-15) fraction."""
        raise NotImplementedError

    def supports(self, label=None) -> list[tuple[float, float]] | None:
        """Support intervals of p_0 (or of p_0(·|c)); None for a target with unbounded support."""
        return None

    def to_dict(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None


class GaussianMixture(Mixture):
    """p_0 = Σ_k π_k N(μ_k, v_k) in one dimension; ``covariances`` is one variance for all components or one each."""

    kind = GAUSSIAN

    def __init__(self, means, covariances=1.0, weights=None, labels=None):
        means = as_finite_array("means", means)
        if means.ndim != 1 or means.size == 0:
            raise ValueError(f"means must be a non-empty flat list (one dimension), got shape {means.shape}")
        variances = as_finite_array("covariances", covariances)
        if variances.ndim > 1:
            raise ValueError(f"covariances must be a number or one variance per component, got shape {variances.shape}")
        variances = np.broadcast_to(variances, means.shape).copy() if variances.size in (1, means.size) else None
        if variances is None:
            raise ValueError(f"covariances must be a number or have one entry per component ({means.size})")
        if np.any(variances <= 0):
            raise ValueError(f"covariances must be > 0, got {variances.tolist()}")
        super().__init__(means.size, weights, labels)
        self.means = means
        self.variances = variances

    def component_table(self):
        return np.full(self.n_components, GAUSSIAN, dtype=np.int64), self.means, self.variances

    def _with_components(self, mask, labels):
        return GaussianMixture(self.means[mask], self.variances[mask], self.weights[mask], labels)

    def _draw(self, comp, rng):
        return self.means[comp] + np.sqrt(self.variances[comp]) * rng.standard_normal(comp.size)

    def length_scale(self, t, process):
        m, sigma = float(process.m(t)), float(process.sigma(t))
        return float(np.sqrt(m * m * self.variances.min() + sigma * sigma))

    def bulk(self):
        sd = np.sqrt(self.variances)
        return float(np.min(self.means - 9.0 * sd)), float(np.max(self.means + 9.0 * sd))

    def to_dict(self):
        return {"type": "GaussianMixture", "means": self.means.tolist(), "covariances": self.variances.tolist(),
                "weights": self.weights.tolist(), "labels": None if self.labels is None else list(self.labels)}


class UniformMixture(Mixture):
    """p_0 = Σ_k π_k U[a_k, b_k] in one dimension (intervals may overlap)."""

    kind = UNIFORM

    def __init__(self, lows, highs, weights=None, labels=None):
        lows = as_finite_array("lows", lows)
        highs = as_finite_array("highs", highs)
        if lows.ndim != 1 or lows.size == 0:
            raise ValueError(f"lows must be a non-empty flat list (one dimension), got shape {lows.shape}")
        if highs.shape != lows.shape:
            raise ValueError(f"highs must have the same length as lows ({lows.size}), got shape {highs.shape}")
        if np.any(lows >= highs):
            raise ValueError(f"lows must be below highs, got lows={lows.tolist()}, highs={highs.tolist()}")
        super().__init__(lows.size, weights, labels)
        self.lows = lows
        self.highs = highs

    def component_table(self):
        return np.full(self.n_components, UNIFORM, dtype=np.int64), self.lows, self.highs

    def _with_components(self, mask, labels):
        return UniformMixture(self.lows[mask], self.highs[mask], self.weights[mask], labels)

    def _draw(self, comp, rng):
        return self.lows[comp] + (self.highs[comp] - self.lows[comp]) * rng.random(comp.size)

    def length_scale(self, t, process):
        m, sigma = float(process.m(t)), float(process.sigma(t))
        return float(min(sigma, np.sqrt(sigma**2 + (m * (self.highs - self.lows)).min() ** 2)))

    def bulk(self):
        return float(self.lows.min()), float(self.highs.max())

    def supports(self, label=None):
        model = self if label is None else self.condition(label)
        keep = model.weights > 0
        return merge_intervals(list(zip(model.lows[keep], model.highs[keep])))

    def to_dict(self):
        return {"type": "UniformMixture", "lows": self.lows.tolist(), "highs": self.highs.tolist(),
                "weights": self.weights.tolist(), "labels": None if self.labels is None else list(self.labels)}


def merge_intervals(intervals) -> list[tuple[float, float]]:
    """Union of intervals as a sorted list of disjoint intervals."""
    merged: list[list[float]] = []
    for lo, hi in sorted((float(lo), float(hi)) for lo, hi in intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


TARGETS = {"GaussianMixture": GaussianMixture, "UniformMixture": UniformMixture}


def target_from_dict(spec: dict) -> Mixture:
    """Rebuild a target from :meth:`Mixture.to_dict`."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in TARGETS:
        raise ValueError(f"target type must be one of {tuple(TARGETS)}, got {kind!r}")
    return TARGETS[kind](**spec)
