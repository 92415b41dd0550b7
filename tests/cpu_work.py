"""Module-level work for process-executor tests (spawned workers import it by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def spin(seconds: float) -> float:
    """Keep a CPU busy for `seconds` of wall time; return how long it took.

    (The overlap test needs a duration, not an amount of work: it checks that two
    processes were busy at the same time.)
    """
    started = time.perf_counter()
    total = 0
    while time.perf_counter() - started < seconds:
        total += sum(range(1000))
    return time.perf_counter() - started


def timed_burn(item: Any) -> dict[str, Any]:
    """Burn `item["seconds"]` of CPU (or fail if `item["fail"]`); report where and when."""
    seconds = item["seconds"] if isinstance(item, dict) and "seconds" in item else 0.3
    if isinstance(item, dict) and item.get("fail"):
        raise ValueError(f"item {item.get('n')} cannot be computed")
    start = time.time()
    spin(seconds)
    return {
        "n": item.get("n") if isinstance(item, dict) else item,
        "pid": os.getpid(),
        "start": start,
        "end": time.time(),
    }


def meet(state: dict[str, Any]) -> dict[str, Any]:
    """Mark this process as started in `state["room"]`, then wait until `state["expect"]` have.

    Proves "ran at once" by an event, not by timestamps: a branch returns only after every
    other branch has started, which cannot happen if they run one after another. It gives up
    after `state["patience"]` seconds (a spawned worker may take a while to start on a loaded
    machine) and raises, so a pool that runs them in turn fails the test instead of hanging.
    """
    room = Path(state["room"])
    (room / str(os.getpid())).touch()
    deadline = time.monotonic() + state.get("patience", 60.0)
    while len(list(room.iterdir())) < state["expect"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(room.iterdir()))} of {state['expect']} started")
        time.sleep(0.01)
    return {"pid": os.getpid()}


def square(n: int) -> int:
    return n * n


def input_squared(state: dict[str, Any]) -> int:
    return int(state["input"]) ** 2
