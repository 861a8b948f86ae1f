"""What an engine run returns (:class:`EvolveResult`) and the recorder that fills it as the run
goes: the saved densities, the outflows through the walls, the mass flushed below FLUSH, and the run
monitors per saved time."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..grids.grid import Grid, TensorGrid
from ..tools.errors import WallMassError
from .line_sweeps import LineSweeper
from .steps import flush_checked

__all__ = ["EvolveResult", "Recorder"]


@dataclass
class EvolveResult:
    """What :func:`~.evolve.evolve` returns: the saved densities, outflows and run monitors.

    ``q[k]`` is the density (cell averages) at ``t[k]`` (with ``batch``, ``q[k, b]`` that of
    member b, and the fields in :data:`PER_MEMBER` are per member).

    Attributes
    ----------
    t : numpy.ndarray
        The saved times.
    q : numpy.ndarray
        The densities (cell averages) at the saved times, shape ``(n_t, *grid.shape)``, with
        ``batch`` ``(n_t, B, *grid.shape)``.
    outflow_lower, outflow_upper : numpy.ndarray
        The cumulative mass through the lower (upper) walls at each saved time (with ``batch``,
        per member).
    grid : Grid or TensorGrid
        The grid of the densities.
    scheme : str
        The reconstruction of the remap.
    n_steps, n_rejected, n_drift_evals : int
        The steps, the rejected sweeps (halved where trajectories crossed) and the drift
        evaluations.
    max_lipschitz_dt : float
        The largest L·dt taken.
    flushed_mass : float or numpy.ndarray
        The total mass of the sub-1e-300 densities set to zero (with ``batch``, per member).
    batch : bool
        Whether the result holds a batch of members.
    member_rate : numpy.ndarray or None
        With ``batch``: the largest L of each member where its own mass is.
    min_density, cfl, peclet : numpy.ndarray or None
        The monitors per saved time (with ``batch``, per member), over the steps since the
        previous one: the lowest density, the CFL number ``max_a |v_a| dt/dx_a`` and the cell
        Péclet number ``max_a |v_a| dx_a / D`` (inf without diffusion), with the speeds where the
        mass is;
        neither number limits this scheme (see :mod:`fpguide.runs.monitors`).
    """

    t: np.ndarray
    q: np.ndarray
    outflow_lower: np.ndarray  # cumulative mass through the lower walls at each saved time
    outflow_upper: np.ndarray
    grid: Grid | TensorGrid
    scheme: str
    n_steps: int = 0
    n_rejected: int = 0
    n_drift_evals: int = 0
    max_lipschitz_dt: float = 0.0  # largest L·dt taken
    flushed_mass: float | np.ndarray = 0.0  # total mass of the sub-1e-300 densities set to zero
    batch: bool = False
    # with batch: the largest L of each member where its own mass is
    member_rate: np.ndarray | None = None
    # monitors per saved time (with batch, per member), over the steps since the previous one:
    # lowest density, CFL number max_a |v_a| dt/dx_a, cell Péclet number max_a |v_a| dx_a / D (inf
    # without diffusion), with the speeds where the mass is; neither number limits this scheme (see
    # fpguide.runs.monitors)
    min_density: np.ndarray | None = None
    cfl: np.ndarray | None = None
    peclet: np.ndarray | None = None

    @property
    def mass(self) -> np.ndarray:
        """The total mass on the grid at each saved time (with ``batch``, per member)."""
        return (
            self.q.reshape(*self.q.shape[: 1 + self.batch], -1).sum(axis=-1) * self.grid.cell_volume
        )

    def member(self, b: int) -> EvolveResult:
        """The result of member b of a batch, as if it had been evolved alone (same steps).

        Parameters
        ----------
        b : int
            The member's index in the batch.

        Returns
        -------
        EvolveResult
            The unbatched result of member b: its densities, outflows, flushed mass and monitors,
            with the batch's times, grid and counts of steps.

        Raises
        ------
        ValueError
            When the result is not batched (``evolve(..., batch=True)``).
        """
        if not self.batch:
            raise ValueError("member() needs a batched result (evolve(..., batch=True))")
        own = {name: getattr(self, name)[:, b] for name in PER_MEMBER if name != "flushed_mass"}
        return replace(
            self, **own, flushed_mass=float(self.flushed_mass[b]), batch=False, member_rate=None
        )


# the fields of a batched EvolveResult that hold one value per member (per saved time but
# flushed_mass)
PER_MEMBER = ("q", "outflow_lower", "outflow_upper", "flushed_mass", "min_density", "cfl", "peclet")


class Recorder:
    """Fills the :class:`EvolveResult` of a run of densities on ``grid`` saved at ``saves``.

    The monitors accumulate over the steps between two saved times (:meth:`step`, :meth:`scan`)
    and are stored with the densities and outflows at each saved time (:meth:`save`), where mass
    beyond ``wall_tol`` through the walls stops the run.

    Parameters
    ----------
    grid : Grid or TensorGrid
        The grid the result names.
    tensor : TensorGrid
        The same grid as a TensorGrid (a 1-D grid as one axis).
    scheme : str
        The reconstruction of the remap.
    saves : numpy.ndarray
        The saved times.
    q : numpy.ndarray
        The initial densities, shape (B, *tensor.shape): B members.
    sweeper : LineSweeper
        The sweeper of the run, whose outflows, speeds and counts are recorded.
    wall_tol : float
        The mass a member may lose through the walls.
    batch : bool
        Whether the run is batched (else its one member's result is returned).
    """

    def __init__(
        self,
        grid: Grid | TensorGrid,
        tensor: TensorGrid,
        scheme: str,
        saves: np.ndarray,
        q: np.ndarray,
        sweeper: LineSweeper,
        wall_tol: float,
        batch: bool,
    ) -> None:
        members = q.shape[0]
        self.tensor, self.sweeper, self.wall_tol, self.batch = tensor, sweeper, wall_tol, batch
        self.out = EvolveResult(
            saves,
            np.empty((saves.size, *q.shape)),
            np.zeros((saves.size, members)),
            np.zeros((saves.size, members)),
            grid,
            scheme,
            flushed_mass=np.zeros(members),
            batch=True,
            min_density=np.empty((saves.size, members)),
            cfl=np.zeros((saves.size, members)),
            peclet=np.zeros((saves.size, members)),
        )
        self.since = {
            "lowest": q.reshape(members, -1).min(axis=1),
            "cfl": np.zeros(members),
            "peclet": np.zeros(members),
        }

    def save(self, k: int, t: float, q: np.ndarray) -> None:
        """Store the densities q at saved time k (time t), with the monitors since the previous one.

        Parameters
        ----------
        k : int
            The index of the saved time.
        t : float
            The saved time.
        q : numpy.ndarray
            The densities, shape (B, *grid.shape).

        Raises
        ------
        ~fpguide.WallMassError
            When a member has lost more than ``wall_tol`` through the walls (saying where).
        """
        out, since, sweeper = self.out, self.since, self.sweeper
        members = q.shape[0]
        out.q[k] = q
        out.min_density[k], out.cfl[k], out.peclet[k] = (
            since["lowest"],
            since["cfl"],
            since["peclet"],
        )
        since.update(
            lowest=np.full(members, np.inf), cfl=np.zeros(members), peclet=np.zeros(members)
        )
        out.outflow_lower[k], out.outflow_upper[k] = sweeper.outflow.sum(axis=1).T
        escaped = sweeper.outflow.sum(axis=(1, 2))
        if escaped.max() > self.wall_tol:
            b = int(np.argmax(escaped))
            axis, side = np.unravel_index(np.argmax(sweeper.outflow[b]), sweeper.outflow[b].shape)
            where = f"{('lower', 'upper')[side]} side" + (
                f" of axis {axis}" if self.tensor.ndim > 1 else ""
            )
            extent = " x ".join(f"[{axis.lower}, {axis.upper}]" for axis in self.tensor.axes)
            raise WallMassError(
                f"mass {escaped[b]:.3g} left the grid {extent} through the walls by t={t:.6g} "
                f"{f'in member {b} ' if self.batch else ''}(mostly on the {where}; tolerance "
                f"wall_tol={self.wall_tol:g}): widen the grid on the {where}",
                time=t,
            )

    def scan(self, q: np.ndarray, t: float) -> None:
        """Flush the sub-FLUSH densities of q (after a step to t) and note their mass and q's lowest
        value.

        Parameters
        ----------
        q : numpy.ndarray
            The densities after the step, shape (B, *grid.shape); changed in place.
        t : float
            The time the step reached.

        Raises
        ------
        ~fpguide.NumericalError
            When a density is not finite or negative (see :func:`~.steps.flush_checked`).
        """
        members = q.shape[0]
        flushed, lowest = flush_checked(
            q.reshape(members, *self.tensor.shape), self.tensor, t, self.batch, self.sweeper.frame
        )
        self.out.flushed_mass += flushed * self.tensor.cell_volume
        self.since["lowest"] = np.minimum(self.since["lowest"], lowest)

    def step(self, lip_dt: float, dt: float, mean_diffusion: float) -> None:
        """Note a step: the CFL and Péclet numbers of the speeds the sweeper measured where the
        mass is.

        Parameters
        ----------
        lip_dt : float
            The step's L·dt.
        dt : float
            The step's length.
        mean_diffusion : float
            The mean diffusion coefficient over the step (0: no diffusion, Péclet number inf).
        """
        sweeper, since = self.sweeper, self.since
        self.out.max_lipschitz_dt = max(self.out.max_lipschitz_dt, lip_dt)
        since["cfl"] = np.maximum(
            since["cfl"], np.max(sweeper.member_speed * dt / sweeper.spacing, axis=1)
        )
        speed_width = np.max(sweeper.member_speed * sweeper.spacing, axis=1)
        since["peclet"] = np.maximum(
            since["peclet"], speed_width / mean_diffusion if mean_diffusion > 0 else np.inf
        )
        self.out.n_steps += 1

    def result(self, member_rate: np.ndarray) -> EvolveResult:
        """The finished result: batched, or the one member's.

        Parameters
        ----------
        member_rate : numpy.ndarray
            Each member's largest rate L where its own mass is (kept with ``batch``).

        Returns
        -------
        EvolveResult
            The result with the sweeper's counts of rejected sweeps and drift evaluations.
        """
        out = self.out
        out.n_rejected, out.n_drift_evals = self.sweeper.n_rejected, self.sweeper.n_drift_evals
        if self.batch:
            out.member_rate = member_rate
            return out
        return out.member(0)
