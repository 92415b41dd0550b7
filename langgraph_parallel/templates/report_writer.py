"""Report writer (orchestrator-worker): plan sections, write them at once, assemble in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NotRequired

from typing_extensions import TypedDict

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.graphs import ParallelStateGraph
from langgraph_parallel.templates._simulated import SIMULATED, pause

_ANGLES = ["Background", "Current state", "Key players", "Risks", "Outlook", "Recommendations"]


class ReportInput(TypedDict):
    """What to write about."""

    topic: str
    sections: NotRequired[int]


def outline(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One work item per section: the topic and the section's angle."""
    count = max(1, min(state.get("sections", 4), len(_ANGLES)))
    return [{"topic": state["topic"], "title": angle} for angle in _ANGLES[:count]]


async def simulated_writer(item: dict[str, Any]) -> str:
    """A placeholder section, after a simulated model latency."""
    await pause(f"section:{item['topic']}:{item['title']}", 0.1, 0.4)
    return (
        f"## {item['title']}\n"
        f"[{SIMULATED} text] Notes on {item['title'].lower()} for {item['topic']}."
    )


def assemble(state: dict[str, Any]) -> str:
    """Sections in plan order; a failed section leaves a marked gap."""
    body = [
        r["value"]
        if r["status"] == "ok"
        else f"## (section {r['index'] + 1} failed: {r['status']})"
        for r in state["results"]
    ]
    return f"# {state['topic']}\n\n" + "\n\n".join(body)


def build(
    *, writer: Callable[[dict[str, Any]], Awaitable[str]] = simulated_writer, timeout: float = 10.0
) -> ParallelStateGraph:
    """The report graph with the given section writer (the default is simulated)."""
    return create_orchestrator_graph(
        outline, writer, assemble, state_schema=ReportInput, timeout=timeout, max_items=20
    )


graph = build().compile(name="report-writer")
