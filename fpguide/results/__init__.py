"""Layer 4, what a run's densities mean: observables as exact cell integrals, the Dataset layout
and its metadata, conservative resampling, closed-form references and the grid-against-particles
check."""
