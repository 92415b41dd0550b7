"""LangGraph behaviours this package relies on, pinned so an upgrade that changes them fails here.

Each test names the package code that depends on it.
"""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any

from helpers import Gauge
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Overwrite, Send
from typing_extensions import TypedDict


class S(TypedDict, total=False):
    log: Annotated[list[Any], operator.add]
    joined: int


def test_parallel_writes_to_a_reducer_key_apply_in_send_order_not_finish_order() -> None:
    """`writes=` keys (fan-out `Branch.writes`, orchestrator `writes`) fill in plan order."""

    async def worker(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01 * (5 - payload["i"]))
        return {"log": [payload["i"]]}

    builder = StateGraph(S)
    builder.add_node("worker", worker)
    builder.add_conditional_edges(
        START, lambda s: [Send("worker", {"i": i}) for i in range(5)], ["worker"]
    )
    result = asyncio.run(builder.compile().ainvoke({}))
    assert result["log"] == [0, 1, 2, 3, 4]


def test_a_node_may_return_a_list_of_commands_applied_in_order() -> None:
    """A chunk of work items returns one `Command` per item (orchestrator `_worker_node`)."""
    builder = StateGraph(S)
    builder.add_node("chunk", lambda s: [Command(update={"log": [i]}) for i in range(3)])
    builder.add_edge(START, "chunk")
    assert builder.compile().invoke({})["log"] == [0, 1, 2]


def _join_graph(waiting: bool) -> tuple[Any, dict[str, int]]:
    calls = {"join": 0}

    def join(state: S) -> dict[str, Any]:
        calls["join"] += 1
        return {"joined": len(state["log"])}

    async def slow(p: Any) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"log": ["slow"]}

    builder = StateGraph(S)
    builder.add_node("fast", lambda p: {"log": ["fast"]})
    builder.add_node("slow", slow)
    builder.add_node("join", join)
    builder.add_conditional_edges(
        START, lambda s: [Send("fast", {}), Send("slow", {})], ["fast", "slow"]
    )
    if waiting:
        builder.add_edge(["fast", "slow"], "join")
    else:
        builder.add_edge("fast", "join")
        builder.add_edge("slow", "join")
    builder.add_edge("join", END)
    return builder.compile(checkpointer=InMemorySaver()), calls


def test_plain_edges_from_send_targets_fire_the_join_once_per_step() -> None:
    """The fan-out and voting joins: one plain edge per branch, all branches in one step."""
    graph, calls = _join_graph(waiting=False)
    config = {"configurable": {"thread_id": "plain"}}
    assert asyncio.run(graph.ainvoke({}, config))["joined"] == 2 and calls["join"] == 1


def test_a_finished_thread_can_rerun_some_branches_and_the_join_with_a_goto_command() -> None:
    """`retry_failed`: plain edges fire after a partial re-run; a waiting edge never would."""
    for waiting, join_calls in ((False, 2), (True, 1)):
        graph, calls = _join_graph(waiting=waiting)
        config = {"configurable": {"thread_id": str(waiting)}}
        asyncio.run(graph.ainvoke({}, config))
        state = asyncio.run(graph.ainvoke(Command(goto=[Send("fast", {})]), config))
        assert state["log"].count("fast") == 2
        assert calls["join"] == join_calls


def test_an_overwrite_discards_other_writes_to_the_key_in_the_same_step() -> None:
    """Why the orchestrator resets `results` in its own `dispatch` step, before any worker."""
    builder = StateGraph(S)
    builder.add_node("reset", lambda s: {"log": Overwrite([])})
    builder.add_node("add", lambda s: {"log": ["kept?"]})
    builder.add_edge(START, "reset")
    builder.add_edge(START, "add")
    assert builder.compile().invoke({"log": ["old"]})["log"] == []


def test_unknown_keys_in_a_node_update_are_dropped_silently() -> None:
    """Why `writes=` keys are checked against the state schema at build time."""
    builder = StateGraph(S)
    builder.add_node("typo", lambda s: {"lgo": [1]})
    builder.add_edge(START, "typo")
    assert builder.compile().invoke({"log": ["kept"]}) == {"log": ["kept"]}


def test_sync_nodes_under_invoke_share_a_pool_of_max_concurrency_threads() -> None:
    """Why `ParallelStateGraph.compile` sets `max_concurrency` on the compiled graph."""

    gauge = Gauge()
    barrier = threading.Barrier(2, timeout=10)  # opens only for that many nodes at once

    def node(state: S) -> dict[str, Any]:
        with gauge.inside():
            barrier.wait()
        return {"log": [1]}

    builder = StateGraph(S)
    for i in range(8):
        builder.add_node(f"n{i}", node)
        builder.add_edge(START, f"n{i}")
    graph = builder.compile()
    assert graph.invoke({}, {"max_concurrency": 2})["log"] == [1] * 8
    assert gauge.peak == 2  # two threads, in pairs: never more than two nodes at once
    gauge.peak, barrier = 0, threading.Barrier(8, timeout=10)
    assert graph.with_config(max_concurrency=8).invoke({})["log"] == [1] * 8
    assert gauge.peak == 8  # all eight at once
