"""The README's examples run, its diagrams are drawn from them, its commands are the real ones."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import readme  # noqa: E402

TEXT = readme.README.read_text()


@pytest.mark.parametrize("code", readme.python_blocks(TEXT), ids=lambda c: c.splitlines()[0][:40])
def test_readme_examples_run(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("page", ["adaptive.md"])
def test_docs_examples_run(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    blocks = readme.python_blocks(text)
    assert blocks, f"docs/{page} has no example"
    for code in blocks:
        exec(compile(code, f"docs/{page}", "exec"), {"__name__": "__docs__"})


def test_every_diagram_is_drawn_from_its_graph() -> None:
    from langgraph_parallel.templates import TEMPLATES

    assert readme.template_diagrams(TEXT) == list(TEMPLATES)
    assert TEXT.count("```mermaid") == 3 + len(TEMPLATES)  # one per pattern, one per template
    assert readme.render(TEXT) == TEXT, "run `python tools/readme.py` to redraw the diagrams"


def test_every_template_is_in_the_readme_table() -> None:
    from langgraph_parallel.templates import TEMPLATES

    table = TEXT.split("## Templates", 1)[1].split("```bash", 1)[0]
    assert [m for m in re.findall(r"^\| `([\w-]+)` \|", table, re.M)] == list(TEMPLATES)


def test_quick_start_is_two_make_commands_and_ci_runs_the_test_one() -> None:
    quick_start = TEXT.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make (\w+)", quick_start, re.M)
    assert commands == ["demo", "test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_the_readme_quotes_the_benchmark_targets_as_last_written() -> None:
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    quoted = TEXT.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0].strip()
    written = benchmarks.split("## Targets\n\n", 1)[1].split("\n\n", 1)[0].strip()
    assert quoted and quoted == written, "run `make bench` to refresh both"
    assert (ROOT / "docs" / "benchmarks.png").stat().st_size > 10_000


RELIABILITY = (ROOT / "docs" / "reliability.md").read_text()
CITED = re.findall(r"`tests/(\w+\.py)::([\w:]+)`", RELIABILITY)


def _tests_in(file: str) -> set[str]:
    """The test names in a test file, as `name` or `Class::name`."""
    import ast

    names: set[str] = set()
    for node in ast.parse((ROOT / "tests" / file).read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")
            }
    return names


def test_every_test_the_reliability_page_cites_exists() -> None:
    assert len(CITED) > 40
    missing = [f"{file}::{name}" for file, name in CITED if name not in _tests_in(file)]
    assert not missing, f"docs/reliability.md cites tests that do not exist: {missing}"
    rows = [line for line in RELIABILITY.splitlines() if line.startswith("| ")]
    unbacked = [r for r in rows[1:] if "---" not in r and "`tests/" not in r and "fault |" not in r]
    assert not unbacked, f"guarantees with no test: {unbacked}"
    assert "docs/reliability.md" in TEXT


@pytest.mark.parametrize(
    "file", ["test_fault_matrix.py", "test_reliability.py", "test_durability.py", "test_crash.py"]
)
def test_every_reliability_test_is_on_the_page(file: str) -> None:
    cited = {name for cited_file, name in CITED if cited_file == file}
    assert _tests_in(file) - cited == set(), "add them to docs/reliability.md"
