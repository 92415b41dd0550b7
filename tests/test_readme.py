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
