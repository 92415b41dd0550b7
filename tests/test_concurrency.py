"""max_concurrency caps observed concurrency; sync work is not throttled; usage is summed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import KINDS, Gauge, build
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_parallel import ConcurrencyLimit, create_fanout_graph


def gauged(gauge: Gauge, delay: float = 0.03) -> Any:
    async def unit(index: int) -> int:
        with gauge.inside():
            await asyncio.sleep(delay)
        return index

    return unit


def sync_gauged(gauge: Gauge, delay: float = 0.03) -> Any:
    def unit(index: int) -> int:
        with gauge.inside():
            time.sleep(delay)
        return index

    return unit


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_max_concurrency_caps_the_observed_peak(kind: str, mode: str) -> None:
    gauge = Gauge()
    make = gauged if mode == "ainvoke" else sync_gauged
    graph = build(kind, [make(gauge) for _ in range(12)], max_concurrency=3).compile()
    if mode == "invoke":
        result = graph.invoke({"input": None})
    else:
        result = asyncio.run(graph.ainvoke({"input": None}))
    assert gauge.entered == 12
    assert gauge.peak == 3
    assert [r["status"] for r in result["results"]] == ["ok"] * 12


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_cap_every_branch_runs_at_once(kind: str) -> None:
    gauge = Gauge()
    graph = build(kind, [gauged(gauge, 0.1) for _ in range(30)]).compile()
    asyncio.run(graph.ainvoke({"input": None}))
    assert gauge.peak == 30


def test_a_shared_limit_holds_across_concurrent_runs_and_graphs() -> None:
    gauge = Gauge()
    limit = ConcurrencyLimit(4, name="provider")
    first = build("fanout", [gauged(gauge) for _ in range(8)], max_concurrency=limit).compile()
    second = build(
        "orchestrator", [gauged(gauge) for _ in range(8)], max_concurrency=limit
    ).compile()

    async def both() -> None:
        await asyncio.gather(
            first.ainvoke({"input": None}),
            second.ainvoke({"input": None}),
            first.ainvoke({"input": None}),
        )

    asyncio.run(both())
    assert gauge.entered == 24
    assert gauge.peak == 4
    assert limit.peak == 4 and limit.active == 0


def test_a_shared_limit_holds_across_threads_running_invoke() -> None:
    gauge = Gauge()
    limit = ConcurrencyLimit(2)
    graph = build("fanout", [sync_gauged(gauge) for _ in range(6)], max_concurrency=limit).compile()
    threads = [threading.Thread(target=graph.invoke, args=({"input": None},)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gauge.entered == 18
    assert gauge.peak == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "invoke on SQLite"])
def test_sync_units_all_run_at_once(kind: str, mode: str, tmp_path: Path) -> None:
    """A barrier only opens when all 20 sync units run at the same time.

    With a database checkpointer `invoke` takes LangGraph's sync path, whose thread pool the
    compiled graph sizes for every unit.
    """
    barrier = threading.Barrier(20, timeout=10)

    def unit(index: int) -> int:
        barrier.wait()
        return index

    graph = build(kind, [unit] * 20)
    if mode == "invoke on SQLite":
        with SqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
            config = {"configurable": {"thread_id": "t"}}
            result = graph.compile(checkpointer=saver).invoke({"input": None}, config)
    elif mode == "invoke":
        result = graph.compile().invoke({"input": None})
    else:
        result = asyncio.run(graph.compile().ainvoke({"input": None}))
    assert [r["status"] for r in result["results"]] == ["ok"] * 20


@pytest.mark.parametrize("kind", KINDS)
def test_parallel_sync_branches_all_run_at_once(kind: str) -> None:
    # Each unit waits at a barrier of 20: it opens only if all 20 are inside at the same
    # time (a 6-thread pool, LangGraph's default, would leave it shut and fail the run).
    # A barrier rather than overlapping sleeps: on a loaded machine, starting 20 threads
    # took longer than a 0.2 s sleep, so sleeps could finish before the last one began.
    barrier = threading.Barrier(20, timeout=60)
    gauge = Gauge()

    def unit(index: int) -> int:
        with gauge.inside():
            barrier.wait()
        return index

    graph = build(kind, [unit] * 20).compile()
    for call in (
        lambda: graph.invoke({"input": None}),
        lambda: asyncio.run(graph.ainvoke({"input": None})),
    ):
        gauge.peak = 0
        result = call()
        assert [r["status"] for r in result["results"]] == ["ok"] * 20
        assert gauge.peak == 20


def usage(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def test_each_branch_records_its_token_usage_and_the_run_sums_them() -> None:
    def model_branch(tokens: int, calls: int) -> Any:
        async def branch(state: Any) -> str:
            model = GenericFakeChatModel(
                messages=iter(
                    AIMessage(content="hi", usage_metadata=usage(tokens, 1)) for _ in range(calls)
                )
            )
            for _ in range(calls):
                await model.ainvoke("question")
            return "done"

        return branch

    def summarise(state: Any) -> str:
        GenericFakeChatModel(
            messages=iter([AIMessage(content="ok", usage_metadata=usage(100, 10))])
        ).invoke("sum")
        return "summary"

    graph = create_fanout_graph(
        {"a": model_branch(5, 2), "b": model_branch(7, 1), "plain": lambda s: "no model"}, summarise
    ).compile()
    result = graph.invoke({"input": None})
    assert [r["usage"] for r in result["results"]] == [usage(10, 2), usage(7, 1), None]
    assert result["usage"] == usage(117, 13)


def test_a_sync_invoke_nested_inside_an_async_branch_does_not_deadlock() -> None:
    inner = create_fanout_graph(
        {"x": lambda s: "inner"}, lambda s: s["results"][0]["value"]
    ).compile()

    async def calls_sync_invoke(state: Any) -> str:
        return str(inner.invoke({"input": None})["output"])  # blocks its event loop: allowed

    outer = create_fanout_graph(
        {"outer": calls_sync_invoke}, lambda s: s["results"][0]["value"]
    ).compile()
    assert outer.invoke({"input": None})["output"] == "inner"
    assert asyncio.run(outer.ainvoke({"input": None}))["output"] == "inner"


def test_invoke_keeps_the_callers_context_for_every_branch() -> None:
    import contextvars

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    async def reads(state: Any) -> str:
        return marker.get()

    graph = create_fanout_graph(
        {"a": reads, "b": reads}, lambda s: [r["value"] for r in s["results"]]
    ).compile()
    marker.set("from the caller")
    assert graph.invoke({"input": None})["output"] == ["from the caller", "from the caller"]
