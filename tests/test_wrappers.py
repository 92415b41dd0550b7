"""Wrappers for any node or callable, through the public API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import pytest
from helpers import Gauge
from langchain_core.rate_limiters import InMemoryRateLimiter
from langgraph.errors import NodeTimeoutError
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, shared_limit
from langgraph_parallel.models import SimulatedModelError
from langgraph_parallel.nodes import (
    Hedge,
    concatenate,
    hedged,
    is_transient,
    with_concurrency_limit,
    with_fallback,
    with_rate_limit,
    with_retry,
    with_timeout,
)

FAST = RetryPolicy(initial_interval=0.001, jitter=False, retry_on=is_transient)


def response(status: int) -> httpx.Response:
    return httpx.Response(
        status, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (openai.RateLimitError("slow down", response=response(429), body=None), True),
        (openai.InternalServerError("oops", response=response(500), body=None), True),
        (openai.APIStatusError("bad gateway", response=response(502), body=None), True),
        (openai.BadRequestError("bad", response=response(400), body=None), False),
        (openai.AuthenticationError("no", response=response(401), body=None), False),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://x")), True),
        (openai.APITimeoutError(request=httpx.Request("POST", "http://x")), True),
        (httpx.HTTPStatusError("x", request=response(503).request, response=response(503)), True),
        (httpx.HTTPStatusError("x", request=response(404).request, response=response(404)), False),
        (httpx.ConnectError("refused"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (NodeTimeoutError("n", 1.0, kind="run", run_timeout=1.0), True),
        (SimulatedModelError("x"), True),
        (ValueError("bug"), False),
        (KeyError("bug"), False),
        (TypeError("bug"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_with_retry_retries_transient_errors_only() -> None:
    calls = {"flaky": 0, "bug": 0}

    def flaky(state: Any) -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise openai.RateLimitError("429", response=response(429), body=None)
        return "ok"

    def bug(state: Any) -> str:
        calls["bug"] += 1
        raise KeyError("missing")

    assert with_retry(flaky, FAST).invoke({}) == "ok"
    with pytest.raises(KeyError):
        with_retry(bug, FAST).invoke({})
    assert calls == {"flaky": 3, "bug": 1}


def test_with_timeout_stops_async_and_sync_calls() -> None:
    async def hangs(state: Any) -> str:
        await asyncio.sleep(5)
        return "never"

    def blocks(state: Any) -> str:
        time.sleep(1)
        return "late"

    for thing in (hangs, blocks):
        started = time.perf_counter()
        with pytest.raises(NodeTimeoutError, match=r"exceeded its run timeout of 0\.100s"):
            asyncio.run(with_timeout(thing, 0.1).ainvoke({}))
        assert time.perf_counter() - started < 0.9


def test_wrappers_compose_and_keep_the_name() -> None:
    attempts = 0

    async def fetch(state: Any) -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(5 if attempts < 2 else 0)
        return "second try"

    wrapped = with_retry(with_timeout(fetch, 0.05), FAST)
    assert wrapped.get_name() == "fetch"
    assert asyncio.run(wrapped.ainvoke({})) == "second try" and attempts == 2


def test_with_fallback() -> None:
    def down(state: Any) -> str:
        raise ConnectionError("down")

    assert with_fallback(down, "cached").invoke({}) == "cached"
    with pytest.raises(ConnectionError):
        with_fallback(down, "cached", on=ValueError).invoke({})


def test_a_named_shared_limit_holds_across_graphs_and_nested_subgraphs() -> None:
    gauge = Gauge()

    async def call_provider(state: Any) -> str:
        with gauge.inside():
            await asyncio.sleep(0.03)
        return "ok"

    limited = with_concurrency_limit(call_provider, shared_limit("test-provider", 3))
    inner = create_fanout_graph({f"b{i}": limited for i in range(4)}, concatenate()).compile()
    outer = create_orchestrator_graph(
        lambda s: [{"input": i} for i in range(4)], inner, concatenate()
    ).compile()
    other = create_fanout_graph({f"c{i}": limited for i in range(5)}, concatenate()).compile()

    async def run_all() -> None:
        await asyncio.gather(outer.ainvoke({"input": 1}), other.ainvoke({"input": 2}))

    asyncio.run(run_all())
    assert gauge.entered == 21
    assert gauge.peak == 3
    with pytest.raises(ValueError, match="already allows 3, not 5"):
        shared_limit("test-provider", 5)
    with pytest.raises(ValueError, match="pass its size the first time"):
        shared_limit("never-made")


def test_with_rate_limit_spaces_the_calls() -> None:
    limiter = InMemoryRateLimiter(
        requests_per_second=20, check_every_n_seconds=0.005, max_bucket_size=1
    )
    stamps: list[float] = []

    async def ping(state: Any) -> None:
        stamps.append(time.perf_counter())

    limited = with_rate_limit(ping, limiter)

    async def burst() -> None:
        await asyncio.gather(*(limited.ainvoke({}) for _ in range(6)))

    asyncio.run(burst())
    assert stamps[-1] - stamps[0] >= 5 * 0.05 * 0.8  # 20/s: at least ~0.05 s apart


def test_a_wrapped_node_works_in_a_plain_state_graph_under_invoke_and_ainvoke() -> None:
    class S(TypedDict, total=False):
        x: int
        y: int

    async def double(state: S) -> dict[str, int]:
        return {"y": state["x"] * 2}

    builder = StateGraph(S)
    builder.add_node(with_timeout(double, 1))
    builder.add_edge(START, "double")
    graph = builder.compile()
    assert graph.invoke({"x": 2}) == {"x": 2, "y": 4}
    assert asyncio.run(graph.ainvoke({"x": 3})) == {"x": 3, "y": 6}


class TestHedging:
    @staticmethod
    def scripted(*latencies: float, fail: set[int] | None = None) -> Any:
        """A call whose n-th attempt takes latencies[n] seconds (and fails if n in fail)."""
        attempts: list[int] = []
        cancelled: list[int] = []

        async def call(state: Any) -> str:
            n = len(attempts)
            attempts.append(n)
            try:
                await asyncio.sleep(latencies[n])
            except asyncio.CancelledError:
                cancelled.append(n)
                raise
            if fail and n in fail:
                raise ConnectionError(f"attempt {n} failed")
            return f"attempt {n}"

        call.attempts = attempts  # type: ignore[attr-defined]
        call.cancelled = cancelled  # type: ignore[attr-defined]
        return call

    def test_a_straggler_gets_a_backup_and_the_loser_is_cancelled(self) -> None:
        call = self.scripted(5.0, 0.01)
        hedge = Hedge(after=0.05)
        started = time.perf_counter()
        assert asyncio.run(hedged(call, hedge).ainvoke({})) == "attempt 1"
        assert time.perf_counter() - started < 1
        assert call.cancelled == [0]
        assert (hedge.calls, hedge.hedges, hedge.backup_wins, hedge.extra_calls) == (1, 1, 1, 1.0)

    def test_a_fast_call_is_not_hedged(self) -> None:
        call = self.scripted(0.01)
        hedge = Hedge(after=0.5)
        assert asyncio.run(hedged(call, hedge).ainvoke({})) == "attempt 0"
        assert (hedge.hedges, call.attempts) == (0, [0])

    def test_an_early_failure_is_raised_not_hedged(self) -> None:
        call = self.scripted(0.01, fail={0})
        hedge = Hedge(after=0.5)
        with pytest.raises(ConnectionError, match="attempt 0 failed"):
            asyncio.run(hedged(call, hedge).ainvoke({}))
        assert hedge.hedges == 0

    def test_after_hedging_one_failure_is_not_enough_and_two_are(self) -> None:
        # The backup starts at 0.05 s, the first attempt fails at 0.2 s, the backup ends at
        # 0.65 s: each step at least 3 times the time before it, so load cannot reorder them.
        first_fails = self.scripted(0.2, 0.6, fail={0})
        assert asyncio.run(hedged(first_fails, 0.05).ainvoke({})) == "attempt 1"
        assert first_fails.attempts == [0, 1]
        both_fail = self.scripted(0.2, 0.6, fail={0, 1})
        with pytest.raises(ConnectionError, match="attempt 0 failed"):
            asyncio.run(hedged(both_fail, 0.05).ainvoke({}))

    def test_the_percentile_delay_learns_from_what_it_has_seen(self) -> None:
        hedge = Hedge(after="p90", initial=3.0, min_samples=10)
        assert hedge.delay() == 3.0
        for ms in range(1, 21):
            hedge.observe(ms / 100)
        assert hedge.delay() == pytest.approx(0.19)
        with pytest.raises(ValueError, match="percentile"):
            Hedge(after="p100")

    def test_the_branch_record_says_it_hedged(self) -> None:
        graph = create_fanout_graph(
            {"slow": hedged(self.scripted(5.0, 0.01), 0.05), "plain": lambda s: 1}, concatenate()
        ).compile()
        events = []
        for chunk in graph.stream({"input": None}, stream_mode=["custom", "values"]):
            events.append(chunk)
        final = [data for mode, data in events if mode == "values"][-1]
        slow, plain = final["results"]
        assert slow.get("hedged") is True and "hedged" not in plain
        hedges = [data for mode, data in events if mode == "custom" and data["event"] == "hedge"]
        assert [(e["kind"], e["branch"], e["index"]) for e in hedges] == [("branch", "slow", 0)]

    def test_a_100_way_fanout_of_stragglers_finishes_near_the_fast_latency(self) -> None:
        """5 of the 100 items straggle (20 s) on their first attempt; other attempts take 0.02 s.

        Which ones is fixed up front, not drawn per call: a draw per call would hand out
        stragglers by call order, which shifts whenever a loaded machine adds a backup. The
        backup starts after 0.5 s, 25 times the fast latency, so a loaded machine does not
        hedge fast calls. No clock is read: a straggler's first attempt can only end by being
        cancelled when its backup wins, so the run finishes near the fast latency (plus the
        hedge delay) iff every straggler was hedged and its first attempt cancelled.
        """
        import random
        from collections import Counter

        stragglers = set(random.Random(7).sample(range(100), 5))
        attempts: Counter[int] = Counter()
        cancelled_firsts: set[int] = set()

        async def call(item: int) -> int:
            attempts[item] += 1
            first = attempts[item] == 1
            try:
                await asyncio.sleep(20.0 if first and item in stragglers else 0.02)
            except asyncio.CancelledError:
                if first:
                    cancelled_firsts.add(item)
                raise
            return item

        hedge = Hedge(after=0.5)
        graph = create_orchestrator_graph(
            lambda s: list(range(100)), hedged(call, hedge), concatenate()
        ).compile()
        state = asyncio.run(graph.ainvoke({"input": None}))
        assert [(r["status"], r["value"]) for r in state["results"]] == [
            ("ok", i) for i in range(100)
        ]
        assert stragglers <= cancelled_firsts  # each straggler lost to its backup
        assert all(attempts[s] == 2 for s in stragglers)
        assert hedge.calls == 100
        assert hedge.backup_wins >= len(stragglers)
        assert len(stragglers) <= hedge.hedges <= 10  # fast calls are (almost) never hedged
        assert hedge.extra_calls <= 0.10


def test_shared_and_adaptive_limits_share_one_registry_of_names() -> None:
    from langgraph_parallel import adaptive_limit

    fixed = shared_limit("test-registry-fixed", 2)
    learned = adaptive_limit("test-registry-adaptive")
    assert learned.name == "test-registry-adaptive"
    with pytest.raises(
        ValueError,
        match=r"is already a ConcurrencyLimit \(shared_limit\); give this one another name",
    ):
        adaptive_limit("test-registry-fixed")
    with pytest.raises(ValueError, match=r"is already an AdaptiveLimit \(adaptive_limit\)"):
        shared_limit("test-registry-adaptive", 2)
    assert shared_limit("test-registry-fixed") is fixed


def test_with_concurrency_limit_takes_a_limit_object_only() -> None:
    with pytest.raises(TypeError, match=r"pass e.g. ConcurrencyLimit\(4\) or shared_limit"):
        with_concurrency_limit(lambda state: 1, "openai")  # type: ignore[arg-type]
