"""The targets of the adaptive-grid benchmarks (imported by adaptive.py, the baseline processes it
starts, and box_3d.py)."""

import numpy as np

import fpguide as fg

UM = fg.UniformMixture(lows=[-2.0, 1.0], highs=[-1.0, 2.0], weights=[0.5, 0.5], labels=[-1, 1])
GM = fg.GaussianMixture(means=[-1.0, 1.0], covariances=1.0, weights=[0.5, 0.5], labels=[-1, 1])
BOX = fg.UniformMixture(
    lows=[[1.0, -1.0], [-2.0, -1.0]], highs=[[2.0, 1.0], [-1.0, 1.0]], labels=[1, -1]
)
ANGLES = np.arange(8) * np.pi / 4
RING = fg.GaussianMixture(
    means=2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1),
    covariances=0.05,
    labels=[0, 1] * 4,
)
BOX3 = fg.UniformMixture(
    lows=[[1.0, -1.0, -1.0], [-2.0, -1.0, -1.0]],
    highs=[[2.0, 1.0, 1.0], [-1.0, 1.0, 1.0]],
    labels=[1, -1],
)
TARGETS = {"gaussian": GM, "uniform": UM, "2-D boxes": BOX, "2-D ring": RING, "3-D boxes": BOX3}
