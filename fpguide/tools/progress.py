"""Progress bars (tqdm) for long runs: over simulated time in the engine, over the items of a
sweep."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(progress: bool | None, **kwargs):
    """A tqdm bar: ``progress`` None shows it on a terminal once the run has lasted 2 s; True always
    (in Jupyter as a widget); False never."""
    if progress not in (None, True, False):
        raise TypeError(f"progress must be None, True or False, got {progress!r}")
    if progress:
        from tqdm.auto import tqdm
    else:  # tqdm.auto's notebook bar warns in Jupyter without ipywidgets even when disabled
        from tqdm import tqdm
    return tqdm(
        disable=None if progress is None else not progress, delay=0.0 if progress else 2.0, **kwargs
    )
