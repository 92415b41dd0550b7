"""The main job until the CLI exists: run one template per pattern, show every branch."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from langgraph_parallel.templates import TEMPLATES


def _show_output(output: Any) -> str:
    text = output if isinstance(output, str) else json.dumps(output, indent=2, default=str)
    return "\n".join(f"    {line}" for line in text.splitlines())


async def _run(name: str) -> None:
    template = TEMPLATES[name]
    graph = template.load()
    started = time.perf_counter()
    state = await graph.ainvoke(template.example)
    wall = time.perf_counter() - started
    records = state["results"]
    print(f"\n{name}: {template.pattern}")
    print(f"  input: {json.dumps(template.example)}")
    print(f"  {'branch':<12}{'status':<9}{'elapsed':>9}  error")
    repeated = len({r["branch"] for r in records}) < len(records)
    for r in records:
        label = f"{r['branch']}[{r['index']}]" if repeated else r["branch"]
        error = f"{r['error']['type']}: {r['error']['message']}" if r["error"] else ""
        print(f"  {label:<12}{r['status']:<9}{r['elapsed']:>8.3f}s  {error}")
    busy = sum(r["elapsed"] for r in records)
    print(
        f"  wall {wall:.3f}s for {busy:.3f}s of branch time "
        f"({busy / wall:.1f}x from running at once)"
    )
    output = state["output"]
    if name == "classify-vote":
        output = (
            f"{output['winner']} (confidence: {output['agreement']:.0%}, "
            f"{output['support']} of {output['cast']} votes)"
        )
    print("  output:")
    print(_show_output(output))


def main() -> None:
    """Run every template once, offline, and print what each branch did."""
    print("langgraph-parallel demo: one graph per pattern, offline.")
    print("Data sources are simulated (labelled [simulated]); no network, no API key.")
    for name in TEMPLATES:
        asyncio.run(_run(name))
