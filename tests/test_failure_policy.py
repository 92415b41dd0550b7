"""collect, fail_fast, error budget, timeouts and retries: the same for all three graphs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from helpers import KINDS, build
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy, TimeoutPolicy

from langgraph_parallel.errors import BranchFailuresError

pytestmark = pytest.mark.parametrize("kind", KINDS)

FAST_RETRY = RetryPolicy(initial_interval=0.001, jitter=False, max_attempts=3)


def run(kind: str, units: list[Any], **options: Any) -> dict[str, Any]:
    graph = build(kind, units, **options).compile()
    return asyncio.run(graph.ainvoke({"input": None}))


def ok(value: Any, delay: float = 0.0) -> Any:
    async def unit(index: int) -> Any:
        await asyncio.sleep(delay)
        return value

    return unit


def boom(message: str = "boom", exc: type[Exception] = RuntimeError) -> Any:
    async def unit(index: int) -> Any:
        raise exc(message)

    return unit


def test_collect_records_the_failure_and_siblings_finish(kind: str) -> None:
    result = run(kind, [ok("a"), boom("exploded"), ok("c", delay=0.05)])
    records = result["results"]
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert records[1]["error"] == {"type": "RuntimeError", "message": "exploded"}
    assert records[1]["value"] is None
    assert records[2]["value"] == "c"
    if kind == "voting":
        assert (result["output"]["failed"], result["output"]["cast"]) == (1, 2)
    else:
        assert [r["status"] for r in result["output"]] == ["ok", "error", "ok"]


def test_every_branch_failing_still_reaches_the_join_under_collect(kind: str) -> None:
    result = run(kind, [boom("one"), boom("two")])
    assert [r["error"]["message"] for r in result["results"]] == ["one", "two"]
    assert "output" in result


def test_fail_fast_cancels_running_siblings_and_raises_the_error(kind: str) -> None:
    started: list[int] = []
    cancelled: list[int] = []
    finished: list[int] = []

    def slow(index: int) -> Any:
        async def unit(_: int) -> str:
            started.append(index)
            try:
                await asyncio.sleep(30)  # only a cancellation ends this in time
            except asyncio.CancelledError:
                cancelled.append(index)
                raise
            finished.append(index)
            return "late"

        return unit

    graph = build(kind, [slow(0), boom("first failure"), slow(2)], on_error="fail_fast").compile()

    async def main() -> list[int]:
        with pytest.raises(RuntimeError, match="first failure"):
            await graph.ainvoke({"input": None})
        # Read before asyncio.run's own clean-up could cancel anything left running.
        return sorted(cancelled)

    cancelled_by_the_run = asyncio.run(main())
    assert sorted(started) == [0, 2]  # the siblings were running ...
    assert cancelled_by_the_run == [0, 2]  # ... and the run cancelled them before raising
    assert finished == []


def test_fail_fast_keeps_finished_work_and_resumes_only_the_failed(kind: str) -> None:
    calls: list[int] = []
    broken = {"on": True}

    def unit(index: int) -> Any:
        async def run_unit(_: int) -> str:
            calls.append(index)
            if index == 1 and broken["on"]:
                await asyncio.sleep(0.05)
                raise ConnectionError("flaky upstream")
            return f"v{index}"

        return run_unit

    graph = build(kind, [unit(0), unit(1), unit(2)], on_error="fail_fast").compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": kind}}
    with pytest.raises(ConnectionError):
        asyncio.run(graph.ainvoke({"input": None}, config))
    assert sorted(calls) == [0, 1, 2]
    broken["on"] = False
    calls.clear()
    result = asyncio.run(graph.ainvoke(None, config))
    assert calls == [1]
    assert [r["value"] for r in result["results"]] == ["v0", "v1", "v2"]


def test_error_budget_names_the_failed_branches(kind: str) -> None:
    graph = build(kind, [ok("a"), boom("down"), boom("gone", ValueError)], min_successes=2)
    with pytest.raises(BranchFailuresError) as caught:
        asyncio.run(graph.compile().ainvoke({"input": None}))
    error = caught.value
    assert (error.successes, error.needed) == (1, 2)
    assert [r["index"] for r in error.failures] == [1, 2]
    assert "RuntimeError: down" in str(error) and "ValueError: gone" in str(error)
    assert "min_successes=2" in str(error)


def test_error_budget_met_runs_the_join(kind: str) -> None:
    result = run(kind, [ok("a"), boom(), ok("c")], min_successes=2)
    assert "output" in result


def test_a_timed_out_branch_is_a_failure_not_a_crash(kind: str) -> None:
    started = time.perf_counter()
    result = run(kind, [ok("fast"), ok("never", delay=5)], timeout=0.1)
    assert time.perf_counter() - started < 2
    slow = result["results"][1]
    assert slow["status"] == "timeout"
    assert slow["error"]["type"] == "NodeTimeoutError"
    assert "0.100s" in slow["error"]["message"]
    assert result["results"][0]["status"] == "ok"


def test_sync_branches_time_out_too(kind: str) -> None:
    def sleepy(index: int) -> str:
        time.sleep(1.0)
        return "too late"

    started = time.perf_counter()
    result = run(kind, [sleepy, lambda i: "quick"], timeout=TimeoutPolicy(run_timeout=0.1))
    assert time.perf_counter() - started < 0.9
    assert [r["status"] for r in result["results"]] == ["timeout", "ok"]


def test_retries_follow_the_retry_policy(kind: str) -> None:
    attempts = {"flaky": 0, "bug": 0}

    async def flaky(index: int) -> str:
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise ConnectionError("reset by peer")
        return "third time lucky"

    async def bug(index: int) -> str:
        attempts["bug"] += 1
        raise ValueError("a programming error is not retried")

    result = run(kind, [flaky, bug], retry=FAST_RETRY)
    first, second = result["results"]
    assert (first["status"], first["attempts"], first["value"]) == ("ok", 3, "third time lucky")
    assert (second["status"], second["attempts"]) == ("error", 1)
    assert attempts == {"flaky": 3, "bug": 1}


def test_retries_give_up_after_max_attempts_and_timeouts_are_retried(kind: str) -> None:
    calls = 0

    async def hangs(index: int) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return "never"

    result = run(
        kind,
        [hangs],
        timeout=0.05,
        retry=RetryPolicy(initial_interval=0.001, jitter=False, max_attempts=2),
    )
    record = result["results"][0]
    assert (record["status"], record["attempts"], calls) == ("timeout", 2, 2)
