"""Reliability: retry only what failed, deadlines, serialisation at dispatch, secrets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from helpers import KINDS, build
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_parallel import aretry_failed, create_fanout_graph, retry_failed


class Flaky:
    """Units whose indexes in `broken` fail until `fix()`; counts every call."""

    def __init__(self, count: int, broken: set[int]) -> None:
        self.broken = set(broken)
        self.calls: list[int] = []
        self.units = [self.unit(i) for i in range(count)]

    def unit(self, index: int) -> Any:
        async def run(_: int) -> str:
            self.calls.append(index)
            if index in self.broken:
                raise ConnectionError(f"unit {index} lost its upstream")
            return f"value {index}"

        return run

    def fix(self) -> None:
        self.broken.clear()


@pytest.mark.parametrize("kind", KINDS)
def test_retry_failed_reruns_only_the_failed_units_and_rejoins(kind: str) -> None:
    flaky = Flaky(5, broken={1, 3})
    graph = build(kind, flaky.units).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": kind}}
    first = asyncio.run(graph.ainvoke({"input": None}, config))
    assert [r["status"] for r in first["results"]] == ["ok", "error", "ok", "error", "ok"]
    flaky.fix()
    flaky.calls.clear()
    after = asyncio.run(aretry_failed(graph, config))
    assert sorted(flaky.calls) == [1, 3]  # the others did not run again
    assert [r["status"] for r in after["results"]] == ["ok"] * 5
    assert [r["value"] for r in after["results"]] == [f"value {i}" for i in range(5)]
    if kind == "voting":
        assert after["output"]["cast"] == 5
    else:
        assert [r["status"] for r in after["output"]] == ["ok"] * 5  # the join saw the merged set


def test_retry_failed_with_nothing_failed_changes_nothing() -> None:
    flaky = Flaky(2, broken=set())
    graph = build("fanout", flaky.units).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "clean"}}
    before = graph.invoke({"input": None}, config)
    flaky.calls.clear()
    assert retry_failed(graph, config) == before and flaky.calls == []


def test_retry_failed_can_also_rerun_timeouts_only() -> None:
    attempts = {"slow": 0}

    async def slow(state: Any) -> str:
        attempts["slow"] += 1
        await asyncio.sleep(5 if attempts["slow"] == 1 else 0)
        return "in time"

    def broken(state: Any) -> str:
        raise ValueError("a bug")

    graph = create_fanout_graph({"slow": slow, "broken": broken}, lambda s: None, timeout=0.1)
    compiled = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "timeouts"}}
    compiled.invoke({"input": None}, config)
    state = retry_failed(compiled, config, statuses=("timeout",))
    assert [r["status"] for r in state["results"]] == ["ok", "error"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no checkpointer", "compile the graph with a checkpointer"),
        ("not ours", "graph built by create_fanout_graph"),
        ("pending", "has work pending"),
    ],
)
def test_retry_failed_misuse_is_explained(setup: str, message: str) -> None:
    from langgraph.graph import START, StateGraph
    from langgraph.types import interrupt
    from typing_extensions import TypedDict

    config = {"configurable": {"thread_id": setup}}
    if setup == "no checkpointer":
        graph = build("fanout", Flaky(1, set()).units).compile()
    elif setup == "not ours":

        class S(TypedDict, total=False):
            x: int

        plain = StateGraph(S)
        plain.add_node("n", lambda s: {"x": 1})
        plain.add_edge(START, "n")
        graph = plain.compile(checkpointer=InMemorySaver())
        graph.invoke({"x": 0}, config)
    else:
        graph = create_fanout_graph({"ask": lambda s: interrupt("?")}, lambda s: None).compile(
            checkpointer=InMemorySaver()
        )
        graph.invoke({"input": None}, config)
    with pytest.raises((ValueError, TypeError), match=message):
        retry_failed(graph, config)


def sleeper(seconds: float) -> Any:
    async def unit(index: int) -> str:
        await asyncio.sleep(seconds)
        return f"done in {seconds}"

    return unit


@pytest.mark.parametrize("kind", KINDS)
def test_a_deadline_keeps_what_finished_and_records_the_rest_as_timeouts(kind: str) -> None:
    units = [sleeper(0.02), sleeper(0.02), sleeper(10.0), sleeper(10.0)]
    graph = build(kind, units, deadline=0.3).compile()
    started = time.perf_counter()
    state = asyncio.run(graph.ainvoke({"input": None}))
    assert time.perf_counter() - started < 3.0  # about 0.3 s; not stopped: 10 s
    records = state["results"]
    assert [r["status"] for r in records] == ["ok", "ok", "timeout", "timeout"]
    late = records[2]
    assert late["error"]["type"] == "DeadlineExceeded"
    assert "stopped by the run's deadline" in late["error"]["message"]
    assert 0.1 < late["elapsed"] < 3.0  # stopped at the deadline, 0.3 s after dispatch
    if kind == "voting":
        assert (state["output"]["cast"], state["output"]["failed"]) == (2, 2)
    else:
        assert [r["status"] for r in state["output"]] == ["ok", "ok", "timeout", "timeout"]


def test_units_queued_past_the_deadline_never_start() -> None:
    # One at a time: a quick unit, then one that runs into the deadline, then three queued.
    units = [sleeper(0.02)] + [sleeper(10.0)] * 4
    graph = build("orchestrator", units, deadline=0.5, max_concurrency=1).compile()
    records = asyncio.run(graph.ainvoke({"input": None}))["results"]
    assert [r["status"] for r in records] == ["ok", "timeout", "timeout", "timeout", "timeout"]
    assert [r["attempts"] for r in records] == [1, 1, 0, 0, 0]
    not_started = records[-1]
    assert not_started["attempts"] == 0
    assert not_started["error"]["message"] == "not started: the run's deadline had passed"


def test_a_unit_timeout_shorter_than_the_deadline_still_applies() -> None:
    graph = build("fanout", [sleeper(1.0)], deadline=2.0, timeout=0.1).compile()
    record = asyncio.run(graph.ainvoke({"input": None}))["results"][0]
    assert (record["status"], record["error"]["type"]) == ("timeout", "NodeTimeoutError")


def test_no_retry_starts_past_the_deadline() -> None:
    from langgraph.types import RetryPolicy

    calls = []

    async def failing(index: int) -> str:
        calls.append(index)
        raise ConnectionError("still down")

    retry = RetryPolicy(initial_interval=1.0, backoff_factor=1, jitter=False, max_attempts=10)
    graph = build("fanout", [failing], deadline=1.5, retry=retry).compile()
    record = asyncio.run(graph.ainvoke({"input": None}))["results"][0]
    # The last error, not a DeadlineExceeded: the run did not wait for a retry it could not
    # start. Calls at 0 and 1.0 s; the next would start at 2.0 s, after the deadline (0.5 s
    # either side, so a slow machine does not move a call across it).
    assert record["status"] == "error" and record["error"]["type"] == "ConnectionError"
    assert len(calls) == 2


def test_sync_units_are_stopped_by_the_deadline_too() -> None:
    def blocks(index: int) -> str:
        time.sleep(2)
        return "late"

    graph = build("fanout", [blocks, lambda i: "quick"], deadline=0.2).compile()
    started = time.perf_counter()
    records = graph.invoke({"input": None})["results"]
    assert time.perf_counter() - started < 1.5
    assert [r["status"] for r in records] == ["timeout", "ok"]


def test_redaction_masks_env_secrets_and_key_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_parallel.engine.redact import redact

    monkeypatch.setenv("ACME_API_KEY", "acme-0123456789abcdef")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to be a secret worth masking
    text = (
        "key acme-0123456789abcdef; sk-proj-ABCDEFGH12345678; Authorization: Bearer "
        "eyJhbGciOiJIUzI1NiJ9.payload; api_key=supersecretvalue; 'token': 'tok_1234567890'; abc"
    )
    assert redact(text) == (
        "key ***; sk-***; Authorization: Bearer ***; api_key=***; 'token': '***'; abc"
    )


def test_a_branch_error_never_keeps_a_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEARCH_API_KEY", "search-key-that-must-not-leak")

    def leaky(state: Any) -> str:
        raise PermissionError("denied for key search-key-that-must-not-leak")

    graph = create_fanout_graph({"leaky": leaky}, lambda s: s["results"][0]["error"]).compile()
    assert graph.invoke({"input": None})["output"]["message"] == "denied for key ***"


def test_redaction_masks_the_passwords_in_urls() -> None:
    from langgraph_parallel.engine.redact import redact

    assert redact("redis://:hunter22@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("at postgresql://app:s3cret@db/app now") == "at postgresql://app:***@db/app now"
    assert redact("http://localhost:8080/v1 and redis://cache:6379") == (
        "http://localhost:8080/v1 and redis://cache:6379"  # no user, nothing to mask
    )
