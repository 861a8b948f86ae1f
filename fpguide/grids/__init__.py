"""Layer 2, where the density lives: uniform, graded and tensor grids, the automatic choice of one
grid from a pilot of the dynamics, and the adaptive plan of stages."""
