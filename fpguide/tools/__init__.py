"""Layer 0, the tools every other layer uses: errors and warnings, argument checks, recorded
objects, special functions, progress bars, memory checks and coefficients given with their
antiderivative. Imports nothing else from fpguide."""
