"""Execute the notebooks that reproduce the seeds' claims (each asserts its claims; a failed claim
fails the run).

    python notebooks/run.py [NAME ...] [--fast] [--out DIR] [--timeout SECONDS]

Full size (the default) executes every notebook in place: the outputs are saved in the ``.ipynb``
and the figures in ``notebooks/figures/``. ``--fast`` runs small grids and few weights (what the
test suite runs) and writes the executed notebooks and their figures under ``--out`` instead (by
default a temporary folder), leaving ``notebooks/`` as it is. The notebooks read the mode from
``FPGUIDE_NOTEBOOK_MODE`` ("fast" or "full") and the figure folder from ``FPGUIDE_FIGURES``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(path: Path, fast: bool, out: Path, timeout: float) -> float:
    """Execute ``path`` (working directory ``notebooks/``) and write it to ``out``; returns the
    seconds taken."""
    figures = out / "figures" if fast else NOTEBOOKS / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    os.environ["FPGUIDE_NOTEBOOK_MODE"] = "fast" if fast else "full"
    os.environ["FPGUIDE_FIGURES"] = str(figures)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        nbformat.write(notebook, out / path.name)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        help="notebooks to run (file names or their leading numbers; all if none)",
    )
    parser.add_argument(
        "--fast", action="store_true", help="small grids and few weights; outputs go to --out"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for the executed notebooks (default: in "
        "place, or a "
        "temporary folder with --fast)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    chosen = [
        path
        for path in notebooks()
        if not args.names
        or any(path.name.startswith(name) or path.stem == name for name in args.names)
    ]
    if args.names and not chosen:
        parser.error(
            f"no notebook matches {args.names}; notebooks: {[path.name for path in notebooks()]}"
        )
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="fpguide-notebooks-")) if args.fast else NOTEBOOKS
    )
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in chosen:
        try:
            seconds = execute(path, args.fast, out, args.timeout)
            print(f"{path.name}: passed in {seconds:.0f} s")
        except CellExecutionError as err:
            failed.append(path.name)
            print(f"{path.name}: FAILED\n{err}", file=sys.stderr)
    print(f"executed notebooks in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
