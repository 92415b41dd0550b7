"""Keep the README's mermaid diagrams drawn from the graphs themselves.

Every ```python block in README.md runs; a ```mermaid block right after it is replaced by
`graph.get_graph().draw_mermaid()` of the `graph` that block built. A ```mermaid block right
after `<!-- diagram: NAME -->` is replaced by the drawing of template NAME (subgraphs
expanded).

    python tools/readme.py          # rewrite README.md in place
    python tools/readme.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
TEMPLATE_BLOCK = re.compile(
    r"<!-- diagram: (?P<name>[\w-]+) -->\n```mermaid\n(?P<mermaid>.*?)```\n", re.S
)
BLOCK = re.compile(
    r"```python\n(?P<code>.*?)```\n(?P<gap>\s*)(?:```mermaid\n(?P<mermaid>.*?)```\n)?", re.S
)


def python_blocks(text: str) -> list[str]:
    """The README's python code blocks, in order."""
    return [m.group("code") for m in BLOCK.finditer(text)]


def render(text: str) -> str:
    """The README with every mermaid block redrawn from the graph of the block before it."""

    def redraw(match: re.Match[str]) -> str:
        if match.group("mermaid") is None:
            return match.group(0)
        namespace: dict[str, Any] = {"__name__": "__readme__"}
        exec(compile(match.group("code"), "README.md", "exec"), namespace)
        drawing = namespace["graph"].get_graph().draw_mermaid()
        return (
            f"```python\n{match.group('code')}```\n{match.group('gap')}```mermaid\n{drawing}```\n"
        )

    def redraw_template(match: re.Match[str]) -> str:
        from langgraph_parallel.templates import TEMPLATES

        graph = TEMPLATES[match.group("name")].build()
        drawing = graph.get_graph(xray=True).draw_mermaid()
        return f"<!-- diagram: {match.group('name')} -->\n```mermaid\n{drawing}```\n"

    return TEMPLATE_BLOCK.sub(redraw_template, BLOCK.sub(redraw, text))


def template_diagrams(text: str) -> list[str]:
    """The names of the templates whose diagrams the README shows."""
    return [m.group("name") for m in TEMPLATE_BLOCK.finditer(text)]


def main() -> int:
    """Rewrite README.md, or with --check report whether it is up to date."""
    text = README.read_text()
    fresh = render(text)
    if "--check" in sys.argv:
        if fresh != text:
            print("README.md diagrams are out of date: run `python tools/readme.py`")
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
