"""The package's shape: layers that depend one way, no import cycles, imports inside functions named.

Drawn from the code's own imports (module level and inside functions alike), as a newcomer would
see them. Layers, top to bottom: run > report > limits > risk > models > features > data > core.
A module may import from its own layer or a lower one, never a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "credit_lab"
LAYERS = ("core", "data", "features", "models", "risk", "limits", "report", "run")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported credit_lab module, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names
                             if a.name.startswith("credit_lab"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if mod.startswith("credit_lab"):
                    for a in child.names:  # `from credit_lab.x import y` may name a module y
                        sub = f"{mod}.{a.name}"
                        target = sub if _exists(sub) else mod
                        found.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = {m for m, _, _ in _imports(path)}
    return graph


def test_every_module_sits_in_a_layer():
    loose = [_module_name(p) for p in PACKAGE.rglob("*.py")
             if _module_name(p) != "credit_lab" and _layer(_module_name(p)) is None]
    assert not loose, f"modules outside the layer folders {LAYERS}: {loose}"


def test_layers_depend_one_way():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _module_name(path)
        mine = _layer(me)
        for target, line, _ in _imports(path):
            theirs = _layer(target)
            if mine and theirs and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {me} ({mine}) imports {target} ({theirs})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt not in graph or nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules: __init__ re-exports are not cycles
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_are_deferred_heavy_imports_only():
    """An import inside a function hides a dependency; only a named, deferred heavy import may do it."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line in sorted({line for _, line, inside in _imports(path) if inside}):
            if True:
                text = path.read_text(encoding="utf-8").splitlines()[line - 1]
                if "deferred:" not in text:
                    hidden.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text.strip()}")
    assert not hidden, ("credit_lab imports inside functions (move them to the top, or mark a deferred heavy "
                        "import with a '# deferred: why' comment):\n" + "\n".join(hidden))


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a planted upward import inside a function is found."""
    fake = tmp_path / "credit_lab"
    for layer in ("core", "run"):
        (fake / layer).mkdir(parents=True)
        (fake / layer / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "core" / "a.py").write_text("def f():\n    from credit_lab.run import b\n")
    (fake / "run" / "b.py").write_text("from credit_lab.core import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="imports from a higher layer"):
        test_layers_depend_one_way()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()
    with pytest.raises(AssertionError, match="inside functions"):
        test_imports_inside_functions_are_deferred_heavy_imports_only()


def test_modules_stay_small_or_say_why():
    """No module over ~800 lines unless its docstring states why it is one piece."""
    big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > 800 and "one module because" not in doc:
            big.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not big, "modules over 800 lines without 'one module because ...' in their docstring:\n" + "\n".join(big)


def test_stage_functions_are_thin():
    """A stage reads its inputs, calls domain functions and writes its outputs: no function over 80 lines."""
    long_functions = []
    for path in sorted((PACKAGE / "run" / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long_functions.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    assert not long_functions, "stage functions over 80 lines (move the logic to a domain module):\n" + "\n".join(
        long_functions)
