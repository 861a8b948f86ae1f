"""Sphinx configuration of fpguide's documentation.

Build it from the repository root with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import pathlib
import sys

# document this tree's fpguide, not another installed copy
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import fpguide  # noqa: E402

project = "fpguide"
release = version = fpguide.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "numpydoc", "myst_nb"]

# docs/notebooks links to the repository's notebooks/; its README is included by notebooks.md, not a page of its own
exclude_patterns = ["_build", "notebooks/README.md"]

# autodoc + numpydoc: members in source order, no autosummary tables of a class's members
autodoc_member_order = "bysource"
numpydoc_show_class_members = False

# myst-nb: the notebooks are rendered from their stored outputs, never executed; $...$ math in their markdown
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath"]

html_theme = "pydata_sphinx_theme"
html_title = f"fpguide {release}"
