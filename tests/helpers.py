"""Test helpers: build each kind of graph from the same units, and observe concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph_parallel import (
    create_fanout_graph,
    create_orchestrator_graph,
    create_voting_graph,
)

KINDS = ("fanout", "orchestrator", "voting")

UnitFn = Callable[[int], Any]
"""A unit under test: called with its index, sync or async."""


def _adapt(fn: UnitFn, index: int) -> Callable[[Any], Any]:
    if asyncio.iscoroutinefunction(fn):

        async def run_async(_: Any) -> Any:
            return await fn(index)

        return run_async

    def run_sync(_: Any) -> Any:
        return fn(index)

    return run_sync


def record(
    branch: str, index: int, value: Any = None, *, status: str = "ok", error: Any = None
) -> Any:
    """A branch record as the engine writes it, for tests of joins, tallies and reducers."""
    return {
        "branch": branch,
        "index": index,
        "status": status,
        "value": value,
        "error": error,
        "elapsed": 0.0,
        "attempts": 1,
        "usage": None,
    }


def records_of(state: dict[str, Any]) -> list[dict[str, Any]]:
    """What a join node received: the records, as the aggregator saw them."""
    return list(state["results"])


def build(kind: str, units: Sequence[UnitFn], **options: Any) -> Any:
    """The same units as fan-out branches, orchestrator work items or voters.

    Every join returns the records it saw, so tests read them from `output` (voting
    returns its outcome; `results` is in state for all three).
    """
    if kind == "fanout":
        branches = {f"u{i}": _adapt(fn, i) for i, fn in enumerate(units)}
        return create_fanout_graph(branches, records_of, **options)
    if kind == "orchestrator":
        if all(asyncio.iscoroutinefunction(fn) for fn in units):

            async def worker(item: int) -> Any:
                return await units[item](item)

        elif not any(asyncio.iscoroutinefunction(fn) for fn in units):

            def worker(item: int) -> Any:  # type: ignore[misc]
                return units[item](item)

        else:
            raise ValueError("the orchestrator helper needs all-sync or all-async units")

        return create_orchestrator_graph(
            lambda state: list(range(len(units))), worker, records_of, **options
        )
    if kind == "voting":
        return create_voting_graph([_adapt(fn, i) for i, fn in enumerate(units)], **options)
    raise ValueError(kind)


class Gauge:
    """Counts how many callers are inside at once (thread-safe), and the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.entered = 0

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
            self.entered += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


class Clock:
    """Records named instants relative to its creation."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter() - self.t0


class FailFastSibling:
    """For test classes: `graph()` builds a `fail_fast` fan-out whose branch `fails` raises
    `ConnectionError("down")` at 20 ms while its sibling `slow` sleeps 0.3 s; `finished`
    says whether the sibling ran to its end (it was not cancelled)."""

    finished = False

    def graph(self) -> Any:
        self.finished = False

        async def fails(state: Any) -> str:
            await asyncio.sleep(0.02)
            raise ConnectionError("down")

        async def slow(state: Any) -> str:
            await asyncio.sleep(0.3)
            self.finished = True
            return "done"

        return create_fanout_graph(
            {"fails": fails, "slow": slow}, lambda s: None, on_error="fail_fast"
        )


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "the check") -> None:
    """Poll `check()` until it is true; fail, naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.005)
