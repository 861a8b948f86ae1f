"""Small objects described by a record ``to_dict()`` (guidance schedules, score-error models): repr
and equality from the record, accepting a plain callable for one, and rebuilding from the record;
and the one JSON encoding of fpguide's records (configurations, run records, sweep plans)."""

from __future__ import annotations

import numpy as np

__all__ = ["as_recorded", "from_record", "json_default", "json_default_or_type", "Recorded"]


class Recorded:
    """Base of objects whose ``to_dict()`` (with a ``"type"`` key) says everything about them."""

    def to_dict(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        spec = self.to_dict()
        args = ", ".join(f"{key}={value!r}" for key, value in spec.items() if key != "type")
        return f"{spec['type']}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()


def json_default(value):
    """The ``default`` of ``json.dumps`` for fpguide's records: numpy numbers and arrays as plain
    numbers and lists, objects with a record by their ``to_dict()``; a TypeError for anything else
    (it cannot be stored)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def json_default_or_type(value):
    """:func:`json_default`, with anything else named by its type (``"<Generator>"``): for records
    that describe a call without having to rebuild it (a sweep's plan)."""
    try:
        return json_default(value)
    except TypeError:
        return f"<{type(value).__name__}>"


def from_record(what: str, spec: dict | None, built_in: dict[str, type]):
    """Rebuild a :class:`Recorded` ``what`` (e.g. "schedule") from its record; None stays None. A
    ``Custom`` one holds a callable, recorded only by its repr, and cannot be rebuilt."""
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


def as_recorded(name: str, value, base: type, custom: type, kinds: str, signature: str):
    """None, an instance of ``base``, or a plain callable wrapped as ``custom``; otherwise a
    TypeError naming the argument ``name``, the ``kinds`` allowed and the callable's
    ``signature``."""
    if value is None or isinstance(value, base):
        return value
    if callable(value):
        return custom(value)
    raise TypeError(
        f"{name} must be None, {kinds} or a callable {signature}, got {type(value).__name__}"
    )
