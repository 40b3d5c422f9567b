"""Imports run one way, read from the code itself (ast; function-local imports included):
``tasks`` ← ``synth`` | ``baselines`` ← ``mechanisms`` ← ``compare`` ← ``cli``, ``synth`` and
``baselines`` never import each other, and no module imports itself back through others (no cycle).
Files stay under 500 lines and functions under 80, so that each can be read top to bottom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = {"tasks": 0, "synth": 1, "baselines": 1, "mechanisms": 2, "compare": 3, "cli": 4}
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the layered packages (and cli.py) by dotted name."""
    out = {"cli": root / "cli.py"}
    for top in LAYER:
        if top == "cli":
            continue
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules ``name`` imports anywhere in its code (``from a import b`` counts ``a`` and,
    where it is a module, ``a.b``)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer into a higher one, or between the sibling learner packages."""
    out = []
    for name, targets in edges.items():
        for target in targets:
            a, b = name.split(".")[0], target.split(".")[0]
            if a != b and (LAYER[b] > LAYER[a] or {a, b} == {"synth", "baselines"}):
                out.append(f"{name} imports {target}")
    return sorted(out)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_imports_run_one_way():
    assert upward(graph()) == []


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_files_and_functions_stay_readable():
    long_files, long_functions = [], []
    for path in modules().values():
        source = path.read_text()
        if source.count("\n") > MAX_FILE_LINES:
            long_files.append(str(path.relative_to(ROOT)))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long_files == [] and long_functions == []


@pytest.mark.parametrize("code, found", [
    ("from compare.grid import cells", ["tasks.a imports compare.grid.cells"]),
    ("def f():\n    import synth.x\n", ["tasks.a imports synth.x"]),
    ("from tasks import b", []),
])
def test_the_walker_finds_upward_imports_even_inside_functions(tmp_path, code, found):
    for package, files in {"tasks": {"a.py": code, "b.py": ""}, "synth": {"x.py": ""},
                           "compare": {"grid/cells.py": ""}}.items():
        for relative, text in files.items():
            path = tmp_path / package / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    (tmp_path / "cli.py").write_text("")
    assert upward(graph(tmp_path)) == found


def test_the_walker_finds_a_cycle(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "a.py").write_text("from tasks import b\n")
    (tmp_path / "tasks" / "b.py").write_text("def f():\n    from tasks.a import g\n")
    (tmp_path / "tasks" / "c.py").write_text("import tasks.a\n")
    (tmp_path / "cli.py").write_text("")
    assert cycles(graph(tmp_path)) == [["tasks.a", "tasks.b"]]
