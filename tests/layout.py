"""The package's layout as the tests see it: its rooms, their layers, and its own imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PACKAGE = ROOT / "langgraph_parallel"
LAYERS = [
    {"state", "_lazy"},
    {"errors"},
    {"engine"},
    {"models", "executors"},
    {"nodes", "testing"},
    {"graphs"},
    {"__init__"},
    {"templates"},
    {"cli"},
    {"__main__"},
]
"""The package's rooms from the ground up: a room imports only rooms on lower layers."""


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported name, line) for every import of the package's own code,
    those inside functions too."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE.name):
                found += [(module, f"{node.module}.{a.name}", node.lineno) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [
                    (module, a.name, node.lineno)
                    for a in node.names
                    if a.name.startswith(PACKAGE.name)
                ]
    return found


def room(dotted: str) -> str:
    """The room a module or name is in: a folder or root module, else the package's face."""
    parts = dotted.split(".")
    known = {name for rooms in LAYERS for name in rooms}
    return parts[1] if len(parts) > 1 and parts[1] in known else "__init__"


def layer(name: str) -> int:
    """The layer of room `name`, 0 the ground."""
    return next(i for i, rooms in enumerate(LAYERS) if name in rooms)


def arrows() -> set[tuple[str, str]]:
    """The imports between rooms: (importing room, imported room)."""
    found = {(room(module), room(name)) for module, name, _ in imports()}
    return {(a, b) for a, b in found if a != b}
