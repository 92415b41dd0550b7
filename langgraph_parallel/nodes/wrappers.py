"""Wrappers for any node or callable: timeout, retry, fallback, hedging, and limits.

Each returns a Runnable with the wrapped thing's name, usable as a branch, worker or voter,
or as a node of your own `StateGraph` (under both `invoke` and `ainvoke`). They compose:
`with_retry(with_timeout(fetch, 2))` retries each timed-out attempt.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.exceptions import ModelError
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.errors import NodeTimeoutError
from langgraph.types import RetryPolicy

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.limits import ConcurrencyLimit
from langgraph_parallel.engine.options import (
    RetryLike,
    TimeoutLike,
    retry_delay,
    retry_policies,
    timeout_seconds,
)
from langgraph_parallel.engine.runner import attempt_with_timeout
from langgraph_parallel.engine.telemetry import mark_hedged
from langgraph_parallel.engine.unit import Unit


def _name(thing: Any) -> str:
    if isinstance(thing, Runnable):
        return thing.get_name()
    return str(getattr(thing, "__name__", type(thing).__name__))


def _wrap(
    thing: Any, around: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
) -> Runnable[Any, Any]:
    name = _name(thing)
    unit = Unit(thing, label=name)

    async def wrapped(value: Any, config: RunnableConfig) -> Any:
        return await around(lambda: unit(value, config))

    return make_node(wrapped, name=name)


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying.

    Rate limits (429), server errors (5xx), timeouts and lost connections are, whether they
    come from a LangChain model integration (`ModelError.is_retryable`), the `openai` or
    `httpx` clients, `requests`, or Python itself. Programming
    errors (`ValueError`, `TypeError`, `KeyError`, ...) and client errors (4xx other than
    429) are not.

    Example:
        ```python
        from langgraph_parallel.nodes import is_transient

        assert is_transient(ConnectionResetError()) and not is_transient(ValueError())
        ```
    """
    import httpx
    import openai

    if isinstance(exc, ModelError):  # any LangChain integration, provider-neutral
        return exc.is_retryable
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, openai.APIStatusError | httpx.HTTPStatusError):
        return status == 429 or (status is not None and status >= 500)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):  # includes timeouts
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with langsmith
        pass
    else:
        if isinstance(exc, requests.HTTPError):
            return status == 429 or (status is not None and status >= 500)
        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return True
    from langgraph_parallel.models import SimulatedModelError

    return isinstance(exc, ConnectionError | TimeoutError | NodeTimeoutError | SimulatedModelError)


TRANSIENT_RETRY = RetryPolicy(retry_on=is_transient)
"""LangGraph's default backoff (0.5 s, doubling, 3 attempts), retrying `is_transient` errors."""


def with_timeout(thing: Any, seconds: TimeoutLike) -> Runnable[Any, Any]:
    """Fail a call that takes longer than `seconds` with LangGraph's `NodeTimeoutError`.

    Sync callables are timed out too: the call stops counting and its thread finishes in the
    background, its result discarded.
    """
    limit = timeout_seconds(seconds, what="with_timeout")
    name = _name(thing)

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        return await attempt_with_timeout(call, limit, name)

    return _wrap(thing, around)


def with_retry(thing: Any, retry: RetryLike = TRANSIENT_RETRY) -> Runnable[Any, Any]:
    """Retry a failing call under LangGraph `RetryPolicy` rules.

    The default retries rate limits, server errors, timeouts and lost connections (see
    `is_transient`), not programming errors.

    Example:
        ```python
        from langgraph.types import RetryPolicy
        from langgraph_parallel.nodes import with_retry

        calls = []

        def flaky(state):
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("reset")
            return "ok"

        fast = RetryPolicy(initial_interval=0.01, jitter=False, retry_on=ConnectionError)
        assert with_retry(flaky, fast).invoke({}) == "ok" and len(calls) == 3
        ```
    """
    policies = retry_policies(retry, what="with_retry")

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        failures = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                failures += 1
                delay = retry_delay(policies, exc, failures)
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    return _wrap(thing, around)


def with_fallback(
    thing: Any, value: Any, *, on: type[BaseException] | tuple[type[BaseException], ...] = Exception
) -> Runnable[Any, Any]:
    """Return `value` instead of raising when the call fails with `on`.

    Example:
        ```python
        from langgraph_parallel.nodes import with_fallback

        def broken(state):
            raise ConnectionError("down")

        assert with_fallback(broken, "cached answer").invoke({}) == "cached answer"
        ```
    """

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await call()
        except on:
            return value

    return _wrap(thing, around)


def with_concurrency_limit(thing: Any, limit: ConcurrencyLimit) -> Runnable[Any, Any]:
    """Hold a place in `limit` for each call (any callable; an `llm_node` takes its own).

    Unlike LangGraph's `max_concurrency`, which is per run loop, the limit holds across
    nested subgraphs, concurrent runs and threads: give the same one (e.g. a
    `shared_limit`) to every place that calls the provider.
    """
    if not isinstance(limit, ConcurrencyLimit):
        raise TypeError(
            f"with_concurrency_limit needs a limit object, got {limit!r}; pass e.g. "
            "ConcurrencyLimit(4) or shared_limit('openai', 8) from langgraph_parallel"
        )
    gate = limit

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return _wrap(thing, around)


def with_rate_limit(thing: Any, limiter: BaseRateLimiter) -> Runnable[Any, Any]:
    """Wait for `limiter` (e.g. LangChain's `InMemoryRateLimiter`) before each call.

    Example:
        ```python
        from langchain_core.rate_limiters import InMemoryRateLimiter
        from langgraph_parallel.nodes import with_rate_limit

        limiter = InMemoryRateLimiter(requests_per_second=100, check_every_n_seconds=0.001)
        assert with_rate_limit(lambda state: "ok", limiter).invoke({}) == "ok"
        ```
    """

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        await limiter.aacquire(blocking=True)
        return await call()

    return _wrap(thing, around)


class Hedge:
    """When to start a backup call for a straggler, and what hedging has done so far.

    Share one `Hedge` between the calls of one kind (one model, one API): the percentile
    delay learns from all of them.

    Args:
        after: Seconds to wait before the backup call, or a percentile of the latencies
            seen so far, e.g. `"p95"`.
        initial: The delay while fewer than `min_samples` latencies have been seen (for a
            percentile `after`).
        min_samples: Latencies needed before the percentile is trusted.
        window: How many recent latencies the percentile is taken over.

    Raises:
        ValueError: A negative delay, or a percentile that is not `p1` to `p99`.
    """

    def __init__(
        self,
        after: float | str = "p95",
        *,
        initial: float = 1.0,
        min_samples: int = 20,
        window: int = 500,
    ) -> None:
        if isinstance(after, str):
            match = re.fullmatch(r"p(\d{1,2})", after)
            if match is None or not 1 <= int(match.group(1)) <= 99:
                raise ValueError(f"Hedge(after={after!r}): use seconds or a percentile 'p1'..'p99'")
            self._quantile: float | None = int(match.group(1)) / 100
            self._fixed = initial
        else:
            if after < 0:
                raise ValueError(f"Hedge(after={after}): the delay cannot be negative")
            self._quantile, self._fixed = None, float(after)
        self._min_samples = min_samples
        self._seen: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.calls = 0
        """Calls made through this hedge (first attempts)."""
        self.hedges = 0
        """Backup calls started."""
        self.backup_wins = 0
        """Times the backup finished first."""

    def delay(self) -> float:
        """Seconds to wait before starting a backup call now."""
        with self._lock:
            if self._quantile is None or len(self._seen) < self._min_samples:
                return self._fixed
            ordered = sorted(self._seen)
        return ordered[min(len(ordered) - 1, int(self._quantile * len(ordered)))]

    def observe(self, seconds: float) -> None:
        """Remember how long a successful call took."""
        with self._lock:
            self._seen.append(seconds)

    def _count(self, *, call: bool = False, hedge: bool = False, backup_won: bool = False) -> None:
        with self._lock:
            self.calls += call
            self.hedges += hedge
            self.backup_wins += backup_won

    @property
    def extra_calls(self) -> float:
        """Backup calls as a share of calls (0.05 = 5% more calls than without hedging)."""
        return self.hedges / self.calls if self.calls else 0.0

    def __repr__(self) -> str:
        return f"Hedge(calls={self.calls}, hedges={self.hedges}, backup_wins={self.backup_wins})"


def hedged(thing: Any, after: float | str | Hedge = "p95") -> Runnable[Any, Any]:
    """Start a backup call when a call is slow; keep whichever finishes first.

    After the delay (fixed, or a percentile of the latencies seen so far), a second call with
    the same input starts; the first to succeed wins and the other is cancelled. A call that
    fails before the delay is not hedged (that is a retry's job); after hedging, a failure
    only counts if both fail. The branch's record says `hedged: True`, and a `hedge` event
    goes to the custom stream. Async calls are cancelled for real; a sync loser's thread
    finishes in the background, its result discarded.

    Args:
        thing: Any node, callable or Runnable (e.g. one that calls a model).
        after: Seconds, a percentile such as `"p95"`, or a shared `Hedge`.

    Example:
        ```python
        import asyncio
        from langgraph_parallel.nodes import Hedge, hedged

        attempts = []

        async def flaky_latency(state):
            attempts.append(1)
            await asyncio.sleep(5 if len(attempts) == 1 else 0.01)  # the first call straggles
            return "answer"

        hedge = Hedge(after=0.05)
        assert asyncio.run(hedged(flaky_latency, hedge).ainvoke({})) == "answer"
        assert (hedge.calls, hedge.hedges, hedge.backup_wins) == (1, 1, 1)
        ```
    """
    hedge = after if isinstance(after, Hedge) else Hedge(after)

    async def around(call: Callable[[], Awaitable[Any]]) -> Any:
        hedge._count(call=True)
        started = time.perf_counter()
        primary = asyncio.ensure_future(call())
        done, _ = await asyncio.wait({primary}, timeout=hedge.delay())
        if done:
            result = primary.result()  # raises the primary's error: not hedged
            hedge.observe(time.perf_counter() - started)
            return result
        hedge._count(hedge=True)
        mark_hedged()
        backup = asyncio.ensure_future(call())
        racing = {primary, backup}
        try:
            first_error: BaseException | None = None
            while racing:
                done, racing = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                for finished in sorted(done, key=lambda f: f is not primary):
                    if finished.exception() is None:
                        if finished is backup:
                            hedge._count(backup_won=True)
                        hedge.observe(time.perf_counter() - started)
                        return finished.result()
                    first_error = first_error or finished.exception()
            assert first_error is not None
            raise first_error
        finally:
            for loser in racing:
                loser.cancel()
            if racing:
                await asyncio.gather(*racing, return_exceptions=True)

    return _wrap(thing, around)
