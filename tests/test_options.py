"""The shared options: declared once, taken by every factory, shown in every signature; the
graph a factory builds owns its checked options and its plan."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
from typing import Any, get_type_hints

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy

from langgraph_parallel import (
    create_fanout_graph,
    create_guarded_graph,
    create_orchestrator_graph,
    create_voting_graph,
    retry_failed,
)
from langgraph_parallel.graphs import ParallelOptions, ParallelStateGraph
from langgraph_parallel.nodes import keyword_guardrail

FACTORIES: dict[str, Any] = {
    "fanout": create_fanout_graph,
    "orchestrator": create_orchestrator_graph,
    "voting": create_voting_graph,
    "guarded": create_guarded_graph,
}
OPTIONS = list(get_type_hints(ParallelOptions))


def one(state: Any) -> int:
    return 1


def count(state: Any) -> int:
    return len(state["results"])


def build(kind: str, **options: Any) -> ParallelStateGraph:
    if kind == "fanout":
        return create_fanout_graph({"a": one, "b": one}, count, **options)
    if kind == "orchestrator":
        return create_orchestrator_graph(lambda s: [1, 2], one, count, **options)
    if kind == "voting":
        return create_voting_graph(one, n=2, **options)
    return create_guarded_graph(one, keyword_guardrail(["x"]), **options)


def test_the_options_are_the_eight_every_factory_documents() -> None:
    assert OPTIONS == [
        "on_error",
        "min_successes",
        "timeout",
        "retry",
        "max_concurrency",
        "token_budget",
        "executor",
        "deadline",
    ]


@pytest.mark.parametrize("kind", FACTORIES)
def test_every_factory_shows_every_option_with_its_default_in_signature_and_help(
    kind: str,
) -> None:
    factory = FACTORIES[kind]
    parameters = inspect.signature(factory).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for name in OPTIONS:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameters[name].annotation is not inspect.Parameter.empty, name
    assert (parameters["on_error"].default, parameters["executor"].default) == (
        "collect",
        "thread",
    )
    assert all(parameters[n].default is None for n in OPTIONS if n not in ("on_error", "executor"))
    text = pydoc.render_doc(factory, renderer=pydoc.plaintext)
    assert "Options (shared by every factory, see `ParallelOptions`):" in text
    assert str(inspect.signature(factory)) in text.replace("\n", "")
    for name in OPTIONS:
        assert f"\n        {name}: " in text.split("Options (shared")[1], name  # its entry


@pytest.mark.parametrize("kind", FACTORIES)
def test_every_factory_checks_its_options_once_into_the_graph_it_builds(kind: str) -> None:
    policy = RetryPolicy(max_attempts=2)
    graph = build(kind, timeout=2, retry=policy, max_concurrency=3, token_budget=100, deadline=9)
    options = graph.options
    assert (options.timeout, options.retry, options.max_concurrency) == (2.0, (policy,), 3)
    assert (options.token_budget, options.deadline, options.fail_fast) == (100, 9.0, False)
    assert build(kind, on_error="fail_fast").options.fail_fast


def test_options_kept_in_a_dict_are_passed_as_keywords() -> None:
    kept: ParallelOptions = {"timeout": 0.05, "on_error": "collect"}

    async def slow(state: Any) -> str:
        await asyncio.sleep(30)
        return "late"

    graph = create_fanout_graph({"slow": slow, "fast": one}, count, **kept).compile()
    results = graph.invoke({"input": None})["results"]
    assert [(r["branch"], r["status"]) for r in results] == [("slow", "timeout"), ("fast", "ok")]


def test_the_guarded_graph_takes_max_concurrency() -> None:
    """It took only timeout and retry before; with max_concurrency=1 its two branches run
    one after the other (never both at once), and the content is still gated."""
    running: list[int] = []
    peak = [0]

    async def step(text: str) -> str:
        running.append(1)
        peak[0] = max(peak[0], len(running))
        await asyncio.sleep(0.05)
        running.pop()
        return text

    async def generate(state: Any) -> str:
        return await step(f"about {state['input']}")

    async def guardrail(state: Any) -> dict[str, Any]:
        await step("checked")
        return {"allowed": True, "reason": None}

    graph = create_guarded_graph(generate, guardrail, max_concurrency=1).compile()
    assert graph.invoke({"input": "bread"})["output"]["content"] == "about bread"
    assert peak == [1]
    both = create_guarded_graph(generate, guardrail).compile()
    peak[0] = 0
    assert both.invoke({"input": "bread"})["output"]["content"] == "about bread"
    assert peak == [2]


@pytest.mark.parametrize("kind", ["fanout", "orchestrator", "voting"])
def test_retry_asks_the_graph_for_the_units_to_run_again(kind: str) -> None:
    """The graph's plan gives the `Send`s for the failed indexes; nothing else re-runs."""
    calls: list[Any] = []
    broken = {"on": True}

    def flaky(value: Any, config: Any) -> int:
        index = config["metadata"]["lgp_index"]
        calls.append(index)
        if index == 1 and broken["on"]:
            raise ConnectionError("down")
        return 1

    graphs: dict[str, Any] = {
        "fanout": lambda: create_fanout_graph({"a": flaky, "b": flaky, "c": flaky}, count),
        "orchestrator": lambda: create_orchestrator_graph(lambda s: [0, 1, 2], flaky, count),
        "voting": lambda: create_voting_graph(flaky, n=3),
    }
    builder = graphs[kind]()
    assert builder.plan.tasks >= 3
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": kind}}
    first = graph.invoke({"input": None}, config)
    assert [r["status"] for r in first["results"]] == ["ok", "error", "ok"]
    assert sorted(calls) == [0, 1, 2]
    broken["on"] = False
    calls.clear()
    again = retry_failed(graph, config)
    assert calls == [1]
    assert [r["status"] for r in again["results"]] == ["ok", "ok", "ok"]
