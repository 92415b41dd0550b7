"""The README and docs/: examples run, diagrams and template pages are drawn from the package,
links and imports resolve, commands are the real ones, and the README stays short."""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import readme  # noqa: E402

TEXT = readme.README.read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [readme.README, *DOCS]
TEMPLATES_PAGE = readme.TEMPLATES_PAGE.read_text()
EXAMPLE_PAGES = [page.name for page in DOCS if readme.python_blocks(page.read_text())]
PUBLIC_MODULES = [
    "langgraph_parallel",
    "langgraph_parallel.errors",
    "langgraph_parallel.graphs",
    "langgraph_parallel.models",
    "langgraph_parallel.nodes",
    "langgraph_parallel.state",
    "langgraph_parallel.templates",
    "langgraph_parallel.testing",
]


def test_the_readme_is_short() -> None:
    assert len(TEXT.splitlines()) <= 320, "move the detail to a page under docs/"


@pytest.mark.parametrize("code", readme.python_blocks(TEXT), ids=lambda c: c.splitlines()[0][:40])
def test_readme_examples_run(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("page", EXAMPLE_PAGES)
def test_docs_examples_run(page: str) -> None:
    for code in readme.python_blocks((ROOT / "docs" / page).read_text()):
        exec(compile(code, f"docs/{page}", "exec"), {"__name__": "__docs__"})


def test_the_docs_pages_that_teach_an_api_have_examples() -> None:
    taught = {"adaptive", "failures", "models", "streaming", "templates", "testing"}
    assert {f"{name}.md" for name in taught} <= set(EXAMPLE_PAGES)


def test_every_diagram_is_drawn_from_its_graph() -> None:
    assert TEXT.count("```mermaid") == 3  # one per pattern
    assert readme.render(TEXT) == TEXT, "run `python tools/readme.py` to redraw the diagrams"


@functools.cache
def _fresh_templates_page() -> str:
    return readme.render(TEMPLATES_PAGE, "docs/templates.md")


def test_the_templates_page_shows_every_template_as_its_graph_and_schema_say() -> None:
    from langgraph_parallel.templates import TEMPLATES

    assert readme.template_sections(TEMPLATES_PAGE) == list(TEMPLATES)
    assert re.findall(r"^## ([\w-]+)$", TEMPLATES_PAGE, re.M) == list(TEMPLATES)
    assert TEMPLATES_PAGE.count("```mermaid") == len(TEMPLATES)
    assert TEMPLATES_PAGE.count("<!-- sample -->") == len(TEMPLATES)
    # Diagrams, inputs and commands; the sample outputs, which a model writes, aside.
    assert readme.mask_samples(_fresh_templates_page()) == readme.mask_samples(TEMPLATES_PAGE), (
        "run `python tools/readme.py` to regenerate docs/templates.md"
    )


def test_the_templates_page_shows_the_output_the_templates_give_now() -> None:
    assert _fresh_templates_page() == TEMPLATES_PAGE, (
        "the templates' offline output changed: run `python tools/readme.py`"
    )


def test_the_sample_outputs_are_masked_and_only_they() -> None:
    masked = readme.mask_samples(TEMPLATES_PAGE)
    assert "[simulated]" not in masked.split("<!-- template:", 1)[1]
    assert masked.count(readme.MASK) == TEMPLATES_PAGE.count("<!-- sample -->")
    assert readme.mask_samples(masked) == masked


FENCE = re.compile(r"^(```|~~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")


def _prose(text: str) -> str:
    """A page without its fenced code blocks."""
    return FENCE.sub("", text)


def slugs(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", _prose(text), re.M):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_slugs_are_githubs() -> None:
    page = "# A\n## Sectioning: `create_fanout_graph`\n```\n# not a heading\n```\n## A\n"
    assert slugs(page) == {"a", "sectioning-create_fanout_graph", "a-1"}


def _links(page: Path) -> list[tuple[str, Path, str]]:
    """Each relative link of a page: as written, the file it names, and its anchor."""
    found = []
    for target in LINK.findall(SPAN.sub("", _prose(page.read_text()))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        found.append((target, (page.parent / path).resolve() if path else page, anchor))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target, path, anchor in _links(page):
        if not path.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in slugs(path.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    assert not broken, f"{page.name}: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {path for _, path, _ in _links(readme.README)}
    assert [p.name for p in DOCS if p.resolve() not in linked] == []


def _public_names() -> dict[str, set[str]]:
    """Each public name of the package: the modules that export it."""
    import importlib

    where: dict[str, set[str]] = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None) or [
            key
            for key, value in vars(module).items()
            if not key.startswith("_") and getattr(value, "__module__", None) == name
        ]
        for key in exported:
            where.setdefault(key, set()).add(name)
    return where


IMPORT = re.compile(r"from (langgraph_parallel[\w.]*) import (\([^)]*\)|[^\n`]+)")


def _imports(text: str) -> list[tuple[str, str]]:
    """Every `from langgraph_parallel... import ...` of a page, as (module, name) pairs."""
    pairs = []
    for module, names in IMPORT.findall(text):
        names = re.sub(r"#[^\n]*", "", names).strip("() \n")
        for name in names.split(","):
            if name.strip():
                pairs.append((module, name.split(" as ")[0].strip()))
    return pairs


def _importable(module: str, name: str) -> bool:
    import importlib

    try:
        return hasattr(importlib.import_module(module), name) or bool(
            importlib.import_module(f"{module}.{name}")
        )
    except ImportError:
        return False


def test_every_import_the_docs_show_works() -> None:
    wrong = [
        f"{page.name}: from {module} import {name}"
        for page in PAGES
        for module, name in _imports(page.read_text())
        if any(part.startswith("_") for part in module.split(".")) or not _importable(module, name)
    ]
    assert not wrong, f"not importable from a public module: {wrong}"


def test_every_public_name_the_docs_mention_has_its_import_shown() -> None:
    public = _public_names()
    shown = {name for page in PAGES for _, name in _imports(page.read_text())}
    mentioned: dict[str, str] = {}
    for page in PAGES:
        for span in SPAN.findall(_prose(page.read_text())):
            for word in re.findall(r"[A-Za-z_]\w*", span):
                if word in public:
                    mentioned.setdefault(word, page.name)
    assert len(mentioned) > 40
    missing = {
        f"{name} ({page}; exported by {', '.join(sorted(public[name]))})"
        for name, page in mentioned.items()
        if name not in shown
    }
    assert not missing, f"show where to import these from: {sorted(missing)}"


def test_quick_start_is_two_make_commands_and_ci_runs_the_test_one() -> None:
    quick_start = TEXT.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make (\w+)", quick_start, re.M)
    assert commands == ["demo", "test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_the_readme_quotes_the_gain_over_hand_written_langgraph_as_last_written() -> None:
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    quoted = TEXT.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0].strip()
    heading = "## Against hand-written LangGraph\n\n"
    written = benchmarks.split(heading, 1)[1].split("\n\n", 1)[0].strip()
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


def test_the_architecture_drawing_is_the_import_graph() -> None:
    """docs/architecture.md draws every import between rooms (but those into the ground
    floor, as it says), and nothing else."""
    from layout import arrows, layer

    page = (ROOT / "docs" / "architecture.md").read_text()
    drawing = re.search(r"```mermaid\nflowchart TD\n(.*?)```", page, re.S)
    assert drawing is not None
    drawn = {(a, b) for a, b in re.findall(r"^\s*(\w+) --> (\w+)\s*$", drawing.group(1), re.M)}
    ground = {"state", "errors", "_lazy"}
    assert drawn == {(a, b) for a, b in arrows() if b not in ground}
    assert all(layer(a) > layer(b) for a, b in drawn)


def _shell_lines(text: str) -> list[str]:
    """The commands of a page's bash blocks, as a reader copies them (comments dropped)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


README_SHELL = _shell_lines(TEXT)


def test_the_readme_has_shell_lines_to_run() -> None:
    assert "make demo" in README_SHELL and any("langgraph-parallel" in c for c in README_SHELL)


@pytest.mark.parametrize("command", README_SHELL)
def test_every_shell_line_of_the_readme_runs_as_copied(command: str, tmp_path: Path) -> None:
    """From the checkout's root, as the README says; `make` lines are checked as plans only
    (`make test` is this run, and `make demo` runs its template in the CLI lines)."""
    import os
    import shlex
    import subprocess

    words = shlex.split(command)
    if words[0] == "make":
        done = subprocess.run(
            ["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return
    assert words[0].startswith(".venv/bin/"), f"{command!r}: a command the README has no path to"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGGRAPH_PAR"))}
    script = Path(sys.executable).parent / Path(words[0]).name  # this run's .venv
    done = subprocess.run(
        [
            str(script),
            *words[1:],
            *(["--db", str(tmp_path / "t.sqlite")] if "run" in words else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, f"{command!r}:\n{done.stderr[-2000:]}"
    assert done.stdout.strip()


def _local_server_runs() -> list[str]:
    """The README's `run` lines, and `run TEMPLATE` for every template, as a reader types them."""
    from langgraph_parallel.templates import TEMPLATES

    written = [c for c in README_SHELL if " run " in f" {c} " and "--help" not in c]
    return written + [f".venv/bin/langgraph-parallel run {name} --json" for name in TEMPLATES]


@pytest.mark.parametrize("command", _local_server_runs())
def test_the_readmes_runs_work_with_a_local_server_that_ignores_structured_output(
    command: str, tmp_path: Path
) -> None:
    """The README: set `OPENAI_BASE_URL` for a local OpenAI-compatible server. One that
    ignores `response_format` and tools, as many local servers do, runs every template
    through the installed command, as copied."""
    import os
    import shlex
    import subprocess

    from langgraph_parallel.testing import FakeOpenAIServer

    words = shlex.split(command)
    script = Path(sys.executable).parent / Path(words[0]).name  # this run's .venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGGRAPH_PAR"))}
    with FakeOpenAIServer(latency=0.0, structured="ignored") as server:
        done = subprocess.run(
            [str(script), *words[1:], "--db", str(tmp_path / "t.sqlite")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            env={**env, "OPENAI_BASE_URL": server.base_url},
        )
        asked = server.count
    assert done.returncode == 0, f"{command!r}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    if "--json" in words:  # every branch's outcome, not only the exit status
        doc = json.loads(done.stdout)
        assert doc["error"] is None and all(b["status"] == "ok" for b in doc["branches"]), doc
    if "multi-search" not in command:  # the one template without a model
        assert f"gpt-4o-mini at {server.base_url}" in done.stdout and asked > 0, done.stdout
