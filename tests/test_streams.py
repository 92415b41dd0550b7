"""What the graphs stream: plain data only, and progress events that follow `BranchEvent`."""

from __future__ import annotations

import asyncio
from typing import Any, NotRequired, get_origin, get_type_hints

import pytest
from pydantic import BaseModel

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.state import BranchEvent
from langgraph_parallel.templates import TEMPLATES

PLAIN = (str, int, float, bool, type(None))


def internal_values(value: Any, path: str = "") -> list[str]:
    """Where `value` holds anything but data: dicts, lists, strings, numbers, or a user's
    Pydantic model (code-review's `Review`), which the server sends as a dict."""
    if isinstance(value, (*PLAIN, BaseModel)):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in internal_values(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in internal_values(v, f"{path}[{i}]")]
    return [f"{path}: {type(value).__name__} {value!r:.80}"]


async def streamed(graph: Any, value: Any, config: Any = None) -> list[tuple[str, Any]]:
    return [
        (mode, data)
        async for _, mode, data in graph.astream(
            value, config, stream_mode=["updates", "values", "custom"], subgraphs=True
        )
    ]


@pytest.mark.parametrize("name", TEMPLATES)
def test_updates_and_values_hold_only_plain_data(name: str) -> None:
    template = TEMPLATES[name]
    chunks = asyncio.run(streamed(template.build(), template.example))
    assert {mode for mode, _ in chunks} == {"updates", "values", "custom"}
    for mode, data in chunks:
        if mode != "custom":
            assert internal_values(data) == [], (mode, data)
            assert "__overwrite__" not in repr(data) and "Overwrite" not in repr(data)


def test_a_second_plan_on_a_thread_starts_with_no_records_and_streams_no_overwrite() -> None:
    """The dispatch clears the last plan's records with a plain `[]`, not `Overwrite`."""
    from langgraph.checkpoint.memory import InMemorySaver

    graph = create_orchestrator_graph(
        lambda s: list(range(s["input"])), lambda i: i * 10, lambda s: len(s["results"])
    ).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    asyncio.run(streamed(graph, {"input": 5}, config))
    chunks = asyncio.run(streamed(graph, {"input": 2}, config))
    dispatch = [d["dispatch"] for m, d in chunks if m == "updates" and "dispatch" in d]
    assert dispatch == [{"results": [], "usage": None, "output": None}]
    final = [d for m, d in chunks if m == "values"][-1]
    assert final["output"] == 2 and [r["value"] for r in final["results"]] == [0, 10]


@pytest.mark.parametrize("name", ["code-review", "report-writer", "classify-vote"])
def test_progress_events_follow_the_documented_schema(name: str) -> None:
    template = TEMPLATES[name]
    hints = get_type_hints(BranchEvent, include_extras=True)
    required = {k for k, hint in hints.items() if get_origin(hint) is not NotRequired}
    assert required == {"kind", "event", "branch", "index", "at"}
    events = [
        data
        for mode, data in asyncio.run(streamed(template.build(), template.example))
        if mode == "custom" and data.get("kind") == "branch"
    ]
    assert events
    for event in events:
        assert required <= event.keys() <= hints.keys(), event
        assert internal_values(event) == [], event
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == kinds.count("finish") + kinds.count("error") >= 2
    for end in (e for e in events if e["event"] in ("finish", "error")):
        assert {"status", "error", "elapsed", "attempts", "record"} <= end.keys()
        assert end["record"]["status"] == end["status"]
        start = next(
            e
            for e in events
            if e["event"] == "start" and e["index"] == end["index"] and e["branch"] == end["branch"]
        )
        assert start["at"] <= end["at"] and end["elapsed"] <= end["at"] - start["at"] + 0.05
