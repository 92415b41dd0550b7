"""Offline stand-ins for slow services: deterministic answers after a simulated latency."""

from __future__ import annotations

import asyncio
import random

SIMULATED = "simulated"
"""The `source` of every value produced here, so no output passes for real data."""


def latency(key: str, low: float = 0.05, high: float = 0.25) -> float:
    """A repeatable latency in seconds for `key`, between `low` and `high`."""
    return random.Random(key).uniform(low, high)


async def pause(key: str, low: float = 0.05, high: float = 0.25) -> None:
    """Sleep for `latency(key)` seconds, like a network call would."""
    await asyncio.sleep(latency(key, low, high))
