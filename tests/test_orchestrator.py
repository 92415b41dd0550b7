from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.errors import InvalidPlanError


def values(state: dict[str, Any]) -> list[Any]:
    return [r["value"] for r in state["results"]]


@pytest.mark.parametrize("chunk_size", [1, 7, "auto"])
@pytest.mark.parametrize("count", [3, 40, 300])
def test_results_come_back_in_plan_order_not_finish_order(count: int, chunk_size: Any) -> None:
    """Later items finish first, so the worker tasks (chunks) finish in reverse plan order.

    LangGraph applies the tasks' writes in task order (see test_langgraph_behaviour), which
    alone would hide a `results` reducer that keeps arrival order. So the test also merges
    the chunks' records in the order the chunks really finished (the `updates` stream), with
    the graph's own reducer: that must give the same plan-ordered list.
    """
    finished: list[int] = []

    async def worker(item: int) -> int:
        await asyncio.sleep(0.1 * (count - item) / count)  # later items finish first
        finished.append(item)
        return item * 10

    graph = create_orchestrator_graph(
        lambda s: list(range(count)), worker, values, chunk_size=chunk_size
    ).compile()

    async def run() -> tuple[dict[str, Any], list[list[Any]]]:
        final: dict[str, Any] = {}
        chunks: list[list[Any]] = []  # each worker task's records, in the order they finished
        async for mode, part in graph.astream({"input": None}, stream_mode=["updates", "values"]):
            if mode == "values":
                final = part
            elif "worker" in part:
                chunks.append(part["worker"]["results"])
        return final, chunks

    result, chunks = asyncio.run(run())
    assert result["output"] == [i * 10 for i in range(count)]
    assert [r["index"] for r in result["results"]] == list(range(count))
    assert finished != sorted(finished)  # they really did finish out of order
    firsts = [c[0]["index"] for c in chunks]
    size = max(len(c) for c in chunks)
    assert sorted(firsts) == list(range(0, count, size))  # every chunk, once
    if len(chunks) > 1:
        assert firsts != sorted(firsts)  # and the chunks too
    merge = graph.channels["results"].operator
    merged: list[Any] = []
    for records in chunks:
        merged = merge(merged, records)
    assert merged == result["results"]


@pytest.mark.parametrize("chunk_size", [1, 7, "auto"])
def test_every_item_reaches_the_worker_exactly_once(chunk_size: Any) -> None:
    seen: list[str] = []

    def worker(item: str) -> str:
        seen.append(item)
        return item.upper()

    plan = [f"item-{i}" for i in range(100)]
    graph = create_orchestrator_graph(
        lambda s: plan, worker, values, chunk_size=chunk_size
    ).compile()
    assert graph.invoke({"input": None})["output"] == [p.upper() for p in plan]
    assert sorted(seen) == sorted(plan)


@pytest.mark.parametrize(
    ("count", "saved", "tasks"),
    [(10, False, 10), (16, False, 16), (1000, False, 16), (64, True, 64), (1000, True, 63)],
)
def test_auto_chunks_are_few_without_a_checkpointer_and_small_with_one(
    count: int, saved: bool, tasks: int
) -> None:
    """Without a checkpointer nothing is resumed, so a long plan goes in 16 worker tasks; with
    one, in 64, so a crash re-runs less finished work (a chunk is saved when it ends)."""
    graph = create_orchestrator_graph(lambda s: list(range(count)), lambda i: i, values).compile(
        checkpointer=InMemorySaver() if saved else None
    )
    config: Any = {"configurable": {"thread_id": "chunks"}} if saved else {}
    chunks = [
        [r["index"] for r in part["worker"]["results"]]
        for part in graph.stream({"input": None}, config, stream_mode="updates")
        if "worker" in part
    ]
    assert len(chunks) == tasks
    assert sorted(i for c in chunks for i in c) == list(range(count))


def test_an_empty_plan_still_reaches_the_synthesizer() -> None:
    calls: list[list[Any]] = []

    def synthesize(state: dict[str, Any]) -> str:
        calls.append(state["results"])
        return "nothing to do"

    graph = create_orchestrator_graph(lambda s: [], lambda item: item, synthesize).compile()
    assert graph.invoke({"input": None})["output"] == "nothing to do"
    assert calls == [[]]


def test_synthesizer_runs_once_and_workers_can_write_a_reducer_key() -> None:
    class Report(TypedDict, total=False):
        topic: str
        sections: Annotated[list[str], operator.add]

    calls = 0

    def plan(state: Report) -> list[str]:
        return [f"{state['topic']} part {i}" for i in range(5)]

    async def write(item: str) -> list[str]:
        await asyncio.sleep(0.001)
        return [item.title()]

    def assemble(state: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        return "\n".join(state["sections"])

    graph = create_orchestrator_graph(
        plan, write, assemble, state_schema=Report, writes="sections"
    ).compile()
    result = graph.invoke({"topic": "tides"})
    assert calls == 1
    assert result["sections"] == [f"Tides Part {i}" for i in range(5)]
    assert result["plan"] == [f"tides part {i}" for i in range(5)]


def test_a_compiled_subgraph_can_be_the_worker() -> None:
    class Item(TypedDict, total=False):
        n: int
        square: int

    sub = StateGraph(Item)
    sub.add_node("square_it", lambda s: {"square": s["n"] ** 2})
    sub.add_edge(START, "square_it")
    sub.add_edge("square_it", END)
    graph = create_orchestrator_graph(
        lambda s: [{"n": i} for i in range(4)], sub.compile(), values
    ).compile(checkpointer=InMemorySaver())
    result = graph.invoke({"input": None}, {"configurable": {"thread_id": "sub"}})
    assert [v["square"] for v in result["output"]] == [0, 1, 4, 9]


def test_too_many_items_is_a_clear_error_and_the_plan_is_kept() -> None:
    planned = 0

    def plan(state: Any) -> list[int]:
        nonlocal planned
        planned += 1
        return list(range(12))

    checkpointer = InMemorySaver()
    config = {"configurable": {"thread_id": "big-plan"}}
    small = create_orchestrator_graph(plan, lambda i: i, values, max_items=10)
    with pytest.raises(InvalidPlanError, match=r"returned 12 work items, more than max_items=10"):
        small.compile(checkpointer=checkpointer).invoke({"input": None}, config)
    assert small.compile(checkpointer=checkpointer).get_state(config).values["plan"] == list(
        range(12)
    )

    # The fix from the message: raise max_items and continue the same thread.
    large = create_orchestrator_graph(plan, lambda i: i, values, max_items=20)
    result = large.compile(checkpointer=checkpointer).invoke(None, config)
    assert result["output"] == list(range(12))
    assert planned == 1  # the planner's work was not lost or repeated


@pytest.mark.parametrize("bad", ["one string", {"a": 1}, 42, None])
def test_a_planner_that_does_not_return_a_list_is_a_clear_error(bad: Any) -> None:
    graph = create_orchestrator_graph(lambda s: bad, lambda i: i, values).compile()
    with pytest.raises(InvalidPlanError, match="must return a list of work items"):
        graph.invoke({"input": None})


def test_a_second_run_on_a_thread_starts_with_fresh_results() -> None:
    plans = iter([[1, 2, 3], [4]])
    graph = create_orchestrator_graph(lambda s: next(plans), lambda i: i, values).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "again"}}
    graph.invoke({"input": None}, config)
    result = graph.invoke({"input": None}, config)
    assert result["output"] == [4]
    assert len(result["results"]) == 1


def test_fail_fast_cancels_the_other_items_of_a_chunk() -> None:
    cancelled: list[int] = []
    finished: list[int] = []

    async def worker(item: int) -> str:
        if item == 1:
            raise RuntimeError("in chunk")
        try:
            await asyncio.sleep(30)  # only a cancellation ends this in time
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        finished.append(item)
        return "late"

    graph = create_orchestrator_graph(
        lambda s: [0, 1, 2, 3], worker, values, on_error="fail_fast", chunk_size=4
    ).compile()

    async def run() -> list[int]:
        with pytest.raises(RuntimeError, match="in chunk"):
            await graph.ainvoke({"input": None})
        return sorted(cancelled)  # before asyncio.run's clean-up cancels anything

    assert asyncio.run(run()) == [0, 2, 3]  # cancelled by the run, before it raised
    assert finished == []
