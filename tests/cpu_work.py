"""Module-level work for process-executor tests (spawned workers import it by name)."""

from __future__ import annotations

import os
import time
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


def square(n: int) -> int:
    return n * n


def input_squared(state: dict[str, Any]) -> int:
    return int(state["input"]) ** 2
