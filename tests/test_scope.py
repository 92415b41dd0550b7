"""A run's scope stops its units, whether they run one per node or many in one batch.

Voting's early stop and the guardrails stop single units (`run_unit`) through the public
graphs, and their tests cover that. No public graph stops the items of an orchestrator's
batch (`run_units`) yet, so that path is pinned here, at the runner.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_parallel.engine.options import RunOptions
from langgraph_parallel.engine.runner import run_unit, run_units
from langgraph_parallel.engine.scope import RunScope, StopReason
from langgraph_parallel.engine.unit import Unit

STOP = StopReason("VoteDecided", "stopped: the test decided")


async def test_a_stop_reaches_running_and_unstarted_units_of_a_batch() -> None:
    scope = RunScope(id="batch")
    ran: list[int] = []
    waiting = asyncio.Event()

    async def unit(index: int) -> str:
        ran.append(index)
        if index == 0:
            await waiting.wait()  # unit 1 is running (it waits for ever) once this returns
            scope.stop([("w", 1), ("w", 3)], STOP)
            return "stopper"
        if index == 1:
            waiting.set()
            await asyncio.Event().wait()
        if index == 2:
            await asyncio.sleep(0)
            return "kept"
        return "should not run"

    worker = Unit(unit, label="w")

    jobs = [(worker, "w", i, i) for i in range(3)]
    records = await asyncio.wait_for(
        run_units(iter(jobs), config={}, options=RunOptions(), scope=scope), timeout=30
    )
    assert [(r["index"], r["status"]) for r in records] == [(0, "ok"), (1, "cancelled"), (2, "ok")]
    assert records[1]["error"] == {"type": "VoteDecided", "message": STOP.message}

    # unit 3 was stopped before it started: it is recorded and never runs
    ran.clear()
    [record] = await run_units([(worker, "w", 3, 3)], config={}, options=RunOptions(), scope=scope)
    assert (record["status"], record["error"], ran) == (
        "cancelled",
        {"type": "VoteDecided", "message": STOP.message},
        [],
    )
    assert scope._running == {"w": {}}, "a finished batch leaves no task registered"


async def test_a_stop_reaches_a_single_unit_and_it_is_unregistered_after() -> None:
    scope = RunScope(id="single")
    started = asyncio.Event()

    async def slow(_: Any) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    async def stop_when_started() -> None:
        await started.wait()
        scope.stop([("voter", 4)], STOP)

    stopper = asyncio.ensure_future(stop_when_started())
    record = await asyncio.wait_for(
        run_unit(
            Unit(slow, label="voter"),
            None,
            branch="voter",
            index=4,
            config={},
            options=RunOptions(),
            scope=scope,
        ),
        timeout=30,
    )
    await stopper
    assert (record["status"], record["error"]) == (
        "cancelled",
        {"type": "VoteDecided", "message": STOP.message},
    )
    assert scope._running == {"voter": {}}


async def test_nothing_stopped_means_no_unit_looks_further() -> None:
    scope = RunScope(id="quiet")
    assert not scope.any_stopped and scope.stopped("w", 0) is None
    scope.stop([("w", 0)], STOP)
    assert scope.any_stopped and scope.stopped("w", 0) == STOP and scope.stopped("w", 1) is None
