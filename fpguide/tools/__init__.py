"""Layer 0, the tools every other layer uses: errors and warnings, argument checks, recorded
objects, special functions, progress bars and memory checks. Imports nothing else from fpguide."""
