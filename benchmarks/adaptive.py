"""The adaptive-concurrency rows of `make bench`: how much of a provider's capacity is used.

A `FakeOpenAIServer` with a hard capacity K answers 429 (with `retry-after-ms`) beyond K
requests in flight. An orchestrator of `llm_node` workers on a real `ChatOpenAI` runs 40*K
items against it with `max_concurrency="auto"`, a fixed cap of K/2, and no cap. What is
reported is the server's own time-weighted mean of requests in flight over the steady part
of the run (from log2(K) + 10 round trips in, until the last 2K answers), as a share of K,
and the share of requests answered 429. A second run drops the capacity from 32 to 8 and
back, and the plot shows the limit following it.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from langgraph_parallel import AdaptiveLimit, create_orchestrator_graph
from langgraph_parallel.engine.http import openai_http_clients
from langgraph_parallel.nodes import llm_node
from langgraph_parallel.testing import FakeOpenAIServer


async def _run(
    server: FakeOpenAIServer, items: int, max_concurrency: Any, during: Any = None
) -> dict[str, Any]:
    clients = openai_http_clients(None)
    model = ChatOpenAI(model="fake", api_key="sk-test", base_url=server.base_url, **clients)
    graph = create_orchestrator_graph(
        lambda state: [f"item {i}" for i in range(items)],
        llm_node("Answer briefly.", model),
        lambda state: None,
        max_concurrency=max_concurrency,
        max_items=items,
    ).compile()
    started = time.perf_counter()
    task = asyncio.ensure_future(graph.ainvoke({"input": None}))
    if during is not None:
        await during()
    out = await task
    clients["http_client"].close()
    await clients["http_async_client"].aclose()
    results = out["results"]
    assert len(results) == items and [r["index"] for r in results] == list(range(items))
    return {"started": started, "ended": time.perf_counter(), "results": results}


def _steady_share(server: FakeOpenAIServer, started: float, capacity: int) -> float:
    start = started + (math.log2(capacity) + 10) * server.latency
    answered = sorted(r.ended for r in server.requests if r.status == 200 and r.ended)
    end = answered[-2 * capacity] if len(answered) > 2 * capacity else time.perf_counter()
    return server.mean_in_flight(start, end) / capacity


async def utilisation(capacity: int = 16, latency: float = 0.25) -> list[list[str]]:
    """Rows: variant, share of K in flight, 429 share, items ok, wall."""
    rows = []
    variants: list[tuple[str, Any]] = [
        ('`max_concurrency="auto"`', None),
        (f"fixed `max_concurrency={capacity // 2}` (K/2)", capacity // 2),
        ("no cap (the `openai` client's own retries)", "none"),
    ]
    for label, cap in variants:
        with FakeOpenAIServer(latency=latency, capacity=capacity) as server:
            limit = AdaptiveLimit(name="bench") if cap is None else None
            run = await _run(server, 40 * capacity, limit or (None if cap == "none" else cap))
            share = _steady_share(server, run["started"], capacity)
            counts = server.counts
            rejected = counts.get(429, 0) / max(sum(counts.values()), 1)
            ok = sum(r["status"] == "ok" for r in run["results"])
            rows.append(
                [
                    label,
                    f"{share:.2f}",
                    f"{rejected:.1%}",
                    f"{ok:,} of {40 * capacity:,}",
                    f"{run['ended'] - run['started']:.1f} s",
                ]
            )
    return rows


async def follow(path: Path, latency: float = 0.3, high: int = 32, low: int = 8) -> list[str]:
    """Drop the capacity from `high` to `low` and back; plot the limit; describe it."""
    changes: dict[str, float] = {}
    limit = AdaptiveLimit(name="bench")

    async def change() -> None:
        await asyncio.sleep(15 * latency)
        changes["drop"] = time.perf_counter()
        server.capacity = low
        await asyncio.sleep(15 * latency)
        changes["rise"] = time.perf_counter()
        server.capacity = high

    with FakeOpenAIServer(latency=latency, capacity=high) as server:
        run = await _run(server, 1400, limit, during=change)
        series = server.in_flight_series()
        counts = server.counts
    t0 = run["started"]

    def trips(t: float) -> float:
        return (t - t0) / latency

    def first(after: float, test: Any, points: list[tuple[float, int]]) -> float:
        return next(((t - after) / latency for t, v in points if t >= after and test(v)), math.inf)

    history = [(t, value) for t, value, _, _ in limit.history]
    down = first(changes["drop"], lambda v: v <= 1.25 * low, history)
    up = first(changes["rise"], lambda v: v >= 0.9 * high, series)
    _plot(path, history, series, changes, t0, latency, high, low, run["ended"])
    rejected = counts.get(429, 0) / max(sum(counts.values()), 1)
    return [
        f"After the capacity fell from {high} to {low}, the limit was at most "
        f"{1.25 * low:.0f} within {down:.1f} round trips; after it rose back, the server had "
        f"{0.9 * high:.0f} requests in flight again within {up:.1f} round trips "
        f"(goal: about 10 each way). 429s: {rejected:.1%} of all requests; the run's "
        f"{trips(run['ended']):.0f} round trips of {latency} s.",
    ]


def _plot(
    path: Path,
    history: list[tuple[float, int]],
    series: list[tuple[float, int]],
    changes: dict[str, float],
    t0: float,
    latency: float,
    high: int,
    low: int,
    end: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def steps(points: list[tuple[float, int]]) -> tuple[list[float], list[int]]:
        return [(t - t0) / latency for t, _ in points], [v for _, v in points]

    figure, axes = plt.subplots(figsize=(8, 4))
    drop, rise = ((changes[k] - t0) / latency for k in ("drop", "rise"))
    done = (end - t0) / latency
    axes.step(
        [0, drop, rise, done],
        [high, low, high, high],
        where="post",
        color="black",
        linestyle="--",
        label="provider's capacity",
    )
    axes.step(*steps(history), where="post", label='AdaptiveLimit (max_concurrency="auto")')
    axes.step(*steps(series), where="post", alpha=0.5, label="requests in flight (server)")
    axes.set_xlabel(f"round trips ({latency} s each)")
    axes.set_ylabel("concurrent requests")
    axes.set_title("The adaptive limit follows the provider's capacity")
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
