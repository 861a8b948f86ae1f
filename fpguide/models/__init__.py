"""Layer 1, what is sampled and how: noising processes, targets with closed-form noised scores,
guidance and its schedules, score-error models, the samplers' dynamics (drift and diffusion) and the
discrete chains' definitions."""
