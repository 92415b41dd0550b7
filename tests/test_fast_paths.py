"""The fast paths give the same results, order and failures as the plain ones."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from cpu_work import input_squared
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph

PLAN = list(range(300))


def comparable(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Everything but timing (a timeout's message says how long it ran)."""

    def error(e: dict[str, str] | None) -> Any:
        return e and (e["type"], re.sub(r" \(elapsed: [\d.]+s\)", "", e["message"]))

    return [
        (r["branch"], r["index"], r["status"], r["value"], error(r["error"]), r["attempts"])
        for r in records
    ]


async def work(item: int) -> int:
    await asyncio.sleep(0.001 * (item % 7))
    if item % 13 == 0:
        raise ValueError(f"item {item} is unlucky")
    if item % 29 == 0:
        await asyncio.sleep(5)  # past the timeout
    return item * 2


def orchestrator(chunk_size: Any, **options: Any) -> Any:
    return create_orchestrator_graph(
        lambda s: PLAN,
        work,
        lambda s: len(s["results"]),
        chunk_size=chunk_size,
        timeout=0.2,
        **options,
    ).compile()


def test_chunked_items_match_one_item_per_task() -> None:
    chunked = asyncio.run(orchestrator("auto").ainvoke({"input": None}))["results"]
    single = asyncio.run(orchestrator(1, max_items=1000).ainvoke({"input": None}))["results"]
    assert comparable(chunked) == comparable(single)
    statuses = {r["status"] for r in chunked}
    assert statuses == {"ok", "error", "timeout"}
    assert [r["index"] for r in chunked] == PLAN


def test_chunked_items_with_a_checkpointer_match_too() -> None:
    saver = InMemorySaver()
    graph = create_orchestrator_graph(
        lambda s: PLAN, work, lambda s: len(s["results"]), timeout=0.2
    ).compile(checkpointer=saver)
    state = asyncio.run(graph.ainvoke({"input": None}, {"configurable": {"thread_id": "t"}}))
    plain = asyncio.run(orchestrator(1, max_items=1000).ainvoke({"input": None}))["results"]
    assert comparable(state["results"]) == comparable(plain)


def test_the_sync_path_matches_the_async_path() -> None:
    graph = orchestrator("auto")
    assert comparable(graph.invoke({"input": None})["results"]) == comparable(
        asyncio.run(graph.ainvoke({"input": None}))["results"]
    )


def test_processes_match_threads() -> None:
    def build(executor: str) -> Any:
        return create_orchestrator_graph(
            lambda s: [{"input": i} for i in range(20)] + [{"input": "x"}],
            input_squared,
            lambda s: None,
            executor=executor,  # type: ignore[arg-type]
        ).compile()

    threads = build("thread").invoke({"input": None})["results"]
    processes = build("process").invoke({"input": None})["results"]
    assert comparable(threads) == comparable(processes)
    assert threads[-1]["status"] == "error" and threads[-1]["error"]["type"] == "ValueError"


def test_a_fanout_gives_the_same_records_under_invoke_and_ainvoke() -> None:
    def square(i: int) -> Any:
        return lambda state: i * i

    branches = {f"b{i}": square(i) for i in range(30)}
    graph = create_fanout_graph(branches, lambda s: None).compile()
    assert comparable(graph.invoke({"input": None})["results"]) == comparable(
        asyncio.run(graph.ainvoke({"input": None}))["results"]
    )
