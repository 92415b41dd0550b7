"""Keep the README's and the docs' generated parts drawn from the package itself.

- Every ```python block of a page runs (tests/test_readme.py checks it); a ```mermaid block
  right after one is replaced by `graph.get_graph().draw_mermaid()` of the `graph` that
  block built.
- Between `<!-- template: NAME -->` and `<!-- /template -->` (docs/templates.md) goes what
  template NAME says of itself: its pattern and description, the command that runs it, its
  diagram (subgraphs expanded), its inputs (from `Template.inputs()`, the graph's input
  schema), and between `<!-- sample -->` and `<!-- /sample -->` a sample output: what its
  graph returns for its example input, run offline with the simulated model.

    python tools/readme.py          # rewrite README.md and docs/*.md in place
    python tools/readme.py --check  # exit 1 if any of them is out of date
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
TEMPLATES_PAGE = DOCS / "templates.md"

BLOCK = re.compile(
    r"```python\n(?P<code>.*?)```\n(?P<gap>\s*)(?:```mermaid\n(?P<mermaid>.*?)```\n)?", re.S
)
TEMPLATE_SECTION = re.compile(
    r"<!-- template: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /template -->\n", re.S
)
SAMPLE = re.compile(r"(<!-- sample -->\n)(?P<sample>.*?)(<!-- /sample -->\n)", re.S)
MASK = "(sample output)\n"


def pages() -> list[Path]:
    """The pages this tool keeps: README.md and every page under docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def python_blocks(text: str) -> list[str]:
    """A page's python code blocks, in order."""
    return [m.group("code") for m in BLOCK.finditer(text)]


def template_sections(text: str) -> list[str]:
    """The names of the templates a page has a generated section for, in order."""
    return [m.group("name") for m in TEMPLATE_SECTION.finditer(text)]


def mask_samples(text: str) -> str:
    """A page with its sample outputs blanked: what stays the same whatever a model writes."""
    return SAMPLE.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def _cell(value: Any) -> str:
    """A value as the text of one markdown table cell (the CLI's way of showing it)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        text = "; ".join(_cell(v) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as a markdown table, one column per key, in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _text_block(text: str) -> str:
    fence = "~~~~" if "```" in text else "```"
    return f"{fence}text\n{text.rstrip()}\n{fence}\n"


def render_output(output: Any) -> str:
    """A template's output as markdown, shown as `langgraph-parallel run` shows it."""
    if isinstance(output, str):
        return _text_block(output)
    if isinstance(output, dict) and {"winner", "agreement", "cast"} <= output.keys():
        from langgraph_parallel.templates.classify_vote import headline

        votes = [
            {"voter": v["voter"], "status": v["status"], "answer": v["answer"], "error": v["error"]}
            for v in output["votes"]
        ]
        return _text_block(headline(output)) + "\n" + markdown_table(votes)  # type: ignore[arg-type]
    if isinstance(output, dict) and {"content", "blocked"} <= output.keys():
        if output["blocked"]:
            return _text_block(f"BLOCKED ({output['reason']})\n{output['content'] or ''}")
        return _text_block(str(output["content"]))
    if isinstance(output, list) and output and all(isinstance(row, dict) for row in output):
        return markdown_table(output)
    return _text_block(json.dumps(output, indent=2, default=str))


def _graph(name: str) -> Any:
    """Template `name`'s graph, with the simulated model whatever the environment says."""
    from langgraph_parallel.templates import TEMPLATES

    template = TEMPLATES[name]
    return template.build(model="simulated") if template.takes_model else template.build()


def sample_output(name: str) -> str:
    """What template `name` returns for its example input, run offline, as markdown."""
    from langgraph_parallel.templates import TEMPLATES

    output = asyncio.run(_graph(name).ainvoke(TEMPLATES[name].example))["output"]
    return render_output(output)


def inputs_table(name: str) -> str:
    """Template `name`'s input keys as a markdown table."""
    from langgraph_parallel.templates import TEMPLATES

    lines = [
        "| input | type | bounds | required | description | example |",
        "|---|---|---|---|---|---|",
    ]
    for key in TEMPLATES[name].inputs():
        example = key.example_text()
        cells = [
            f"`{key.name}`",
            f"`{key.type}`",
            key.bounds,
            "yes" if key.required else "no",
            key.description,
            f"`{example}`" if example else "",
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def template_section(name: str) -> str:
    """The generated part of template `name`'s section of docs/templates.md."""
    from langgraph_parallel.templates import TEMPLATES

    template = TEMPLATES[name]
    drawing = _graph(name).get_graph(xray=True).draw_mermaid()
    return (
        f"## {name}\n\n"
        f"**{template.pattern}**: {template.description}\n\n"
        "```bash\n"
        f"langgraph-parallel run {name}  # on the example input of the table below\n"
        f"langgraph-parallel run {name} --input-file {template.example_file}\n"
        "```\n\n"
        f"```mermaid\n{drawing}```\n\n"
        f"{inputs_table(name)}\n"
        "Its output for the example input, offline:\n\n"
        f"<!-- sample -->\n{sample_output(name)}<!-- /sample -->\n"
    )


def render(text: str, source: str = "README.md") -> str:
    """A page with its pattern diagrams and template sections generated afresh.

    Args:
        text: The page.
        source: Its name, for tracebacks from its examples.
    """

    def redraw(match: re.Match[str]) -> str:
        if match.group("mermaid") is None:
            return match.group(0)
        namespace: dict[str, Any] = {"__name__": "__readme__"}
        with contextlib.redirect_stdout(io.StringIO()):  # what the example prints
            exec(compile(match.group("code"), source, "exec"), namespace)
        drawing = namespace["graph"].get_graph().draw_mermaid()
        return (
            f"```python\n{match.group('code')}```\n{match.group('gap')}```mermaid\n{drawing}```\n"
        )

    def regenerate(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"<!-- template: {name} -->\n{template_section(name)}<!-- /template -->\n"

    return TEMPLATE_SECTION.sub(regenerate, BLOCK.sub(redraw, text))


def main() -> int:
    """Rewrite the pages, or with --check report which are out of date."""
    stale = []
    for page in pages():
        text = page.read_text()
        fresh = render(text, str(page.relative_to(ROOT)))
        if fresh == text:
            continue
        stale.append(page.relative_to(ROOT))
        if "--check" not in sys.argv:
            page.write_text(fresh)
    if "--check" in sys.argv and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"out of date: {names}; run `python tools/readme.py`")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
