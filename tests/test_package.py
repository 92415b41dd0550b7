"""The package's surface: exports, typing marker, dependencies, docstring examples."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
from layout import LAYERS, PACKAGE, imports, layer, room

import langgraph_parallel

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = [
    "langgraph_parallel",
    "langgraph_parallel.errors",
    "langgraph_parallel.executors",
    "langgraph_parallel.graphs",
    "langgraph_parallel.models",
    "langgraph_parallel.nodes",
    "langgraph_parallel.state",
    "langgraph_parallel.templates",
    "langgraph_parallel.testing",
]


LAZY = ("langgraph_parallel.models", "langgraph_parallel.nodes")
"""Packages whose names are imported on first use (so not all in their namespace yet)."""


def _isort_style(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_complete_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort_style)
    for symbol in exported:
        assert hasattr(module, symbol), symbol
    package = hasattr(module, "__path__")  # a package hands on names from its modules
    public = {
        k
        for k, v in vars(module).items()
        if not k.startswith("_")
        and not inspect.ismodule(v)
        and k not in ("annotations", "TYPE_CHECKING")
        and (package or getattr(v, "__module__", name) == name)  # not a module's imports
    }
    assert public <= set(exported)
    if package:
        assert public == set(exported) or module.__name__ in LAZY


def test_the_four_factories_are_exported_from_the_top() -> None:
    factories = ("create_fanout_graph", "create_orchestrator_graph", "create_voting_graph")
    for name in (*factories, "create_guarded_graph"):
        assert name in langgraph_parallel.__all__


def test_each_public_name_has_one_home() -> None:
    """No name is exported by two public modules: one place to import it from."""
    homes: dict[str, list[str]] = {}
    for name in PUBLIC_MODULES:
        for symbol in importlib.import_module(name).__all__:
            homes.setdefault(symbol, []).append(name)
    assert {symbol: where for symbol, where in homes.items() if len(where) > 1} == {}
    assert len(homes) >= 60


def test_package_is_typed() -> None:
    assert (ROOT / "langgraph_parallel" / "py.typed").exists()


def test_test_tools_are_not_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"]).lower()
    for tool in ("pytest", "hypothesis", "ruff", "mypy", "langgraph-cli"):
        assert tool not in runtime
    assert re.search(r"langgraph>=1\.2\.22,<2", runtime)
    for needed in ("langchain-core", "langchain-openai"):
        assert needed in runtime
    dev = " ".join(project["optional-dependencies"]["dev"])
    for tool in ("pytest", "pytest-asyncio", "hypothesis", "ruff", "mypy", "langgraph-cli[inmem]"):
        assert tool in dev


def _public_callables() -> list[tuple[str, Any]]:
    found = []
    for info in pkgutil.walk_packages(langgraph_parallel.__path__, "langgraph_parallel."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.append((f"{module.__name__}.{name}", obj))
    return found


EXAMPLES = [
    (name, block)
    for name, obj in _public_callables()
    for block in re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S)
]


def test_the_factories_have_examples() -> None:
    documented = {name.rsplit(".", 1)[1] for name, _ in EXAMPLES}
    assert {"create_fanout_graph", "create_orchestrator_graph", "create_voting_graph"} <= documented


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_docstring_examples_run(name: str, code: str) -> None:
    exec(compile(textwrap.dedent(code), name, "exec"), {"__name__": "__example__"})


@pytest.mark.parametrize("name", ["langgraph_parallel.nodes", "langgraph_parallel.models"])
def test_lazy_packages_list_and_resolve_every_name(name: str) -> None:
    module = importlib.import_module(name)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_importing_the_package_stays_light() -> None:
    """The model stack and the node library load on first use, not on import."""
    import subprocess
    import sys

    deferred = (
        "langgraph_parallel.nodes.llm",
        "langgraph_parallel.models.simulated",
        "langgraph_parallel.templates",
        "langgraph_parallel.cli",
        "langchain_openai",
    )
    code = f"import sys, langgraph_parallel; print([m for m in {deferred!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_engine_is_one_folder_and_the_root_holds_only_public_modules() -> None:
    at_root = {p.stem for p in PACKAGE.glob("*.py")}
    assert at_root == {"__init__", "__main__", "_lazy", "cli", "errors", "executors", "testing"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == {"engine", "graphs", "models", "nodes", "state", "templates"}
    assert {m.split(".")[1] for m in sys.modules if m.startswith("langgraph_parallel.")} <= {
        room for rooms in LAYERS for room in rooms
    }


def test_imports_run_down_the_layers_only() -> None:
    upward = [
        f"{module}:{line} imports {name}"
        for module, name, line in imports()
        if room(module) != room(name) and layer(room(name)) >= layer(room(module))
    ]
    assert upward == []


def test_no_module_imports_another_packages_private_names() -> None:
    """A name or module with a leading underscore is private to the package that holds it
    (and the packages inside it): `graphs/_options.py` serves `graphs/` only."""
    leaks = []
    for module, name, line in imports():
        owner = module.rsplit(".", 1)[0] if not module.endswith("__init__") else module
        parts = name.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                holder = ".".join(parts[:depth])  # the package the private part belongs to
                if not (owner + ".").startswith(holder + "."):
                    leaks.append(f"{module}:{line} imports {name}")
                break
    assert leaks == []
