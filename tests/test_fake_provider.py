"""`FakeOpenAIServer`'s provider model (a hard capacity, a token bucket) and what it
measures, over real HTTP. Nothing here asserts a wall-clock time with less than 3x margin:
"at once" is shown by counts and by the order of events, with latencies long enough for
every concurrent request to overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from helpers import wait_until

from langgraph_parallel.testing import FakeOpenAIServer, time_weighted_mean

SLOW = 1.0  # seconds: every request started together is still being served when the last arrives


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def post(http: httpx.Client, server: FakeOpenAIServer, text: str = "hello") -> httpx.Response:
    return http.post(
        f"{server.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
    )


def together(n: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """`n` calls released at the same moment by a barrier, one thread each."""
    barrier = threading.Barrier(n)

    def one() -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(one) for _ in range(n)]]


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `call` in a thread; its result, or the exception it raised, lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as error:  # e.g. the connection a hang held, closed by close()
            out.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


# --- hard capacity ----------------------------------------------------------------------


def test_capacity_k_serves_exactly_k_of_k_plus_3_concurrent_requests(http: httpx.Client) -> None:
    k = 3
    with FakeOpenAIServer(latency=SLOW, capacity=k) as server:
        responses = together(k + 3, lambda: post(http, server))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * k + [429] * 3
        for response in responses:
            if response.status_code == 429:
                assert response.headers["retry-after-ms"] == "1000"  # retry_after=None: latency
                assert float(response.headers["retry-after"]) == 1.0
                assert response.json()["error"]["type"] == "rate_limit_exceeded"
            else:
                assert "retry-after-ms" not in response.headers
        assert server.peak_in_flight == k  # the 429s were never in flight
        assert server.in_flight == 0 and server.counts == {200: k, 429: 3}
        # Answered at once: every 429 was sent before any admitted request was answered.
        turned_away = [r for r in server.requests if r.status == 429]
        served = [r for r in server.requests if r.status == 200]
        assert len(turned_away) == 3 and len(served) == k
        assert max(r.ended or 0 for r in turned_away) < min(r.ended or 0 for r in served)
        assert all(r.answer == 429 and r.ended == r.started for r in turned_away)


def test_a_full_capacity_raises_rate_limit_error_in_the_openai_client_at_once() -> None:
    latency = 6.0
    with (
        FakeOpenAIServer(latency=latency, capacity=0, retry_after=2.5) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        began = time.perf_counter()
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert time.perf_counter() - began < latency / 3  # not served: no latency
        headers = caught.value.response.headers
        assert headers["retry-after-ms"] == "2500" and headers["retry-after"] == "2.5"
        assert caught.value.status_code == 429
        assert caught.value.response.json()["error"]["type"] == "rate_limit_exceeded"
        assert server.peak_in_flight == 0 and server.counts == {429: 1}
        assert len(server.in_flight_series()) == 1  # in_flight never changed


def test_capacity_can_be_changed_while_running(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=SLOW, capacity=2) as server:
        running = [in_background(lambda: post(http, server)) for _ in range(2)]
        wait_until(lambda: server.in_flight == 2)
        server.capacity = 1  # below the 2 being served
        assert post(http, server).status_code == 429
        assert server.in_flight == 2  # the running ones were not cut short ...
        for thread, out in running:
            thread.join()
            assert out[0].status_code == 200  # ... and finish normally
        assert post(http, server).status_code == 200  # 0 in flight < 1
        server.capacity = 0
        assert post(http, server).status_code == 429
        server.capacity = None
        server.reset_counts()
        assert [r.status_code for r in together(4, lambda: post(http, server))] == [200] * 4
        assert server.peak_in_flight == 4
    with pytest.raises(ValueError, match="capacity"):
        FakeOpenAIServer(capacity=-1)


# --- token bucket -----------------------------------------------------------------------


def test_the_token_bucket_caps_accepted_requests_over_a_measured_interval(
    http: httpx.Client,
) -> None:
    rate, burst = 5.0, 2.0
    with FakeOpenAIServer(latency=0, rate=rate, burst=burst) as server:
        began = time.perf_counter()
        responses = []
        while time.perf_counter() - began < 1.0:
            responses.append(post(http, server))
        elapsed = time.perf_counter() - began
        accepted = [r for r in responses if r.status_code == 200]
        rejected = [r for r in responses if r.status_code == 429]
        assert len(accepted) + len(rejected) == len(responses)
        assert burst <= len(accepted) <= rate * elapsed + burst + 1
        assert len(rejected) > len(accepted)  # it really was pushed past the rate
        for response in rejected:
            assert 1 <= int(response.headers["retry-after-ms"]) <= 1000 / rate
            assert response.json()["error"]["type"] == "rate_limit_exceeded"
        assert server.counts == {200: len(accepted), 429: len(rejected)}


def test_the_token_bucket_retry_after_is_the_time_to_the_next_token(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0, rate=0.001, burst=2) as server:  # one token per 1000 s
        assert [post(http, server).status_code for _ in range(2)] == [200, 200]  # the burst
        third = post(http, server)
        assert third.status_code == 429
        assert 990_000 <= int(third.headers["retry-after-ms"]) <= 1_000_000
        assert 990 <= float(third.headers["retry-after"]) <= 1000
    with pytest.raises(ValueError, match="burst"):
        FakeOpenAIServer(rate=1, burst=0.5)
    with pytest.raises(ValueError, match="rate"):
        FakeOpenAIServer(rate=0)


def test_the_rate_can_be_changed_while_running(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0, rate=0.001, burst=1) as server:
        assert [post(http, server).status_code for _ in range(2)] == [200, 429]
        server.rate = 1000.0  # a token every millisecond from now on
        time.sleep(0.05)
        assert post(http, server).status_code == 200
        time.sleep(0.05)  # the bucket fills again at 1000/s ...
        server.rate = 0.001  # ... and keeps that token when the rate drops
        assert [post(http, server).status_code for _ in range(2)] == [200, 429]
        server.rate = None  # unlimited
        assert {post(http, server).status_code for _ in range(10)} == {200}
        server.rate = 0.001  # on again: the bucket starts full
        assert [post(http, server).status_code for _ in range(2)] == [200, 429]


def test_capacity_and_rate_must_both_admit_a_request(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0, capacity=0, rate=0.001, burst=1) as server:
        assert post(http, server).status_code == 429  # the bucket has a token; capacity says no
        server.capacity = 5
        assert post(http, server).status_code == 200  # the token was not spent on the 429
        assert post(http, server).status_code == 429  # capacity says yes; the bucket is empty


# --- rules keep priority ----------------------------------------------------------------


def test_rules_keep_priority_over_the_provider_model(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0.01, capacity=0) as server:  # the model turns all away
        server.when("boom", 500, 429, "ok")
        assert post(http, server, "boom").status_code == 500  # the rule's step decides
        rule_429 = post(http, server, "boom")
        assert rule_429.status_code == 429 and "retry-after-ms" not in rule_429.headers
        # A rule's "ok", or a rule with no steps left, goes on to the provider model:
        for _ in range(2):
            modelled = post(http, server, "boom")
            assert modelled.status_code == 429 and "retry-after-ms" in modelled.headers
        assert [r.answer for r in server.requests] == [500, 429, 429, 429]
        assert server.peak_in_flight == 1  # the rule's answers were served (with latency)


# --- what is measured -------------------------------------------------------------------


def test_the_status_sent_is_recorded_per_request(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=SLOW) as server:
        server.when("fail", 500)
        server.when("hold", "hang")
        thread, out = in_background(lambda: post(http, server))
        wait_until(lambda: server.in_flight == 1)
        assert server.requests[0].status is None  # being served: not answered yet
        thread.join()
        assert out[0].status_code == 200 and server.requests[0].status == 200
        server.latency = 0.01
        assert post(http, server, "fail").status_code == 500
        assert http.post(f"{server.base_url}/nowhere", json={}).status_code == 404
        server.capacity = 0
        assert post(http, server).status_code == 429
        server.capacity = None
        with pytest.raises(httpx.ReadTimeout):
            http.post(
                f"{server.base_url}/chat/completions",
                json={"messages": [{"role": "user", "content": "hold"}]},
                timeout=0.5,
            )
        assert [r.status for r in server.requests] == [200, 500, 404, 429, None]
        assert server.counts == {200: 1, 500: 1, 404: 1, 429: 1}  # the hang sent nothing


def test_counts_is_a_copy(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0) as server:
        post(http, server)
        counts = server.counts
        counts[200] = 99
        counts[429] = 1
        assert server.counts == {200: 1}


def test_reset_counts_forgets_counts_and_restarts_the_series(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=0.01) as server:
        server.when("hold", "hang")
        post(http, server)
        assert server.counts == {200: 1} and len(server.in_flight_series()) == 3
        thread, _ = in_background(lambda: post(http, server, "hold"))
        wait_until(lambda: server.in_flight == 1)
        before = time.perf_counter()
        server.reset_counts()
        after = time.perf_counter()
        assert server.requests == [] and server.count == 0 and server.counts == {}
        [(t, value)] = server.in_flight_series()
        assert before <= t <= after and value == 1  # afresh, at the current in-flight value
        assert server.peak_in_flight == 1
        assert server.mean_in_flight() == 1.0  # since the reset, the hang alone
    thread.join()  # close() released the hang
    assert server.in_flight == 0


def test_the_step_function_mean_on_a_synthetic_series() -> None:
    series = [(0.0, 0), (1.0, 2), (3.0, 1), (4.0, 0)]
    assert time_weighted_mean(series, 0.0, 5.0) == 1.0  # (2*2 + 1*1) / 5
    assert time_weighted_mean(series, 0.5, 4.5) == 1.25  # 5 / 4
    assert time_weighted_mean(series, 2.0, 3.5) == pytest.approx(2.5 / 1.5)
    assert time_weighted_mean(series, 1.0, 3.0) == 2.0
    assert time_weighted_mean(series, 5.0, 9.0) == 0.0  # after the last point: its value
    assert time_weighted_mean([(0.0, 3)], 1.0, 2.0) == 3.0  # the last value holds
    assert time_weighted_mean(series, -1.0, 1.0) == 0.0  # before the first point: 0
    assert time_weighted_mean([(1.0, 4)], 0.0, 2.0) == 2.0
    assert time_weighted_mean(series, 2.0, 2.0) == 2.0  # an instant: the value there
    assert time_weighted_mean(series, 3.0, 3.0) == 1.0  # a change point takes the new value
    assert time_weighted_mean([(1.0, 4)], 0.5, 0.5) == 0.0
    assert time_weighted_mean([], 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="before start"):
        time_weighted_mean(series, 2.0, 1.0)


def test_mean_in_flight_on_a_real_run_with_capacity_2(http: httpx.Client) -> None:
    with FakeOpenAIServer(latency=SLOW, capacity=2) as server:
        created = server.in_flight_series()[0][0]
        statuses = sorted(r.status_code for r in together(6, lambda: post(http, server)))
        assert statuses == [200, 200, 429, 429, 429, 429]
        assert server.peak_in_flight == 2
        series = server.in_flight_series()
        # The start, then 2 admissions and 2 answers: the 429s never moved in_flight.
        assert [value for _, value in series] == [0, 1, 2, 1, 0]
        times = [t for t, _ in series]
        assert times == sorted(times) and times[0] == created
        busy_from, busy_to = times[1], times[-1]
        # Whenever a request was being served, both were for most of the time (they overlap).
        assert 1.0 <= server.mean_in_flight(busy_from, busy_to) <= 2.0
        assert server.mean_in_flight(busy_from, busy_to) == time_weighted_mean(
            series, busy_from, busy_to
        )
        # The whole run, idle start and end included: less than the peak, more than nothing.
        whole = server.mean_in_flight()
        assert 0.0 < whole < 2.0
        assert server.mean_in_flight(busy_to, busy_to + 1.0) == 0.0
