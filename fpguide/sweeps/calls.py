"""The typed calls of :func:`~fpguide.solve` and :func:`~fpguide.sample`: what a sweep splits into
its items, what a Dask task carries, what a configuration file is checked as.

A call holds every argument of one call by name, with the function's own defaults. The function
that owns the signature builds it once (the :func:`~fpguide.sweeps.sweepable.sweepable` wrapper
binds the user's arguments into it, and checks when the module is imported that its fields are the
function's parameters, in order, with the same defaults); everything downstream reads attributes
(``call.t_min``) and changes a call with :meth:`RunCall.replace`, so a renamed argument fails where
the module is imported, not in the middle of a sweep.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grids.autogrid import CELLS_PER_WIDTH
from ..models.dynamics import PreparedRun, prepare_run

if TYPE_CHECKING:
    from typing import Self

    from numpy.typing import ArrayLike

    from ..engine import Scheme
    from ..grids.grid import Grid, GridChoice, TensorGrid
    from ..models.dynamics import Sampler, Start
    from ..models.guidance import CFG
    from ..models.processes import Process
    from ..models.targets import Mixture
    from .family import Family

__all__ = ["check_signature", "RunCall", "SampleCall", "SolveCall"]


class RunCall:
    """What the calls of :class:`SolveCall` and :class:`SampleCall` share: the arguments of
    :func:`~fpguide.models.dynamics.prepare_run` (``target``, ``guidance``, ``sampler``, ``T``,
    ``t_min``, ``process``, ``start``, ``n_save``, ``t_eval``, ``delta``, ``thresholds``, ``eta``)
    and ``progress``, as attributes."""

    def prepared(self) -> PreparedRun:
        """The call's target, guidance, process and sampler bound into their dynamics.

        Returns
        -------
        PreparedRun
            What :func:`~fpguide.models.dynamics.prepare_run` returns for the call's arguments.

        Raises
        ------
        TypeError, ValueError
            The errors of :func:`~fpguide.models.dynamics.prepare_run` for a bad argument.
        """
        return prepare_run(
            self.target,
            self.guidance,
            self.sampler,
            self.T,
            self.t_min,
            self.process,
            self.start,
            self.n_save,
            self.t_eval,
            self.delta,
            self.thresholds,
            self.eta,
        )

    def arguments(self) -> dict[str, Any]:
        """The call's arguments by name, in the order of the function's signature.

        Returns
        -------
        dict
            ``{name: value}`` for every field (the values themselves, not copies), so that
            ``func(**call.arguments())`` makes the call.
        """
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Self:
        """The call with some arguments changed.

        Parameters
        ----------
        **changes
            New values by argument name.

        Returns
        -------
        RunCall
            A new call of the same type.

        Raises
        ------
        TypeError
            For a name that is not an argument of the call.
        """
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True, eq=False)
class SolveCall(RunCall):
    """One call of :func:`~fpguide.solve`: its arguments, by name, with its defaults.

    Parameters
    ----------
    target, guidance, sampler, eta, T, t_min, grid, process, start, n_save, t_eval, scheme, delta, \
thresholds, log_snr_step, lipschitz, cells_per_width, wall_tol, direction, reduce, \
error_estimate, progress
        The arguments of :func:`~fpguide.solve` (see there), keywords only; ``target`` and
        ``guidance`` are required.

    Examples
    --------
    >>> import fpguide as fg
    >>> from fpguide.sweeps.calls import SolveCall
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], labels=[0, 1])
    >>> call = SolveCall(target=target, guidance=fg.CFG(label=1, w=2.0))
    >>> call.replace(t_min=1e-2).t_min, call.sampler
    (0.01, 'ode')
    """

    target: Mixture | Family
    guidance: CFG
    sampler: Sampler | Sequence[Sampler] = "ode"
    eta: float | Sequence[float] | None = None
    T: float | Sequence[float] = 10.0
    t_min: float | Sequence[float] = 1e-3
    grid: Grid | TensorGrid | Sequence[Grid] | GridChoice | None = None
    process: Process | str | None = None
    start: Start = "prior"
    n_save: int = 41
    t_eval: ArrayLike | None = None
    scheme: Scheme = "ppm"
    delta: float | Sequence[float] = 0.1
    thresholds: ArrayLike | None = None
    log_snr_step: float | Sequence[float] | None = None
    lipschitz: float | Sequence[float] | None = None
    cells_per_width: float | Sequence[float] = CELLS_PER_WIDTH
    wall_tol: float = 1e-9
    direction: ArrayLike | None = None
    reduce: bool | None = None
    error_estimate: bool = False
    progress: bool | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class SampleCall(RunCall):
    """One call of :func:`~fpguide.sample`: its arguments, by name, with its defaults.

    Parameters
    ----------
    target, guidance, sampler, eta, n, seed, T, t_min, process, start, n_save, t_eval, time_grid, \
log_snr_step, delta, thresholds, direction, progress
        The arguments of :func:`~fpguide.sample` (see there), keywords only; ``target`` and
        ``guidance`` are required.

    Examples
    --------
    >>> import fpguide as fg
    >>> from fpguide.sweeps.calls import SampleCall
    >>> target = fg.GaussianMixture(means=[-1.0, 1.0], labels=[0, 1])
    >>> SampleCall(target=target, guidance=fg.CFG(label=1, w=2.0), seed=3).n
    100000
    """

    target: Mixture | Family
    guidance: CFG
    sampler: Sampler | Sequence[Sampler] = "ode"
    eta: float | Sequence[float] | None = None
    n: int = 100_000
    seed: int | Sequence[int] | np.random.Generator | np.random.SeedSequence | None = None
    T: float | Sequence[float] = 10.0
    t_min: float | Sequence[float] = 1e-3
    process: Process | str | None = None
    start: Start = "prior"
    n_save: int = 41
    t_eval: ArrayLike | None = None
    time_grid: ArrayLike | None = None
    log_snr_step: float | Sequence[float] | None = None
    delta: float | Sequence[float] = 0.1
    thresholds: ArrayLike | None = None
    direction: ArrayLike | None = None
    progress: bool | None = None


def check_signature(func: Callable, call_type: type[RunCall]) -> None:
    """Check that a call type holds exactly a function's parameters.

    Parameters
    ----------
    func : callable
        The function whose calls ``call_type`` holds.
    call_type : type
        A dataclass of :class:`RunCall`.

    Raises
    ------
    TypeError
        When the fields of ``call_type`` are not the parameters of ``func`` in order, or a default
        differs (the message names the first that differs).
    """
    parameters = [
        (name, parameter.default) for name, parameter in inspect.signature(func).parameters.items()
    ]
    empty = {dataclasses.MISSING: inspect.Parameter.empty}
    fields = [
        (field.name, empty.get(field.default, field.default))
        for field in dataclasses.fields(call_type)
    ]
    if parameters != fields:
        first = next(
            (pair for pair in zip(parameters, fields) if pair[0] != pair[1]),
            (parameters[len(fields) :], fields[len(parameters) :]),
        )
        raise TypeError(
            f"{call_type.__name__} must hold the parameters of {func.__name__} in order, with "
            f"the same defaults; the first difference (parameter, field): {first}"
        )
