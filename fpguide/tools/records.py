"""Small objects described by a record ``to_dict()`` (guidance schedules, score-error models): repr
and equality from the record, accepting a plain callable for one, and rebuilding from the record;
and the one JSON encoding of fpguide's records (configurations, run records, sweep plans)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["as_recorded", "from_record", "json_default", "json_default_or_type", "Recorded"]


class Recorded:
    """Base of objects whose ``to_dict()`` (with a ``"type"`` key) says everything about them."""

    def to_dict(self) -> dict:
        """The record of this object, a ``"type"`` key and its arguments (defined by subclasses).

        Returns
        -------
        dict
            ``{"type": name, **arguments}``: its repr is ``name(argument=value, ...)``, and two
            objects of the same class are equal where their records are.

        Raises
        ------
        NotImplementedError
            On the base class itself.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        spec = self.to_dict()
        args = ", ".join(f"{key}={value!r}" for key, value in spec.items() if key != "type")
        return f"{spec['type']}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()


def json_default(value: object) -> Any:
    """The ``default`` of ``json.dumps`` for fpguide's records.

    Numpy numbers and arrays are stored as plain numbers and lists (``tolist()``), objects with a
    record by their ``to_dict()``; anything else cannot be stored.

    Parameters
    ----------
    value : object
        What ``json.dumps`` cannot encode itself.

    Returns
    -------
    object
        A plain number, list or dict that it can.

    Raises
    ------
    TypeError
        If ``value`` is neither a numpy array or number nor has a ``to_dict`` method.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> json.dumps({"x": np.arange(3), "w": np.float64(1.5)}, default=json_default)
    '{"x": [0, 1, 2], "w": 1.5}'
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def json_default_or_type(value: object) -> Any:
    """:func:`json_default`, with anything else named by its type (``"<Generator>"``).

    For records that describe a call without having to rebuild it (a sweep's plan).

    Parameters
    ----------
    value : object
        What ``json.dumps`` cannot encode itself.

    Returns
    -------
    object
        What :func:`json_default` returns, or else the string ``"<TypeName>"``.
    """
    try:
        return json_default(value)
    except TypeError:
        return f"<{type(value).__name__}>"


def from_record(what: str, spec: dict | None, built_in: dict[str, type]) -> Any:
    """Rebuild a :class:`Recorded` ``what`` (e.g. "schedule") from its record; None stays None.

    The class is ``built_in[spec["type"]]``, called with the other entries of ``spec`` as keyword
    arguments. A ``Custom`` one holds a callable, recorded only by its repr, and cannot be rebuilt.

    Parameters
    ----------
    what : str
        What the record describes (e.g. "schedule"), for the messages.
    spec : dict or None
        The record (a ``to_dict()``), or None.
    built_in : dict of str to type
        The classes that can be rebuilt, by their record's ``"type"``.

    Returns
    -------
    Recorded or None
        The rebuilt object, or None where ``spec`` is None.

    Raises
    ------
    ValueError
        If the record's type is ``"Custom"`` or not a key of ``built_in``.
    """
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "Custom":
        raise ValueError(
            f"a Custom {what} ({spec.get('func')}) cannot be rebuilt from its record: "
            "pass the "
            "callable again"
        )
    if kind not in built_in:
        raise ValueError(f"unknown {what} type {kind!r}; allowed: {sorted(built_in)}")
    return built_in[kind](**{key: value for key, value in spec.items() if key != "type"})


def as_recorded(
    name: str,
    value: object,
    base: type,
    custom: Callable[[Callable[..., Any]], Any],
    kinds: str,
    signature: str,
) -> Any:
    """None, an instance of ``base``, or a plain callable wrapped as ``custom``.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received: None, an instance of ``base``, or a callable.
    base : type
        The class of the recorded objects (e.g. the schedules).
    custom : type
        The subclass that wraps a plain callable, ``custom(value)``.
    kinds : str
        The kinds allowed, for the error message.
    signature : str
        The callable's signature, for the error message.

    Returns
    -------
    object
        ``value`` where it is None or an instance of ``base``, else ``custom(value)``.

    Raises
    ------
    TypeError
        If ``value`` is none of these (the message names ``name``, the ``kinds`` allowed and the
        callable's ``signature``).
    """
    if value is None or isinstance(value, base):
        return value
    if callable(value):
        return custom(value)
    raise TypeError(
        f"{name} must be None, {kinds} or a callable {signature}, got {type(value).__name__}"
    )
