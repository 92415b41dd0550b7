"""Progress events, per-branch token streams, usage totals and the token budget."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import KINDS, build
from langchain_core.messages import AIMessageChunk

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, create_voting_graph
from langgraph_parallel.models import Latency, SimulatedChatModel
from langgraph_parallel.nodes import concatenate, llm_node


@pytest.mark.parametrize("kind", KINDS)
def test_every_unit_emits_start_and_finish_or_error_tagged_with_branch_and_index(kind: str) -> None:
    async def ok(index: int) -> int:
        return index

    async def bad(index: int) -> int:
        raise RuntimeError("nope")

    graph = build(kind, [ok, bad, ok]).compile()
    events = [
        chunk
        for chunk in graph.stream({"input": None}, stream_mode="custom")
        if isinstance(chunk, dict) and chunk.get("kind") == "branch"
    ]
    by_index: dict[int, list[str]] = {}
    for event in events:
        by_index.setdefault(event["index"], []).append(event["event"])
        assert isinstance(event["branch"], str)
    assert by_index == {0: ["start", "finish"], 1: ["start", "error"], 2: ["start", "finish"]}
    error = next(e for e in events if e["event"] == "error")
    assert (
        error["error"] == {"type": "RuntimeError", "message": "nope"} and error["status"] == "error"
    )


def test_retries_show_as_events() -> None:
    from langgraph.types import RetryPolicy

    attempts = 0

    async def flaky(index: int) -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset")
        return "ok"

    graph = build(
        "fanout", [flaky], retry=RetryPolicy(initial_interval=0.001, jitter=False)
    ).compile()
    kinds = [c["event"] for c in graph.stream({"input": None}, stream_mode="custom")]
    assert kinds == ["start", "retry", "retry", "finish"]


@pytest.mark.parametrize("kind", ["fanout", "orchestrator"])
def test_model_tokens_stream_per_branch_and_can_be_told_apart(kind: str) -> None:
    model = SimulatedChatModel(latency=Latency.fixed(0.02))
    node = llm_node("Answer briefly.", model)
    if kind == "fanout":
        graph = create_fanout_graph({"left": node, "right": node}, concatenate()).compile()
    else:
        graph = create_orchestrator_graph(
            lambda s: ["x", "y", "z"], node, concatenate(), chunk_size=3
        ).compile()

    async def collect() -> dict[tuple[str, int], str]:
        texts: dict[tuple[str, int], str] = {}
        async for chunk, meta in graph.astream({"input": "question"}, stream_mode="messages"):
            if isinstance(chunk, AIMessageChunk) and "lgp_branch" in meta:
                key = (meta["lgp_branch"], meta["lgp_index"])
                texts[key] = texts.get(key, "") + str(chunk.content)
        return texts

    texts = asyncio.run(collect())
    state = asyncio.run(graph.ainvoke({"input": "question"}))
    expected = {(r["branch"], r["index"]): r["value"] for r in state["results"]}
    assert texts == expected
    assert len(texts) == (2 if kind == "fanout" else 3)


def test_usage_and_the_simulated_flag_are_recorded_per_branch_and_summed() -> None:
    model = SimulatedChatModel(latency=Latency.fixed(0.0))
    graph = create_fanout_graph(
        {"a": llm_node("One.", model), "b": llm_node("Two.", model), "plain": lambda s: "no model"},
        concatenate(),
    ).compile()
    result = graph.invoke({"input": "x"})
    a, b, plain = result["results"]
    assert a["simulated"] and b["simulated"] and "simulated" not in plain
    assert plain["usage"] is None
    assert (
        result["usage"]["total_tokens"] == a["usage"]["total_tokens"] + b["usage"]["total_tokens"]
    )


@pytest.mark.parametrize("kind", ["fanout", "orchestrator", "voting"])
def test_a_token_budget_stops_starting_units_once_used_up(kind: str) -> None:
    model = SimulatedChatModel(latency=Latency.fixed(0.01))
    node = llm_node("Answer.", model)
    units = 6
    options: dict[str, Any] = {"max_concurrency": 1, "token_budget": 1}
    if kind == "fanout":
        graph = create_fanout_graph({f"b{i}": node for i in range(units)}, concatenate(), **options)
    elif kind == "orchestrator":
        graph = create_orchestrator_graph(
            lambda s: list(range(units)), node, concatenate(), **options
        )
    else:
        graph = create_voting_graph(node, n=units, **options)
    result = graph.compile().invoke({"input": "question"})
    statuses = sorted(r["status"] for r in result["results"])  # which unit runs first varies
    assert statuses == ["cancelled"] * (units - 1) + ["ok"]
    skipped = next(r for r in result["results"] if r["status"] == "cancelled")
    assert skipped["error"]["type"] == "TokenBudgetExceeded"
    assert "token_budget=1" in skipped["error"]["message"]
    assert skipped["attempts"] == 0


def test_without_a_budget_nothing_is_skipped() -> None:
    model = SimulatedChatModel(latency=Latency.fixed(0.0))
    graph = create_fanout_graph(
        {f"b{i}": llm_node("A.", model) for i in range(4)}, concatenate(), max_concurrency=1
    )
    assert {r["status"] for r in graph.compile().invoke({"input": "q"})["results"]} == {"ok"}


@pytest.mark.parametrize("kind", KINDS)
def test_records_stream_as_each_unit_finishes_and_equal_the_final_ones(kind: str) -> None:
    async def quick(index: int) -> int:
        await asyncio.sleep(0.01 * (3 - index))
        return index * 10

    async def broken(index: int) -> int:
        raise LookupError("gone")

    graph = build(kind, [quick, broken, quick]).compile()

    async def collect() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        streamed, final = [], {}
        async for mode, data in graph.astream({"input": None}, stream_mode=["custom", "values"]):
            if mode == "custom" and data.get("event") in ("finish", "error"):
                streamed.append(data["record"])
            elif mode == "values":
                final = data
        return streamed, final

    streamed, final = asyncio.run(collect())
    assert [r["index"] for r in streamed] == [1, 2, 0]  # finish order, as they happened
    assert sorted(streamed, key=lambda r: r["index"]) == final["results"]
