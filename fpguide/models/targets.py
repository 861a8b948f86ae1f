"""Targets: labelled mixtures whose noised densities p_t are known in closed form, in any dimension
d.

Under X_t = m X_0 + σ Z a component N(μ, Σ) becomes N(mμ, m²Σ + σ²I), and a box ∏_j U[a_j, b_j]
becomes the product p_t(x) = ∏_j [Φ((x_j − m a_j)/σ) − Φ((x_j − m b_j)/σ)] / (m(b_j − a_j)).
Mixtures combine their components with log-sum-exp; the class posterior is p_t(c|x) = Σ_{k∈c} π_k
p_t^k(x) / p_t(x).

Every mixture is described to the compiled kernels by a *component table* (:class:`Components`): per
component a kind, ``loc`` and ``ext`` (Gaussian: mean and the eigenvalues of Σ, with the
eigenvectors in ``rot``; box: lows and highs), so one kernel serves Gaussian, uniform and mixed
models alike. Since m²Σ + σ²I = R diag(m²λ + σ²) Rᵀ, the noised precision and log-determinant at any
t come from the eigen-decomposition made once.

Two kernels evaluate a table: :func:`mixture_eval` at arbitrary points (log-densities and full score
vectors), and :func:`line_tables` + :func:`line_velocity` along grid lines, where every component
restricted to a line x_a ↦ x is a one-dimensional Gaussian or noised interval times a per-line
factor; the engine's dimension-split sweeps use those (lines through the same points with the same
1-D factors share them: :func:`line_factors` + :func:`line_velocity_shared`). Tables of Gaussians
only (axis-aligned at points) have kernels of their own that the compiler vectorises over the
components, :func:`mixture_eval_gaussian` and :func:`line_velocity_gaussian`: the same numbers to
round-off, 2.5 times faster for a data set of 1000 points.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numba as nb
import numpy as np

from ..tools.special import EXP_NEGLIGIBLE, LOG_SQRT_2PI, exp_nonpositive, log_diff_ndtr
from ..tools.validation import as_finite_array, as_real_array, check_int, check_real
from .processes import Process, make_process

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from numpy.typing import ArrayLike

__all__ = [
    "GAUSSIAN",
    "TARGETS",
    "Components",
    "EmpiricalMixture",
    "evaluate_mixtures",
    "GaussianMixture",
    "gaussian_layout",
    "line_factors",
    "line_tables",
    "line_velocity",
    "line_velocity_gaussian",
    "line_velocity_shared",
    "Mixture",
    "target_from_dict",
    "UniformMixture",
]

GAUSSIAN = 0
UNIFORM = 1
PARALLEL_BLOCK = 1024  # points per block of mixture_eval_parallel
# fewer points are evaluated on one thread (measured: waking threads costs more)
PARALLEL_FROM = 2 * PARALLEL_BLOCK
# e^−600 is still a normal double: conditional responsibilities can share the unconditional scale
_SHARED_SCALE = 600.0
# the vectorised kernels' analogue: the conditional responsibilities share the unconditional scale
# while every term above e^−45 of the conditional model's largest stays a normal double (e^−700),
# and while every ratio π^c_k/π^u_k is below e^_SHARED_SCALE (so that none of them overflows)
_SHARED_RANGE = 655.0


class Components(NamedTuple):
    """The component table the compiled kernels read (K components in d dimensions).

    One row per component, whatever its kind, so that one kernel evaluates Gaussian, uniform and
    mixed models alike. A Gaussian N(μ, Σ) with Σ = R diag(λ) Rᵀ is stored as ``loc`` = μ, ``ext`` =
    λ, ``rot`` = R, from which the noised covariance m²Σ + σ²I = R diag(m²λ + σ²) Rᵀ follows at any
    t; a box ∏_j [a_j, b_j] as ``loc`` = a, ``ext`` = b, ``rot`` = I.

    Attributes
    ----------
    kinds : np.ndarray
        (K,) integers: ``GAUSSIAN`` (0) or ``UNIFORM`` (1).
    loc : np.ndarray
        (K, d): the mean μ of a Gaussian, or the lows a of a box.
    ext : np.ndarray
        (K, d): the eigenvalues λ of Σ, or the highs b of a box.
    rot : np.ndarray
        (K, d, d): the eigenvectors of Σ as columns (the identity for boxes).
    """

    kinds: np.ndarray  # (K,) GAUSSIAN or UNIFORM
    loc: np.ndarray  # (K, d) mean, or lows
    ext: np.ndarray  # (K, d) eigenvalues of Σ, or highs
    rot: np.ndarray  # (K, d, d) eigenvectors of Σ as columns (identity for boxes)

    @staticmethod
    def concatenate(tables: Iterable[Components]) -> Components:
        """One table holding the components of several tables, in order.

        Parameters
        ----------
        tables : iterable of Components
            The tables to join (all in the same dimension d).

        Returns
        -------
        Components
            The concatenated arrays of each field, C-contiguous.
        """
        return Components(*(np.ascontiguousarray(np.concatenate(parts)) for parts in zip(*tables)))


@nb.njit(cache=True)
def _noised(kinds, loc, ext, m, sigma):
    """Per component at (m, σ): scaled locations m·loc and m·ext, 1/(m²λ + σ²) (Gaussian) and the
    log-normaliser."""
    n_comp, d = loc.shape
    lo, hi, inv = m * loc, m * ext, np.empty((n_comp, d))
    log_norm = np.empty(n_comp)
    for k in range(n_comp):
        total = 0.0
        for j in range(d):
            if kinds[k] == GAUSSIAN:
                s2 = m * m * ext[k, j] + sigma * sigma
                inv[k, j] = 1.0 / s2
                total -= 0.5 * math.log(s2) + LOG_SQRT_2PI
            else:
                total -= math.log(hi[k, j] - lo[k, j])
        log_norm[k] = total
    return lo, hi, inv, log_norm


@nb.njit(cache=True)
def _mix(logc, grads, logw, out, i):
    """log Σ_k w_k c_k, and the responsibility-weighted score Σ_k r_k ∇log c_k written to out[i]
    (log-sum-exp)."""
    top = -np.inf
    for k in range(logc.size):
        if logw[k] > -np.inf and logc[k] + logw[k] > top:
            top = logc[k] + logw[k]
    d = grads.shape[1]
    for j in range(d):
        out[i, j] = 0.0
    total = 0.0
    for k in range(logc.size):
        if logw[k] > -np.inf:
            e = math.exp(logc[k] + logw[k] - top)
            total += e
            for j in range(d):
                out[i, j] += e * grads[k, j]
    for j in range(d):
        out[i, j] /= total
    return top + math.log(total)


def evaluate_mixtures(
    x: np.ndarray,
    m: float,
    sigma: float,
    table: Components,
    logw_u: np.ndarray,
    logw_c: np.ndarray,
    logp_u: np.ndarray,
    s_u: np.ndarray,
    logp_c: np.ndarray,
    s_c: np.ndarray,
) -> None:
    """:func:`mixture_eval` over a component ``table``, on all threads from ``PARALLEL_FROM`` points
    on.

    Evaluates two mixtures of the same components (weights ``logw_u`` and ``logw_c``) under
    X_t = m X_0 + σ Z: log p_t and ∇log p_t at every point, each component computed once per point.
    Below ``PARALLEL_FROM`` (2048) points it runs :func:`mixture_eval` on one thread, from there on
    :func:`mixture_eval_parallel` in blocks of ``PARALLEL_BLOCK`` (1024) points (the same numbers);
    axis-aligned Gaussians in :func:`gaussian_layout`'s order run :func:`mixture_eval_gaussian`
    (or its parallel twin) instead, vectorised (the same numbers to round-off).

    Parameters
    ----------
    x : np.ndarray
        (N, d) C-contiguous float points.
    m, sigma : float
        The noise level at t: the scale m(t) of the data and the noise standard deviation σ(t) > 0.
    table : Components
        The component table (K components in d dimensions).
    logw_u, logw_c : np.ndarray
        (K,) log-weights of the two mixtures (−inf for a component outside a mixture).
    logp_u, s_u, logp_c, s_c : np.ndarray
        Outputs, overwritten: log p_t (N,) and ∇log p_t (N, d) of the mixture with weights
        ``logw_u``, then of the one with weights ``logw_c``.
    """
    parallel = x.shape[0] >= PARALLEL_FROM
    layout = gaussian_layout(table.kinds, logw_u, logw_c)
    if layout is not None and _axis_aligned(table.rot):
        kernel = mixture_eval_gaussian_parallel if parallel else mixture_eval_gaussian
        kernel(x, m, sigma, table.loc, table.ext, logw_u, logw_c, layout, logp_u, s_u, logp_c, s_c)
        return
    kernel = mixture_eval_parallel if parallel else mixture_eval
    kernel(x, m, sigma, *table, logw_u, logw_c, logp_u, s_u, logp_c, s_c)


def _axis_aligned(rot: np.ndarray) -> bool:
    """Whether every component's eigenvectors are the axes (rot (K, d, d) all the identity)."""
    return bool((rot == np.eye(rot.shape[1])).all())


@nb.njit(cache=True)
def _gaussian_point_tables(loc, ext, m, sigma):
    """Axis-aligned Gaussians at (m, σ), one row per axis (vectorised over the components): the
    centres m μ (d, K), the precisions 1/(m²λ + σ²) (d, K) and the log-normalisers (K,)."""
    n_comp, d = loc.shape
    centre, inv = np.empty((d, n_comp)), np.empty((d, n_comp))
    log_norm = np.full(n_comp, -d * LOG_SQRT_2PI)
    for j in range(d):
        for k in range(n_comp):
            s2 = m * m * ext[k, j] + sigma * sigma
            centre[j, k] = m * loc[k, j]
            inv[j, k] = 1.0 / s2
            log_norm[k] -= 0.5 * math.log(s2)
    return centre, inv, log_norm


@nb.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _eval_points_gaussian(x, start, stop, tables, logw_u, logw_c, layout, logp_u, s_u, logp_c, s_c):
    """The body of :func:`mixture_eval_gaussian` for the points start … stop − 1.

    Per point, the components' log-terms h_k = log N(x; mμ_k, diag(m²λ_k + σ²)) and each
    mixture's largest; the unconditional responsibilities e_k = e^(h_k + log π^u_k − top_u)
    (:func:`~fpguide.tools.special.exp_nonpositive`), and the conditional ones e_k π^c_k/π^u_k on
    the same scale while the two tops are within ``_SHARED_RANGE`` (so that every term above
    e^−45 of the conditional model's largest is a normal double), else from their own exponential.
    """
    centre, inv, log_norm = tables
    n_lead, c_first, ratio, log_ratio_max = layout
    d, n_comp = centre.shape
    one_scale = n_lead == n_comp and log_ratio_max < _SHARED_SCALE
    h, e = np.empty(n_comp), np.empty(n_comp)
    for n in range(start, stop):
        for k in range(n_comp):
            h[k] = log_norm[k]
        for j in range(d):
            xj = x[n, j]
            for k in range(n_comp):
                dev = xj - centre[j, k]
                h[k] -= 0.5 * dev * dev * inv[j, k]
        top_u, top_c = -np.inf, -np.inf
        for k in range(n_comp):
            top_u = max(top_u, h[k] + logw_u[k])
            top_c = max(top_c, h[k] + logw_c[k])
        total = 0.0
        for k in range(n_lead):
            e[k] = exp_nonpositive(h[k] + logw_u[k] - top_u)
            total += e[k]
        logp_u[n] = top_u + math.log(total)
        _responsibility_scores(x, n, centre, inv, e, 0, n_lead, total, s_u)
        if one_scale and top_u - top_c + log_ratio_max < _SHARED_RANGE:
            first, scale = 0, top_u
            for k in range(n_comp):
                e[k] *= ratio[k]
        else:
            first, scale = c_first, top_c
            for k in range(c_first, n_comp):
                e[k] = exp_nonpositive(h[k] + logw_c[k] - top_c)
        total = 0.0
        for k in range(first, n_comp):
            total += e[k]
        logp_c[n] = scale + math.log(total)
        _responsibility_scores(x, n, centre, inv, e, first, n_comp, total, s_c)


@nb.njit(cache=True, inline="always", fastmath={"reassoc", "contract"}, error_model="numpy")
def _responsibility_scores(x, n, centre, inv, e, first, stop, total, out):
    """out[n] = Σ_k e_k (mμ_k − x) / (m²λ_k + σ²) / Σ_k e_k over the components first … stop − 1:
    the mixture's score at x[n] from its responsibilities e."""
    for j in range(centre.shape[0]):
        xj = x[n, j]
        acc = 0.0
        for k in range(first, stop):
            acc += e[k] * (centre[j, k] - xj) * inv[j, k]
        out[n, j] = acc / total


@nb.njit(cache=True, error_model="numpy")
def mixture_eval_gaussian(x, m, sigma, loc, ext, logw_u, logw_c, layout, logp_u, s_u, logp_c, s_c):
    """:func:`mixture_eval` for axis-aligned Gaussians only (the components of an
    :class:`EmpiricalMixture`, or of a GaussianMixture with diagonal covariances), in loops the
    compiler vectorises over the components; ``layout`` is :func:`gaussian_layout`'s. The same
    numbers to round-off (the sums reassociated; every term kept, as there)."""
    tables = _gaussian_point_tables(loc, ext, m, sigma)
    _eval_points_gaussian(
        x, 0, x.shape[0], tables, logw_u, logw_c, layout, logp_u, s_u, logp_c, s_c
    )


@nb.njit(cache=True, parallel=True, error_model="numpy")
def mixture_eval_gaussian_parallel(
    x, m, sigma, loc, ext, logw_u, logw_c, layout, logp_u, s_u, logp_c, s_c
):
    """:func:`mixture_eval_gaussian` on all threads, in blocks of points (the same numbers)."""
    tables = _gaussian_point_tables(loc, ext, m, sigma)
    n = x.shape[0]
    blocks = (n + PARALLEL_BLOCK - 1) // PARALLEL_BLOCK
    for b in nb.prange(blocks):
        _eval_points_gaussian(
            x,
            b * PARALLEL_BLOCK,
            min(n, (b + 1) * PARALLEL_BLOCK),
            tables,
            logw_u,
            logw_c,
            layout,
            logp_u,
            s_u,
            logp_c,
            s_c,
        )


@nb.njit(cache=True)
def mixture_eval(x, m, sigma, kinds, loc, ext, rot, logw_u, logw_c, logp_u, s_u, logp_c, s_c):
    """log p_t and ∇log p_t of two mixtures over one component table (weights logw_u, logw_c) at the
    points x (N, d).

    Components are evaluated once per point and shared by both mixtures: this is what makes guidance
    cheap (the unconditional and the conditional model of CFG are the same components with two
    weight vectors). A Gaussian contributes −½ Σ_i y_i²/(m²λ_i + σ²) with y = Rᵀ(x − mμ); a box Σ_j
    log(Φ((x_j − m a_j)/σ) − Φ((x_j − m b_j)/σ)).
    """
    tables = _point_tables(kinds, loc, ext, rot, m, sigma)
    _eval_points(
        x, 0, x.shape[0], sigma, kinds, rot, tables, logw_u, logw_c, logp_u, s_u, logp_c, s_c
    )


@nb.njit(cache=True, parallel=True)
def mixture_eval_parallel(
    x, m, sigma, kinds, loc, ext, rot, logw_u, logw_c, logp_u, s_u, logp_c, s_c
):
    """:func:`mixture_eval` on all threads, in blocks of points (the same numbers: every point is
    independent)."""
    tables = _point_tables(kinds, loc, ext, rot, m, sigma)
    n = x.shape[0]
    blocks = (n + PARALLEL_BLOCK - 1) // PARALLEL_BLOCK
    for b in nb.prange(blocks):
        _eval_points(
            x,
            b * PARALLEL_BLOCK,
            min(n, (b + 1) * PARALLEL_BLOCK),
            sigma,
            kinds,
            rot,
            tables,
            logw_u,
            logw_c,
            logp_u,
            s_u,
            logp_c,
            s_c,
        )


@nb.njit(cache=True)
def _point_tables(kinds, loc, ext, rot, m, sigma):
    """The noised components (see :func:`_noised`) and which Gaussians are axis-aligned (Σ diagonal,
    rot = I: O(d) per point instead of O(d²))."""
    n_comp, d = loc.shape
    lo, hi, inv, log_norm = _noised(kinds, loc, ext, m, sigma)
    aligned = np.ones(n_comp, dtype=np.bool_)
    for k in range(n_comp):
        for i in range(d):
            for j in range(d):
                if rot[k, i, j] != (1.0 if i == j else 0.0):
                    aligned[k] = False
    return lo, hi, inv, log_norm, aligned


@nb.njit(cache=True)
def _eval_points(
    x, start, stop, sigma, kinds, rot, tables, logw_u, logw_c, logp_u, s_u, logp_c, s_c
):
    """The body of :func:`mixture_eval` for the points start … stop − 1."""
    lo, hi, inv, log_norm, aligned = tables
    n_comp, d = lo.shape
    logc = np.empty(n_comp)
    grads = np.zeros((n_comp, d))
    for n in range(start, stop):
        for k in range(n_comp):
            if logw_u[k] == -np.inf and logw_c[k] == -np.inf:
                continue
            logp = log_norm[k]
            if kinds[k] == GAUSSIAN and aligned[k]:
                for j in range(d):
                    y = x[n, j] - lo[k, j]
                    logp -= 0.5 * y * y * inv[k, j]
                    grads[k, j] = -y * inv[k, j]
            elif kinds[k] == GAUSSIAN:
                for j in range(d):
                    grads[k, j] = 0.0
                for i in range(d):
                    y = 0.0
                    for j in range(d):
                        y += rot[k, j, i] * (x[n, j] - lo[k, j])
                    logp -= 0.5 * y * y * inv[k, i]
                    for j in range(d):
                        grads[k, j] -= rot[k, j, i] * y * inv[k, i]
            else:
                for j in range(d):
                    logd, g = log_diff_ndtr(
                        (x[n, j] - lo[k, j]) / sigma, (x[n, j] - hi[k, j]) / sigma
                    )
                    logp += logd
                    grads[k, j] = g / sigma
            logc[k] = logp
        logp_u[n] = _mix(logc, grads, logw_u, s_u, n)
        logp_c[n] = _mix(logc, grads, logw_c, s_c, n)


@nb.njit(cache=True)
def line_tables(axis, points, m, sigma, kinds, loc, ext, rot, p1, p2, offset):
    """Each component restricted to the lines {x : x_j = points[l, j] for j ≠ axis}, as exp(offset)
    times a 1-D factor.

    Writes, per line l and component k, a 1-D Gaussian (p1 = centre, p2 = precision) or noised
    interval (p1 = m a, p2 = m b, edge width σ) in x_axis, and in ``offset`` the log of everything
    that does not vary along the line: the normalisations and the factor the other coordinates
    contribute. For a Gaussian with noised precision P the restriction is exp(−½ P_aa (x_a − m μ_a +
    b/P_aa)²) with b = Σ_{j≠a} P_aj d_j, d = x − mμ, times exp(−½ d_rᵀ(P_rr − P_ra P_ar/P_aa) d_r)
    and the normalisation (the Schur complement); for a box, Φ((x_a − m a_a)/σ) − Φ((x_a − m b_a)/σ)
    times 1/(m(b_a − a_a)) and the other coordinates' noised intervals.
    """
    n_lines, d = points.shape
    for k in range(kinds.size):
        if kinds[k] == GAUSSIAN:
            s2 = m * m * ext[k] + sigma * sigma
            prec = (rot[k] / s2) @ rot[k].T
            log_norm = -0.5 * np.sum(np.log(s2)) - d * LOG_SQRT_2PI
            for row in range(n_lines):
                quad = 0.0
                b = 0.0
                for j in range(d):
                    if j != axis:
                        dj = points[row, j] - m * loc[k, j]
                        b += prec[axis, j] * dj
                        for i in range(d):
                            if i != axis:
                                quad += dj * prec[j, i] * (points[row, i] - m * loc[k, i])
                p1[row, k] = m * loc[k, axis] - b / prec[axis, axis]
                p2[row, k] = prec[axis, axis]
                offset[row, k] = log_norm - 0.5 * (quad - b * b / prec[axis, axis])
        else:
            for row in range(n_lines):
                p1[row, k] = m * loc[k, axis]
                p2[row, k] = m * ext[k, axis]
                off = -math.log(m * (ext[k, axis] - loc[k, axis]))
                for j in range(d):
                    if j != axis:
                        logd, _ = log_diff_ndtr(
                            (points[row, j] - m * loc[k, j]) / sigma,
                            (points[row, j] - m * ext[k, j]) / sigma,
                        )
                        off += logd - math.log(m * (ext[k, j] - loc[k, j]))
                offset[row, k] = off


@nb.njit(cache=True)
def _line_component(kind, p1, p2, inv_sigma, x):
    """log of the 1-D factor of a line table entry at x (the part that varies along the line) and
    its derivative."""
    if kind == GAUSSIAN:
        dev = x - p1
        return -0.5 * dev * dev * p2, -dev * p2
    logd, g = log_diff_ndtr((x - p1) * inv_sigma, (x - p2) * inv_sigma)
    return logd, g * inv_sigma


@nb.njit(cache=True, parallel=True)
def line_velocity(x, sigma, kinds, p1, p2, offset, logw_u, logw_c, w, linear, factor, out):
    """out = linear·x + factor·[(1 + w) ∂_a log p_t(x|c) − w ∂_a log p_t(x)] at the points x (L
    lines × M points), from the line tables of :func:`line_tables` — the guided velocity along the
    sweep axis a (lines in parallel). Each point evaluates every component's 1-D factor (see
    :func:`line_velocity_shared` for lines that share their points and factors) and mixes them
    (:func:`_guided_slope`)."""
    n_comp = kinds.size
    ratio = np.exp(logw_c - logw_u)  # π^c_k / π^u_k where both are finite
    inv_sigma = 1.0 / sigma
    for row in nb.prange(x.shape[0]):
        logc = np.empty(n_comp)
        grads = np.empty(n_comp)
        for i in range(x.shape[1]):
            for k in range(n_comp):
                if logw_u[k] > -np.inf or logw_c[k] > -np.inf:
                    lc, grads[k] = _line_component(
                        kinds[k], p1[row, k], p2[row, k], inv_sigma, x[row, i]
                    )
                    logc[k] = lc + offset[row, k]
            out[row, i] = linear * x[row, i] + factor * _guided_slope(
                logc, grads, logw_u, logw_c, ratio, w
            )


@nb.njit(cache=True)
def line_factors(x, sigma, kinds, p1, p2, logw_u, logw_c, lc, grads):
    """Every component's 1-D factor (log, and its derivative) at the points x (M,) of one line's
    table p1, p2 (K,), into lc and grads (M, K): what lines through the same points with the same
    tables share."""
    inv_sigma = 1.0 / sigma
    for i in range(x.size):
        for k in range(kinds.size):
            if logw_u[k] > -np.inf or logw_c[k] > -np.inf:
                lc[i, k], grads[i, k] = _line_component(kinds[k], p1[k], p2[k], inv_sigma, x[i])


@nb.njit(cache=True, parallel=True)
def line_velocity_shared(x, lc, grads, offset, logw_u, logw_c, w, linear, factor, out):
    """:func:`line_velocity` on L lines through the same points x (M,) whose components have the
    same 1-D factors (:func:`line_factors`: lc, grads (M, K)) and differ only in their offsets (L,
    K): the first stage of a departure trace starts at the faces, and an axis-aligned component's
    factor along a line does not depend on the line (a box's difference of two normal CDFs is 87 %
    of a point's cost; the same numbers as :func:`line_velocity`)."""
    n_comp = lc.shape[1]
    ratio = np.exp(logw_c - logw_u)
    for row in nb.prange(out.shape[0]):
        logc = np.empty(n_comp)
        for i in range(x.size):
            for k in range(n_comp):
                logc[k] = lc[i, k] + offset[row, k]
            out[row, i] = linear * x[i] + factor * _guided_slope(
                logc, grads[i], logw_u, logw_c, ratio, w
            )


def gaussian_layout(
    kinds: np.ndarray, logw_u: np.ndarray, logw_c: np.ndarray
) -> tuple[int, int, np.ndarray, float] | None:
    """How the kernels for Gaussians read a table: None unless it holds Gaussians only, either all
    in the unconditional model (a class's weights: ``CFG.bind`` with ``label``) or those of the
    unconditional model followed by those of the conditional one (``cond``).

    Parameters
    ----------
    kinds : np.ndarray
        (K,) the components' kinds.
    logw_u, logw_c : np.ndarray
        (K,) the unconditional and the conditional log-weights (−inf off a model).

    Returns
    -------
    n_lead : int
        The leading components, those of the unconditional model (the rest have logw_u = −inf).
    c_first : int
        The first component of the conditional model (K when it has none); at least n_lead unless
        n_lead = K.
    ratio : np.ndarray
        (n_lead,) π^c_k / π^u_k, zero off the conditional model (inf where it overflows).
    log_ratio_max : float
        The largest log π^c_k / π^u_k over the components of both models (−inf when none is).
    """
    in_u = logw_u > -np.inf
    n_lead = int(np.argmin(in_u)) if not in_u.all() else kinds.size
    if (kinds != GAUSSIAN).any() or in_u[n_lead:].any():
        return None
    in_c = logw_c > -np.inf
    c_first = int(np.argmax(in_c)) if in_c.any() else kinds.size
    if n_lead < kinds.size and c_first < n_lead:  # a conditional component among the leading ones
        return None
    log_ratio = np.where(in_c[:n_lead], logw_c[:n_lead] - logw_u[:n_lead], -np.inf)
    with np.errstate(over="ignore"):  # inf beyond e^709: the kernels then keep two scales
        ratio = np.exp(log_ratio)
    return n_lead, c_first, ratio, float(log_ratio.max(initial=-np.inf))


# points of a line whose components are pruned together: 16 grid points span a few σ (1000 points
# in 2-D, lines 1.8x faster at σ = 0.14 and 5.5x at σ = 0.045; 4 % slower where nothing prunes)
_PRUNE_CHUNK = 16


@nb.njit(cache=True, parallel=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def line_velocity_gaussian(x, p1, p2, offset, logw_u, logw_c, layout, w, linear, factor, out):
    """:func:`line_velocity` for a table of Gaussians only, in loops the compiler vectorises, over
    the components that can matter.

    Component k on line l is exp(offset − ½ p2 (x − p1)²) with slope −p2 (x − p1) (see
    :func:`line_tables`). The points of a line are taken in chunks of ``_PRUNE_CHUNK``. Over a
    chunk's span [lo, hi] each term h_k + log π_k lies between the values the nearest and the
    farthest point of the span give, and the largest lower bound is below the largest term at every
    point of the chunk: a component whose upper bound is below that by more than EXP_NEGLIGIBLE, in
    both models, is below e^{−EXP_NEGLIGIBLE} of the largest term at every point, which
    :func:`_gaussian_slope` leaves out anyway, and is dropped from the chunk (the others are copied
    together where more than a quarter go). So the values are those of the sums over every
    component, to round-off (the sums are reassociated, vectorised). 1000 components: 1.4–1.7 ns per
    point and component where none is dropped, against 3.6–4.3 ns for :func:`line_velocity`
    (2 threads).

    ``layout`` is :func:`gaussian_layout`'s (n_lead, c_first, ratio, log_ratio_max).
    """
    n_lead, _, ratio, log_ratio_max = layout
    n_comp, n_points = p1.shape[1], x.shape[1]
    all_u = n_lead == n_comp  # every component in the unconditional model
    one_scale = all_u and log_ratio_max < _SHARED_SCALE
    ratios = np.zeros(n_comp)
    ratios[:n_lead] = ratio
    for row in nb.prange(x.shape[0]):
        h, upper = np.empty(n_comp), np.empty(n_comp)
        # the chunk's components: centre, precision, offset, log π^u, log π^c, π^c/π^u
        k_p1, k_p2, k_offset = np.empty(n_comp), np.empty(n_comp), np.empty(n_comp)
        k_logw_u, k_logw_c, k_ratio = np.empty(n_comp), np.empty(n_comp), np.empty(n_comp)
        for start in range(0, n_points, _PRUNE_CHUNK):
            stop = min(start + _PRUNE_CHUNK, n_points)
            lo, hi = np.inf, -np.inf  # the span of the chunk's points (NaN compares false)
            for i in range(start, stop):
                lo = x[row, i] if x[row, i] < lo else lo
                hi = x[row, i] if x[row, i] > hi else hi
            floor_u = floor_c = -np.inf
            for k in range(n_comp):
                d_lo, d_hi = lo - p1[row, k], hi - p1[row, k]
                near = 0.0 if d_lo <= 0.0 <= d_hi else min(d_lo * d_lo, d_hi * d_hi)
                upper[k] = offset[row, k] - 0.5 * p2[row, k] * near
                lower = offset[row, k] - 0.5 * p2[row, k] * max(d_lo * d_lo, d_hi * d_hi)
                floor_u = max(floor_u, lower + logw_u[k])
                floor_c = max(floor_c, lower + logw_c[k])
            floor_u -= EXP_NEGLIGIBLE
            floor_c -= EXP_NEGLIGIBLE
            n_kept = 0
            for k in range(n_comp):
                n_kept += upper[k] + logw_u[k] > floor_u or upper[k] + logw_c[k] > floor_c
            if 4 * n_kept > 3 * n_comp:  # all of them, where they are
                n, n_u = n_comp, n_lead
                c_p1, c_p2, c_offset = p1[row], p2[row], offset[row]
                c_logw_u, c_logw_c, c_ratio = logw_u, logw_c, ratios
            else:  # those kept, copied together
                n, n_u = 0, 0
                for k in range(n_comp):
                    n_u = n if k == n_lead else n_u
                    if upper[k] + logw_u[k] > floor_u or upper[k] + logw_c[k] > floor_c:
                        k_p1[n], k_p2[n], k_offset[n] = p1[row, k], p2[row, k], offset[row, k]
                        k_logw_u[n], k_logw_c[n], k_ratio[n] = logw_u[k], logw_c[k], ratios[k]
                        n += 1
                n_u = n if all_u else n_u
                c_p1, c_p2, c_offset = k_p1, k_p2, k_offset
                c_logw_u, c_logw_c, c_ratio = k_logw_u, k_logw_c, k_ratio
            for i in range(start, stop):
                out[row, i] = linear * x[row, i] + factor * _gaussian_slope(
                    x[row, i],
                    c_p1,
                    c_p2,
                    c_offset,
                    c_logw_u,
                    c_logw_c,
                    c_ratio,
                    n_u,
                    0 if all_u else n_u,
                    n,
                    one_scale,
                    log_ratio_max,
                    w,
                    h,
                )


@nb.njit(cache=True, inline="always", fastmath={"reassoc", "contract"}, error_model="numpy")
def _gaussian_slope(
    xi, p1, p2, offset, logw_u, logw_c, ratio, n_u, c_first, n, one_scale, log_ratio_max, w, h
):
    """(1 + w) ∂ log p_t(x|c) − w ∂ log p_t(x) along a line at x from n Gaussian factors
    exp(offset − ½ p2 (x − p1)²): the first n_u of the unconditional model, those from c_first on
    of the conditional one (h: scratch of n); ``one_scale``: every component is in the
    unconditional model (n_u = n) and every ratio π^c_k/π^u_k is below e^``_SHARED_SCALE``, so
    the conditional responsibilities can share its scale.

    A first loop takes the log-terms h_k and each model's largest term, top_u and top_c; a second
    the responsibilities e_k = e^(h_k + log π^u_k − top_u)
    (:func:`~fpguide.tools.special.exp_nonpositive`), with the conditional ones e_k π^c_k/π^u_k
    (``ratio``) on the same scale while the two tops are within ``_SHARED_RANGE`` of each other,
    else, and for components of the conditional model only, from their own exponential against
    top_c. As in :func:`_guided_slope`, a term below e^{−EXP_NEGLIGIBLE} of its model's largest is
    left out.
    """
    top_u, top_c = -np.inf, -np.inf
    for k in range(n):
        dev = xi - p1[k]
        h[k] = offset[k] - 0.5 * p2[k] * dev * dev
        top_u = max(top_u, h[k] + logw_u[k])
        top_c = max(top_c, h[k] + logw_c[k])
    den_u = num_u = den_c = num_c = 0.0
    if one_scale and top_u - top_c + log_ratio_max < _SHARED_RANGE:
        for k in range(n):
            z_u = h[k] + logw_u[k] - top_u
            e = exp_nonpositive(z_u)
            slope = p2[k] * (p1[k] - xi)
            e_u = e if z_u > -EXP_NEGLIGIBLE else 0.0
            e_c = e * ratio[k] if h[k] + logw_c[k] - top_c > -EXP_NEGLIGIBLE else 0.0
            den_u += e_u
            num_u += e_u * slope
            den_c += e_c
            num_c += e_c * slope
    else:
        for k in range(n_u):
            z_u = h[k] + logw_u[k] - top_u
            e_u = exp_nonpositive(z_u)
            e_u = e_u if z_u > -EXP_NEGLIGIBLE else 0.0
            den_u += e_u
            num_u += e_u * p2[k] * (p1[k] - xi)
        for k in range(c_first, n):
            z_c = h[k] + logw_c[k] - top_c
            e_c = exp_nonpositive(z_c)
            e_c = e_c if z_c > -EXP_NEGLIGIBLE else 0.0
            den_c += e_c
            num_c += e_c * p2[k] * (p1[k] - xi)
    return (1.0 + w) * num_c / den_c - w * num_u / den_u


# called per point: a call with five arrays made the ring's solves 1.4x slower
@nb.njit(cache=True, inline="always")
def _guided_slope(logc, grads, logw_u, logw_c, ratio, w):
    """(1 + w) ∂_a log p_t(x|c) − w ∂_a log p_t(x) at a point from its components' log-factors
    ``logc`` and their derivatives ``grads`` (components in neither mixture are skipped).

    ∂_a log p = Σ_k r_k ∂_a log p^k with responsibilities r_k ∝ π_k p^k. A component of both
    mixtures has responsibilities proportional to one exponential, e_k = π_k p^k / max_j π_j p^j,
    times the constant ratio of its two weights (``ratio``), so each component costs one exponential
    (the conditional ones are recomputed against their own maximum only where the unconditional
    scale would underflow them), and a component below e^{−EXP_NEGLIGIBLE} of the largest in a
    mixture costs none there: it cannot change the sums (the 2-D ring of eight Gaussians, ODE, t_min
    = 1e-3: the solve 1.2x faster).
    """
    top_u, top_c = -np.inf, -np.inf
    for k in range(logc.size):
        if logw_u[k] > -np.inf or logw_c[k] > -np.inf:
            top_u = max(top_u, logc[k] + logw_u[k])
            top_c = max(top_c, logc[k] + logw_c[k])
    shared = abs(top_u - top_c) < _SHARED_SCALE
    scale_c = top_u if shared else top_c  # the conditional terms are e^(log π^c_k p^k − scale_c)
    den_u = num_u = den_c = num_c = 0.0
    for k in range(logc.size):
        e_u = 0.0
        if logw_u[k] > -np.inf and logc[k] + logw_u[k] - top_u > -EXP_NEGLIGIBLE:
            e_u = math.exp(logc[k] + logw_u[k] - top_u)
            den_u += e_u
            num_u += e_u * grads[k]
        if logw_c[k] > -np.inf and logc[k] + logw_c[k] - top_c > -EXP_NEGLIGIBLE:
            e_c = (
                e_u * ratio[k] if shared and e_u > 0.0 else math.exp(logc[k] + logw_c[k] - scale_c)
            )
            den_c += e_c
            num_c += e_c * grads[k]
    return (1.0 + w) * num_c / den_c - w * num_u / den_u


class Mixture:
    """A labelled mixture of components (base class of :class:`GaussianMixture` and
    :class:`UniformMixture`).

    p_0 = Σ_k π_k p^k with closed-form noised components p_t^k, so that log p_t, ∇log p_t and the
    class posterior p_t(c|x) = Σ_{k∈c} π_k p_t^k(x) / p_t(x) are exact at any t > 0. One-dimensional
    mixtures take flat lists and evaluate at flat arrays of points; d-dimensional ones take (K, d)
    arrays and evaluate at arrays of points of shape (..., d). Subclasses provide the component
    table, the marginals, the draws, the length scale, the bulk and the record.

    Parameters
    ----------
    n_components : int
        The number K of components.
    ndim : int
        The dimension d of the space.
    weights : array_like or None
        (K,) non-negative weights with a positive sum, normalised to sum 1; None: equal weights.
    labels : sequence of int or str, or None
        One class label per component (ints or strings, not bools; numpy scalars are converted);
        None: no labels, so CFG needs an explicit conditional model.

    Attributes
    ----------
    weights : np.ndarray
        (K,) the normalised weights π_k.
    labels : tuple or None
        The class label of each component, or None.

    Raises
    ------
    ValueError
        If ``weights`` or ``labels`` do not have one entry per component, or the weights are
        negative or sum to zero.
    TypeError
        If a label is not an int or a string.
    """

    def __init__(
        self,
        n_components: int,
        ndim: int,
        weights: ArrayLike | None,
        labels: Sequence[int | str] | None,
    ):
        self._ndim = ndim
        if weights is None:
            weights = np.full(n_components, 1.0 / n_components)
        weights = as_finite_array("weights", weights, ndim=1)
        if weights.size != n_components:
            raise ValueError(
                f"weights must have one entry per component ({n_components}), got {weights.size}"
            )
        if np.any(weights < 0):
            raise ValueError(f"weights must be non-negative, got {weights.tolist()}")
        if not weights.sum() > 0:
            raise ValueError(f"weights must have a positive sum, got {weights.tolist()}")
        self.weights = weights / weights.sum()
        if labels is None:
            self.labels = None
        else:
            labels = [
                label.item() if isinstance(label, np.generic) else label
                for label in np.ravel(labels)
            ]
            if len(labels) != n_components:
                raise ValueError(
                    f"labels must have one entry per component ({n_components}), got {len(labels)}"
                )
            for label in labels:
                if isinstance(label, bool) or not isinstance(label, (int, str)):
                    raise TypeError(f"labels must be ints or strings, got {label!r}")
            self.labels = tuple(labels)

    # --- description
    # ----------------------------------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        """The number K of components."""
        return self.weights.size

    @property
    def ndim(self) -> int:
        """The dimension d of the space (1 for mixtures given by flat lists)."""
        return self._ndim

    def component_table(self) -> Components:
        """The (kinds, loc, ext, rot) arrays that the compiled kernels read.

        Returns
        -------
        Components
            The component table of the K components (see :class:`Components`).
        """
        raise NotImplementedError

    def class_weight(self, label: int | str) -> float:
        """π_c, the total weight of the components labelled ``label``.

        Parameters
        ----------
        label : int or str
            A class label of the mixture.

        Returns
        -------
        float
            π_c = Σ_{k∈c} π_k.

        Raises
        ------
        ValueError
            If the mixture has no labels, ``label`` is not one of them, or the class has zero
            total weight.
        """
        return float(self.weights[self._class_mask(label)].sum())

    def log_weights(self, label: int | str | None = None) -> np.ndarray:
        """log π_k (label None), or log π_k/π_c on the class's components and −inf elsewhere.

        Parameters
        ----------
        label : int or str, optional
            A class label; None (default) for the weights of the whole mixture.

        Returns
        -------
        np.ndarray
            (K,) log-weights: those of the mixture, or of ``p_0(·|c)``.

        Raises
        ------
        ValueError
            If ``label`` is given and the mixture has no labels, ``label`` is not one of them, or
            the class has zero total weight.
        """
        weights = (
            self.weights if label is None else np.where(self._class_mask(label), self.weights, 0.0)
        )
        with np.errstate(divide="ignore"):
            return np.log(weights / weights.sum())

    def _class_mask(self, label) -> np.ndarray:
        if self.labels is None:
            raise ValueError(f"label={label!r} given but this {type(self).__name__} has no labels")
        mask = np.array([lab == label for lab in self.labels])
        if not mask.any():
            raise ValueError(
                f"label must be one of {sorted(set(self.labels), key=str)}, got {label!r}"
            )
        if not self.weights[mask].sum() > 0:
            raise ValueError(f"class {label!r} has zero total weight")
        return mask

    # --- closed-form evaluation
    # ----------------------------------------------------------------------------------------------
    def evaluate(
        self,
        x: ArrayLike,
        t: float,
        process: Process | str | dict | None = None,
        label: int | str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(log p_t(x|label), ∇log p_t(x|label)) at points x; label None gives the whole mixture.

        In d > 1 dimensions x has shape (..., d), the log-density shape (...) and the score shape
        (..., d). Under X_t = m X_0 + σ Z a Gaussian component N(μ, Σ) becomes N(mμ, m²Σ + σ²I) and
        a box ∏_j U[a_j, b_j] the product ∏_j [Φ((x_j − m a_j)/σ) − Φ((x_j − m b_j)/σ)] /
        (m(b_j − a_j)); the components are mixed with log-sum-exp (:func:`evaluate_mixtures`).

        Parameters
        ----------
        x : array_like
            Real points: any shape in one dimension, shape (..., d) in d > 1 dimensions.
        t : float
            The diffusion time, with σ(t) > 0.
        process : Process, str, dict or None, optional
            The noising process (anything :func:`~fpguide.models.processes.make_process` accepts: a
            Process, a name such as "VP", or a record); None (default): the OU process.
        label : int or str, optional
            A class label: the class-conditional mixture ``p_t(·|c)``; None (default): the whole
            mixture.

        Returns
        -------
        log_density : np.ndarray
            log p_t(x) (or log p_t(x|c)): the shape of x in one dimension, (...) otherwise.
        score : np.ndarray
            ∇log p_t(x) (or ∇log p_t(x|c)), the shape of x.

        Raises
        ------
        ValueError
            If x does not have shape (..., d) for a d-dimensional target (d > 1), σ(t) is not
            > 0, or ``label`` is not a class of the mixture.
        """
        x = as_real_array("x", x)
        t = check_real("t", t)
        if self.ndim > 1 and (x.ndim == 0 or x.shape[-1] != self.ndim):
            raise ValueError(
                f"x must have shape (..., {self.ndim}) for this {self.ndim}-D target, got {x.shape}"
            )
        process = make_process(process)
        m, sigma = float(process.m(t)), float(process.sigma(t))
        if not sigma > 0:
            raise ValueError(f"t must be > 0 for closed-form noised densities, got t={t}")
        points = np.ascontiguousarray(x.reshape(-1, self.ndim))
        logw = self.log_weights(label)
        logp, logp_again = np.empty(points.shape[0]), np.empty(points.shape[0])
        score, score_again = np.empty_like(points), np.empty_like(points)
        evaluate_mixtures(
            points,
            m,
            sigma,
            self.component_table(),
            logw,
            logw,
            logp,
            score,
            logp_again,
            score_again,
        )
        shape = x.shape if self.ndim == 1 else x.shape[:-1]
        return logp.reshape(shape), score.reshape(x.shape)

    def log_density(
        self,
        x: ArrayLike,
        t: float,
        process: Process | str | dict | None = None,
        label: int | str | None = None,
    ) -> np.ndarray:
        """log p_t(x) (or log p_t(x|c) with ``label=c``).

        The first output of :meth:`evaluate`.

        Parameters
        ----------
        x : array_like
            Real points: any shape in one dimension, shape (..., d) in d > 1 dimensions.
        t : float
            The diffusion time, with σ(t) > 0.
        process : Process, str, dict or None, optional
            The noising process (anything :func:`~fpguide.models.processes.make_process` accepts: a
            Process, a name such as "VP", or a record); None (default): the OU process.
        label : int or str, optional
            A class label for the class-conditional density; None (default): the whole mixture.

        Returns
        -------
        np.ndarray
            log p_t(x): the shape of x in one dimension, (...) otherwise.
        """
        return self.evaluate(x, t, process, label)[0]

    def score(
        self,
        x: ArrayLike,
        t: float,
        process: Process | str | dict | None = None,
        label: int | str | None = None,
    ) -> np.ndarray:
        """∇log p_t(x) (or ∇log p_t(x|c) with ``label=c``).

        The second output of :meth:`evaluate`.

        Parameters
        ----------
        x : array_like
            Real points: any shape in one dimension, shape (..., d) in d > 1 dimensions.
        t : float
            The diffusion time, with σ(t) > 0.
        process : Process, str, dict or None, optional
            The noising process (anything :func:`~fpguide.models.processes.make_process` accepts: a
            Process, a name such as "VP", or a record); None (default): the OU process.
        label : int or str, optional
            A class label for the class-conditional score; None (default): the whole mixture.

        Returns
        -------
        np.ndarray
            ∇log p_t(x), the shape of x.
        """
        return self.evaluate(x, t, process, label)[1]

    def class_posterior(
        self,
        x: ArrayLike,
        t: float,
        label: int | str,
        process: Process | str | dict | None = None,
    ) -> np.ndarray:
        """p_t(c|x) = π_c p_t(x|c) / p_t(x).

        Parameters
        ----------
        x : array_like
            Real points: any shape in one dimension, shape (..., d) in d > 1 dimensions.
        t : float
            The diffusion time, with σ(t) > 0.
        label : int or str
            The class c.
        process : Process, str, dict or None, optional
            The noising process (anything :func:`~fpguide.models.processes.make_process` accepts: a
            Process, a name such as "VP", or a record); None (default): the OU process.

        Returns
        -------
        np.ndarray
            p_t(c|x) in [0, 1]: the shape of x in one dimension, (...) otherwise.
        """
        logp_c = self.log_density(x, t, process, label)
        return np.exp(math.log(self.class_weight(label)) + logp_c - self.log_density(x, t, process))

    # --- derived models
    # ----------------------------------------------------------------------------------------------
    def condition(self, label: int | str) -> Mixture:
        """The class-conditional mixture p_0(·|c), weights renormalised.

        Parameters
        ----------
        label : int or str
            The class c.

        Returns
        -------
        Mixture
            The mixture of the components labelled c (same type, their labels kept).

        Raises
        ------
        ValueError
            If the mixture has no labels, ``label`` is not one of them, or the class has zero
            total weight.
        """
        return self.subset(self._class_mask(label))

    def subset(self, mask: ArrayLike) -> Mixture:
        """The mixture of the components where ``mask`` is true, weights renormalised.

        Parameters
        ----------
        mask : array_like of bool
            (K,) which components to keep.

        Returns
        -------
        Mixture
            The mixture of the kept components (same type, their labels kept).
        """
        labels = (
            None if self.labels is None else [lab for lab, keep in zip(self.labels, mask) if keep]
        )
        return self._with_components(np.asarray(mask, dtype=bool), labels)

    def _with_components(self, mask: np.ndarray, labels) -> Mixture:
        raise NotImplementedError

    def marginal(self, axes: int | Sequence[int]) -> Mixture:
        """The law of the coordinates ``axes`` (a mixture of the components' marginals, same weights
        and labels; one axis gives a one-dimensional mixture).

        Parameters
        ----------
        axes : int or sequence of int
            Distinct coordinates in 0 … d−1, in the order of the result's coordinates.

        Returns
        -------
        Mixture
            A mixture of the same type in len(axes) dimensions (flat lists for one axis).

        Raises
        ------
        TypeError
            If ``axes`` is not an integer or a sequence of integers.
        ValueError
            If ``axes`` is empty, holds a coordinate outside 0 … d−1, or repeats one.
        """
        given, axes = axes, np.atleast_1d(axes)
        if axes.ndim != 1 or axes.dtype.kind not in "iu":
            raise TypeError(
                "axes must be an integer or a sequence of integers (coordinates in "
                f"0..{self.ndim - 1}), "
                f"got {given!r}"
            )
        axes = [int(a) for a in axes]
        if not axes or any(not 0 <= a < self.ndim for a in axes) or len(set(axes)) < len(axes):
            raise ValueError(f"axes must be distinct coordinates in 0..{self.ndim - 1}, got {axes}")
        return self._marginal(axes)

    def _marginal(self, axes: list[int]) -> Mixture:
        raise NotImplementedError

    def sample(
        self, n: int, rng: np.random.Generator, label: int | str | None = None
    ) -> np.ndarray:
        """n draws from p_0 (or p_0(·|c)): shape (n,) in 1-D, (n, d) otherwise.

        Each draw picks a component k with probability π_k, then draws from it.

        Parameters
        ----------
        n : int
            The number of draws, >= 0.
        rng : np.random.Generator
            The random generator (``np.random.default_rng(seed)``).
        label : int or str, optional
            A class label: draws from ``p_0(·|c)``; None (default): from the whole mixture.

        Returns
        -------
        np.ndarray
            The draws: shape (n,) in one dimension, (n, d) otherwise.

        Raises
        ------
        TypeError
            If ``rng`` is not a numpy Generator.
        """
        n = check_int("n", n, 0)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                "rng must be a numpy Generator (np.random.default_rng(seed)), got "
                f"{type(rng).__name__} "
                f"{rng!r}"
            )
        model = self if label is None else self.condition(label)
        comp = rng.choice(model.n_components, size=n, p=model.weights)
        draws = model._draw(comp, rng)
        return draws[:, 0] if self.ndim == 1 else draws

    def _draw(self, comp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of p_t: the smallest component width (Gaussian) or edge width σ
        (uniform).

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
        raise NotImplementedError

    def bulk(self) -> tuple[np.ndarray, np.ndarray]:
        """Per coordinate, bounds (lower (d,), upper (d,)) that hold all of p_0 but a negligible (<
        1e-15) fraction.

        Returns
        -------
        lower, upper : np.ndarray
            (d,) the lower and the upper bounds.
        """
        raise NotImplementedError

    def supports(self, label: int | str | None = None) -> list | None:
        """Support of p_0 (or of ``p_0(·|c)``): in 1-D disjoint intervals (a, b); in d-D the boxes
        (lows, highs) of the components; None for a target with unbounded support.

        Parameters
        ----------
        label : int or str, optional
            A class label: the support of ``p_0(·|c)``; None (default): of the whole mixture.

        Returns
        -------
        list or None
            The intervals or boxes (of the components with positive weight), or None.
        """
        return None

    def to_dict(self) -> dict:
        """The record of the mixture, which :func:`target_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` (the class name) and the constructor's arguments as lists.
        """
        raise NotImplementedError

    def _labels_list(self):
        return None if self.labels is None else list(self.labels)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None


def _points_array(name: str, value) -> tuple[np.ndarray, bool]:
    """A (K,) list (one dimension) or (K, d) array of per-component points, as (K, d), and whether
    it was flat."""
    arr = as_finite_array(name, value)
    if arr.ndim == 1 and arr.size:
        return arr[:, None], True
    if arr.ndim == 2 and arr.shape[0] and arr.shape[1]:
        return arr, False
    raise ValueError(
        f"{name} must be a non-empty flat list (1-D) or a (K, d) array, got shape {arr.shape}"
    )


class GaussianMixture(Mixture):
    """p_0 = Σ_k π_k N(μ_k, Σ_k).

    Under X_t = m X_0 + σ Z each component becomes N(mμ_k, m²Σ_k + σ²I). Each covariance is
    eigen-decomposed once, Σ_k = R diag(λ) Rᵀ (axis-aligned components keep the axes, and their
    order, as eigenvectors without an eigensolve), so that the noised precision and
    log-determinant at any t follow from m²λ + σ².

    Parameters
    ----------
    means : array_like
        A flat list (one dimension) or a (K, d) array of the means μ_k.
    covariances : float or array_like, default 1.0
        A number (σ²I for every component), one number per component (K,), one shared (d, d)
        matrix, or one matrix per component (K, d, d); each matrix must be symmetric positive
        definite (in 1-D a flat list gives one variance per component).
    weights : array_like, optional
        (K,) non-negative weights, normalised to sum 1; default equal.
    labels : sequence of int or str, optional
        One class label per component; default: no labels (CFG then needs an explicit
        conditional model).

    Attributes
    ----------
    means : np.ndarray
        The means, flat (K,) in one dimension, else (K, d).
    covariances : np.ndarray
        (K, d, d) the covariance matrices.
    weights : np.ndarray
        (K,) the normalised weights.
    labels : tuple or None
        The class labels.

    Raises
    ------
    ValueError
        If ``means`` is not a non-empty flat list or (K, d) array, the variances are not > 0,
        ``covariances`` has another shape, or a matrix is not symmetric or not positive definite
        (an eigenvalue <= 1e-12 times the component's largest); and as :class:`Mixture` for the
        weights and labels.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture([-2.0, 2.0], 0.25, labels=[0, 1])
    >>> target.ndim, target.n_components, target.class_weight(1)
    (1, 2, 0.5)
    >>> target.condition(1)
    GaussianMixture(means=[2.0], covariances=[0.25], weights=[1.0], labels=[1])
    >>> round(float(target.class_posterior(1.0, t=0.5, label=1)), 4)  # p_t(c=1 | x=1), OU
    0.9661
    >>> pair = fg.GaussianMixture([[1.0, 0.0], [0.0, 1.0]], [[0.1, 0.05], [0.05, 0.1]])
    >>> pair.marginal(0).to_dict()["covariances"]
    [0.1, 0.1]
    """

    def __init__(
        self,
        means: ArrayLike,
        covariances: float | ArrayLike = 1.0,
        weights: ArrayLike | None = None,
        labels: Sequence[int | str] | None = None,
    ):
        means, flat = _points_array("means", means)
        n, d = means.shape
        cov = as_finite_array("covariances", covariances)
        if cov.ndim == 0 or (cov.ndim == 1 and cov.size == n):
            if np.any(cov <= 0):
                raise ValueError(f"covariances must be > 0, got {cov.tolist()}")
            cov = np.broadcast_to(cov, (n,))[:, None, None] * np.eye(d)
        elif cov.ndim == 2 and cov.shape == (d, d) and d > 1:
            cov = np.broadcast_to(cov, (n, d, d))
        elif not (cov.ndim == 3 and cov.shape == (n, d, d)):
            raise ValueError(
                f"covariances must be a number, have one entry per component ({n}), "
                f"or be a ({d}, {d}) "
                f"matrix or ({n}, {d}, {d}) matrices, got shape {cov.shape}"
            )
        if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-12, atol=0):
            bad = int(np.argmax(np.max(np.abs(cov - np.swapaxes(cov, 1, 2)), axis=(1, 2))))
            raise ValueError(
                f"covariances must be symmetric matrices; component {bad} is {cov[bad].tolist()}"
            )
        # axis-aligned components keep the axes (and their order) as eigenvectors, without a d×d
        # eigensolve
        diagonal = np.all(cov * (1.0 - np.eye(d)) == 0.0, axis=(1, 2))
        eigvals, eigvecs = np.diagonal(cov, axis1=1, axis2=2).copy(), np.zeros((n, d, d))
        eigvecs[:] = np.eye(d)
        if not diagonal.all():
            eigvals[~diagonal], eigvecs[~diagonal] = np.linalg.eigh(cov[~diagonal])
        if np.any(eigvals <= 1e-12 * np.abs(eigvals).max(axis=1, keepdims=True)):
            bad = int(np.argmin(eigvals.min(axis=1)))
            raise ValueError(
                f"covariances must be positive definite; component {bad} has "
                "eigenvalues "
                f"{eigvals[bad].tolist()}"
            )
        super().__init__(n, d, weights, labels)
        self._mu = np.ascontiguousarray(means)
        self.means = means[:, 0] if flat else means
        self.covariances = np.array(cov)
        self._table = Components(
            np.full(n, GAUSSIAN, dtype=np.int64),
            self._mu,
            np.ascontiguousarray(eigvals),
            np.ascontiguousarray(eigvecs),
        )

    def component_table(self) -> Components:
        """The (kinds, loc, ext, rot) arrays that the compiled kernels read: per component the mean,
        the eigenvalues of Σ_k and its eigenvectors as columns.

        Returns
        -------
        Components
            The component table (made once, at construction).
        """
        return self._table

    def _with_components(self, mask, labels):
        return GaussianMixture(
            self.means[mask],
            self.covariances[mask] if self.ndim > 1 else self.covariances[mask, 0, 0],
            self.weights[mask],
            labels,
        )

    def _marginal(self, axes):
        return self.project(np.eye(self.ndim)[axes])

    def project(self, basis: ArrayLike) -> GaussianMixture:
        """The law of B X for a (r, d) matrix B of full row rank: means B μ_k, covariances B Σ_k Bᵀ
        (a flat one-dimensional mixture when r = 1).

        Parameters
        ----------
        basis : array_like
            The (r, d) matrix B, with linearly independent rows.

        Returns
        -------
        GaussianMixture
            The r-dimensional mixture, with the same weights and labels.

        Raises
        ------
        ValueError
            If ``basis`` does not have d columns, has no rows, or its rows are linearly dependent.
        """
        basis = _check_basis(basis, self.ndim)
        means = self._mu @ basis.T
        cov = np.einsum("ri,kij,sj->krs", basis, self.covariances, basis)
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        if basis.shape[0] == 1:
            return GaussianMixture(means[:, 0], cov[:, 0, 0], self.weights, self.labels)
        return GaussianMixture(means, cov, self.weights, self.labels)

    def _draw(self, comp, rng):
        chol = np.linalg.cholesky(self.covariances)
        z = rng.standard_normal((comp.size, self.ndim))
        return self._mu[comp] + np.einsum("nij,nj->ni", chol[comp], z)

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of p_t: the smallest noised component width sqrt(m²λ_min + σ²),
        λ_min the smallest eigenvalue of all the covariances.

        Parameters
        ----------
        t : float
            The diffusion time.
        process : Process
            The noising process (m(t), σ(t)).

        Returns
        -------
        float
            The length scale at t.
        """
        m, sigma = float(process.m(t)), float(process.sigma(t))
        return float(np.sqrt(m * m * self._table.ext.min() + sigma * sigma))

    def bulk(self) -> tuple[np.ndarray, np.ndarray]:
        """Per coordinate, bounds that hold all of p_0 but a negligible fraction: the components'
        means ± 9 standard deviations (the square roots of the diagonals of Σ_k).

        Returns
        -------
        lower, upper : np.ndarray
            (d,) min_k (μ_k − 9 sd_k) and max_k (μ_k + 9 sd_k).
        """
        sd = np.sqrt(np.diagonal(self.covariances, axis1=1, axis2=2))
        return np.min(self._mu - 9.0 * sd, axis=0), np.max(self._mu + 9.0 * sd, axis=0)

    def to_dict(self) -> dict:
        """The record of the mixture, which :func:`target_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "GaussianMixture", ``means``, ``covariances`` (one variance per component in
            one dimension, else the matrices), ``weights`` and ``labels`` as lists.
        """
        if self.ndim == 1:
            cov = self.covariances[:, 0, 0].tolist()
        else:
            cov = self.covariances.tolist()
        return {
            "type": "GaussianMixture",
            "means": self.means.tolist(),
            "covariances": cov,
            "weights": self.weights.tolist(),
            "labels": self._labels_list(),
        }


def _check_basis(basis: ArrayLike, d: int) -> np.ndarray:
    """``basis`` as a (r, d) array of full row rank, or a ValueError naming it."""
    basis = as_finite_array("basis", basis, ndim=2)
    if basis.shape[1] != d:
        raise ValueError(f"basis must have {d} columns, got shape {basis.shape}")
    if basis.shape[0] == 0 or np.linalg.matrix_rank(basis) < basis.shape[0]:
        raise ValueError(
            f"basis must have linearly independent rows (full row rank), got {basis.tolist()}"
        )
    return basis


class EmpiricalMixture(GaussianMixture):
    """p_0 = Σ_i π_i δ_{x_i}: the empirical law of a finite data set (a training set).

    Under X_t = m X_0 + σ Z it is the Gaussian mixture p_t = Σ_i π_i N(m x_i, σ² I), one
    component per point with zero data covariance, so the score at every t > 0 is that of the
    training set's ideal denoiser, E[X_0 | x] = Σ_i softmax_i(log π_i − ‖x − m x_i‖²/(2σ²)) x_i: a
    sampler driven by it reproduces the training points as t → 0 (memorisation). It is a
    :class:`GaussianMixture` whose covariances are zero, evaluated by the same compiled kernels
    (the noised variance m²·0 + σ² is positive for t > 0), so it solves as fast as a
    GaussianMixture with as many components; its narrowest feature at t is σ(t). Its components
    are axis-aligned Gaussians, which the vectorised kernels evaluate
    (:func:`line_velocity_gaussian`, :func:`mixture_eval_gaussian`): a score costs 1–2 ns per
    point and component where σ(t) is wide next to the data, and less where it is narrow, as the
    grid's lines leave out the points beyond reach of theirs.

    Parameters
    ----------
    points : array_like
        A flat list (one dimension) or a (n, d) array of the data points x_i.
    weights : array_like, optional
        (n,) non-negative weights, normalised to sum 1; default equal (the empirical law).
    labels : sequence of int or str, optional
        One class label per point; default: no labels (CFG then needs an explicit conditional
        model).

    Attributes
    ----------
    points : np.ndarray
        The points, flat (n,) in one dimension, else (n, d); ``means`` is the same array.
    covariances : np.ndarray
        (n, d, d) zeros.
    weights : np.ndarray
        (n,) the normalised weights.
    labels : tuple or None
        The class labels.

    Raises
    ------
    ValueError
        If ``points`` is not a non-empty flat list or (n, d) array of finite numbers; and as
        :class:`Mixture` for the weights and labels.

    Examples
    --------
    >>> import fpguide as fg
    >>> data = fg.EmpiricalMixture([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], labels=[0, 0, 1])
    >>> data.ndim, data.n_components, data.class_weight(0)
    (2, 3, 0.6666666666666666)
    >>> data.condition(1)
    EmpiricalMixture(points=[[0.0, 2.0]], weights=[1.0], labels=[1])
    >>> float(data.log_density([0.0, 2.0], t=0.5, label=1))  # N(m x₂, σ² I) at x₂ = (0, 2), OU
    -1.8690...
    """

    def __init__(
        self,
        points: ArrayLike,
        weights: ArrayLike | None = None,
        labels: Sequence[int | str] | None = None,
    ):
        points, flat = _points_array("points", points)
        n, d = points.shape
        Mixture.__init__(self, n, d, weights, labels)
        self._mu = np.ascontiguousarray(points)
        self.points = self.means = points[:, 0] if flat else points
        self.covariances = np.zeros((n, d, d))
        self._table = Components(
            np.full(n, GAUSSIAN, dtype=np.int64),
            self._mu,
            np.zeros((n, d)),
            np.ascontiguousarray(np.broadcast_to(np.eye(d), (n, d, d))),
        )

    def _with_components(self, mask, labels):
        return EmpiricalMixture(self.points[mask], self.weights[mask], labels)

    def project(self, basis: ArrayLike) -> EmpiricalMixture:
        """The law of B X for a (r, d) matrix B of full row rank: the points B x_i (flat when r =
        1), the same weights and labels.

        Parameters
        ----------
        basis : array_like
            The (r, d) matrix B, with linearly independent rows.

        Returns
        -------
        EmpiricalMixture
            The r-dimensional empirical law.

        Raises
        ------
        ValueError
            If ``basis`` does not have d columns, has no rows, or its rows are linearly dependent.
        """
        basis = _check_basis(basis, self.ndim)
        points = self._mu @ basis.T
        return EmpiricalMixture(
            points[:, 0] if basis.shape[0] == 1 else points, self.weights, self.labels
        )

    def _draw(self, comp, rng):
        return self._mu[comp]

    def to_dict(self) -> dict:
        """The record of the data set, which :func:`target_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "EmpiricalMixture", ``points``, ``weights`` and ``labels`` as lists.
        """
        return {
            "type": "EmpiricalMixture",
            "points": self.points.tolist(),
            "weights": self.weights.tolist(),
            "labels": self._labels_list(),
        }


class UniformMixture(Mixture):
    """p_0 = Σ_k π_k U(box_k): intervals [a_k, b_k] from flat lists in one dimension, axis-aligned
    boxes ∏_j [a_kj, b_kj] from (K, d) arrays ``lows`` and ``highs`` (boxes may overlap).

    Under X_t = m X_0 + σ Z a box becomes the product
    p_t(x) = ∏_j [Φ((x_j − m a_j)/σ) − Φ((x_j − m b_j)/σ)] / (m(b_j − a_j)).

    Parameters
    ----------
    lows, highs : array_like
        The lower and upper ends a_k, b_k: flat lists (one dimension) or (K, d) arrays of the same
        shape, lows < highs.
    weights : array_like, optional
        (K,) non-negative weights, normalised to sum 1; default equal.
    labels : sequence of int or str, optional
        One class label per component; default: no labels (CFG then needs an explicit
        conditional model).

    Attributes
    ----------
    weights : np.ndarray
        (K,) the normalised weights.
    labels : tuple or None
        The class labels.

    Raises
    ------
    ValueError
        If ``lows`` is not a non-empty flat list or (K, d) array, ``highs`` has another shape, or
        a low is not below its high; and as :class:`Mixture` for the weights and labels.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.UniformMixture([-2.0, 1.0], [-1.0, 3.0], labels=["a", "b"])
    >>> target.supports()
    [(-2.0, -1.0), (1.0, 3.0)]
    >>> target.condition("b")
    UniformMixture(lows=[1.0], highs=[3.0], weights=[1.0], labels=['b'])
    """

    def __init__(
        self,
        lows: ArrayLike,
        highs: ArrayLike,
        weights: ArrayLike | None = None,
        labels: Sequence[int | str] | None = None,
    ):
        lows, flat = _points_array("lows", lows)
        highs = as_finite_array("highs", highs)
        highs = highs[:, None] if flat and highs.ndim == 1 else highs
        if highs.shape != lows.shape:
            raise ValueError(
                "highs must have the same shape as lows "
                f"{lows.shape[:1] if flat else lows.shape}, "
                f"got shape {np.shape(highs) if not flat else (highs.size,)}"
            )
        if np.any(lows >= highs):
            raise ValueError(
                f"lows must be below highs, got lows={lows.squeeze().tolist()}, "
                f"highs={highs.squeeze().tolist()}"
            )
        n, d = lows.shape
        super().__init__(n, d, weights, labels)
        self._flat = flat
        self._lo, self._hi = np.ascontiguousarray(lows), np.ascontiguousarray(highs)
        self._table = Components(
            np.full(n, UNIFORM, dtype=np.int64),
            self._lo,
            self._hi,
            np.ascontiguousarray(np.broadcast_to(np.eye(d), (n, d, d))),
        )

    @property
    def lows(self) -> np.ndarray:
        """The lower ends a_k: flat (K,) in one dimension, else (K, d)."""
        return self._lo[:, 0] if self._flat else self._lo

    @property
    def highs(self) -> np.ndarray:
        """The upper ends b_k: flat (K,) in one dimension, else (K, d)."""
        return self._hi[:, 0] if self._flat else self._hi

    def component_table(self) -> Components:
        """The (kinds, loc, ext, rot) arrays that the compiled kernels read: per component the lows,
        the highs and the identity.

        Returns
        -------
        Components
            The component table (made once, at construction).
        """
        return self._table

    def _with_components(self, mask, labels):
        return UniformMixture(self.lows[mask], self.highs[mask], self.weights[mask], labels)

    def _marginal(self, axes):
        if len(axes) == 1:
            return UniformMixture(
                self._lo[:, axes[0]], self._hi[:, axes[0]], self.weights, self.labels
            )
        return UniformMixture(self._lo[:, axes], self._hi[:, axes], self.weights, self.labels)

    def _draw(self, comp, rng):
        return self._lo[comp] + (self._hi[comp] - self._lo[comp]) * rng.random(
            (comp.size, self.ndim)
        )

    def length_scale(self, t: float, process: Process) -> float:
        """The narrowest feature of p_t: the edge width σ of the noised boxes.

        Computed as min(σ, sqrt(σ² + (m w_min)²)), w_min the narrowest side of all the boxes, which
        equals σ.

        Parameters
        ----------
        t : float
            The diffusion time.
        process : Process
            The noising process (m(t), σ(t)).

        Returns
        -------
        float
            σ(t).
        """
        m, sigma = float(process.m(t)), float(process.sigma(t))
        return float(min(sigma, np.sqrt(sigma**2 + (m * (self._hi - self._lo)).min() ** 2)))

    def bulk(self) -> tuple[np.ndarray, np.ndarray]:
        """Per coordinate, bounds that hold all of p_0: the smallest low and the largest high.

        Returns
        -------
        lower, upper : np.ndarray
            (d,) min_k a_k and max_k b_k.
        """
        return self._lo.min(axis=0), self._hi.max(axis=0)

    def supports(self, label: int | str | None = None) -> list:
        """Support of p_0 (or of ``p_0(·|c)``): in 1-D the union of the intervals as disjoint
        intervals (a, b); in d-D the boxes (lows, highs) of the components.

        Components of zero weight are left out.

        Parameters
        ----------
        label : int or str, optional
            A class label: the support of ``p_0(·|c)``; None (default): of the whole mixture.

        Returns
        -------
        list
            Sorted disjoint intervals (a, b) in one dimension, else one (lows (d,), highs (d,))
            pair per component.
        """
        model = self if label is None else self.condition(label)
        keep = model.weights > 0
        if self.ndim == 1:
            return merge_intervals(list(zip(model.lows[keep], model.highs[keep])))
        return [(lo, hi) for lo, hi in zip(model._lo[keep], model._hi[keep])]

    def to_dict(self) -> dict:
        """The record of the mixture, which :func:`target_from_dict` rebuilds.

        Returns
        -------
        dict
            ``type`` "UniformMixture", ``lows``, ``highs``, ``weights`` and ``labels`` as lists.
        """
        return {
            "type": "UniformMixture",
            "lows": self.lows.tolist(),
            "highs": self.highs.tolist(),
            "weights": self.weights.tolist(),
            "labels": self._labels_list(),
        }


def merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of intervals as a sorted list of disjoint intervals."""
    merged: list[list[float]] = []
    for lo, hi in sorted((float(lo), float(hi)) for lo, hi in intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


TARGETS = {
    "GaussianMixture": GaussianMixture,
    "EmpiricalMixture": EmpiricalMixture,
    "UniformMixture": UniformMixture,
}


def target_from_dict(spec: dict) -> Mixture:
    """Rebuild a target from :meth:`Mixture.to_dict`.

    Parameters
    ----------
    spec : dict
        The record: ``type`` (a name in ``TARGETS``: "GaussianMixture", "EmpiricalMixture" or
        "UniformMixture") and the constructor's arguments.

    Returns
    -------
    Mixture
        The target.

    Raises
    ------
    ValueError
        If ``type`` is missing or not one of ``TARGETS`` (a ScoreModel's record names its
        callables but cannot rebuild them).

    Examples
    --------
    >>> import fpguide as fg
    >>> from fpguide.models.targets import target_from_dict
    >>> target = fg.UniformMixture([0.0], [1.0])
    >>> target_from_dict(target.to_dict()) == target
    True
    """
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind == "ScoreModel":
        raise ValueError(
            f"the record of the score model {spec.get('name')!r} cannot rebuild it: its callables "
            "are not recorded; run it again with the ScoreModel itself"
        )
    if kind not in TARGETS:
        raise ValueError(f"target type must be one of {tuple(TARGETS)}, got {kind!r}")
    return TARGETS[kind](**spec)
