"""Exact reduction of a high-dimensional guided sampler to a grid problem in at most three
dimensions.

**Isotropic Gaussian mixtures** (``"isotropic"``). Let every unconditional component be N(μ_k, s_u²
I) and every conditional one N(μ_k, s_c² I). With U (r × d, orthonormal rows) spanning the
differences μ_k − μ_1, P⊥ = I − UᵀU and c = P⊥μ_1 (the part of the means orthogonal to U, common to
all), μ_k = c + Uᵀa_k with a_k = Uμ_k. The noised components N(mμ_k, v I) (v = m²s² + σ²) factor in
y = UX and z = P⊥X, so

    ∇log p_t(x) = Uᵀ ∇_y log p̃_t(y) − (z − m c)/v_u,

p̃ being the r-dimensional mixture of the N(a_k, s² I_r). The guided drift in y is the r-D
sampler's; in z it is linear, −f z − κ g² A (z − m c) with A = (1 + w)/v_c − w/v_u (κ = 1 for the
SDE, ½ for the ODE). The start laws factor too, so the output law is exactly q̃(y) ⊗ N(β(t) c, V(t)
P⊥) with, in reverse time τ,

    dβ/dτ = −f β − κ g² A (β − m),    dV/dτ = 2(−f − κ g² A) V + 2D,

integrated to a relative tolerance of 1e-12.

**Product targets** (``"product"``). Components that are products over coordinates (boxes, Gaussians
with diagonal covariance) and share one law along every coordinate j outside a set S of at most
three. Then p_t(x) and p_t(x|c) carry the same factor p_{t,j}(x_j), guidance cancels on it (s_w,j =
∂_j log p_{t,j}), and each such coordinate runs the unguided sampler of its own law independently: q
= q̃(x_S) ⊗ ∏_{j∉S} q_j. Coordinates with one law share one 1-D solve.

Observables of the full law follow from the factorisation: entropies and KL divergences add, means
and variances combine, the class posterior depends on the solved coordinates only, box masses
multiply. Total variation does not factor and is left out of reduced Datasets.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.integrate import solve_ivp

from ..grids.grid import AXIS_NAMES, MAX_GRID_DIM, axis_labels
from ..models.dynamics import GuidedDynamics
from ..models.guidance import CFG, GuidedModel
from ..models.targets import (
    GAUSSIAN,
    EmpiricalMixture,
    GaussianMixture,
    Mixture,
    UniformMixture,
)
from ..results.dataset import attach, global_attrs
from .monitors import MONITORS

__all__ = ["find_reduction"]

# singular values below this (relative to the means' scale) do not span a solved direction
RANK_TOL = 1e-12
ODE_RTOL = 1e-12


@dataclass(frozen=True)
class Rest:
    """The law of the coordinates that are not on the grid, at the saved times."""

    mass: np.ndarray  # (n_t,)
    entropy: np.ndarray  # (n_t,)
    mean: np.ndarray  # (n_t, d): its contribution to the full mean
    variance: np.ndarray  # (n_t, d): its contribution to the full marginal variances
    # (n_t,): its mass inside the support shared by every box, None for Gaussians
    inside: np.ndarray | None
    kl_conditional: float  # KL to the conditional's factor at the output time
    kl_tilted: float
    variables: dict = field(default_factory=dict)  # extra data variables {name: (dims, values)}


@dataclass(frozen=True)
class Reduction:
    """A d-dimensional guided model as a model on r ≤ 3 solved coordinates y = B x (``basis`` B,
    orthonormal rows) times a law of the rest (see the module docstring)."""

    kind: str  # "isotropic" or "product"
    basis: np.ndarray  # (r, d)
    target: Mixture  # the unconditional model of y
    guidance: CFG  # the guidance of y
    offset: np.ndarray | None = None  # isotropic: c, the means' common part orthogonal to the basis
    variances: tuple[float, float] | None = None  # isotropic: (s_u², s_c²)
    factors: tuple = ()  # product: ((1-D law, coordinates), ...) of the unsolved coordinates

    @property
    def ndim(self) -> int:
        return self.basis.shape[1]

    def oriented(
        self, direction: np.ndarray, given: bool
    ) -> tuple[Reduction, np.ndarray, np.ndarray | None]:
        """(this reduction with its basis signed so that a single solved coordinate increases along
        the direction, the direction, the direction in solved coordinates (None when r = 1)). A
        ``given`` direction must lie in the solved span; a default one outside it is replaced by the
        first basis vector."""
        inside = self.basis @ direction
        if abs(np.linalg.norm(inside) - 1.0) > 1e-9:
            if given:
                raise ValueError(
                    "direction must lie in the span of the solved coordinates (basis "
                    "rows "
                    f"{np.round(self.basis, 6).tolist()}) for a reduced solve, got "
                    f"{direction.tolist()}"
                )
            direction, inside = self.basis[0], np.eye(self.basis.shape[0])[0]
        if self.basis.shape[0] > 1:
            return self, direction, inside / np.linalg.norm(inside)
        if inside[0] > 0:
            return self, direction, None
        return (
            Reduction(
                self.kind,
                -self.basis,
                _reversed(self.target),
                _reversed_guidance(self.guidance),
                self.offset,
                self.variances,
                self.factors,
            ),
            direction,
            None,
        )

    def factor_problems(self) -> list[tuple[Mixture, CFG]]:
        """The unguided 1-D problems of the unsolved coordinates (product reductions)."""
        return [(law, CFG(w=0.0, cond=law)) for law, _ in self.factors]

    def rest(
        self, dyn: GuidedDynamics, t_save: np.ndarray, start: str, factor_ds: list[xr.Dataset]
    ) -> Rest:
        if self.kind == "isotropic":
            return self._gaussian_rest(dyn, t_save, start)
        return self._product_rest(factor_ds, t_save.size)

    def _gain(self, dyn: GuidedDynamics, t: float) -> float:
        """A(t) = (1 + w)/v_c − w/v_u, w = w(t)."""
        var_u, var_c = self.variances
        process = dyn.process
        m2, s2 = float(process.m(t)) ** 2, float(process.sigma(t)) ** 2
        w = dyn.model.weight(t)
        return (1.0 + w) / (m2 * var_c + s2) - w / (m2 * var_u + s2)

    def _orthogonal_moments(self, dyn: GuidedDynamics, t_save: np.ndarray, start: str):
        """The solution of the linear moment ODEs for β and log V at the saved times."""
        process, T = dyn.process, dyn.T
        _, var_c = self.variances

        def rhs(tau, state):
            t = T - tau
            f, g2, m = float(process.f(t)), float(process.g2(t)), float(process.m(t))
            k = dyn.score_factor * g2 * self._gain(dyn, t)
            beta, log_v = state
            return [
                -f * beta - k * (beta - m),
                2.0 * (-f - k) + 2.0 * dyn.diffusion(tau) / math.exp(log_v),
            ]

        m_T, s_T = float(process.m(T)), float(process.sigma(T))
        start_state = (
            [0.0, 2.0 * math.log(process.prior_std(T))]
            if start == "prior" and not dyn.noise_start
            # the exact start; from pure noise, that start carried to T (see start_law), also
            # N(m_T mean, m_T² var_c + s_T²) up to O(m_T²)
            else [m_T, math.log(m_T**2 * var_c + s_T**2)]
        )
        sol = solve_ivp(
            rhs,
            (0.0, T - t_save[-1]),
            start_state,
            method="DOP853",
            t_eval=T - t_save,
            rtol=ODE_RTOL,
            atol=1e-14,
        )
        if not sol.success:
            raise RuntimeError(f"the orthogonal moment ODEs failed: {sol.message}")
        return sol

    def _gaussian_rest(self, dyn: GuidedDynamics, t_save: np.ndarray, start: str) -> Rest:
        """N(β c, V P⊥) from the linear moment ODEs of the module docstring."""
        process = dyn.process
        _, var_c = self.variances
        sol = self._orthogonal_moments(dyn, t_save, start)
        beta, variance = sol.y[0], np.exp(sol.y[1])
        n_rest, c2 = self.ndim - self.basis.shape[0], float(self.offset @ self.offset)
        t_out = float(t_save[-1])
        m, s2 = float(process.m(t_out)), float(process.sigma(t_out)) ** 2

        # KL(N(β c, V P⊥) ‖ N(m c, P⊥/precision)) over the n_rest orthogonal dimensions
        def kl_to(precision):
            pv = precision * variance[-1]
            return (
                0.5 * n_rest * (pv - 1.0 - math.log(pv))
                + 0.5 * precision * (beta[-1] - m) ** 2 * c2
            )

        kl_cond, a = kl_to(1.0 / (m * m * var_c + s2)), self._gain(dyn, t_out)
        kl_tilt = kl_to(a) if a > 0 else math.nan  # a ≤ 0: the tilted law is improper
        orthogonal = 1.0 - np.sum(self.basis**2, axis=0)  # diagonal of P⊥
        return Rest(
            np.ones(t_save.size),
            0.5 * n_rest * np.log(2 * math.pi * math.e * variance),
            beta[:, None] * self.offset[None, :],
            variance[:, None] * orthogonal[None, :],
            None,
            kl_cond,
            kl_tilt,
            {"orthogonal_variance": (("t",), variance)},
        )

    def _product_rest(self, factor_ds: list[xr.Dataset], n_t: int) -> Rest:
        """∏_j q_j from the 1-D solves, each counted once per coordinate that follows its law."""
        mass, entropy, inside = np.ones(n_t), np.zeros(n_t), np.ones(n_t)
        mean, variance = np.zeros((n_t, self.ndim)), np.zeros((n_t, self.ndim))
        kl, boxes = 0.0, True
        for (_, coords), ds in zip(self.factors, factor_ds):
            k = len(coords)
            mass *= ds["mass"].values ** k
            entropy += k * ds["entropy"].values
            mean[:, coords] = ds["mean"].values[:, None]
            variance[:, coords] = ds["variance"].values[:, None]
            kl += k * float(ds["kl_conditional"].values)
            if "support_mass" in ds:
                inside *= ds["support_mass"].values ** k
            else:
                boxes = False
        return Rest(mass, entropy, mean, variance, inside if boxes else None, kl, kl)

    def assemble(
        self, red: xr.Dataset, rest: Rest, config: dict, direction: np.ndarray
    ) -> xr.Dataset:
        """The Dataset of the full law from the solved coordinates' Dataset ``red`` and the
        ``rest``."""
        r, d = self.basis.shape
        solved = list(AXIS_NAMES[:r])
        if r == 1:
            solved_mean = red["mean"].values[:, None]
            solved_cov = red["variance"].values[:, None, None]
        else:
            solved_mean, solved_cov = red["mean"].values, red["covariance"].values
        mean = solved_mean @ self.basis + rest.mean
        variance = np.einsum("ri,tre,ei->ti", self.basis, solved_cov, self.basis) + rest.variance
        mass = red["mass"].values * rest.mass
        data = {
            "density": red["density"],
            "outflow": red["outflow"],
            "mass": (("t",), mass),
            "entropy": (("t",), red["entropy"].values + rest.entropy),
            "mean": (("t", "dim"), mean),
            "variance": (("t", "dim"), variance),
            "projected_mean": (("t",), mean @ direction),
            "solved_mean": (("t", "solved"), solved_mean),
            "solved_covariance": (("t", "solved", "solved2"), solved_cov),
            "basis": (("solved", "dim"), self.basis),
            "direction": (("dim",), direction),
            "kl_conditional": float(red["kl_conditional"]) + rest.kl_conditional,
            "kl_tilted": float(red["kl_tilted"]) + rest.kl_tilted,
        } | rest.variables
        # monitors: of the solve
        for name in ("confidence", "inverse_confidence", "tail_probability", *MONITORS):
            if name in red:
                data[name] = red[name]
        if rest.inside is not None and "support_mass" in red:
            data["support_mass"] = red["support_mass"] * rest.inside
            inside_any = (red["mass"] - red["outside_mass"]) * rest.inside
            data["outside_mass"] = (("t",), mass - inside_any.values)
            if "edge_mass" in red:
                data["edge_mass"] = red["edge_mass"] * rest.inside
        coords = {name: red[name] for name in red.coords if name not in ("dim", "dim2")}
        coords |= {"solved": solved, "solved2": solved, "dim": axis_labels(d)}
        run = json.loads(red.attrs["run"]) | {
            "reduction": {
                "kind": self.kind,
                "solved": r,
                "d": d,
                "factors": [len(c) for _, c in self.factors],
            }
        }
        title = (
            f"fpguide {config['sampler']} solution in {d}-D reduced to {r}-D ({self.kind}), "
            f"CFG w={config['guidance']['w']}"
        )
        ds = attach(xr.Dataset(data, coords=coords, attrs=global_attrs(title, config, run)))
        for i, name in enumerate(solved):
            ds[name].attrs["long_name"] = f"solved coordinate <basis[{i}], x>"
        return ds


def find_reduction(model: GuidedModel, guidance: CFG) -> Reduction:
    """The exact reduction of a guided model to at most three solved coordinates.

    Tried in turn: ``"isotropic"`` when every component is an isotropic Gaussian (one variance per
    model: N(μ_k, s_u² I) unconditional, N(μ_k, s_c² I) conditional), whose means then span the
    solved coordinates y = U x; else ``"product"``, when every component is a product over the
    coordinates (boxes, Gaussians with diagonal covariance) and the components share one law along
    every coordinate outside a set of at most three (see the module docstring).

    Parameters
    ----------
    model : GuidedModel
        The d-dimensional guided model (the target bound to its guidance).
    guidance : CFG
        Its guidance, reduced to the solved coordinates with the target.

    Returns
    -------
    Reduction
        The model on r ≤ 3 solved coordinates y = B x (``basis`` B, orthonormal rows) times the law
        of the rest.

    Raises
    ------
    ValueError
        When neither reduction applies (the message says why for each), and for guidance with score
        errors or a guidance rule, whose fields and norms do not factor over the solved and the
        other coordinates, or a score model (only closed-form targets reduce).
    """
    if not model.has_densities:
        raise ValueError(
            f"a reduced solve (used for d > {MAX_GRID_DIM}, here d={model.ndim}, and with "
            "reduce=True) needs closed-form targets: a ScoreModel's scores do not factor over "
            f"the solved and the other coordinates; solve score models of d <= {MAX_GRID_DIM} "
            "with reduce=None or False, or use particles (fpguide.sample)"
        )
    if model.has_errors:
        raise ValueError(
            f"a reduced solve (used for d > {MAX_GRID_DIM}, here d={model.ndim}, and "
            "with reduce=True) "
            f"cannot carry score errors (cond_error={model.cond_error!r}, "
            "uncond_error="
            f"{model.uncond_error!r}): an error field does not factor over the solved "
            "coordinates; solve "
            f"targets of d <= {MAX_GRID_DIM} with reduce=None or False, or use "
            "particles (fpguide.sample)"
        )
    if model.rule is not None:
        raise ValueError(
            f"a reduced solve (used for d > {MAX_GRID_DIM}, here d={model.ndim}, and with "
            f"reduce=True) cannot carry the guidance rule {model.rule!r}: its norms and "
            "projections over all d coordinates do not factor over the solved and the other "
            f"coordinates; solve targets of d <= {MAX_GRID_DIM} with reduce=None or False, or use "
            "particles (fpguide.sample)"
        )
    reasons = []
    for attempt in (_isotropic, _product):
        found = attempt(model, guidance)
        if isinstance(found, Reduction):
            return found
        reasons.append(found)
    raise ValueError(
        f"the {model.ndim}-D target has no exact reduction to <= {MAX_GRID_DIM} "
        "solved coordinates: " + "; ".join(reasons)
    )


def _active(model: GuidedModel) -> np.ndarray:
    return (model.logw_u > -np.inf) | (model.logw_c > -np.inf)


def _isotropic(model: GuidedModel, guidance: CFG) -> Reduction | str:
    table, active = model.table, _active(model)
    if np.any(table.kinds[active] != GAUSSIAN):
        return "isotropic: not every component is Gaussian"
    variances = []
    for logw in (model.logw_u, model.logw_c):
        ext = table.ext[logw > -np.inf]
        if np.ptp(ext) != 0.0:
            return "isotropic: the components of a model do not share one covariance s² I"
        variances.append(float(ext[0, 0]))
    means = table.loc[active]
    _, singular, vt = np.linalg.svd(means - means[0], full_matrices=False)
    scale = max(1.0, float(np.abs(means).max()))
    rank = int(np.sum(singular > RANK_TOL * scale))
    if rank > MAX_GRID_DIM:
        return f"isotropic: the means span {rank} dimensions"
    basis = vt[: max(rank, 1)]
    offset = means[0] - (means[0] @ basis.T) @ basis

    def reduced(mixture: GaussianMixture) -> GaussianMixture:
        if isinstance(mixture, EmpiricalMixture):  # zero covariances: the points projected
            return mixture.project(basis)
        a = mixture._mu @ basis.T
        variance = float(mixture.covariances[0, 0, 0])
        means_r = a[:, 0] if basis.shape[0] == 1 else a
        return GaussianMixture(means_r, variance, mixture.weights, mixture.labels)

    return Reduction(
        "isotropic",
        basis,
        reduced(model.uncond),
        _reduced_guidance(guidance, reduced, model),
        offset=offset,
        variances=(variances[0], variances[1]),
    )


def _coordinate_laws(table, active) -> np.ndarray | None:
    """Per active component and coordinate the 1-D law (kind, p1, p2): Gaussian (mean, variance) or
    uniform (low, high); None when a Gaussian component has a non-diagonal covariance."""
    d = table.loc.shape[1]
    laws = []
    for k in np.flatnonzero(active):
        if table.kinds[k] == GAUSSIAN and not np.array_equal(table.rot[k], np.eye(d)):
            return None
        laws.append(
            np.stack([np.full(d, float(table.kinds[k])), table.loc[k], table.ext[k]], axis=1)
        )
    return np.array(laws)  # (K, d, 3)


def _product(model: GuidedModel, guidance: CFG) -> Reduction | str:
    laws = _coordinate_laws(model.table, _active(model))
    if laws is None:
        return "product: a Gaussian component has a non-diagonal covariance"
    shared = np.all(laws == laws[:1], axis=(0, 2))
    solved = np.flatnonzero(~shared)
    if solved.size > MAX_GRID_DIM:
        return f"product: the components differ along {solved.size} coordinates"
    if solved.size == 0:
        solved = np.array([0])
    d = model.ndim
    groups: dict[tuple, list[int]] = {}
    for j in range(d):
        if j not in solved:
            groups.setdefault(tuple(laws[0, j]), []).append(j)
    factors = tuple((_law_1d(law), coords) for law, coords in groups.items())

    def reduced(mixture: Mixture) -> Mixture:
        return mixture.marginal(solved)

    return Reduction(
        "product",
        np.eye(d)[solved],
        reduced(model.uncond),
        _reduced_guidance(guidance, reduced, model),
        factors=factors,
    )


def _law_1d(law: tuple) -> Mixture:
    kind, p1, p2 = law
    if int(kind) != GAUSSIAN:
        return UniformMixture([p1], [p2])
    return GaussianMixture([p1], [p2]) if p2 > 0 else EmpiricalMixture([p1])


def _reduced_guidance(guidance: CFG, reduced, model: GuidedModel) -> CFG:
    if guidance.cond is None:
        return guidance.with_weight(label=guidance.label)
    return guidance.with_weight(cond=reduced(model.cond))


def _reversed(mixture: Mixture) -> Mixture:
    """The 1-D mixture of −y (the solved coordinate reversed)."""
    if isinstance(mixture, GaussianMixture):
        return mixture.project([[-1.0]])
    return UniformMixture(-mixture.highs, -mixture.lows, mixture.weights, mixture.labels)


def _reversed_guidance(guidance: CFG) -> CFG:
    return (
        guidance if guidance.cond is None else guidance.with_weight(cond=_reversed(guidance.cond))
    )
