"""What `.importlinter` does not state about the layers (docs/architecture.md), read from the
source (no import is run):

- no import cycle between the project's modules at module level (imports inside functions and
  under `TYPE_CHECKING` left out), across apps and inside each app, media_relay included;
- outside payouts (tests/payouts/test_import_graph.py keeps its own list), an import of project
  code inside a function is one of those listed here, each for a reason that is not a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accounts", "clubs", "rooms", "payouts", "media_relay", "clubhouse")

# (file, function) → why its project imports stay inside it.
ALLOWED_INSIDE_FUNCTIONS = {
    # AppConfig.ready(): Django imports the app configs before any model may be imported; the
    # hooks and registrations that need other modules are made once the registry is ready.
    ("accounts/apps.py", "ready"): "AppConfig.ready",
    ("clubhouse/apps.py", "ready"): "AppConfig.ready",
    ("clubs/apps.py", "ready"): "AppConfig.ready",
    ("rooms/apps.py", "ready"): "AppConfig.ready",
    ("media_relay/apps.py", "ready"): "AppConfig.ready",
    # The embedded relay worker brings aiortc and the C send loop: only a web process that runs
    # the relay in-process loads them, not every process that imports the relay client.
    ("media_relay/signalling.py", "relay_embedded_ensure"): "the embedded worker is optional",
    ("media_relay/signalling.py", "relay_embedded_ready"): "the embedded worker is optional",
    ("media_relay/signalling.py", "relay_embedded_stop"): "the embedded worker is optional",
    # The embedded worker's figures on the web's /metrics: read only when the mode is on.
    ("media_relay/metrics.py", "relay_embedded_collector"): "the embedded worker is optional",
    ("media_relay/metrics.py", "embedded"): "the embedded worker is optional",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not inside a function, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: Iterable[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit(children)

    visit(tree.body)
    return found


def _imported_names(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _owner(name: str, modules: Iterable[str]) -> str | None:
    """The project module `name` is, or the one it is an attribute of (`from a import b`)."""
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _module_level_imports(tree):
            for imported in _imported_names(name, path.name == "__init__.py", node):
                target = _owner(imported, modules)
                if target is not None and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    found.append(sorted(component))
    return found


def imports_inside_functions(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, module) of every project import inside a function."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." if node.level else (node.module or "")]
            found += [
                (node.lineno, function.name, name)
                for name in names
                if name == "." or name.split(".")[0] in PACKAGES
            ]
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reader_skips_function_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import x.y\n"
        "if TYPE_CHECKING:\n    import x.hidden\n"
        "def f():\n    import x.lazy\n"
    )
    imports = _module_level_imports(ast.parse(source))
    assert [name for node in imports for name in _imported_names("m", False, node)] == [
        "typing",
        "typing.TYPE_CHECKING",
        "x.y",
    ]


def test_no_module_level_import_cycle_in_the_project() -> None:
    assert cycles(import_graph(MODULES)) == []


def test_the_reader_finds_an_import_inside_a_function() -> None:
    source = "def f():\n    from rooms import services\n    import json\n"
    assert imports_inside_functions(source) == [(2, "f", "rooms")]


def test_imports_inside_functions_outside_payouts_are_the_listed_ones() -> None:
    found = {
        (str(path.relative_to(ROOT)), function)
        for name, path in MODULES.items()
        if not name.startswith("payouts")
        for _, function, _ in imports_inside_functions(path.read_text())
    }
    assert found == set(ALLOWED_INSIDE_FUNCTIONS)
