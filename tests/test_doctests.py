"""The examples in fpguide's docstrings run as doctests: every module of the package is a test of
its own, which fails when one of its examples does (the failures are printed)."""

import doctest
import importlib
import pkgutil

import pytest

import fpguide

MODULES = [
    "fpguide",
    *sorted(info.name for info in pkgutil.walk_packages(fpguide.__path__, "fpguide.")),
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    results = doctest.testmod(importlib.import_module(name), optionflags=FLAGS, report=False)
    assert results.failed == 0, (
        f"{results.failed} of the {results.attempted} examples in {name} failed"
    )


def test_there_are_examples():
    """Not vacuous: the package's docstrings hold examples that run."""
    finder = doctest.DocTestFinder()
    examples = [
        example
        for name in MODULES
        for test in finder.find(importlib.import_module(name))
        for example in test.examples
        if not example.options.get(doctest.SKIP)
    ]
    assert len(examples) >= 5
