from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any

import pytest
from helpers import Clock
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from langgraph_parallel import Branch, create_fanout_graph


class Brief(TypedDict):
    city: str


def by_branch(state: dict[str, Any]) -> dict[str, Any]:
    return {r["branch"]: r["value"] for r in state["results"]}


def test_branches_of_every_kind_run_and_the_aggregator_sees_them_in_branch_order() -> None:
    def sync_fn(state: dict[str, Any]) -> str:
        time.sleep(0.2)
        return f"sync {state['city']}"

    async def async_fn(state: dict[str, Any]) -> str:
        await asyncio.sleep(0.05)
        return f"async {state['city']}"

    class Sub(TypedDict, total=False):
        city: str
        echoed: str

    sub = StateGraph(Sub)
    sub.add_node("echo", lambda s: {"echoed": s["city"] * 2})
    sub.add_edge(START, "echo")
    subgraph = sub.compile()

    graph = create_fanout_graph(
        {
            "sync_fn": sync_fn,
            "async_fn": async_fn,
            "runnable": RunnableLambda(lambda s: len(s["city"])),
            "subgraph": subgraph,
        },
        by_branch,
        state_schema=Brief,
    ).compile()
    started = time.perf_counter()
    result = graph.invoke({"city": "Oslo"})
    wall = time.perf_counter() - started
    assert result["output"] == {
        "sync_fn": "sync Oslo",
        "async_fn": "async Oslo",
        "runnable": 4,
        "subgraph": {"city": "Oslo", "echoed": "OsloOslo"},
    }
    assert [r["branch"] for r in result["results"]] == [
        "sync_fn",
        "async_fn",
        "runnable",
        "subgraph",
    ]
    assert [r["index"] for r in result["results"]] == [0, 1, 2, 3]
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in result["results"])
    elapsed = {r["branch"]: r["elapsed"] for r in result["results"]}
    # Each branch's own time: at least its sleep, at most the whole run ...
    assert 0.2 <= elapsed["sync_fn"] <= wall
    assert 0.05 <= elapsed["async_fn"] <= wall
    assert all(0 <= e <= wall for e in elapsed.values())
    # ... and the branches that do not sleep took far less than the 0.2 s one.
    assert elapsed["runnable"] < elapsed["sync_fn"] and elapsed["subgraph"] < elapsed["sync_fn"]


def test_a_list_of_functions_is_named_after_them() -> None:
    def weather(state: Any) -> str:
        return "sun"

    async def news(state: Any) -> str:
        return "calm"

    graph = create_fanout_graph([weather, news], by_branch).compile()
    assert graph.invoke({"input": None})["output"] == {"weather": "sun", "news": "calm"}
    assert {"weather", "news"} <= set(graph.get_graph().nodes)


def test_aggregator_runs_exactly_once_after_subgraphs_of_different_lengths() -> None:
    """A slow one-node branch and a fast three-node branch: the join fires once, at the end,
    and the fast branch's later nodes do not wait for the slow branch (langgraph #6320)."""
    clock = Clock()
    calls: list[list[str]] = []

    class Sub(TypedDict, total=False):
        input: Any
        trail: Annotated[list[str], operator.add]

    def step(name: str, delay: float) -> Any:
        async def node(state: Sub) -> dict[str, Any]:
            await asyncio.sleep(delay)
            clock.mark(name)
            return {"trail": [name]}

        return node

    slow = StateGraph(Sub)
    slow.add_node("a_slow", step("a_slow", 0.4))
    slow.add_edge(START, "a_slow")
    fast = StateGraph(Sub)
    for name in ("b1", "b2", "b3"):
        fast.add_node(name, step(name, 0.01))
    fast.add_edge(START, "b1")
    fast.add_edge("b1", "b2")
    fast.add_edge("b2", "b3")

    def join(state: dict[str, Any]) -> list[list[str]]:
        clock.mark("join")
        calls.append([r["branch"] for r in state["results"]])
        return [r["value"]["trail"] for r in state["results"]]

    graph = create_fanout_graph({"slow": slow.compile(), "fast": fast.compile()}, join).compile()
    result = asyncio.run(graph.ainvoke({"input": 1}))
    assert calls == [["slow", "fast"]]
    assert result["output"] == [["a_slow"], ["b1", "b2", "b3"]]
    assert clock.marks["b3"] < clock.marks["a_slow"] < clock.marks["join"]


def test_branch_can_write_its_value_to_a_state_key() -> None:
    class State(TypedDict, total=False):
        city: str
        weather: str
        headlines: Annotated[list[str], operator.add]

    graph = create_fanout_graph(
        {
            "get_weather": Branch(lambda s: f"rain in {s['city']}", writes="weather"),
            "wire": Branch(lambda s: ["a"], writes="headlines"),
            "paper": Branch(lambda s: ["b"], writes="headlines"),
        },
        lambda s: f"{s['weather']}; {', '.join(s['headlines'])}",
        state_schema=State,
    ).compile()
    result = graph.invoke({"city": "Bergen"})
    assert result["weather"] == "rain in Bergen"
    assert result["headlines"] == ["a", "b"]
    assert result["output"] == "rain in Bergen; a, b"


def test_a_failed_branch_writes_nothing_to_its_key_but_is_recorded() -> None:
    class State(TypedDict, total=False):
        input: Any
        weather: str

    def broken(state: Any) -> str:
        raise ConnectionError("no route")

    graph = create_fanout_graph(
        {"get_weather": Branch(broken, writes="weather"), "ok": lambda s: 1},
        lambda s: s.get("weather", "unknown"),
        state_schema=State,
    ).compile()
    result = graph.invoke({"input": None})
    assert result["output"] == "unknown"
    assert "weather" not in result
    assert result["results"][0]["error"] == {"type": "ConnectionError", "message": "no route"}


def test_a_second_run_on_the_same_thread_replaces_the_records() -> None:
    values = iter(["first", "second"])
    graph = create_fanout_graph(
        {"a": lambda s: next(values), "b": lambda s: s["input"]}, by_branch
    ).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"input": 1}, config)
    result = graph.invoke({"input": 2}, config)
    assert result["output"] == {"a": "second", "b": 2}
    assert len(result["results"]) == 2


def test_interrupts_in_two_branches_pause_the_run_and_resume_by_id() -> None:
    def ask(question: str) -> Any:
        def branch(state: Any) -> str:
            return f"{question}={interrupt(question)}"

        return branch

    graph = create_fanout_graph({"first": ask("colour"), "second": ask("size")}, by_branch).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "hitl"}}
    paused = graph.invoke({"input": None}, config)
    interrupts = {i.value: i.id for i in paused["__interrupt__"]}
    assert set(interrupts) == {"colour", "size"}
    assert "results" not in paused or paused["results"] == []
    done = graph.invoke(
        Command(resume={interrupts["colour"]: "red", interrupts["size"]: "L"}), config
    )
    assert done["output"] == {"first": "colour=red", "second": "size=L"}


def test_the_drawing_shows_an_edge_from_start_to_every_branch() -> None:
    graph = create_fanout_graph({"a": lambda s: 1, "b": lambda s: 2}, by_branch).compile()
    edges = {(e.source, e.target, e.conditional) for e in graph.get_graph().edges}
    assert {(START, "a", True), (START, "b", True)} <= edges
    assert {("a", "aggregator", False), ("b", "aggregator", False)} <= edges
    assert ("aggregator", END, False) in edges


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_sync_branches_are_not_queued_behind_a_small_thread_pool(mode: str) -> None:
    """20 sync branches wait on one barrier: they only pass if all 20 run at once."""
    import threading

    barrier = threading.Barrier(20, timeout=10)

    def branch(state: Any) -> str:
        barrier.wait()
        time.sleep(0.05)
        return "ok"

    graph = create_fanout_graph({f"b{i}": branch for i in range(20)}, by_branch).compile()
    if mode == "invoke":
        result = graph.invoke({"input": None})
    else:
        result = asyncio.run(graph.ainvoke({"input": None}))
    assert [r["status"] for r in result["results"]] == ["ok"] * 20
