"""Diffusion steps, exact in time: convolution with a positive kernel of variance exactly 2∫D dt.

For steps that spread over several cells the kernel is the sampled Gaussian (spectrally accurate on cell averages);
for short steps it is the discrete heat kernel K_k = e^{−2r} I_k(2r), r = ∫D dt / dx² (I_k the modified Bessel
function), the exact solution over the step of the conservative second-order scheme
dq_i/dt = D (q_{i+1} − 2q_i + q_{i−1})/dx². Either kernel is positive and sums to one, so the step is positive,
conservative and free of any time-step restriction. Mass carried past the walls leaves the grid and is counted.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_TAIL_SDS = 8.5  # kernel truncated where it is below ~1e-17 of its total
SAMPLED_FROM = 2.0


def heat_kernel(r: float) -> np.ndarray:
    """One-sided kernel K_0 … K_H (K_{−k} = K_k) of a diffusion step with r = ∫D dt / dx².

    For r ≥ ``SAMPLED_FROM`` the sampled Gaussian of variance 2r (normalised): the cell averages of the exact solution
    are the continuous convolution of the cell-average function with the Gaussian, and the trapezoid rule on that
    smooth integrand is spectrally accurate (its variance is 2r up to e^{−4π² r} ≈ 1e-34). Below, where the Gaussian is
    narrower than a cell, the discrete heat kernel (second order in dx, exact in time).
    """
    half_width = int(math.ceil(_TAIL_SDS * math.sqrt(2.0 * r) + 12.0))
    if r >= SAMPLED_FROM:
        k = np.arange(half_width + 1)
        kernel = np.exp(-k * k / (4.0 * r))
        return kernel / (kernel[0] + 2.0 * kernel[1:].sum())
    return _bessel_kernel(2.0 * r, half_width)


@nb.njit(cache=True)
def _bessel_kernel(x, half_width):
    """e^{−x} I_k(x), k = 0 … half_width, by Miller's backward recurrence I_{k−1} = I_{k+1} + (2k/x) I_k,
    normalised with e^{−x}(I_0 + 2 Σ_{k≥1} I_k) = 1 — so the kernel sums to one to round-off."""
    start = 2 * half_width + 20
    values = np.zeros(start + 2)
    values[start] = 1e-280
    for k in range(start, 0, -1):
        values[k - 1] = values[k + 1] + (2.0 * k / x) * values[k]
        if values[k - 1] > 1e250:
            values *= 1e-250
    total = values[0] + 2.0 * values[1:].sum()
    return values[:half_width + 1] / total


@nb.njit(cache=True, fastmath={"reassoc", "contract"})
def heat_step(q, kernel, out):
    """out = K * q on the grid; returns the mass (per unit dx) carried past the (lower, upper) walls."""
    n = q.size
    h = kernel.size - 1
    full = np.empty(2 * h + 1)  # K_{-h} … K_h
    for k in range(h + 1):
        full[h + k] = kernel[k]
        full[h - k] = kernel[k]
    padded = np.zeros(n + 2 * h)
    padded[h:h + n] = q
    for j in range(n):
        acc = 0.0
        window = padded[j:j + 2 * h + 1]
        for k in range(2 * h + 1):
            acc += full[k] * window[k]
        out[j] = acc
    tail = np.zeros(h + 2)  # tail[j] = Σ_{k ≥ j} K_k
    for k in range(h, -1, -1):
        tail[k] = tail[k + 1] + kernel[k]
    lower = 0.0
    upper = 0.0
    for j in range(min(n, h + 1)):
        lower += q[j] * tail[j + 1]
        upper += q[n - 1 - j] * tail[j + 1]
    return lower, upper
