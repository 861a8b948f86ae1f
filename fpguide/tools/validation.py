"""Argument checks shared by the public constructors and functions: each error names the argument,
the value received and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

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


def check_choice(name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_real(name: str, value) -> float:
    """A finite real number (a 0-d numpy array of one, e.g. from xarray's ``.values``, is taken as
    the number)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive_real(name: str, value) -> float:
    value = check_real(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_in_range(name: str, value, low: float, high: float, note: str = "") -> float:
    """A finite real number in [low, high]; ``note`` (e.g. "(0: ODE, 1: SDE)") says what the ends
    mean."""
    value = check_real(name, value)
    if not low <= value <= high:
        raise ValueError(
            f"{name} must lie in [{low:g}, {high:g}]{' ' + note if note else ''}, got {value}"
        )
    return value


def check_flag(name: str, value, allow_none: bool = False) -> bool | None:
    """True or False (or None with ``allow_none``); numbers and strings are not taken for truth
    values."""
    if isinstance(value, (bool, np.bool_)) or (allow_none and value is None):
        return None if value is None else bool(value)
    allowed = "None, True or False" if allow_none else "True or False"
    raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")


def as_rng(name: str, seed) -> np.random.Generator:
    """``np.random.default_rng(seed)``, the error naming the argument (a bool is not taken for a
    seed)."""
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


def as_real_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """A float array (and the given number of dimensions); strings, booleans and None are refused,
    not converted."""
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


def as_finite_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """A float array with only finite entries (and the given number of dimensions)."""
    arr = as_real_array(name, value, ndim)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers, got {value!r}")
    return arr


def check_number_or_swept(name: str, value) -> float | np.ndarray:
    """A finite real number, or a non-empty 1-D sequence of distinct ones (see
    :func:`check_swept`)."""
    return (
        check_real(name, value) if np.ndim(value) == 0 else check_swept(name, value, or_number=True)
    )


def check_swept(name: str, value, or_number: bool = False) -> np.ndarray:
    """A non-empty 1-D array of distinct finite real numbers (the values of a sweep); ``or_number``:
    the message says that a single number would do too."""
    values = as_finite_array(name, value, ndim=1)
    if values.size == 0 or np.unique(values).size != values.size:
        either = "a number or " if or_number else ""
        raise ValueError(
            f"{name} must be {either}a non-empty sequence of distinct numbers, got {value!r}"
        )
    return values
