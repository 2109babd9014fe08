"""The package's structure: no import circle, no reaching into private members.

Read from the source with ``ast``, so that imports inside functions (lazy
imports, which a fresh ``import`` never runs) count as dependencies too. A
fresh interpreter cannot test this: ``import sklearn_revin._dask`` always runs
the package's ``__init__`` first, which imports the modules in one fixed order.
"""

import ast
from pathlib import Path

import pytest

import sklearn_revin

PACKAGE = Path(sklearn_revin.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package_of(name):
    path = MODULES[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(name, package):
    """The module ``name`` (a module, or a name in ``package``) stands for."""
    return name if name in MODULES else package


def package_imports(name):
    """The modules of the package that module ``name`` imports, anywhere in it."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = _package_of(name)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (
                    package.rsplit(".", node.level - 1)[0]
                    if node.level > 1
                    else package
                )
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source not in MODULES:
                continue
            for alias in node.names:
                imported.add(_resolve(f"{source}.{alias.name}", source))
    imported.discard(name)
    return imported


def find_cycle(graph):
    """Return one cycle of ``graph`` as a list of nodes, or None."""
    state = {}  # node -> "visiting" or "done"
    path = []

    def visit(node):
        state[node] = "visiting"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "visiting":
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    """Check the cycle finder itself on small graphs."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_package_imports_sees_relative_lazy_and_absolute_imports():
    """Check that the parser reads the imports as they are written here."""
    assert "sklearn_revin._dask" in package_imports("sklearn_revin._windows")
    assert {"sklearn_revin._regressor", "sklearn_revin._windows"} <= (
        package_imports("sklearn_revin")
    )
    assert "sklearn_revin._functional" in package_imports("sklearn_revin.nn")


def test_package_import_graph_has_no_cycle():
    """Check that no module of the package imports itself through others."""
    graph = {name: package_imports(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_dask_module_imports_nothing_of_the_package():
    """Check that the dask scale-out depends on the estimators one way only.

    The estimators and make_windows call _dask; _dask works with the
    estimator objects and the windowing function it is given.
    """
    assert package_imports("sklearn_revin._dask") == set()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_member_of_another_object_is_used(name):
    """Check that private attributes are used on ``self`` or ``cls`` only.

    A module calls the public methods and reads the documented attributes of
    the objects it is given, never their private methods (``estimator._fit``).
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    reached = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and ast.unparse(node.value) not in ("self", "cls")
    ]
    assert reached == []
