"""Predictor–corrector guidance (Bradley & Nakkiran): a probability-flow step for the conditional
score, then Langevin dynamics toward the γ-powered law π_t ∝ p_t(x|c)^γ p_t(x)^(1−γ), as an operator
splitting of two PDEs.

Over each of ``steps`` predictor intervals [t_{j+1}, t_j] (uniform in log-SNR from T to t_min):

* predictor P: the conditional probability-flow (continuity) equation ∂_τ q = −∂_x(q [−f x + ½ g²
  s_c]) over the interval;
* corrector C: the Langevin Fokker–Planck equation ∂_ℓ q = −∂_x(q ∇log π_t) + ∂_xx q at the frozen
  time t_{j+1} (∇log π = γ s_c + (1 − γ) s_u, the CFG score with w = γ − 1), for the Langevin time
  ℓ_j = ρ ∫ ½ g² dt over the interval (``langevin`` = ρ: a corrector that keeps pace with the noise
  level, as Langevin step sizes ∝ σ² do).

Both are solved by :func:`~fpguide.evolve` to its accuracy, so the output is the exact law of the
split chain. As the steps shrink, C∘P tends to the single Fokker–Planck equation with drift −f x + ½
g² (s_c + ρ ∇log π) and diffusion ρ ½ g²: the η-sampler with η² = ρ and the CFG weight w = ρ(γ −
1)/(1 + ρ) (ρ = 1, γ = 2γ_CFG − 1: the reverse SDE of CFG with γ_CFG — CFG *is* a
predictor–corrector; :func:`continuous_limit` gives that sampler). The splitting is first order in
the step, so the difference to the limit halves as ``steps`` doubles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr

from ..engine import EvolveResult, evolve, scheme_code
from ..grids.autogrid import CELLS_PER_WIDTH, feature_width
from ..grids.grid import Grid
from ..models.dynamics import GuidedDynamics, prepare_run, start_law
from ..models.guidance import CFG
from ..results.dataset import global_attrs
from ..results.observables import omitted_observables
from ..tools.errors import WallMassError, in_diffusion_time, wall_time_explained
from ..tools.validation import as_rng, check_int, check_positive_real, check_real
from .grid_run import STEP_DEFAULTS, check_grid, grid_dataset, on_automatic_grid, start_density
from .particle_run import (
    particle_observables,
    particle_step,
    seed_record,
    start_points,
    with_observables,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..engine import Scheme
    from ..models.dynamics import Start
    from ..models.processes import Process
    from ..models.targets import Mixture

__all__ = ["PredictorCorrector", "sample_pc", "solve_pc"]

# The corrector's Langevin equation is Strang-split into drift and heat steps, whose O(dt²) error
# biases its relaxation toward π. Measured on a linear-Gaussian chain against its exact moments
# (relative variance error): L·dt ≤ 0.05: 4.0e-4, 0.02: 1.1e-4, 0.01: 5.9e-5 (then a spatial floor);
# 0.02 costs ~2x the 0.05 run.
CORRECTOR_LIPSCHITZ = 0.02


@dataclass(frozen=True)
class PredictorCorrector:
    """A predictor–corrector sampler: ``steps`` predictor intervals, each followed by Langevin
    correction.

    Each predictor interval [t_{j+1}, t_j] (uniform in log-SNR from T to t_min) is followed by
    Langevin correction for ℓ_j = ρ ∫ ½ g² dt of Langevin time over the interval (``langevin`` =
    ρ ≥ 0). The corrector's power γ is the guidance's (``CFG(..., gamma=γ)``): it relaxes toward
    π_t ∝ p_t(x|c)^γ p_t(x)^(1−γ) (see the module docstring).

    Parameters
    ----------
    steps : int
        The number of predictor intervals (at least 1).
    langevin : float, default 1.0
        ρ ≥ 0, the Langevin time per unit of ½∫g² (0: no corrector).

    Raises
    ------
    ValueError
        For ``steps`` < 1 or ``langevin`` < 0.

    Examples
    --------
    >>> import fpguide as fg
    >>> pc = fg.PredictorCorrector(steps=20, langevin=0.5)
    >>> pc.to_dict()
    {'type': 'PredictorCorrector', 'steps': 20, 'langevin': 0.5}
    """

    steps: int
    langevin: float = 1.0

    def __post_init__(self):
        check_int("steps", self.steps, 1)
        rho = check_real("langevin", self.langevin)
        if rho < 0:
            raise ValueError(
                "langevin must be >= 0 (Langevin time per unit of ½∫g²; 0: no "
                f"corrector), got {rho}"
            )

    def continuous_limit(self, guidance: CFG) -> tuple[float, CFG]:
        """The η-sampler the chain tends to as ``steps`` grows.

        As the steps shrink, C∘P tends to the single Fokker–Planck equation with drift −f x + ½ g²
        (s_c + ρ ∇log π) and diffusion ρ ½ g²: the η-sampler with η² = ρ (at most 1 for an
        η-sampler) and the CFG weight w = ρ(γ − 1)/(1 + ρ), with the same score errors.

        Parameters
        ----------
        guidance : CFG
            The guidance of the chain (its power γ = 1 + w is the corrector's).

        Returns
        -------
        eta : float
            η = √ρ.
        guidance : CFG
            The guidance with the weight ρ w/(1 + ρ), the same label, conditional and score errors.

        Raises
        ------
        TypeError
            When ``guidance`` is not a :class:`~fpguide.CFG`.
        ValueError
            For ``langevin`` > 1 (the limit is then not an η-sampler).

        Examples
        --------
        >>> import fpguide as fg
        >>> fg.PredictorCorrector(steps=10, langevin=1.0).continuous_limit(fg.CFG(label=1, w=3.0))
        (1.0, CFG(label=1, w=1.5))
        """
        if not isinstance(guidance, CFG):
            raise TypeError(f"guidance must be a fpguide.CFG, got {type(guidance).__name__}")
        if guidance.rule is not None:
            raise ValueError(
                "the continuous limit is the linear combination's eta-sampler: rule must be None, "
                f"got {guidance.rule!r}"
            )
        rho = self.langevin
        if rho > 1.0:
            raise ValueError(
                f"the continuous limit is an eta-sampler only for langevin <= 1, got {rho}"
            )
        return math.sqrt(rho), CFG(
            label=guidance.label,
            cond=guidance.cond,
            w=rho * guidance.w / (1.0 + rho),
            cond_error=guidance.cond_error,
            uncond_error=guidance.uncond_error,
        )

    def to_dict(self) -> dict:
        """The sampler as the configuration records it.

        Returns
        -------
        dict
            ``{"type": "PredictorCorrector", "steps": ..., "langevin": ...}``.
        """
        return {"type": "PredictorCorrector", "steps": self.steps, "langevin": self.langevin}


def _prepare_pc(target, guidance, pc, T, t_min, process, start, delta, thresholds):
    if not isinstance(pc, PredictorCorrector):
        raise TypeError(f"pc must be a fpguide.PredictorCorrector, got {type(pc).__name__}")
    prepared = prepare_run(
        target, guidance, "ode", T, t_min, process, start, pc.steps + 1, None, delta, thresholds
    )
    if guidance.rule is not None:
        raise ValueError(
            "predictor-corrector guidance samples the power p_c^gamma p_u^(1-gamma), the linear "
            f"combination's law: rule must be None, got {guidance.rule!r}"
        )
    if guidance.schedule is not None:
        raise ValueError(
            "predictor-corrector guidance takes a constant power gamma: schedule "
            "must be None, got "
            f"{guidance.schedule!r}"
        )
    if prepared.dyn.model.ndim != 1:
        raise ValueError(
            f"predictor-corrector guidance is solved in 1-D only; the target has "
            f"d={prepared.dyn.model.ndim}"
        )
    predictor = CFG(
        label=guidance.label, cond=guidance.cond, w=0.0, cond_error=guidance.cond_error
    ).bind(target)
    dyn = prepared.dyn
    return prepared, GuidedDynamics(predictor, dyn.process, "ode", dyn.T), dyn.model


def _langevin_time(pc: PredictorCorrector, process, t_hi: float, t_lo: float) -> float:
    return pc.langevin * 0.5 * float(process.g2_integral(t_lo, t_hi))


def _run(q0, grid, prepared, predictor, corrector_model, pc, settings):
    """The split chain on ``grid``: densities at the saved times (after each step's corrector) and
    the outflow."""
    dyn, t_save = prepared.dyn, prepared.t_save
    rows, lower, upper = [q0], [0.0], [0.0]
    q, steps = q0, 0
    taus = predictor.tau_grid(prepared.t_min, settings["log_snr_step"])
    for t_hi, t_lo in zip(t_save[:-1], t_save[1:]):
        inside = taus[(taus > dyn.T - t_hi) & (taus < dyn.T - t_lo)]
        with in_diffusion_time(dyn.T):
            res = evolve(
                q,
                predictor.drift,
                grid=grid,
                t_span=(dyn.T - t_hi, dyn.T - t_lo),
                time_grid=inside,
                lipschitz=settings["lipschitz"],
                scheme=settings["scheme"],
                wall_tol=settings["wall_tol"],
            )
        out_lo, out_hi, steps = res.outflow_lower[-1], res.outflow_upper[-1], steps + res.n_steps
        q = res.q[-1]
        ell = _langevin_time(pc, dyn.process, t_hi, t_lo)
        if ell > 0:
            t = float(t_lo)
            with wall_time_explained(
                lambda ell, t=t: f"Langevin time of the corrector at diffusion time t={t:.6g}"
            ):
                res = evolve(
                    q,
                    lambda x, _: corrector_model.guided_score(x, t, dyn.process),
                    grid=grid,
                    t_span=(0.0, ell),
                    diffusion=1.0,
                    lipschitz=settings["corrector_lipschitz"],
                    scheme=settings["scheme"],
                    wall_tol=settings["wall_tol"],
                )
            out_lo, out_hi, steps = (
                out_lo + res.outflow_lower[-1],
                out_hi + res.outflow_upper[-1],
                steps + res.n_steps,
            )
            q = res.q[-1]
        rows.append(q)
        lower.append(lower[-1] + out_lo)
        upper.append(upper[-1] + out_hi)
        if lower[-1] + upper[-1] > settings["wall_tol"]:
            raise WallMassError(
                f"mass {lower[-1] + upper[-1]:.3g} left the grid "
                f"[{grid.lower:.6g}, "
                f"{grid.upper:.6g}] by t={t_lo:.6g} (tolerance "
                f"{settings['wall_tol']:g}): widen it"
            )
    return EvolveResult(
        t_save,
        np.array(rows),
        np.array(lower),
        np.array(upper),
        grid,
        settings["scheme"],
        n_steps=steps,
    )


def solve_pc(
    target: Mixture,
    guidance: CFG,
    pc: PredictorCorrector,
    *,
    T: float = 10.0,
    t_min: float = 1e-3,
    process: Process | str | None = None,
    start: Start = "prior",
    grid: Grid | Literal["uniform"] | None = None,
    scheme: Scheme = "ppm",
    delta: float = 0.1,
    thresholds: ArrayLike | None = None,
    cells_per_width: float = CELLS_PER_WIDTH,
    wall_tol: float = 1e-9,
) -> xr.Dataset:
    """The density after every step of a predictor–corrector sampler (1-D).

    Each of the ``pc.steps`` steps solves the conditional probability-flow equation ∂_τ q =
    −∂_x(q [−f x + ½ g² s_c]) over its interval (the predictor), then the Langevin Fokker–Planck
    equation ∂_ℓ q = −∂_x(q ∇log π_t) + ∂_xx q at the interval's end, whose corrector targets π_t ∝
    p_t(x|c)^γ p_t(x)^(1−γ), γ = ``guidance.gamma``, for the Langevin time ℓ = ρ ∫ ½ g² dt (see the
    module docstring). Both are solved by :func:`~fpguide.evolve` to its accuracy, so the output is
    the exact law of the split chain. The grid is chosen (when not given) from a pilot of the
    chain's continuous limit.

    Parameters
    ----------
    target : Mixture or ScoreModel
        The (unconditional) 1-D target: a mixture, or a :class:`~fpguide.ScoreModel`.
    guidance : CFG
        The guidance: its conditional and its power γ (``CFG(..., gamma=γ)``); its ``schedule``
        must be None.
    pc : PredictorCorrector
        The steps and the Langevin time of the corrector.
    T, t_min : float, default 10.0 and 1e-3
        The chain runs in diffusion time from T down to t_min > 0.
    process : Process, str or None, default None
        The forward process, as in :func:`~fpguide.solve` (default OU).
    start : {"prior", "exact"}, default "prior"
        The start law, as in :func:`~fpguide.solve`.
    grid : Grid, "uniform" or None, default None
        A 1-D :class:`~fpguide.Grid`, or None (``"uniform"``) to choose one automatically, widened
        while mass leaves through its walls.
    scheme : {"ppm", "plm", "pcm"}, default "ppm"
        Reconstruction of the advection.
    delta : float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).
    cells_per_width : float, default CELLS_PER_WIDTH
        Resolution of the automatic grid (cells across the narrowest density feature).
    wall_tol : float, default 1e-9
        The mass allowed to leave through the walls before the run fails.

    Returns
    -------
    xarray.Dataset
        With dims ``t`` (T, then the end of each step) and ``x``, the observables as in
        :func:`~fpguide.solve`'s.

    Raises
    ------
    TypeError
        When ``pc`` is not a :class:`PredictorCorrector`.
    ValueError
        For a ``guidance`` with a schedule, a target of d > 1 dimensions, or other arguments out of
        their ranges.
    WallMassError
        When more than ``wall_tol`` of the mass leaves through the walls of the grid.

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    >>> pc = fg.PredictorCorrector(steps=2, langevin=0.5)
    >>> guidance, grid = fg.CFG(label=1, gamma=2.0), fg.Grid(-8.0, 8.0, 100)
    >>> ds = fg.solve_pc(target, guidance, pc, T=2.0, t_min=0.1, grid=grid)
    >>> ds.sizes["t"], ds.sizes["x"]
    (3, 100)
    """
    prepared, predictor, corrector_model = _prepare_pc(
        target, guidance, pc, T, t_min, process, start, delta, thresholds
    )
    dyn = prepared.dyn
    grid = check_grid(grid, 1)
    scheme_code(scheme)
    cells_per_width = check_positive_real("cells_per_width", cells_per_width)
    wall_tol = check_positive_real("wall_tol", wall_tol)
    settings = {
        "log_snr_step": STEP_DEFAULTS["ode"]["log_snr_step"],
        "lipschitz": STEP_DEFAULTS["ode"]["lipschitz"],
        "corrector_lipschitz": CORRECTOR_LIPSCHITZ,
        "scheme": scheme,
        "wall_tol": wall_tol,
    }
    eta = math.sqrt(min(pc.langevin, 1.0))
    pilot = GuidedDynamics(dyn.model, dyn.process, "sde" if eta > 0 else "ode", dyn.T, eta)
    log_start, quantile = start_law(dyn, start)
    result, grid, run = on_automatic_grid(
        lambda use: _run(
            start_density(use, log_start), use, prepared, predictor, corrector_model, pc, settings
        ),
        grid,
        pilot,
        t_min,
        quantile,
        cells_per_width,
    )
    config = (
        prepared.config()
        | {
            "function": "solve_pc",
            "sampler": pc.to_dict(),
            "eta": None,
            "grid": grid.to_dict(),
            "scheme": scheme,
            "cells_per_width": cells_per_width,
            "wall_tol": wall_tol,
        }
        | settings
    )
    run.update(n_steps=result.n_steps, initial_mass=float(result.q[0].sum() * grid.dx))
    return grid_dataset(result, prepared, config, run, None, float(feature_width(pilot, t_min)))


def sample_pc(
    target: Mixture,
    guidance: CFG,
    pc: PredictorCorrector,
    *,
    n: int = 100_000,
    seed: int | Sequence[int] | np.random.Generator | np.random.SeedSequence | None = None,
    T: float = 10.0,
    t_min: float = 1e-3,
    process: Process | str | None = None,
    start: Start = "prior",
    substeps: int = 20,
    langevin_dt: float = 0.01,
    delta: float = 0.1,
    thresholds: ArrayLike | None = None,
) -> xr.Dataset:
    """Particles of the predictor–corrector chain that :func:`solve_pc` solves (1-D).

    Each predictor interval is taken by ``substeps`` RK4 steps of the conditional probability flow,
    each corrector by Euler–Maruyama steps dX = ∇log π_t(X) dℓ + sqrt(2 dℓ) Z of the Langevin SDE
    at the frozen time, dℓ ≤ ``langevin_dt``·σ(t)² (the scale on which ∇log π_t varies; EM's bias
    is O(dℓ)).

    Parameters
    ----------
    target : Mixture or ScoreModel
        The (unconditional) 1-D target: a mixture, or a :class:`~fpguide.ScoreModel`.
    guidance : CFG
        The guidance: its conditional and its power γ; its ``schedule`` must be None.
    pc : PredictorCorrector
        The steps and the Langevin time of the corrector.
    n : int, default 100_000
        The number of particles (at least 2).
    seed : int, sequence of int, numpy.random.Generator, SeedSequence or None, default None
        The seed of ``numpy.random.default_rng`` (or a generator), as in :func:`~fpguide.sample`.
    T, t_min : float, default 10.0 and 1e-3
        The chain runs in diffusion time from T down to t_min > 0.
    process : Process, str or None, default None
        The forward process, as in :func:`~fpguide.solve` (default OU).
    start : {"prior", "exact"}, default "prior"
        The start law, as in :func:`~fpguide.sample`.
    substeps : int, default 20
        RK4 steps per predictor interval (at least 1).
    langevin_dt : float, default 0.01
        The corrector's Euler–Maruyama step in units of σ(t)² (> 0).
    delta : float, default 0.1
        Half-width of the window around the far edge of the class support counted as edge mass.
    thresholds : array_like, optional
        Tail thresholds a of P(x ≥ a); default √max(w, 0).

    Returns
    -------
    xarray.Dataset
        A Dataset like :func:`~fpguide.sample`'s: ``position`` with dims (t, particle), ``t`` being
        T and then the end of each step, and the observables with their standard errors.

    Raises
    ------
    TypeError
        When ``pc`` is not a :class:`PredictorCorrector`.
    ValueError
        For a ``guidance`` with a schedule, a target of d > 1 dimensions, or other arguments out of
        their ranges.
    FloatingPointError
        When the particles become non-finite (use more substeps).

    Examples
    --------
    >>> import fpguide as fg
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], covariances=0.25, labels=[0, 1])
    >>> pc = fg.PredictorCorrector(steps=4, langevin=0.5)
    >>> guidance = fg.CFG(label=1, gamma=2.0)
    >>> ds = fg.sample_pc(target, guidance, pc, n=1000, seed=0, substeps=2, langevin_dt=0.5)
    >>> ds["position"].shape
    (5, 1000)
    """
    n = check_int("n", n, 2)
    substeps = check_int("substeps", substeps, 1)
    langevin_dt = check_positive_real("langevin_dt", langevin_dt)
    rng = as_rng("seed", seed)
    prepared, predictor, corrector_model = _prepare_pc(
        target, guidance, pc, T, t_min, process, start, delta, thresholds
    )
    dyn, t_save = prepared.dyn, prepared.t_save
    x = start_points(dyn, start, n, rng)
    positions = [x]
    for t_hi, t_lo in zip(t_save[:-1], t_save[1:]):
        h = (t_hi - t_lo) / substeps
        for k in range(substeps):
            x = particle_step(predictor, x, dyn.T - t_hi + k * h, h, rng)
        ell = _langevin_time(pc, dyn.process, t_hi, t_lo)
        if ell > 0:
            count = math.ceil(ell / (langevin_dt * float(dyn.process.sigma(t_lo)) ** 2))
            dl = ell / count
            for _ in range(count):
                x = (
                    x
                    + dl * corrector_model.guided_score(x, float(t_lo), dyn.process)
                    + math.sqrt(2.0 * dl) * rng.standard_normal(n)
                )
        if not np.all(np.isfinite(x)):
            raise FloatingPointError(
                f"particles became non-finite at t={t_lo:.6g}: use more substeps"
            )
        positions.append(x)
    positions = np.array(positions)
    config = prepared.config() | {
        "function": "sample_pc",
        "sampler": pc.to_dict(),
        "eta": None,
        "n": n,
        "substeps": substeps,
        "langevin_dt": langevin_dt,
        "seed": seed_record(seed),
    }
    ds = xr.Dataset(
        {"position": (("t", "particle"), positions)},
        coords={"t": t_save, "threshold": prepared.thresholds},
        attrs=global_attrs(
            f"fpguide predictor-corrector particles, gamma={guidance.gamma}",
            config,
            {},
            omitted_observables(dyn.model),
        ),
    )
    return with_observables(
        ds, particle_observables(positions, t_save, dyn, prepared.delta, prepared.thresholds)
    )
