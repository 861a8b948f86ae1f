"""The notebooks that reproduce the seeds' claims (notebooks/), executed in their fast mode: each
asserts its claims with tolerances from the solver's error estimates, so a claim that stops holding
fails here."""

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize(
    "notebook", sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
)
def test_notebook_runs_and_its_claims_hold(notebook, tmp_path):
    done = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "run.py"), notebook, "--fast", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    prefix = notebook.split("_")[0]
    assert list((tmp_path / "figures").glob(f"{prefix}_*.png")), "the notebook saved no figure"
    assert (tmp_path / notebook).stat().st_size > 0


def test_there_is_a_notebook_per_group_of_claims():
    assert len(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))) == 7
