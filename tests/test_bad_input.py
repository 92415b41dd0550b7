"""Misuse fails when a graph is built, with the fix in the message; bad input fails at run
time, naming the key."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, NotRequired

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_parallel import (
    Branch,
    create_fanout_graph,
    create_guarded_graph,
    create_orchestrator_graph,
    create_voting_graph,
)
from langgraph_parallel.errors import InvalidInputError


def f(state: Any) -> int:
    return 1


def agg(state: Any) -> int:
    return 0


class Keys(TypedDict):
    city: str
    days: NotRequired[int]
    summary: str


class Tagged(TypedDict, total=False):
    input: Any
    tags: Annotated[list[str], operator.add]


BUILD_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    (
        "empty branches",
        lambda: create_fanout_graph({}, agg),
        ValueError,
        "branches cannot be empty",
    ),
    ("branches not a mapping", lambda: create_fanout_graph(f, agg), TypeError, "mapping of name"),
    (
        "missing aggregator",
        lambda: create_fanout_graph({"a": f}, None),
        ValueError,
        "aggregator is required",
    ),
    (
        "non-callable branch",
        lambda: create_fanout_graph({"a": 42}, agg),
        TypeError,
        "branch 'a' must be a function",
    ),
    (
        "non-callable aggregator",
        lambda: create_fanout_graph({"a": f}, "text"),
        TypeError,
        "aggregator must be a function",
    ),
    (
        "duplicate names",
        lambda: create_fanout_graph([f, f], agg),
        ValueError,
        "duplicate branch name 'f'",
    ),
    (
        "unnamed lambda",
        lambda: create_fanout_graph([lambda s: 1], agg),
        ValueError,
        "pass a mapping",
    ),
    (
        "reserved join name",
        lambda: create_fanout_graph({"aggregator": f}, agg),
        ValueError,
        "reserved for the join node",
    ),
    (
        "reserved langgraph name",
        lambda: create_fanout_graph({"__start__": f}, agg),
        ValueError,
        "reserved by LangGraph",
    ),
    (
        "reserved character",
        lambda: create_fanout_graph({"a|b": f}, agg),
        ValueError,
        "contains '|'",
    ),
    ("empty name", lambda: create_fanout_graph({"": f}, agg), TypeError, "non-empty string"),
    (
        "branch named like a state key",
        lambda: create_fanout_graph({"results": f}, agg),
        ValueError,
        "also state keys",
    ),
    (
        "reserved state key",
        lambda: create_fanout_graph({"a": f}, agg, state_schema=_ReservedKey),
        ValueError,
        "'results' is reserved",
    ),
    (
        "state schema not a TypedDict",
        lambda: create_fanout_graph({"a": f}, agg, state_schema=dict),
        TypeError,
        "must be a TypedDict",
    ),
    (
        "plain key written by two branches",
        lambda: create_fanout_graph(
            {"a": Branch(f, writes="summary"), "b": Branch(f, writes="summary")},
            agg,
            state_schema=Keys,
        ),
        ValueError,
        "all write 'summary', which has no reducer",
    ),
    (
        "writes an unknown key",
        lambda: create_fanout_graph({"a": Branch(f, writes="sumary")}, agg, state_schema=Keys),
        ValueError,
        "branch 'a' has writes='sumary', which names no key of Keys; did you mean 'summary'",
    ),
    (
        "bad on_error",
        lambda: create_fanout_graph({"a": f}, agg, on_error="ignore"),
        ValueError,
        "'collect' or 'fail_fast'",
    ),
    (
        "budget with fail_fast",
        lambda: create_fanout_graph({"a": f}, agg, on_error="fail_fast", min_successes=1),
        ValueError,
        "Drop one of them",
    ),
    (
        "budget above branch count",
        lambda: create_fanout_graph({"a": f}, agg, min_successes=2),
        ValueError,
        "can never be met",
    ),
    (
        "negative timeout",
        lambda: create_fanout_graph({"a": f}, agg, timeout=-1),
        ValueError,
        "positive number of seconds",
    ),
    ("bad retry", lambda: create_fanout_graph({"a": f}, agg, retry=3), TypeError, "RetryPolicy"),
    (
        "bad retry in list",
        lambda: create_fanout_graph({"a": f}, agg, retry=[RetryPolicy(), "x"]),
        TypeError,
        "RetryPolicy",
    ),
    (
        "zero max_concurrency",
        lambda: create_fanout_graph({"a": f}, agg, max_concurrency=0),
        ValueError,
        "max_concurrency must be a positive",
    ),
    (
        "missing planner",
        lambda: create_orchestrator_graph(None, f, agg),
        ValueError,
        "a planner is required",
    ),
    (
        "missing synthesizer",
        lambda: create_orchestrator_graph(f, f, None),
        ValueError,
        "a synthesizer is required",
    ),
    (
        "worker writes plain key",
        lambda: create_orchestrator_graph(f, f, agg, state_schema=Keys, writes="summary"),
        ValueError,
        "needs a reducer",
    ),
    (
        "worker writes an unknown key",
        lambda: create_orchestrator_graph(f, f, agg, state_schema=Keys, writes="citys"),
        ValueError,
        "the worker has writes='citys', which names no key of Keys; did you mean 'city'",
    ),
    (
        "zero max_items",
        lambda: create_orchestrator_graph(f, f, agg, max_items=0),
        ValueError,
        "max_items must be a positive",
    ),
    (
        "bad chunk size",
        lambda: create_orchestrator_graph(f, f, agg, chunk_size=0),
        ValueError,
        "chunk_size",
    ),
    ("no voters", lambda: create_voting_graph([]), ValueError, "voters cannot be empty"),
    ("single voter without n", lambda: create_voting_graph(f), ValueError, "n (how many times"),
    (
        "n with a list",
        lambda: create_voting_graph([f, f], n=3),
        ValueError,
        "n is for a single voter",
    ),
    (
        "unknown method",
        lambda: create_voting_graph(f, n=3, method="plurality"),
        ValueError,
        "method must be one of",
    ),
    (
        "weighted without weights",
        lambda: create_voting_graph(f, n=2, method="weighted"),
        ValueError,
        "needs weights",
    ),
    (
        "weights without weighted",
        lambda: create_voting_graph(f, n=2, weights=[1, 2]),
        ValueError,
        "only apply to method='weighted'",
    ),
    (
        "weights of unknown voter",
        lambda: create_voting_graph({"a": f}, method="weighted", weights={"b": 2}),
        ValueError,
        "unknown voter(s) 'b'",
    ),
    (
        "wrong number of weights",
        lambda: create_voting_graph(f, n=3, method="weighted", weights=[1, 2]),
        ValueError,
        "2 weight(s) given for 3",
    ),
    (
        "unknown normaliser",
        lambda: create_voting_graph(f, n=2, normalize="lower"),
        ValueError,
        "unknown normalize='lower'",
    ),
    (
        "reserved voter name",
        lambda: create_voting_graph({"tally": f}),
        ValueError,
        "'tally' is reserved for the tally node; rename it (e.g. 'tally_1')",
    ),
    (
        "misspelt option",
        lambda: create_fanout_graph({"a": f}, agg, timout=1.0),
        TypeError,
        "create_fanout_graph() got an unexpected keyword argument 'timout'; did you mean "
        "'timeout'?",
    ),
    (
        "misspelt own parameter",
        lambda: create_orchestrator_graph(f, f, agg, chunksize=4),
        TypeError,
        "did you mean 'chunk_size'?",
    ),
    (
        "guarded graph option out of range",
        lambda: create_guarded_graph(f, f, max_concurrency=0),
        ValueError,
        "create_guarded_graph: max_concurrency must be a positive whole number, got 0",
    ),
    (
        "guarded graph, contradicting options",
        lambda: create_guarded_graph(f, f, on_error="fail_fast", min_successes=1),
        ValueError,
        "min_successes is an error budget for on_error='collect'",
    ),
]


class _ReservedKey(TypedDict):
    results: str


@pytest.mark.parametrize(
    ("case", "build", "error", "message"), BUILD_ERRORS, ids=[c[0] for c in BUILD_ERRORS]
)
def test_misuse_fails_at_build_time_with_a_clear_message(
    case: str, build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert message in str(caught.value)


def test_a_reducer_key_may_be_written_by_several_branches() -> None:
    graph = create_fanout_graph(
        {"a": Branch(lambda s: ["x"], writes="tags"), "b": Branch(lambda s: ["y"], writes="tags")},
        agg,
        state_schema=Tagged,
    ).compile()
    assert graph.invoke({"input": None})["tags"] == ["x", "y"]


GRAPHS = {
    "fanout": lambda: create_fanout_graph({"a": f, "b": f}, agg, state_schema=Keys),
    "orchestrator": lambda: create_orchestrator_graph(lambda s: [1], f, agg, state_schema=Keys),
    "voting": lambda: create_voting_graph(f, n=2, state_schema=Keys),
}


@pytest.mark.parametrize("kind", GRAPHS)
def test_a_missing_input_key_is_named(kind: str) -> None:
    graph = GRAPHS[kind]().compile()
    with pytest.raises(InvalidInputError, match=r"missing key\(s\) 'city'.*'city': <str>"):
        graph.invoke({"summary": "x"})


@pytest.mark.parametrize("kind", GRAPHS)
def test_a_mistyped_input_key_is_named(kind: str) -> None:
    graph = GRAPHS[kind]().compile()
    with pytest.raises(InvalidInputError, match=r"input key 'days' should be int, got str '3'"):
        asyncio.run(graph.ainvoke({"city": "Oslo", "summary": "x", "days": "3"}))


@pytest.mark.parametrize("kind", GRAPHS)
def test_bad_input_runs_no_branch_and_can_be_retried_on_the_thread(kind: str) -> None:
    calls = 0

    def counted(state: Any) -> list[int]:
        nonlocal calls
        calls += 1
        return [1]

    builders = {
        "fanout": lambda: create_fanout_graph({"a": counted}, agg, state_schema=Keys),
        "orchestrator": lambda: create_orchestrator_graph(counted, f, agg, state_schema=Keys),
        "voting": lambda: create_voting_graph(counted, n=2, state_schema=Keys),
    }
    graph = builders[kind]().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": kind}}
    with pytest.raises(InvalidInputError):
        graph.invoke({"summary": "x"}, config)
    assert calls == 0
    result = graph.invoke({"city": "Oslo", "summary": "x"}, config)
    assert "output" in result


def test_the_input_schema_lists_only_input_keys() -> None:
    class State(TypedDict, total=False):
        city: str
        weather: str

    graph = create_fanout_graph(
        {"w": Branch(f, writes="weather")}, agg, state_schema=State
    ).compile()
    properties = graph.get_input_jsonschema()["properties"]
    assert set(properties) == {"city"}
