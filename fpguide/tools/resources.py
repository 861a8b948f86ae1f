"""Resource guards: a run whose arrays would not fit in the memory available is refused before it
starts, with the estimate and what to change, instead of swapping the machine to a halt or dying
half-way through a sweep."""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_memory"]

MEMORY_FRACTION = 0.8  # of the memory available now that one run may plan to hold
# a saved density lives in the engine's result, the item's Dataset and the sweep's combined Dataset
COPIES = 3


def available_memory() -> int:
    """Bytes of memory available now.

    ``MemAvailable`` of /proc/meminfo where there is one (Linux), else the physical memory (page
    size times the number of physical pages).

    Returns
    -------
    int
        The memory available, in bytes.
    """
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(densities: int, cells: int, what: str) -> None:
    """Refuse a run whose saved densities would not fit in the memory available.

    The run will hold ``densities`` × ``cells`` × 8 bytes (float64) × :data:`COPIES` (a saved
    density lives in the engine's result, the item's Dataset and the sweep's combined Dataset);
    it is refused when that exceeds :data:`MEMORY_FRACTION` (0.8) of :func:`available_memory`.

    Parameters
    ----------
    densities : int
        The number of densities the run saves.
    cells : int
        The number of cells of each.
    what : str
        Which run, for the message.

    Raises
    ------
    MemoryError
        If the estimate exceeds :data:`MEMORY_FRACTION` of the memory available; the message gives
        the estimate and what to change (fewer saved times, fewer items at once, a coarser grid).
    """
    needed = float(densities) * cells * 8 * COPIES
    available = available_memory()
    if needed > MEMORY_FRACTION * available:
        raise MemoryError(
            f"{what} would hold {densities} densities of {cells} cells, about "
            f"{needed / 2**30:.3g} GiB, "
            f"but {available / 2**30:.3g} GiB of memory is available: save fewer "
            "times (n_save or "
            "t_eval), sweep fewer items at once, or use a coarser grid"
        )
