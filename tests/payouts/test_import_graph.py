"""No import inside a function in payouts: every import is at module level, where
import-linter's `payouts-cycles` contract (`.importlinter`, run by `make lint`) sees it and
refuses any cycle. An import tucked inside a function to dodge a cycle means the seam is wrong.

Read from the source (no import is run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = "payouts"

# Imports that stay inside functions, each for a reason that is not an import cycle.
ALLOWED_INSIDE_FUNCTIONS = {
    # AppConfig.ready(): the app registry is ready only then (Django's way to connect hooks).
    "payouts/apps.py": "ready",
    # The Stripe stand-in reads and writes its state file when imported: only in stand-in mode.
    "payouts/provider/__init__.py": "payouts.provider.standin",
    "payouts/api/client_config.py": "payouts.provider.standin",
    "payouts/demo.py": "payouts.provider.standin",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / APP).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if "migrations" in relative.parts:
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports_inside_functions(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, imported module) of every import inside a function."""
    tree = ast.parse(source)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                found += [(node.lineno, function.name, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, function.name, node.module or ""))
    return found


def test_the_reader_finds_an_import_inside_a_function() -> None:
    """The check below can fail: an import in a method, a nested function or a branch counts."""
    source = (
        "import os\n"
        "class A:\n"
        "    def m(self):\n"
        "        if self:\n"
        "            from payouts.services import tips\n"
        "def f():\n"
        "    def g():\n"
        "        import json\n"
    )
    found = {(name, target) for _, name, target in _imports_inside_functions(source)}
    assert found == {("m", "payouts.services"), ("f", "json"), ("g", "json")}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_hides_inside_a_function(module: str) -> None:
    """Every import is at module level, where the graph above sees it: an import inside a
    function to dodge a cycle would mean the seam is wrong (house style)."""
    path = MODULES[module]
    allowed = ALLOWED_INSIDE_FUNCTIONS.get(str(path.relative_to(ROOT)))
    hidden = [
        f"{path.relative_to(ROOT)}:{line} {name}() imports {target}"
        for line, name, target in _imports_inside_functions(path.read_text())
        if allowed not in {name, target}
    ]
    assert hidden == []
