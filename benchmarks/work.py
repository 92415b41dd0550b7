"""Work the benchmarks run (module level, so process workers can import it)."""

from __future__ import annotations

import time
from typing import Any

ROUND_SIZE = 10_000


def burn(rounds: int) -> int:
    """A fixed amount of CPU work, the GIL held throughout."""
    total = 0
    for _ in range(rounds):
        total += sum(range(ROUND_SIZE))
    return total


def round_seconds() -> float:
    """Seconds one `burn` round takes on one core of this machine now.

    The fastest of several samples: on a shared machine one sample can run at half speed.
    """
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        burn(100)
        samples.append((time.perf_counter() - started) / 100)
    return min(samples)


def rounds_for(seconds: float) -> int:
    """How many `burn` rounds take about `seconds` on one core of this machine."""
    return max(1, round(seconds / round_seconds()))


def spin(rounds: int) -> int:
    """`burn`; named for what the benchmark tables call it."""
    return burn(rounds)


def spin_state(state: dict[str, Any]) -> int:
    """`burn` for a fan-out branch, whose input is the state."""
    return burn(int(state["input"]))
