"""Argument checks shared by the public constructors and functions: each error names the argument,
the value received and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "as_finite_array",
    "as_real_array",
    "as_rng",
    "check_choice",
    "check_flag",
    "check_in_range",
    "check_int",
    "check_number_or_swept",
    "check_positive_real",
    "check_real",
    "check_swept",
]


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    """Check that ``value`` is one of ``allowed``.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.
    allowed : sequence
        The values allowed.

    Raises
    ------
    ValueError
        If ``value`` is not in ``allowed``.
    """
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_real(name: str, value: object) -> float:
    """A finite real number, as a float.

    A 0-d numpy array of an integer or float (e.g. from xarray's ``.values``) is taken as the
    number; a bool is not taken for a number.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError
        If ``value`` is not an int, float or numpy integer or floating number (or a 0-d array of
        one), or is a bool.
    ValueError
        If ``value`` is not finite.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive_real(name: str, value: object) -> float:
    """A finite real number > 0, as a float (see :func:`check_real`).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (see :func:`check_real`).
    ValueError
        If ``value`` is not finite or is ≤ 0.
    """
    value = check_real(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_int(name: str, value: object, minimum: int) -> int:
    """An integer ≥ ``minimum``, as an int (a bool is not taken for an integer).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received: an int or a numpy integer.
    minimum : int
        The smallest value allowed.

    Returns
    -------
    int
        ``value`` as an int.

    Raises
    ------
    TypeError
        If ``value`` is not an int or numpy integer, or is a bool.
    ValueError
        If ``value`` < ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_in_range(name: str, value: object, low: float, high: float, note: str = "") -> float:
    """A finite real number in [low, high], as a float (see :func:`check_real`).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.
    low, high : float
        The ends of the closed interval allowed.
    note : str, optional
        What the ends mean, appended to the message (e.g. "(0: ODE, 1: SDE)"); default "".

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (see :func:`check_real`).
    ValueError
        If ``value`` is not finite or lies outside [low, high].
    """
    value = check_real(name, value)
    if not low <= value <= high:
        raise ValueError(
            f"{name} must lie in [{low:g}, {high:g}]{' ' + note if note else ''}, got {value}"
        )
    return value


def check_flag(name: str, value: object, allow_none: bool = False) -> bool | None:
    """True or False (or None with ``allow_none``), as a bool (or None).

    Numbers and strings are not taken for truth values; numpy booleans are.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.
    allow_none : bool, optional
        Whether None is allowed too; default False.

    Returns
    -------
    bool or None
        ``value`` as a bool, or None where it is None (and ``allow_none``).

    Raises
    ------
    TypeError
        If ``value`` is not a bool or numpy bool (or None with ``allow_none``).
    """
    if isinstance(value, (bool, np.bool_)) or (allow_none and value is None):
        return None if value is None else bool(value)
    allowed = "None, True or False" if allow_none else "True or False"
    raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")


def as_rng(name: str, seed: object) -> np.random.Generator:
    """``np.random.default_rng(seed)``, the error naming the argument.

    A bool is not taken for a seed.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    seed : None, int, sequence of int, numpy.random.Generator, BitGenerator or SeedSequence
        What :func:`numpy.random.default_rng` takes.

    Returns
    -------
    numpy.random.Generator
        ``np.random.default_rng(seed)``.

    Raises
    ------
    TypeError
        If ``seed`` is a bool, or :func:`numpy.random.default_rng` raises a TypeError for it.
    ValueError
        If :func:`numpy.random.default_rng` raises a ValueError for it (e.g. a negative integer).
    """
    wanted = (
        f"{name} must be None, an integer >= 0, a sequence of them or a numpy Generator, "
        "BitGenerator or "
        "SeedSequence"
    )
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{wanted}, got bool {seed!r}")
    try:
        return np.random.default_rng(seed)
    except TypeError as err:
        raise TypeError(f"{wanted}, got {type(seed).__name__} {seed!r}") from err
    except ValueError as err:
        raise ValueError(f"{wanted}, got {seed!r}") from err


def as_real_array(name: str, value: ArrayLike, ndim: int | None = None) -> np.ndarray:
    """A float array (with the given number of dimensions).

    Strings, booleans and None are refused, not converted.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : array_like
        The value received.
    ndim : int or None, optional
        The number of dimensions required; None (default) allows any.

    Returns
    -------
    numpy.ndarray
        ``value`` as a float array.

    Raises
    ------
    TypeError
        If ``value`` cannot be converted to a float array, is None, or is an array of strings or
        booleans.
    ValueError
        If ``ndim`` is given and the array has another number of dimensions.
    """
    try:
        raw = np.asarray(value)
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of real numbers, got {value!r}") from err
    if value is None or raw.dtype.kind in "USb":
        raise TypeError(f"{name} must be an array of real numbers, got {value!r}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def as_finite_array(name: str, value: ArrayLike, ndim: int | None = None) -> np.ndarray:
    """A float array with only finite entries (with the given number of dimensions).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : array_like
        The value received.
    ndim : int or None, optional
        The number of dimensions required; None (default) allows any.

    Returns
    -------
    numpy.ndarray
        ``value`` as a float array.

    Raises
    ------
    TypeError
        As :func:`as_real_array`.
    ValueError
        As :func:`as_real_array`, or if an entry is not finite.
    """
    arr = as_real_array(name, value, ndim)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers, got {value!r}")
    return arr


def check_number_or_swept(name: str, value: ArrayLike) -> float | np.ndarray:
    """A finite real number, or a non-empty 1-D sequence of distinct ones (see :func:`check_swept`).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : float or array_like
        The value received: a number (0-d) or the values of a sweep.

    Returns
    -------
    float or numpy.ndarray
        The number (:func:`check_real`) where ``value`` is 0-d, else the 1-D float array
        (:func:`check_swept`).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_real` or :func:`check_swept`.
    """
    return (
        check_real(name, value) if np.ndim(value) == 0 else check_swept(name, value, or_number=True)
    )


def check_swept(name: str, value: ArrayLike, or_number: bool = False) -> np.ndarray:
    """A non-empty 1-D array of distinct finite real numbers (the values of a sweep).

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : array_like
        The value received.
    or_number : bool, optional
        Whether the message says that a single number would do too; default False.

    Returns
    -------
    numpy.ndarray
        ``value`` as a 1-D float array.

    Raises
    ------
    TypeError
        As :func:`as_real_array`.
    ValueError
        If ``value`` is not 1-D, has a non-finite entry, is empty or has repeated values.
    """
    values = as_finite_array(name, value, ndim=1)
    if values.size == 0 or np.unique(values).size != values.size:
        either = "a number or " if or_number else ""
        raise ValueError(
            f"{name} must be {either}a non-empty sequence of distinct numbers, got {value!r}"
        )
    return values
