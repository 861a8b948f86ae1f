"""Small compiled helpers of the stepping loop (each replaces several numpy passes per step)."""

from __future__ import annotations

import numba as nb


@nb.njit(cache=True)
def significant_range(q, relative):
    """(first, last + 1): the faces enclosing the cells with q > relative · max q; (−1, −1) if q is all zero."""
    top = 0.0
    for value in q:
        top = max(top, value)
    if top == 0.0:
        return -1, -1
    floor = relative * top
    first = 0
    while q[first] <= floor:
        first += 1
    last = q.size - 1
    while q[last] <= floor:
        last -= 1
    return first, last + 1


@nb.njit(cache=True)
def assemble_departures(xi, lo, n, first, last, out):
    """Fill ``out`` (n + 1 departure points) from the traced window ``xi`` of faces lo … lo + len(xi) − 1.

    Returns False when trajectories cross where there is significant mass (between faces ``first`` and ``last``).
    Crossings elsewhere are made monotone (running maximum); faces outside the window move rigidly with its ends.
    """
    hi = lo + xi.size - 1
    running = xi[0]
    for j in range(xi.size):
        if xi[j] < running:
            if running > first and xi[j] < last:
                return False
        else:
            running = xi[j]
        out[lo + j] = running
    for j in range(lo):
        out[j] = min(j + out[lo] - lo, out[lo])
    for j in range(hi + 1, n + 1):
        out[j] = max(j + out[hi] - hi, out[hi])
    return True


@nb.njit(cache=True)
def flow_rates(v, dx):
    """(max |Δv|/dx, max |v|) over the traced faces: the Lipschitz constant and the speed of the flow."""
    lip = 0.0
    speed = abs(v[0])
    for j in range(1, v.size):
        lip = max(lip, abs(v[j] - v[j - 1]))
        speed = max(speed, abs(v[j]))
    return lip / dx, speed


@nb.njit(cache=True)
def flush_below(q, floor):
    """Set densities below ``floor`` to zero (subnormals are slow); returns their total (per unit dx)."""
    flushed = 0.0
    for i in range(q.size):
        if q[i] < floor:
            flushed += q[i]
            q[i] = 0.0
    return flushed
