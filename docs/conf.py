"""Sphinx configuration of fpguide's documentation.

Build it from the repository root with ``python -m sphinx -W --keep-going -b html docs
docs/_build/html``.
"""

import importlib
import inspect
import pathlib
import pkgutil
import sys

from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

# document this tree's fpguide, not another installed copy
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import fpguide  # noqa: E402

project = "fpguide"
release = version = fpguide.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "numpydoc", "myst_nb"]

# docs/notebooks links to the repository's notebooks/; its README is included by notebooks.md, not a
# page of its own
exclude_patterns = ["_build", "notebooks/README.md"]

# autodoc + numpydoc: members in source order, no autosummary tables of a class's members
autodoc_member_order = "bysource"
numpydoc_show_class_members = False

# myst-nb: the notebooks are rendered from their stored outputs, never executed; $...$ math in their
# markdown
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath"]

html_theme = "pydata_sphinx_theme"
html_title = f"fpguide {release}"


class ModuleSummaries(SphinxDirective):
    """``.. module-summaries:: PACKAGE``: PACKAGE and each of its public modules (not subpackages)
    with the first paragraph of its docstring, found by importing the package, so that the list
    follows the code. Each module is a target of ``:mod:`` references, unless ``:no-index:`` (for
    names documented elsewhere)."""

    required_arguments = 1
    option_spec = {"no-index": directives.flag}

    def run(self):
        package = importlib.import_module(self.arguments[0])
        modules = pkgutil.iter_modules(package.__path__, package.__name__ + ".")
        names = [package.__name__] + [
            info.name
            for info in modules
            if not info.ispkg and not info.name.rpartition(".")[2].startswith("_")
        ]
        lines = []
        for name in names:
            summary = inspect.getdoc(importlib.import_module(name)).split("\n\n")[0]
            if "no-index" not in self.options:
                lines += [f".. py:module:: {name}", ""]
            lines += [f"``{name}``", *("   " + line for line in summary.splitlines()), ""]
        return self.parse_text_to_nodes("\n".join(lines))


def setup(app):
    app.add_directive("module-summaries", ModuleSummaries)
