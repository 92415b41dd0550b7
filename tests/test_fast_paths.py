"""The fast paths give the same results, order and failures as the plain ones."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from cpu_work import input_squared
from helpers import FailFastSibling
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph

PLAN = list(range(300))
TIMEOUT = 1.0
"""Per item. The quick items sleep at most 6 ms, but a loaded machine has been seen to
starve one for 0.2 s while it starts 300 others: a second keeps them well inside it."""


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
        await asyncio.sleep(30)  # far past the timeout
    return item * 2


def orchestrator(chunk_size: Any, **options: Any) -> Any:
    return create_orchestrator_graph(
        lambda s: PLAN,
        work,
        lambda s: len(s["results"]),
        chunk_size=chunk_size,
        timeout=TIMEOUT,
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
        lambda s: PLAN, work, lambda s: len(s["results"]), timeout=TIMEOUT
    ).compile(checkpointer=saver)
    state = asyncio.run(graph.ainvoke({"input": None}, {"configurable": {"thread_id": "t"}}))
    plain = asyncio.run(orchestrator(1, max_items=1000).ainvoke({"input": None}))["results"]
    assert comparable(state["results"]) == comparable(plain)


def langgraphs_sync_path(graph: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """`invoke` with a database checkpointer: it takes LangGraph's own sync path."""
    with SqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
        compiled = graph.builder.compile(checkpointer=saver)
        return compiled.invoke({"input": None}, {"configurable": {"thread_id": "t"}})["results"]  # type: ignore[no-any-return]


def test_the_sync_paths_match_the_async_path(tmp_path: Path) -> None:
    graph = orchestrator("auto")
    expected = comparable(asyncio.run(graph.ainvoke({"input": None}))["results"])
    assert comparable(graph.invoke({"input": None})["results"]) == expected
    assert comparable(langgraphs_sync_path(graph, tmp_path)) == expected


class TestInvoke(FailFastSibling):
    """`invoke` takes LangGraph's own sync path, whatever the checkpointer."""

    def test_fail_fast_lets_a_running_sibling_finish_with_every_checkpointer(
        self, tmp_path: Path
    ) -> None:
        with SqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as sqlite:
            for saver in (None, InMemorySaver(), sqlite):
                compiled = self.graph().compile(checkpointer=saver)
                with pytest.raises(ConnectionError):
                    compiled.invoke({"input": None}, {"configurable": {"thread_id": "t"}})
                # LangGraph's thread pool cannot stop a task already running in a thread.
                assert self.finished, saver

    def test_the_compiled_graph_is_langgraphs_own_but_for_its_sync_calls(self) -> None:
        compiled = self.graph().compile()
        assert isinstance(compiled, CompiledStateGraph)
        assert compiled.config is not None and compiled.config["max_concurrency"] >= 32
        ours = {
            name
            for name in dir(CompiledStateGraph)
            if not name.startswith("__")
            and callable(getattr(CompiledStateGraph, name))
            and getattr(type(compiled), name) is not getattr(CompiledStateGraph, name)
        }
        # invoke runs through stream; everything async (and get_graph, get_state) is LangGraph's
        assert ours == {"stream", "batch", "batch_as_completed"}

    def test_as_a_subgraph_it_takes_the_parents_sync_path(self, tmp_path: Path) -> None:
        class Outer(TypedDict):
            input: Any
            output: Any

        inner = create_fanout_graph(
            {"a": lambda s: 1, "b": lambda s: 2}, lambda s: [r["value"] for r in s["results"]]
        ).compile()
        builder = StateGraph(Outer)
        builder.add_node("inner", inner)
        builder.add_edge(START, "inner")
        with SqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
            outer = builder.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": "t"}}
            assert outer.invoke({"input": None}, config)["output"] == [1, 2]
            assert outer.get_state(config, subgraphs=True).values["output"] == [1, 2]


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


def test_a_fanout_gives_the_same_records_under_invoke_and_ainvoke(tmp_path: Path) -> None:
    def square(i: int) -> Any:
        return lambda state: i * i

    branches = {f"b{i}": square(i) for i in range(30)}
    graph = create_fanout_graph(branches, lambda s: None).compile()
    expected = comparable(asyncio.run(graph.ainvoke({"input": None}))["results"])
    assert comparable(graph.invoke({"input": None})["results"]) == expected
    assert comparable(langgraphs_sync_path(graph, tmp_path)) == expected
