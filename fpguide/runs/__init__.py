"""Layer 6, the front doors: ``solve``, ``solve_pc``, ``solve_discrete`` and the particle samplers,
side by side on the shared toolkits of grid runs and particle runs."""
