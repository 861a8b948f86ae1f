"""The package's layers: every module imports only from its own layer or the layers below, without
circles, and takes from other modules only what their ``__all__`` offers (the public API is
``fpguide.__all__``).

The layers, bottom to top (each a subpackage; the front doors and the public namespaces sit on top):

0. ``tools`` (and ``_version``): errors, argument checks, special functions, progress, memory;
1. ``models``: processes, targets, guidance, its rules and its schedules, score-error models,
   dynamics, discrete chains;
2. ``grids``: the grid classes, the automatic grid from a pilot, the adaptive stages;
3. ``engine``: the density's evolution under a drift given as a callable, and the exact cell
   integrals;
4. ``results``: observables, the Dataset layout, resampling, closed-form references, cross-checks;
5. ``sweeps``: swept calls, their items, run here or on Dask;
6. ``runs``: ``solve``, ``solve_pc``, ``solve_discrete``, the particle samplers and their toolkits;
7. the package's top: its ``__init__``, the public namespaces ``rules``, ``schedules`` and
   ``score_errors``, ``config``, ``rerun``, ``cli`` and ``plot``.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import types

import pytest

import fpguide

PACKAGE = pathlib.Path(fpguide.__file__).parent
LAYERS = ["tools", "models", "grids", "engine", "results", "sweeps", "runs"]
TOP = len(LAYERS)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> list[tuple[str, list[str], int]]:
    """Every import of fpguide's own modules in the file, nested ones included: (module, names,
    line)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "fpguide" or target.startswith("fpguide."):
                names = [alias.name for alias in node.names]
                # ``from . import submodule`` imports the submodule (a name the package binds is a
                # name)
                package_object = importlib.import_module(target)
                submodules = [
                    f"{target}.{name}"
                    for name in names
                    if isinstance(getattr(package_object, name, None), types.ModuleType)
                ]
                found += [(sub, [], node.lineno) for sub in submodules]
                rest = [name for name in names if f"{target}.{name}" not in submodules]
                if rest:
                    found.append((target, rest, node.lineno))
        elif isinstance(node, ast.Import):
            found += [
                (alias.name, [], node.lineno)
                for alias in node.names
                if alias.name.startswith("fpguide")
            ]
    return found


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    if module == "fpguide._version":
        return 0
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return TOP


def test_every_module_has_a_layer_and_the_layers_are_the_subpackages():
    subpackages = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))
    assert subpackages == sorted(LAYERS)
    top = sorted(name for name in MODULES if _layer(name) == TOP)
    assert top == [
        "fpguide",
        "fpguide.cli",
        "fpguide.config",
        "fpguide.plot",
        "fpguide.rerun",
        "fpguide.rules",
        "fpguide.schedules",
        "fpguide.score_errors",
    ]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module):
    upward = [
        f"line {line}: {target} (layer {_layer(target)})"
        for target, _, line in GRAPH[module]
        if _layer(target) > _layer(module)
    ]
    assert not upward, f"{module} (layer {_layer(module)}) imports from above: {upward}"


def test_no_import_circles():
    edges = {
        name: {target for target, _, _ in imports if target in MODULES and target != name}
        for name, imports in GRAPH.items()
    }
    # a package's __init__ that imports its own modules is not a circle with them: those modules
    # never import it
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                raise AssertionError(
                    "import circle: " + " -> ".join(path[path.index(nxt) :] + [nxt])
                )
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_offers_and_takes_only_that_from_the_others(module):
    """A module's ``__all__`` is what the other modules may import from it (the public API is
    ``fpguide.__all__``); the layers' bare package files hold no names."""
    imported = importlib.import_module(module)
    bare = (
        MODULES[module].name == "__init__.py"
        and module != "fpguide"
        and not hasattr(imported, "__all__")
    )
    assert bare or hasattr(imported, "__all__"), f"{module} has no __all__"
    if hasattr(imported, "__all__"):
        assert all(hasattr(imported, name) for name in imported.__all__)
    taken = [
        f"line {line}: {target}.{name}"
        for target, names, line in GRAPH[module]
        for name in names
        if name not in getattr(importlib.import_module(target), "__all__", ())
    ]
    assert not taken, f"{module} imports names its modules do not offer: {taken}"


def test_the_engine_is_used_through_what_it_exports():
    reaching = [
        f"{module} line {line}: {target}"
        for module, imports in GRAPH.items()
        for target, _, line in imports
        if target.startswith("fpguide.engine.") and not module.startswith("fpguide.engine")
    ]
    assert not reaching
    for name in fpguide.engine.__all__:
        assert hasattr(fpguide.engine, name)
