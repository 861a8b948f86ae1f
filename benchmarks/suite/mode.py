"""How big a benchmark run is: full size, or the smoke mode the test suite runs so that the
benchmarks never rot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    smoke: bool = False  # tiny sizes and few settings: seconds per case
    repeats: int = 7  # timed round-robin repeats per configuration

    def pick(self, full, smoke):
        """``smoke`` in smoke mode, ``full`` otherwise."""
        return smoke if self.smoke else full
