"""Targets indexed by named parameters: :class:`Family`, the target of a sweep over the target."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from ..tools.validation import check_swept

__all__ = ["Family"]


class Family:
    """Targets indexed by named parameters, for sweeps over the target.

    ``Family(make, name=values, ...)`` stands for ``make(name=v, ...)`` at every combination of the
    values (each a non-empty 1-D sequence of distinct real numbers); passed as the target of
    :func:`~fpguide.solve` or :func:`~fpguide.sample`, it sweeps them, with a dimension named after
    each keyword.

    Parameters
    ----------
    make : callable
        ``make(**params)`` returns the target at one combination of the values.
    **values : sequence of float
        The values of each swept keyword of ``make``.

    Attributes
    ----------
    make : callable
        The function that makes a target.
    values : dict of str to np.ndarray
        The swept values of each keyword.

    Raises
    ------
    TypeError
        When ``make`` is not callable, or the keywords are not parameters of ``make``.
    ValueError
        Without swept keywords, or for values that are not a non-empty 1-D sequence of distinct
        real numbers.

    Examples
    --------
    >>> import fpguide as fg
    >>> family = fg.Family(
    ...     lambda separation: fg.GaussianMixture(
    ...         means=[-separation / 2, separation / 2], labels=[0, 1]
    ...     ),
    ...     separation=[1.0, 2.0, 4.0],
    ... )
    >>> family.values["separation"]
    array([1., 2., 4.])
    >>> family(separation=2.0).means.ravel().tolist()
    [-1.0, 1.0]
    """

    def __init__(self, make: Callable, **values: Sequence[float]) -> None:
        if not callable(make):
            raise TypeError(
                f"make must be a callable returning a target, got {type(make).__name__} {make!r}"
            )
        if not values:
            raise ValueError(
                "Family needs at least one swept parameter, e.g. Family(make, separation=[1, 2])"
            )
        try:
            signature = inspect.signature(make)
        # no signature to check (some builtins): calling it will tell
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            try:
                signature.bind(**values)
            except TypeError as err:
                raise TypeError(
                    f"the swept parameters must be keywords of make{signature}, got "
                    f"{sorted(values)} "
                    f"({err})"
                ) from None
        self.make = make
        self.values = {name: check_swept(name, value) for name, value in values.items()}

    def __call__(self, **params):
        return self.make(**params)

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value.tolist()}" for name, value in self.values.items())
        return f"Family({getattr(self.make, '__name__', 'make')}, {values})"
