"""Argument checks shared by the public constructors and functions: each error names the argument, the value
received and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_choice(name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_real(name: str, value) -> float:
    """A finite real number."""
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


def as_finite_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """A float array with only finite entries (and the given number of dimensions)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of real numbers, got {value!r}") from err
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers, got {value!r}")
    return arr


def check_swept(name: str, value, or_number: bool = False) -> np.ndarray:
    """A non-empty 1-D array of distinct finite real numbers (the values of a sweep); ``or_number``: the message says
    that a single number would do too."""
    values = as_finite_array(name, value, ndim=1)
    if values.size == 0 or np.unique(values).size != values.size:
        either = "a number or " if or_number else ""
        raise ValueError(f"{name} must be {either}a non-empty sequence of distinct numbers, got {value!r}")
    return values
