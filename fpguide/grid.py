"""Grid: a uniform cell-centred finite-volume grid on [lower, upper] with n cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_int, check_real

MIN_CELLS = 8


@dataclass(frozen=True)
class Grid:
    """n cells of width dx = (upper − lower)/n; densities live as cell averages, fluxes on the n + 1 faces."""

    lower: float
    upper: float
    n: int

    def __post_init__(self):
        lower = check_real("lower", self.lower)
        upper = check_real("upper", self.upper)
        if not lower < upper:
            raise ValueError(f"grid lower must be < upper, got lower={lower}, upper={upper}")
        n = check_int("n", self.n, MIN_CELLS)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "n", n)

    @property
    def dx(self) -> float:
        return (self.upper - self.lower) / self.n

    @property
    def faces(self) -> np.ndarray:
        return self.lower + self.dx * np.arange(self.n + 1)

    @property
    def centres(self) -> np.ndarray:
        return self.lower + self.dx * (np.arange(self.n) + 0.5)

    @property
    def bounds(self) -> np.ndarray:
        """(n, 2) array of cell bounds."""
        faces = self.faces
        return np.stack([faces[:-1], faces[1:]], axis=1)

    def cell_averages(self, log_density, order: int = 5) -> np.ndarray:
        """Cell averages of exp(log_density(x)) by Gauss–Legendre quadrature (relative accuracy in the tails)."""
        nodes, weights = np.polynomial.legendre.leggauss(order)
        x = self.centres[:, None] + 0.5 * self.dx * nodes[None, :]
        return np.exp(log_density(x)) @ (0.5 * weights)

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "n": self.n}
