"""Concurrency limits that hold across threads, event loops, nested graphs and runs.

LangGraph's `max_concurrency` is per run loop: a graph that sends into a subgraph that sends
again can exceed it. A `ConcurrencyLimit` is one object: every branch that acquires it counts,
wherever it runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType


class ConcurrencyLimit:
    """Allow at most `limit` holders at once, across threads, event loops and runs.

    Waiters are served first come, first served. Share one instance between graphs (for
    example one per model provider) to cap all their calls together.

    Args:
        limit: How many holders may run at once; at least 1.
        name: A label for error messages and progress displays.

    Raises:
        ValueError: If `limit` is not a positive integer.

    Example:
        ```python
        import asyncio
        from langgraph_parallel import ConcurrencyLimit

        limit = ConcurrencyLimit(2)

        async def call(i):
            async with limit:
                await asyncio.sleep(0.01)
                return i

        async def main():
            return await asyncio.gather(*(call(i) for i in range(5)))

        assert asyncio.run(main()) == [0, 1, 2, 3, 4]
        assert limit.peak == 2
        ```
    """

    def __init__(self, limit: int, *, name: str | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(
                f"ConcurrencyLimit needs a positive whole number, got {limit!r}: "
                "pass e.g. ConcurrencyLimit(4)"
            )
        self._limit = limit
        self.name = name
        self._lock = threading.Lock()
        self._active = 0
        self._peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"ConcurrencyLimit({label}limit={self._limit}, active={self._active})"

    @property
    def limit(self) -> int:
        """How many holders may run at once."""
        return self._limit

    @property
    def active(self) -> int:
        """How many hold the limit now."""
        return self._active

    @property
    def peak(self) -> int:
        """The most that held the limit at once since creation or `reset_peak()`."""
        return self._peak

    def reset_peak(self) -> None:
        """Start counting `peak` afresh from the current number of holders."""
        with self._lock:
            self._peak = self._active

    async def acquire(self) -> None:
        """Wait until a place is free, then take it."""
        with self._lock:
            if self._active < self._limit and not self._waiters:
                self._take()
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                granted = waiter.done() and not waiter.cancelled()
                if not granted and waiter in self._waiters:
                    self._waiters.remove(waiter)
            if granted:
                self.release()
            raise

    def release(self) -> None:
        """Give a place back, handing it to the longest waiter if there is one."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.get_loop().call_soon_threadsafe(self._grant, waiter)
                except RuntimeError:  # the waiter's event loop has closed
                    continue
                return
            self._active -= 1

    def _take(self) -> None:
        self._active += 1
        if self._active > self._peak:
            self._peak = self._active

    def _grant(self, waiter: asyncio.Future[None]) -> None:
        # The place passes from the releaser to the waiter, so `_active` is unchanged.
        if waiter.done():
            self.release()
        else:
            waiter.set_result(None)

    async def __aenter__(self) -> ConcurrencyLimit:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
