"""executor="process" and pluggable executors: same results, failures and order as threads."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cpu_work import input_squared, meet, square, timed_burn
from helpers import Gauge
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, create_voting_graph
from langgraph_parallel.engine.bridge import process_pool


@pytest.fixture(scope="module", autouse=True)
def warm_pool() -> None:
    """Spawned workers take a moment to start; start them before timing anything."""
    list(process_pool().map(square, range(8)))


def values(state: dict[str, Any]) -> list[Any]:
    return [r["value"] for r in state["results"]]


def test_branches_run_in_other_processes_at_the_same_time(tmp_path: Path) -> None:
    class Work(TypedDict):
        room: str
        expect: int

    graph = create_fanout_graph(
        {"a": meet, "b": meet}, values, state_schema=Work, executor="process"
    ).compile()
    state = graph.invoke({"room": str(tmp_path), "expect": 2})
    # Each branch returned only after the other had started (a file in the room per process).
    assert [r["status"] for r in state["results"]] == ["ok", "ok"], state["results"]
    a, b = state["output"]
    assert os.getpid() not in (a["pid"], b["pid"]) and a["pid"] != b["pid"]


def test_orchestrator_items_in_processes_keep_plan_order_and_record_failures() -> None:
    plan = [{"n": i, "seconds": 0.01 * (5 - i), "fail": i == 2} for i in range(5)]
    graph = create_orchestrator_graph(
        lambda s: plan, timed_burn, values, executor="process", chunk_size=5
    ).compile()
    state = asyncio.run(graph.ainvoke({"input": None}))
    assert [r["status"] for r in state["results"]] == ["ok", "ok", "error", "ok", "ok"]
    assert [v["n"] for v in state["output"] if v] == [0, 1, 3, 4]
    assert state["results"][2]["error"] == {
        "type": "ValueError",
        "message": "item 2 cannot be computed",
    }


def test_voters_in_processes() -> None:
    graph = create_voting_graph(input_squared, n=3, executor="process").compile()
    outcome = graph.invoke({"input": 4})["output"]
    assert (outcome["winner"], outcome["cast"], outcome["agreement"]) == (16, 3, 1.0)


def test_process_timeouts_are_recorded_and_the_run_moves_on() -> None:
    class Work(TypedDict):
        seconds: float
        input: int

    graph = create_fanout_graph(
        {"slow": timed_burn, "fast": input_squared},
        values,
        state_schema=Work,
        executor="process",
        timeout=0.5,
    ).compile()
    started = time.perf_counter()
    state = graph.invoke({"seconds": 2.0, "input": 3})
    assert time.perf_counter() - started < 1.5
    assert [r["status"] for r in state["results"]] == ["timeout", "ok"]
    assert state["results"][1]["value"] == 9


LOCK = threading.Lock()


def writes_progress(state: Any, writer: Any) -> int:
    return 1


@pytest.mark.parametrize(
    ("thing", "message"),
    [
        (lambda s: LOCK.locked(), r"cannot be \(TypeError: cannot pickle '_thread.lock'"),
        (writes_progress, "writer cannot go there"),
    ],
    ids=["holds-a-lock", "takes-writer"],
)
def test_what_cannot_run_in_a_process_is_refused_at_build_time(thing: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        create_fanout_graph({"a": thing}, values, executor="process")
    assert "branch 'a'" in str(refused.value)


def test_async_closures_and_lambdas_run_in_processes_and_know_their_index() -> None:
    offset = 100

    async def worker(n: int, config: Any) -> tuple[int, int, int]:
        await asyncio.sleep(0)
        return os.getpid(), n + offset, config["metadata"]["lgp_index"]

    graph = create_orchestrator_graph(
        lambda s: [5, 6, 7], worker, values, executor="process", chunk_size=3
    ).compile()
    out = graph.invoke({"input": None})["output"]
    assert [o[1:] for o in out] == [(105, 0), (106, 1), (107, 2)]
    assert os.getpid() not in {o[0] for o in out}
    doubled = create_voting_graph(lambda s: s["input"] * 2, n=2, executor="process").compile()
    assert doubled.invoke({"input": 4})["output"]["winner"] == 8


def test_an_unknown_executor_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"'thread', 'process' or a concurrent\.futures\.Executor"):
        create_fanout_graph({"a": square}, values, executor="gpu")  # type: ignore[arg-type]


def test_any_executor_can_be_plugged_in() -> None:
    gauge = Gauge()

    def work(n: int) -> int:
        with gauge.inside():
            time.sleep(0.03)
        return n * 2

    with ThreadPoolExecutor(2) as executor:
        graph = create_orchestrator_graph(
            lambda s: list(range(8)), work, values, executor=executor
        ).compile()
        assert graph.invoke({"input": None})["output"] == [n * 2 for n in range(8)]
    assert gauge.peak == 2
