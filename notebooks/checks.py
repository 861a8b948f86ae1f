"""The notebooks' claims, asserted with tolerances from fpguide's error estimates (``solve(...,
error_estimate=True)``).

Each check prints what it compared and raises ``AssertionError`` (failing the notebook) when the
claim does not hold beyond the estimated errors.
"""

from __future__ import annotations

import numpy as np


def monotone(name: str, values, errors, increasing: bool) -> None:
    """``values`` (in the order of the parameter) strictly increase (or decrease), every step larger
    than the two values' estimated errors together: the ordering is resolved, not an artefact of the
    grid."""
    values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
    steps = np.diff(values) * (1 if increasing else -1)
    margins = errors[:-1] + errors[1:]
    assert np.all(steps > margins), (
        f"{name} is not "
        f"{'increasing' if increasing else 'decreasing'} beyond its "
        f"errors: steps {np.diff(values)}, errors {errors}"
    )
    print(
        f"OK  {name} {'increases' if increasing else 'decreases'}: smallest step "
        f"{steps.min():.3g} "
        f"> errors {margins[np.argmin(steps)]:.2g}"
    )


def close(name: str, value, reference, tolerance) -> None:
    """|value − reference| ≤ tolerance (elementwise), with the worst case printed."""
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    tolerance = np.broadcast_to(
        np.asarray(tolerance, dtype=float), np.broadcast(value, reference).shape
    )
    gap = np.abs(value - reference)
    assert np.all(gap <= tolerance), f"{name}: |{value} - {reference}| = {gap} exceeds {tolerance}"
    k = np.unravel_index(np.argmax(gap / np.maximum(tolerance, 1e-300)), gap.shape)
    print(f"OK  {name}: largest gap {gap[k]:.3g} <= tolerance {tolerance[k]:.2g}")


def holds(name: str, condition, detail: str = "") -> None:
    """A claim that is a plain condition (a limit reached, a bound kept), with what was measured."""
    assert bool(np.all(condition)), f"{name} does not hold: {detail}"
    print(f"OK  {name}" + (f": {detail}" if detail else ""))
