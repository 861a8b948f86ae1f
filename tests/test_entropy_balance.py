"""Entropy balance (DESIGN §2), with grid derivatives from findiff:
continuity dH/dτ = E_q[∂_x v]; Fokker–Planck dH/dτ = E_q[∂_x b] + D · I(q), I(q) = ∫ (∂_x q)²/q the
Fisher information."""

import json

import numpy as np
import pytest
from findiff import Diff

import fpguide as fg
from fpguide.models.dynamics import GuidedDynamics

T, T_MID, HALF_GAP = 10.0, 0.5, 2e-3


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_entropy_balance(gm, sampler):
    guide = fg.CFG(label=1, w=3.0)
    ds = fg.solve(
        gm,
        guide,
        sampler=sampler,
        T=T,
        t_eval=[T_MID + HALF_GAP, T_MID, T_MID - HALF_GAP],
        grid=fg.Grid(-10.0, 12.0, 2048),
    )
    grid = fg.Grid(**json.loads(ds.attrs["config"])["grid"])
    h = ds.entropy.sel(t=[T_MID + HALF_GAP, T_MID - HALF_GAP], method="nearest").values
    rate = (h[1] - h[0]) / (2 * HALF_GAP)  # dH/dτ, τ = T − t
    q = ds.density.sel(t=T_MID, method="nearest").values
    dyn = GuidedDynamics(guide.bind(gm), fg.OU(), sampler, T)
    d_dx = Diff(0, grid.dx, acc=4)
    expected = np.sum(q * d_dx(dyn.drift(grid.centres, T - T_MID))) * grid.dx
    if sampler == "sde":
        dq = d_dx(q)
        fisher = np.sum(np.where(q > 1e-14, dq**2 / np.where(q > 1e-14, q, 1.0), 0.0)) * grid.dx
        expected += dyn.diffusion(T - T_MID) * fisher
    assert rate == pytest.approx(expected, rel=2e-4)
