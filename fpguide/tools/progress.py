"""Progress bars (tqdm) for long runs: over simulated time in the engine, over the items of a
sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(progress: bool | None, **kwargs: Any) -> tqdm:
    """A tqdm bar, shown or not as ``progress`` says.

    Parameters
    ----------
    progress : bool or None
        None shows the bar on a terminal once the run has lasted 2 s; True always, from the start
        (:mod:`tqdm.auto`: in Jupyter as a widget); False never.
    **kwargs
        Passed on to ``tqdm`` (e.g. ``total``, ``desc``, ``unit``).

    Returns
    -------
    tqdm.tqdm
        The bar (disabled where it is not shown).

    Raises
    ------
    TypeError
        If ``progress`` is not None, True or False.
    """
    if progress not in (None, True, False):
        raise TypeError(f"progress must be None, True or False, got {progress!r}")
    if progress:
        from tqdm.auto import tqdm
    else:  # tqdm.auto's notebook bar warns in Jupyter without ipywidgets even when disabled
        from tqdm import tqdm
    return tqdm(
        disable=None if progress is None else not progress, delay=0.0 if progress else 2.0, **kwargs
    )
