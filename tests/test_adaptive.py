"""`AdaptiveLimit`: the algorithm, fed by hand, and where the package feeds it.

The algorithm is driven here with made-up send times, so no test depends on how fast the
machine is: a "round trip" of 10 s is a success whose `sent_at` is 10 s in the past.
"""

from __future__ import annotations

import asyncio
import threading
import time
import types
from typing import Any

import httpx
import openai
import pytest
from langchain_core.exceptions import ModelRateLimitError
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import ChatOpenAI

from langgraph_parallel import (
    AdaptiveLimit,
    ConcurrencyLimit,
    adaptive_limit,
    create_orchestrator_graph,
)
from langgraph_parallel.engine import limits as _limits
from langgraph_parallel.engine.http import AdaptiveAsyncTransport, can_limit, limited
from langgraph_parallel.engine.limits import current_lease, rate_limited, retry_after_seconds
from langgraph_parallel.models import resolve_model
from langgraph_parallel.nodes import llm_node

RTT = 10.0  # seconds: the made-up round trip of every success below


def ago(seconds: float = RTT) -> float:
    return time.perf_counter() - seconds


async def fill(limit: ConcurrencyLimit, n: int) -> None:
    for _ in range(n):
        await limit.acquire()


def empty(limit: ConcurrencyLimit) -> None:
    while limit.active:
        limit.release()


async def test_slow_start_doubles_each_round_trip_while_the_limit_is_in_use() -> None:
    limit = AdaptiveLimit()
    seen = [limit.limit]
    for _ in range(5):  # one round trip: every place in use, and each call succeeds
        n = limit.limit
        await fill(limit, n)
        for _ in range(n):
            limit.succeeded(ago())
        empty(limit)
        seen.append(limit.limit)
    assert seen == [1, 2, 4, 8, 16, 32]
    assert limit.slow_start and limit.successes == 31
    assert limit.round_trip == pytest.approx(RTT, rel=0.01)


async def test_a_limit_not_in_use_does_not_grow() -> None:
    limit = AdaptiveLimit(initial=10)
    await fill(limit, 4)  # under half of it in use: the successes say nothing about capacity
    for _ in range(50):
        limit.succeeded(ago())
    assert limit.limit == 10
    empty(limit)


async def test_a_rejection_multiplies_by_backoff_at_most_once_per_round_trip() -> None:
    limit = AdaptiveLimit(initial=40)
    limit.succeeded(ago())  # learns the round trip (10 s); not in use, so no growth
    assert limit.limit == 40
    sent = time.perf_counter()
    waits = [limit.rejected(sent) for _ in range(5)]  # five calls sent together, all 429
    assert limit.limit == 36 and limit.rejections == 5 and not limit.slow_start
    assert waits == [pytest.approx(RTT, rel=0.01)] * 5  # no Retry-After: wait a round trip
    assert limit.rejected(time.perf_counter(), retry_after=0.25) == 0.25


async def test_each_further_429_of_a_call_sent_after_the_cut_takes_one_off() -> None:
    limit = AdaptiveLimit(initial=40)
    limit.succeeded(ago())
    limit.rejected(time.perf_counter())  # the cut: 36
    for _ in range(4):  # sent after it, and still rejected: one too many each time
        limit.rejected(time.perf_counter())
    assert limit.limit == 32 and limit.rejections == 5


async def test_a_small_limit_is_cut_by_at_least_one() -> None:
    limit = AdaptiveLimit(initial=5)
    limit.rejected(time.perf_counter())
    assert limit.limit == 4  # 5 x 0.9 = 4.5 would still allow 4, as well as probe 5 soon


async def test_a_rejection_after_a_round_trip_cuts_again() -> None:
    limit = AdaptiveLimit(initial=40)
    limit.succeeded(ago(0.01))  # a 10 ms round trip
    limit.rejected(time.perf_counter())
    assert limit.limit == 36
    deadline = time.perf_counter() + 30
    while limit.limit == 36 and time.perf_counter() < deadline:
        for _ in range(1000):  # many calls succeed (not in use, so they do not grow it)
            limit.succeeded(ago(0.01))
        await asyncio.sleep(0.015)  # past one round trip
        limit.rejected(time.perf_counter())
    assert limit.limit == 32


async def test_a_round_trip_after_a_cut_brings_it_to_what_succeeded() -> None:
    limit = AdaptiveLimit(initial=40)
    limit.succeeded(ago(0.001))
    limit.rejected(time.perf_counter())  # 36, and a look one round trip later
    await asyncio.sleep(0.01)
    for _ in range(2):  # two successes in ten round trips: far fewer than 36
        limit.succeeded(ago(0.001))
    assert limit.limit < 5
    await asyncio.sleep(0.01)
    limit.rejected(time.perf_counter())
    await asyncio.sleep(0.01)
    limit.rejected(time.perf_counter())  # a round trip with no success at all: the floor
    assert limit.limit == 1


async def test_a_rejection_of_a_call_sent_before_the_last_cut_is_not_counted_twice() -> None:
    limit = AdaptiveLimit(initial=40)
    limit.succeeded(ago(0.02))
    before = time.perf_counter()
    limit.rejected(time.perf_counter())
    for _ in range(1000):  # the round trip after the cut: plenty succeed
        limit.succeeded(ago(0.02))
    await asyncio.sleep(0.05)  # a round trip has passed, but this call predates the cut
    limit.rejected(before)
    assert limit.limit == 36 and limit.rejections == 2


async def test_slow_starts_first_429_halves_it_and_a_round_trip_later_it_is_what_completed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr(_limits, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    async def slow_start_to(level: int) -> AdaptiveLimit:
        limit = AdaptiveLimit()
        while limit.limit < level:  # round trips of 1 s, every place in use
            n = limit.limit
            await fill(limit, n)
            clock[0] += 1
            for _ in range(n):
                limit.succeeded(clock[0] - 1)
            empty(limit)
        return limit

    # A provider of capacity 40, and a slow start that doubled to 64 before its first 429.
    limit = await slow_start_to(64)
    assert limit.limit == 64 and limit.slow_start
    limit.rejected(clock[0])
    assert limit.limit == 32 and not limit.slow_start  # half: what it took a round trip ago
    clock[0] += 0.5
    for _ in range(39):  # the round trip after the cut: the provider completes its 40
        limit.succeeded(clock[0] - 1)
    assert limit.limit == 32
    clock[0] += 0.5
    limit.succeeded(clock[0] - 1)  # a round trip on: set to what completed, here up
    assert limit.limit == 40

    # What completed never lifts it above where the usual x0.9 would have left it.
    limit = await slow_start_to(64)
    limit.rejected(clock[0])
    clock[0] += 0.5
    for _ in range(99):  # more than it ever allowed: successes of another limit's calls
        limit.succeeded(clock[0] - 1)
    clock[0] += 0.5
    limit.succeeded(clock[0] - 1)
    assert limit.limit == 57  # 64 x 0.9

    # A slow start from a given `initial` that meets a 429 at once is cut as usual.
    guessed = AdaptiveLimit(initial=40)
    guessed.rejected(clock[0])
    assert guessed.limit == 36


async def test_after_a_rejection_it_grows_one_per_round_trip_and_gently_near_capacity() -> None:
    limit = AdaptiveLimit(initial=20)
    limit.rejected(time.perf_counter())  # found capacity near 20: now 18
    assert limit.limit == 18

    async def round_trip() -> None:
        n = limit.limit
        await fill(limit, n)
        for _ in range(n):
            limit.succeeded(ago())
        empty(limit)

    trips = 0
    while limit.limit < 19:  # below 20 - 1: one more per round trip
        await round_trip()
        trips += 1
    assert trips <= 2
    trips = 0
    while limit.limit < 20:  # within one of the level it found: a quarter as fast
        await round_trip()
        trips += 1
    assert 3 <= trips <= 5
    while limit.limit < 22:  # past it: one per round trip again
        await round_trip()
    await round_trip()  # a round trip two past it with no 429: the capacity grew
    assert limit.slow_start
    await round_trip()
    assert limit.limit >= 40


async def test_floor_and_ceiling_hold() -> None:
    low = AdaptiveLimit(initial=4, floor=2)
    low.succeeded(ago(0.0001))  # a tiny round trip, so every rejection below may cut
    for _ in range(10):
        await asyncio.sleep(0.005)
        low.rejected(time.perf_counter())
    assert low.limit == 2
    high = AdaptiveLimit(initial=4, ceiling=6)
    await fill(high, 4)
    for _ in range(20):
        high.succeeded(ago())
    assert high.limit == 6
    empty(high)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"floor": 0}, "floor must be a positive whole number"),
        ({"ceiling": 1, "floor": 2}, "ceiling=1 is below floor=2"),
        ({"backoff": 1.5}, "backoff must be between 0 and 1"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        AdaptiveLimit(**kwargs)


async def test_growth_wakes_waiters_and_a_cut_holds_new_ones_back() -> None:
    limit = AdaptiveLimit(initial=1)
    await limit.acquire()
    waiter = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    limit.succeeded(ago())  # in use and succeeding: 2 places, so the waiter gets one
    await asyncio.wait_for(waiter, 10)
    assert limit.active == 2
    limit.rejected(time.perf_counter())  # 2 * 0.9 -> 1: both holders keep their places
    assert limit.limit == 1
    limit.release()
    third = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0.01)
    assert not third.done()  # one still holds, and the limit is 1
    limit.release()
    await asyncio.wait_for(third, 10)
    limit.release()


def test_acquire_blocking_waits_for_a_place_across_threads() -> None:
    limit = ConcurrencyLimit(1)
    limit.acquire_blocking()
    order: list[str] = []

    def second() -> None:
        limit.acquire_blocking()
        order.append("second holds")
        limit.release()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.05)
    order.append("first releases")
    limit.release()
    thread.join(10)
    assert order == ["first releases", "second holds"]
    assert limit.active == 0 and limit.peak == 1


def test_history_records_each_change_of_the_limit() -> None:
    limit = AdaptiveLimit(initial=10)
    limit.rejected(time.perf_counter())
    (_, first, *_), (_, second, _, rejections) = limit.history
    assert (first, second, rejections) == (10, 9, 1)


def test_adaptive_limit_is_one_per_provider_endpoint() -> None:
    a = adaptive_limit("openai", base_url="http://127.0.0.1:1/v1", model="m")
    assert a is adaptive_limit("openai", base_url="http://127.0.0.1:1/v1", model="m")
    assert a is not adaptive_limit("openai", base_url="http://127.0.0.1:2/v1", model="m")
    assert a.name == "openai/http://127.0.0.1:1/v1/m"


def test_retry_after_headers_and_rate_limit_errors_are_read() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    response = httpx.Response(429, request=httpx.Request("POST", "http://x"))
    assert rate_limited(openai.RateLimitError("slow down", response=response, body=None))
    assert rate_limited(ModelRateLimitError("slow down"))
    assert rate_limited(httpx.HTTPStatusError("429", request=response.request, response=response))
    assert not rate_limited(ValueError("429"))


class RateLimited(Exception):
    """A rate-limit error as any HTTP library might raise it."""

    status_code = 429


async def test_a_unit_rejected_with_429_is_tried_again_without_spending_its_retries() -> None:
    calls: dict[int, int] = {}

    async def work(item: int) -> int:
        calls[item] = calls.get(item, 0) + 1
        if item == 0 and calls[item] <= 3:
            raise RateLimited("slow down")
        if item == 1:
            raise ValueError("a real error")
        return item

    graph = create_orchestrator_graph(
        lambda state: [0, 1, 2], work, lambda state: None, max_concurrency="auto"
    ).compile()
    records = (await graph.ainvoke({"input": None}))["results"]
    first, second, third = records
    assert first["status"] == "ok" and first["attempts"] == 1 and first["rate_limited"] == 3
    assert second["status"] == "error" and "rate_limited" not in second
    assert third["status"] == "ok" and calls == {0: 4, 1: 1, 2: 1}


async def test_endless_429s_fail_the_unit_in_the_end() -> None:
    async def work(item: int) -> int:
        raise RateLimited("always")

    graph = create_orchestrator_graph(
        lambda state: [0], work, lambda state: None, max_concurrency="auto"
    ).compile()
    (record,) = (await graph.ainvoke({"input": None}))["results"]
    assert record["status"] == "error" and record["error"]["type"] == "RateLimited"
    assert record["rate_limited"] == 20 and record["attempts"] == 1


async def test_auto_on_a_factory_is_one_limit_per_graph_across_runs() -> None:
    seen: list[Any] = []

    async def work(item: int) -> int:
        place = current_lease()
        seen.append(None if place is None else place.limit)
        return item

    graph = create_orchestrator_graph(
        lambda state: [0, 1], work, lambda state: None, max_concurrency="auto"
    ).compile()
    await graph.ainvoke({"input": None})
    await graph.ainvoke({"input": None})
    assert len(seen) == 4 and isinstance(seen[0], AdaptiveLimit)
    assert all(limit is seen[0] for limit in seen)
    assert seen[0].successes == 4


def test_a_bad_max_concurrency_word_is_named() -> None:
    with pytest.raises(ValueError, match="max_concurrency='adaptive' is not a choice"):
        create_orchestrator_graph(
            lambda state: [0],
            lambda item: item,
            lambda state: None,
            max_concurrency="adaptive",  # type: ignore[arg-type]
        )


def test_openai_models_carry_the_transport_and_others_do_not() -> None:
    built = resolve_model("openai:m", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert can_limit(built)
    own = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    assert can_limit(own)
    custom = ChatOpenAI(
        model="m", api_key="sk-test", http_async_client=httpx.AsyncClient(), http_client=None
    )
    assert not can_limit(custom)  # the user's own client is left alone
    assert limited(custom, None) is custom
    copy = limited(own, AdaptiveLimit())
    assert copy is not own and copy.http_async_client is not own.http_async_client
    assert not can_limit(FakeListChatModel(responses=["x"]))


def test_llm_node_auto_uses_the_providers_limit() -> None:
    model = ChatOpenAI(model="m-auto", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    llm_node("Say hi.", model, max_concurrency="auto")
    limit = adaptive_limit("openai", base_url="http://127.0.0.1:9/v1", model="m-auto")
    assert limit.successes == 0  # made, not yet used
    with pytest.raises(TypeError, match="unexpected keyword argument 'limit'"):
        llm_node("Say hi.", model, limit=ConcurrencyLimit(2))  # type: ignore[call-arg]


async def test_llm_node_auto_feeds_a_non_http_models_rate_limit_errors() -> None:
    class Limited(FakeListChatModel):
        async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
            raise ModelRateLimitError("slow down")

    model = Limited(responses=["x"])
    node = llm_node("Say hi.", model, max_concurrency="auto", name="fake")
    limit = adaptive_limit("Limited", base_url=None, model=None)
    with pytest.raises(ModelRateLimitError):
        await node.ainvoke({"input": "x"})
    assert limit.rejections == 1 and limit.active == 0


async def test_the_transport_absorbs_429s_and_reports_them() -> None:
    answers = [429, 429, 200]
    sent: list[int] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(len(sent))
        status = answers.pop(0)
        return httpx.Response(status, headers={"retry-after-ms": "1"}, json={"ok": status})

    limit = AdaptiveLimit(initial=3)
    inner = httpx.MockTransport(reply)
    async with httpx.AsyncClient(transport=AdaptiveAsyncTransport(limit, inner)) as client:
        response = await client.get("http://provider.test/")
        assert limit.active == 0  # the body was read, so the place is back
    assert response.status_code == 200 and len(sent) == 3
    assert limit.rejections == 2 and limit.successes == 1


async def test_the_transport_uses_the_units_place_instead_of_taking_another() -> None:
    limit = AdaptiveLimit(initial=1)

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    async def unit(item: int) -> int:
        async with httpx.AsyncClient(
            transport=AdaptiveAsyncTransport(None, httpx.MockTransport(reply))
        ) as client:
            await client.get("http://provider.test/")  # would wait for ever for a 2nd place
        return limit.successes

    graph = create_orchestrator_graph(
        lambda state: [0], unit, lambda state: None, max_concurrency=limit
    ).compile()
    (record,) = (await asyncio.wait_for(graph.ainvoke({"input": None}), 30))["results"]
    assert record["status"] == "ok" and record["value"] == 1  # the transport reported it
    assert limit.successes == 1  # and the runner did not report it again


async def test_the_transport_passes_requests_through_with_no_limit() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={})

    transport = AdaptiveAsyncTransport(None, httpx.MockTransport(reply))
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://provider.test/")).status_code == 429


async def test_the_transport_waits_as_long_as_retry_after_says() -> None:
    sent: list[float] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(time.perf_counter())
        if len(sent) == 1:
            return httpx.Response(429, headers={"retry-after-ms": "300"}, json={})
        return httpx.Response(200, json={})

    transport = AdaptiveAsyncTransport(AdaptiveLimit(), httpx.MockTransport(reply))
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://provider.test/")).status_code == 200
    assert len(sent) == 2 and sent[1] - sent[0] >= 0.3


async def test_progress_events_carry_the_limits_state() -> None:
    async def work(item: int) -> int:
        return item

    graph = create_orchestrator_graph(
        lambda state: [0, 1, 2], work, lambda state: None, max_concurrency="auto"
    ).compile()
    states = [
        event["limit"]
        async for event in graph.astream({"input": None}, stream_mode="custom")
        if event.get("event") == "finish"
    ]
    assert len(states) == 3
    assert all(set(state) == {"limit", "in_flight", "rejections"} for state in states)
    assert all(state["limit"] >= 1 and state["rejections"] == 0 for state in states)


async def test_parallel_tool_node_auto_retries_rate_limited_tools_for_free() -> None:
    from langchain_core.messages import AIMessage

    from langgraph_parallel.nodes import parallel_tool_node

    calls: list[str] = []

    def lookup(query: str) -> str:
        """Look something up."""
        calls.append(query)
        if len(calls) <= 2:
            raise RateLimited("slow down")
        return f"found {query}"

    node = parallel_tool_node([lookup], max_concurrency="auto")
    message = AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "x"}, "id": "1"}])
    (answer,) = (await node.ainvoke({"messages": [message]}))["messages"]
    assert answer.content == "found x" and answer.status == "success"
    assert calls == ["x", "x", "x"]


@pytest.mark.parametrize("factory", ["fanout", "orchestrator", "voting"])
async def test_every_factory_takes_auto(factory: str) -> None:
    from langgraph_parallel import create_fanout_graph, create_voting_graph

    places: list[Any] = []

    async def unit(value: Any) -> str:
        place = current_lease()
        places.append(None if place is None else place.limit)
        return "yes"

    if factory == "fanout":
        builder = create_fanout_graph(
            {"a": unit, "b": unit}, lambda state: None, max_concurrency="auto"
        )
    elif factory == "orchestrator":
        builder = create_orchestrator_graph(
            lambda state: [0, 1], unit, lambda state: None, max_concurrency="auto"
        )
    else:
        builder = create_voting_graph([unit, unit], max_concurrency="auto")
    out = await builder.compile().ainvoke({"input": "x"})
    assert all(r["status"] == "ok" for r in out["results"]) and len(places) == 2
    assert isinstance(places[0], AdaptiveLimit) and places[1] is places[0]


def test_one_adaptive_limit_holds_across_threads_and_graphs() -> None:
    limit = AdaptiveLimit(initial=2, ceiling=2)
    running = 0
    peak = 0
    lock = threading.Lock()

    def unit(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return item

    def one_run() -> None:
        graph = create_orchestrator_graph(
            lambda state: list(range(6)), unit, lambda state: None, max_concurrency=limit
        ).compile()
        assert all(r["status"] == "ok" for r in graph.invoke({"input": None})["results"])

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert peak == 2 and limit.peak == 2 and limit.active == 0


def test_llm_nodes_share_one_pair_of_http_clients() -> None:
    # an httpx client builds an SSL context (tens of ms): one per node made 100 nodes slow
    model = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    first, second = limited(model, None), limited(model, None)
    assert first.http_async_client is second.http_async_client  # type: ignore[attr-defined]
    assert limited(first, None) is first  # already through the package's clients
    limit = AdaptiveLimit()
    assert limited(model, limit).http_client is limited(model, limit).http_client  # type: ignore[attr-defined]
    assert limited(model, limit).http_client is not first.http_client  # type: ignore[attr-defined]


async def test_a_429_that_shrinks_the_limit_below_its_holders_gives_each_place_back_once() -> None:
    """Four units hold the four places of a limit and each meets a 429 at once: the first
    cut leaves more holders than places, so one unit gives its place back to wait. That place
    is given back once: before the lease owned it, the runner gave it back a second time
    (the limit's count of holders ended at -1, one call more allowed than it said)."""
    limit = AdaptiveLimit(initial=4)
    seen: set[int] = set()
    all_in = asyncio.Event()

    async def work(item: int) -> int:
        if item not in seen:
            seen.add(item)
            if len(seen) == 4:
                all_in.set()
            await all_in.wait()  # all four hold a place now
            raise RateLimited("busy")
        return item

    graph = create_orchestrator_graph(
        lambda state: [0, 1, 2, 3], work, lambda state: None, max_concurrency=limit
    ).compile()
    out = await graph.ainvoke({"input": None})
    assert [r["status"] for r in out["results"]] == ["ok"] * 4
    assert [r["rate_limited"] for r in out["results"]] == [1] * 4
    assert limit.rejections == 4 and limit.limit < 4
    assert limit.active == 0
