"""Concurrency limits that hold across threads, event loops, nested graphs and runs.

LangGraph's `max_concurrency` is per run loop: a graph that sends into a subgraph that sends
again can exceed it. A `ConcurrencyLimit` is one object: every branch that acquires it counts,
wherever it runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import email.utils
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from langchain_core.exceptions import ModelRateLimitError

from langgraph_parallel.state.records import LimitState


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
        self._waiters: deque[asyncio.Future[None] | concurrent.futures.Future[None]] = deque()

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
            if not self._waiters and self._admit():
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

    def acquire_blocking(self) -> None:
        """Wait until a place is free, then take it, blocking this thread (for sync code)."""
        with self._lock:
            if not self._waiters and self._admit():
                self._take()
                return
            waiter: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._waiters.append(waiter)
        try:
            waiter.result()
        except BaseException:  # interrupted while waiting: give up the place, or the wait
            with self._lock:
                granted = waiter.done()
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self.release()
            raise

    async def lease(self) -> Lease:
        """Wait until a place is free, then take it, as a `Lease`."""
        await self.acquire()
        return Lease(self)

    def lease_blocking(self) -> Lease:
        """`lease`, blocking this thread (for sync code)."""
        self.acquire_blocking()
        return Lease(self)

    def release(self) -> None:
        """Give a place back, handing it to the longest waiter if there is one."""
        with self._lock:
            self._active -= 1
            self._gave_back()
            self._wake()

    def _admit(self) -> bool:
        """Whether one more may take a place now (with the lock held).

        The shared limit (`fleet`) asks the fleet.
        """
        return self._active < self._limit

    def _gave_back(self) -> None:
        """A place was given back (with the lock held); the shared limit tells the fleet."""

    def _wake(self) -> None:
        """Hand free places to waiters, first come first served (call with the lock held)."""
        while self._waiters and self._admit():
            self._hand_over()

    def _hand_over(self) -> bool:
        """Give the longest waiter a place (with the lock held; a waiter must be queued).

        Returns whether a place was taken for it (not when its event loop has closed).
        """
        waiter = self._waiters.popleft()
        if isinstance(waiter, concurrent.futures.Future):
            waiter.set_result(None)
        else:
            try:
                waiter.get_loop().call_soon_threadsafe(self._grant, waiter)
            except RuntimeError:  # the waiter's event loop has closed
                return False
        self._take()
        return True

    def _take(self) -> None:
        self._active += 1
        if self._active > self._peak:
            self._peak = self._active

    def _grant(self, waiter: asyncio.Future[None]) -> None:
        # The place was taken for the waiter when it was woken; give it back if it left.
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


Sample = tuple[float, int, int, int]
"""One point of an `AdaptiveLimit`'s history: `(time.perf_counter(), limit, in flight, 429s)`."""


class AdaptiveLimit(ConcurrencyLimit):
    """A concurrency limit that finds a provider's real capacity from its 429 answers.

    It works like TCP's congestion window. It starts at `initial` and, in *slow start*,
    grows by one for each success, which doubles it every round trip, until the first
    rejection. That one halves it, as TCP's does: it doubled in the last round trip, so half
    is what the provider last took (never below where slow start began: a large `initial`
    that meets a 429 at once is cut as usual, below). One round trip later it is set to what
    the provider completed in that round trip, up or down, but no higher than the usual cut
    would have left it: slow start's overshoot, up to twice the capacity, is over within a
    round trip. From then on it grows by one per `limit` successes (one per round trip), and
    a rejection (429) multiplies it by `backoff` (0.9, and takes at least one off), at most
    once per round trip; a further rejection in that round trip, of a call sent after the
    cut, takes one more off (one call too many was in flight). One round trip after a cut it
    is compared with what the provider completed in that round trip, and brought down to it
    if that is less than half (a capacity that fell). Just below the level where the last
    rejection came it grows a quarter as fast, so it does not keep knocking on a limit it
    has found; a round trip's worth of successes one above that level with no rejection
    means the capacity has grown, and slow start begins again. It only grows while at least
    half of it is in use, so a quiet spell does not inflate it. It never goes below `floor`
    or above `ceiling`.

    It is a `ConcurrencyLimit` (share one across graphs, runs and threads; one per
    provider is what `adaptive_limit` gives), with feedback: `succeeded` and `rejected`,
    which the package's HTTP transport and runner call for you (see `max_concurrency="auto"`).

    Args:
        initial: The limit to start from.
        floor: The lowest it may go; at least 1.
        ceiling: The highest it may go, or `None` for no ceiling.
        backoff: The factor a rejection multiplies it by, between 0 and 1.
        name: A label for progress displays.

    Example:
        ```python
        import asyncio
        import time
        from langgraph_parallel import AdaptiveLimit

        limit = AdaptiveLimit(initial=4)

        async def main():
            for _ in range(4):  # four calls in flight: the limit is in use
                await limit.acquire()
            for _ in range(4):  # each succeeds: slow start adds one per success
                limit.succeeded(time.perf_counter())
            assert limit.limit == 8
            limit.rejected(time.perf_counter())  # a 429 ends slow start: halved
            assert (limit.limit, limit.rejections, limit.slow_start) == (4, 1, False)
            for _ in range(4):
                limit.release()

        asyncio.run(main())
        ```
    """

    def __init__(
        self,
        *,
        initial: int = 1,
        floor: int = 1,
        ceiling: int | None = None,
        backoff: float = 0.9,
        name: str | None = None,
    ) -> None:
        for what, value in (("floor", floor), ("initial", initial), ("ceiling", ceiling)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"AdaptiveLimit: {what} must be a positive whole number, got {value!r}"
                )
        if ceiling is not None and ceiling < floor:
            raise ValueError(f"AdaptiveLimit: ceiling={ceiling} is below floor={floor}")
        if not 0 < backoff < 1:
            raise ValueError(
                f"AdaptiveLimit: backoff must be between 0 and 1 (e.g. 0.9), got {backoff!r}"
            )
        window = Window.start(initial=initial, floor=floor, ceiling=ceiling, backoff=backoff)
        super().__init__(int(window.value), name=name)
        self.initial, self.floor, self.ceiling, self.backoff = initial, floor, ceiling, backoff
        self._window = window
        self._history: deque[Sample] = deque(maxlen=100_000)
        self._note()

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return (
            f"{type(self).__name__}({label}limit={self._limit}, active={self._active}, "
            f"rejections={self.rejections})"
        )

    @property
    def rejections(self) -> int:
        """How many rejections (429s) it has been told of."""
        return self._window.rejections

    @property
    def successes(self) -> int:
        """How many successful calls it has been told of."""
        return self._window.successes

    @property
    def slow_start(self) -> bool:
        """Whether it is still doubling each round trip (no rejection since it started)."""
        return self._window.slow_start

    @property
    def round_trip(self) -> float | None:
        """The smoothed time of a successful call, in seconds; `None` before the first."""
        return self._window.rtt

    @property
    def history(self) -> list[Sample]:
        """`(time.perf_counter(), limit, in flight, rejections)` at each change."""
        with self._lock:
            return list(self._history)

    def give_back_if_over(self) -> bool:
        """Give a place back if the limit is below the places held; else keep it.

        For a call waiting out a 429: a place given back now would go to the next waiter,
        whose call would meet the same 429. Only one that the limit no longer allows is
        given back (and taken again after the wait).
        """
        with self._lock:
            if self._over():
                self._active -= 1
                self._gave_back()
                return True
            return False

    def _over(self) -> bool:
        """Whether more places are held than the limit allows (with the lock held)."""
        return self._active > self._limit

    def state(self) -> LimitState:
        """What it is now: its limit, calls in flight, and rejections so far."""
        return {"limit": self._limit, "in_flight": self._active, "rejections": self.rejections}

    def succeeded(self, sent_at: float) -> None:
        """A call sent at `sent_at` (`time.perf_counter()`) succeeded: maybe grow."""
        now = time.perf_counter()
        with self._lock:
            self._window.succeeded(now, sent_at, self._active)
            self._follow()

    def rejected(self, sent_at: float, retry_after: float | None = None) -> float:
        """A call sent at `sent_at` was rejected (429): shrink, at most once per round trip.

        Args:
            sent_at: When the call was sent (`time.perf_counter()`).
            retry_after: The provider's `Retry-After`, in seconds, if it gave one.

        Returns:
            How long to wait before sending the call again: the provider's `Retry-After`,
            else one round trip (50 ms before any call has succeeded).
        """
        now = time.perf_counter()
        with self._lock:
            rtt = self._window.rejected(now, sent_at)
            self._follow(always=True)
        return retry_after if retry_after is not None else rtt

    def _follow(self, *, always: bool = False) -> None:
        """Take the window's limit (with the lock held); note a change, or every call if told."""
        limit = int(self._window.value)
        if limit != self._limit:
            self._limit = limit
            self._note()
            self._wake()
        elif always:
            self._note()

    def _note(self) -> None:
        self._history.append((time.perf_counter(), self._limit, self._active, self.rejections))


@dataclass
class Window:
    """The state of `AdaptiveLimit`'s algorithm, apart from the places held, and its steps.

    Plain data with no lock and no clock of its own: `AdaptiveLimit` steps it in its
    process, and the shared limit (`langgraph_parallel.engine.fleet`) steps the same
    algorithm on the state the whole fleet keeps in Redis, with the server's clock.
    Times are seconds on one clock; `value` is the limit before rounding down.
    """

    value: float
    floor: int
    ceiling: int | None
    backoff: float
    slow_start: bool = True
    slow_from: float = 1.0  # where slow start last began
    settle: float | None = None  # the most the look after slow start's cut may set
    found: float | None = None  # where the last rejection came
    past: int = 0  # successes since it grew past that
    cut_at: float = -math.inf
    since_cut: int = 0  # successes since the last cut
    check_at: float | None = None  # when to compare the limit with what succeeded
    rtt: float | None = None
    successes: int = 0
    rejections: int = 0

    @classmethod
    def start(cls, *, initial: int, floor: int, ceiling: int | None, backoff: float) -> Window:
        """A window at `initial` (within floor and ceiling), in slow start."""
        value = float(max(floor, initial if ceiling is None else min(initial, ceiling)))
        return cls(value=value, floor=floor, ceiling=ceiling, backoff=backoff, slow_from=value)

    def succeeded(self, now: float, sent_at: float, active: int) -> None:
        """A call sent at `sent_at` succeeded at `now`, with `active` calls in flight."""
        self.successes += 1
        self.since_cut += 1
        took = now - sent_at
        self.rtt = took if self.rtt is None else 0.8 * self.rtt + 0.2 * took
        if self.check_at is not None and now >= self.check_at:
            self._check(now)
            return
        if active * 2 < self.value:  # not limited by it now: learn nothing
            return
        if self.slow_start:
            step = 1.0
        else:
            step = 1.0 / self.value
            found = self.found
            if found is not None and self.value >= found + 1:
                self.past += 1
                if self.past >= self.value:  # a round trip's worth past it, no 429:
                    self.slow_start, self.found = True, None  # the capacity has grown
                    self.slow_from = self.value
            elif found is not None and self.value >= found - 1:
                step /= 4  # just below the capacity it found: probe gently
        self._set(self.value + step)

    def rejected(self, now: float, sent_at: float) -> float:
        """A call sent at `sent_at` was rejected at `now`; returns the round trip to wait."""
        self.rejections += 1
        rtt = self.rtt if self.rtt is not None else 0.05
        if self.check_at is not None and now >= self.check_at and self._check(now):
            pass  # brought down to what succeeded: that is this round trip's cut
        elif sent_at >= self.cut_at and now - self.cut_at >= rtt:
            cut = min(self.value * self.backoff, self.value - 1)
            if self.slow_start:  # it doubled in the last round trip; what the provider
                half = max(self.value / 2, self.slow_from)  # took then was half
                if half < cut:
                    cut, self.settle = half, cut
            self.found, self.past = self.value, 0
            self.slow_start = False
            self.cut_at, self.since_cut = now, 0
            self.check_at = now + rtt
            self._set(cut)
        elif sent_at >= self.cut_at:  # sent after this round trip's cut: still one too
            self._set(self.value - 1)  # many in flight (what slow start overshot by)
        return rtt

    def _check(self, now: float) -> bool:
        """One round trip after a cut: no higher than what the provider then completed.

        A cut of x0.9 a round trip would take 13 round trips to follow a capacity that
        fell to a quarter; the successes of the round trip after a cut say where it is at
        once. A round trip with none (everything rejected) brings it to the floor, as a
        timeout brings TCP's window to one segment. After slow start's halving, which may
        have gone below the capacity, it is set to what completed, up as well as down.

        Returns whether it was brought down (which then counts as the round trip's cut).
        """
        self.check_at = None
        span = now - self.cut_at
        done = self.since_cut * (self.rtt or span) / span  # successes per round trip
        if self.settle is not None:  # after slow start's halving: to what completed,
            most, self.settle = self.settle, None  # up or down, but no higher than x0.9
            level = min(max(done, float(self.floor)), most)
            lowered = level < self.value
            if lowered:
                self.cut_at, self.since_cut = now, 0
            self._set(level)
            return lowered
        if done >= 0.5 * self.value:  # not far off: that may be noise, and the cuts will do
            return False
        self.found, self.past = max(done, 1.0), 0
        self.cut_at, self.since_cut = now, 0
        self._set(max(done, float(self.floor)))
        return True

    def _set(self, value: float) -> None:
        if self.ceiling is not None:
            value = min(value, float(self.ceiling))
        self.value = max(value, float(self.floor))


_named: dict[str, ConcurrencyLimit] = {}
"""The process's named limits: `shared_limit`'s and `adaptive_limit`'s, by name."""
_named_lock = threading.Lock()


def named_limit(name: str, kind: type[ConcurrencyLimit], make: Callable[[], Any]) -> Any:
    """The limit called `name`, made on first use; one of another kind is an error."""
    with _named_lock:
        existing = _named.get(name)
        if existing is None:
            existing = _named[name] = make()
        elif type(existing) is not kind:
            made = {
                "ConcurrencyLimit": "a ConcurrencyLimit (shared_limit)",
                "AdaptiveLimit": "an AdaptiveLimit (adaptive_limit)",
            }.get(type(existing).__name__, f"a {type(existing).__name__} (adaptive_limit, shared)")
            raise ValueError(
                f"the limit named {name!r} is already {made}; give this one another name"
            )
        return existing


def shared_limit(name: str, limit: int | None = None) -> ConcurrencyLimit:
    """The process-wide `ConcurrencyLimit` called `name`, made with `limit` on first use.

    Use one per model or provider (`shared_limit("openai", 8)`) and give it wherever the cap
    applies (a factory's or `llm_node`'s `max_concurrency`, `with_concurrency_limit`): every
    graph, run, thread and nested subgraph of the process then shares it. Its name is in the
    same registry as `adaptive_limit`'s.

    Raises:
        ValueError: On first use without `limit`, a later `limit` that differs, or a name
            that an `adaptive_limit` already has.

    Example:
        ```python
        from langgraph_parallel import shared_limit

        db = shared_limit("docs-db", 4)
        assert shared_limit("docs-db") is db and db.limit == 4
        ```
    """

    def make() -> ConcurrencyLimit:
        if limit is None:
            raise ValueError(f"shared_limit({name!r}) is not set yet; pass its size the first time")
        return ConcurrencyLimit(limit, name=name)

    existing: ConcurrencyLimit = named_limit(name, ConcurrencyLimit, make)
    if limit is not None and limit != existing.limit:
        raise ValueError(
            f"shared_limit({name!r}) already allows {existing.limit}, not {limit}; "
            "call it without a size to reuse it"
        )
    return existing


class Lease:
    """A place taken in a limit: the one owner of what the calls made on it tell the limit.

    A unit of work takes one for each attempt (the runner), and a request takes one of its
    own unless the unit it runs in holds one on the same adaptive limit (the package's HTTP
    transport): then the request reports on the unit's lease (`current_lease`). Every report
    goes through a lease, so a call is told to the limit once: the requests' own reports
    (`request_succeeded`, `request_rejected`), else the unit's outcome (`settle_success`,
    `settle_rejection`). Neither the runner nor the transport knows of the other.

    Used as a context manager around one attempt, it is the current lease there, afresh.
    Made with the place already taken (`ConcurrencyLimit.lease`, or `acquire` first).
    """

    __slots__ = ("_holding", "_token", "_told", "limit", "sent_at")

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self.sent_at = time.perf_counter()
        self._told = False
        self._holding = True
        self._token: contextvars.Token[Lease | None] | None = None

    def __enter__(self) -> Lease:
        self.sent_at, self._told = time.perf_counter(), False
        self._token = _current_lease.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current_lease.reset(self._token)
            self._token = None

    def request_succeeded(self, sent_at: float) -> None:
        """A request sent at `sent_at` on this place succeeded."""
        self._told = True
        if isinstance(self.limit, AdaptiveLimit):
            self.limit.succeeded(sent_at)

    def request_rejected(self, sent_at: float, retry_after: float | None) -> float:
        """A request sent at `sent_at` was rejected (429); the wait before sending it again."""
        self._told = True
        if isinstance(self.limit, AdaptiveLimit):
            return self.limit.rejected(sent_at, retry_after)
        return retry_after or 0.0

    def settle_success(self) -> None:
        """The attempt succeeded: tell the limit, unless its requests already did."""
        if not self._told:
            self.request_succeeded(self.sent_at)

    def settle_rejection(self, retry_after: float | None) -> float | None:
        """The attempt was rejected (429): tell the limit; the wait before trying again.

        `None` when its requests already told it (and retried), or for a limit that learns
        nothing from a 429 (not an `AdaptiveLimit`).
        """
        if self._told or not isinstance(self.limit, AdaptiveLimit):
            return None
        return self.request_rejected(self.sent_at, retry_after)

    def step_aside(self) -> bool:
        """Before waiting out a 429: give the place back if the limit no longer allows it.

        Otherwise it is kept through the wait: given back, it would go to a call that meets
        the same 429. Returns whether it is still held.
        """
        if self._holding and isinstance(self.limit, AdaptiveLimit):
            self._holding = not self.limit.give_back_if_over()
        return self._holding

    async def wait_out(self, seconds: float) -> None:
        """Wait out a 429 (`step_aside`, sleep), holding the place again afterwards."""
        self.step_aside()
        await asyncio.sleep(seconds)
        if not self._holding:
            await self.limit.acquire()
            self._holding = True

    def wait_out_blocking(self, seconds: float) -> None:
        """`wait_out`, blocking this thread (for sync code)."""
        self.step_aside()
        time.sleep(seconds)
        if not self._holding:
            self.limit.acquire_blocking()
            self._holding = True

    def release(self) -> None:
        """Give the place back, if it is held; again, or after `step_aside` gave it, nothing."""
        if self._holding:
            self._holding = False
            self.limit.release()


_current_lease: contextvars.ContextVar[Lease | None] = contextvars.ContextVar(
    "langgraph_parallel_lease", default=None
)


def current_lease(limit: AdaptiveLimit | None = None) -> Lease | None:
    """The lease of the attempt running in this context, if it holds one.

    Only a lease on `limit` counts (on any adaptive limit, if `limit` is `None`).
    """
    lease = _current_lease.get()
    if lease is None or not isinstance(lease.limit, AdaptiveLimit):
        return None
    return lease if limit is None or lease.limit is limit else None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a provider asked for: `retry-after-ms`, else `retry-after` (seconds or a date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        if (ms := lower.get("retry-after-ms")) is not None:
            return max(float(ms) / 1000, 0.0)
        if (seconds := lower.get("retry-after")) is not None:
            try:
                return max(float(seconds), 0.0)
            except ValueError:
                when = email.utils.parsedate_to_datetime(seconds)
                return max(when.timestamp() - time.time(), 0.0)
    except (ValueError, TypeError, OverflowError):  # a malformed header: no advice
        return None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an error carries (its own `status_code` or its response's), any client."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def rate_limited(exc: BaseException) -> bool:
    """Whether an error says the provider is over its capacity (HTTP 429, any client)."""
    return isinstance(exc, ModelRateLimitError) or http_status(exc) == 429


def error_retry_after(exc: BaseException) -> float | None:
    """The `Retry-After` of the HTTP response an error carries, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return retry_after_seconds(headers) if isinstance(headers, Mapping) else None
