"""How one unit of parallel work runs: timeout, retries, concurrency limit, record, events.

Every branch, work item and voter of every graph runs through `run_unit`, so the failure
policy behaves the same everywhere. LangGraph's own node-level `TimeoutPolicy` and
`error_handler` are not used for branches because (1) they cannot time out sync callables,
(2) the items of a chunked fan-out are not nodes, and (3) a failure record needs the elapsed
time and attempt count that only the code around the call knows. Retries follow LangGraph's
`RetryPolicy` exactly (same fields, same backoff, same default `retry_on`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp, NodeTimeoutError
from langgraph.types import StreamWriter

from langgraph_parallel.engine.limits import (
    AdaptiveLimit,
    Lease,
    error_retry_after,
    rate_limited,
)
from langgraph_parallel.engine.options import RunOptions, retry_delay
from langgraph_parallel.engine.redact import redact
from langgraph_parallel.engine.scope import RunScope, StopReason
from langgraph_parallel.engine.telemetry import (
    context_config,
    end_event,
    enter_run,
    enter_unit,
    exit_run,
    exit_unit,
    start_event,
    unit_config,
    with_usage_collector,
)
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.errors import DeadlineExceeded, RemoteError
from langgraph_parallel.state.records import (
    BranchError,
    BranchEventKind,
    BranchResult,
    BranchStatus,
)

T = TypeVar("T")


def _error(exc: BaseException) -> BranchError:
    kind: str
    if isinstance(exc, _Reason):
        kind = exc.kind
    elif isinstance(exc, RemoteError):  # an exception that could not cross: its class's name
        kind = exc.type
    else:
        kind = type(exc).__name__
    return {"type": kind, "message": redact(str(exc))}  # provider errors can echo credentials


def _new_record(branch: str, index: int) -> dict[str, Any]:
    return {
        "branch": branch,
        "index": index,
        "status": "ok",
        "value": None,
        "error": None,
        "elapsed": 0.0,
        "attempts": 0,
        "usage": None,
    }


def _finish(
    record: dict[str, Any],
    status: BranchStatus,
    *,
    value: Any = None,
    exc: BaseException | None = None,
    elapsed: float = 0.0,
    attempts: int = 0,
) -> BranchResult:
    """Complete a unit's record (created when it started, so usage could be added to it)."""
    record["status"] = status
    record["value"] = value
    record["error"] = None if exc is None else _error(exc)
    record["elapsed"] = elapsed
    record["attempts"] = attempts
    return cast(BranchResult, record)


async def attempt_with_timeout(
    call: Callable[[], Awaitable[T]], timeout: float | None, label: str
) -> T:
    """Await `call()`; past `timeout` seconds, raise LangGraph's `NodeTimeoutError`."""
    if timeout is None:
        return await call()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout) as scope:
            return await call()
    except TimeoutError:
        if scope.expired():
            raise NodeTimeoutError(
                label, time.perf_counter() - started, kind="run", run_timeout=timeout
            ) from None
        raise


_MAX_REJECTIONS = 20
"""How many 429s a unit under an adaptive limit may meet before they count as failures."""

_LATE = StopReason("DeadlineExceeded", "not started: the run's deadline had passed")


class _Reason(Exception):
    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.message)
        self.kind = reason.kind


_NO_LEASE = contextlib.nullcontext()


class _Runner:
    """Runs the units of one batch: what they share is kept here, once, not per unit.

    A waiting unit's coroutine frame is the largest thing the package keeps per item of a
    large fan-out, so `run` takes only what differs per unit and the rare paths (failure,
    stop, budget) live in plain methods. Every object a waiting unit keeps alive also counts
    against Python's garbage collector, whose full collections dominated 10,000-item
    fan-outs before.
    """

    __slots__ = ("branch", "limit", "options", "plain", "scope", "start", "unit", "writer")

    def __init__(
        self,
        unit: Unit,
        branch: str,
        options: RunOptions,
        scope: RunScope | None,
        writer: StreamWriter | None,
    ) -> None:
        self.unit = unit
        self.start = unit.starter()
        self.branch = branch
        self.options = options
        self.scope = scope
        self.writer = writer
        self.limit = scope.limit if scope is not None else None
        # Most units have no cap, timeout, retry, budget or deadline (the defaults); they
        # take `_plain`, which leaves out the paths only those need.
        self.plain = (
            self.limit is None
            and options.timeout is None
            and not options.retry
            and (scope is None or (scope.token_budget is None and scope.deadline is None))
        )

    def run(
        self,
        index: int,
        value: Any,
        config: RunnableConfig | None,
        own_context: bool,
        inline: bool = False,
    ) -> Coroutine[Any, Any, BranchResult]:
        """Run unit `index`; the coroutine gives its record (see `run_unit`)."""
        return (self._plain if self.plain else self._full)(
            index, value, config, own_context, inline
        )

    async def _plain(
        self,
        index: int,
        value: Any,
        config: RunnableConfig | None,
        own_context: bool,
        inline: bool,
    ) -> BranchResult:
        """`_full` for a unit nothing limits (no cap, timeout, retry, budget or deadline).

        One attempt, no wait for a place; a large fan-out runs this per item, so the
        start and the success are written out here rather than through `_attempt` and
        `_succeeded`.
        """
        branch, scope, writer = self.branch, self.scope, self.writer
        record = _new_record(branch, index)
        tokens = enter_unit(record, scope, config, own_context=own_context)
        started: float | None = None
        try:
            if scope is not None and (stop := scope.stopped(branch, index)):
                return self._stopped(record, stop, started)
            record["attempts"] = 1
            if writer is not None:
                writer(start_event("start", branch, index, 1))
            started = time.perf_counter()
            try:
                result = await self.start(value, config or context_config(), inline)
            except GraphBubbleUp:
                raise
            except Exception as exc:
                self._failed(record, exc, started)  # no retry: recorded, or raised (fail_fast)
                return cast(BranchResult, record)
            record["value"] = result
            record["elapsed"] = time.perf_counter() - started
            if writer is not None:
                writer(end_event("finish", cast(BranchResult, record)))
            return cast(BranchResult, record)
        except asyncio.CancelledError:
            if (stopped := self._cancelled(record, index, started)) is None:
                raise
            return stopped
        finally:
            if tokens is not None:
                exit_unit(tokens)

    async def _full(
        self,
        index: int,
        value: Any,
        config: RunnableConfig | None,
        own_context: bool,
        inline: bool,
    ) -> BranchResult:
        record = _new_record(self.branch, index)
        tokens = enter_unit(record, self.scope, config, own_context=own_context)
        started: float | None = None
        lease: Lease | None = None  # the place in the run's limit, kept through a 429's wait
        try:
            if self.scope is not None and (stop := self.scope.stopped(self.branch, index)):
                return self._stopped(record, stop, started)
            while True:
                if self.limit is not None and lease is None:
                    lease = await self._lease()
                    if lease is None:
                        return self._stopped(record, _LATE, started, "timeout")
                if (stop := self._over_budget() or self._late()) is not None:
                    late: BranchStatus = "timeout" if stop is _LATE else "cancelled"
                    return self._stopped(record, stop, started, late)
                if started is None:
                    started = time.perf_counter()
                self._attempt(record)
                try:
                    with lease or _NO_LEASE:
                        seconds, by_deadline = self._allowed()
                        if seconds is None:
                            # untimed: nothing must stop it early, so it may run inline
                            result = await self.unit(value, config or context_config(), inline)
                        else:
                            result = await self._timed(value, config, started, seconds, by_deadline)
                except GraphBubbleUp:
                    raise
                except Exception as exc:
                    wait = self._rejected(record, lease, exc)
                    if wait is None:
                        wait = self._failed(record, exc, started)
                        if wait is None:
                            return cast(BranchResult, record)
                        if lease is not None:  # a retry's backoff holds no place
                            lease.release()
                            lease = None
                    elif lease is not None and not lease.step_aside():
                        lease = None  # a 429: no retry spent; the limit shrank below it
                    await asyncio.sleep(wait)
                else:
                    if lease is not None:
                        lease.settle_success()
                    return self._succeeded(record, result, started)
        except asyncio.CancelledError:
            if (stopped := self._cancelled(record, index, started)) is None:
                raise
            return stopped
        finally:
            if lease is not None:
                lease.release()
            if tokens is not None:
                exit_unit(tokens)

    def _cancelled(
        self, record: dict[str, Any], index: int, started: float | None
    ) -> BranchResult | None:
        """The record of a unit its run's scope stopped; `None` for any other cancellation."""
        stop = self.scope.stopped(self.branch, index) if self.scope is not None else None
        if stop is None:
            return None
        if (task := asyncio.current_task()) is not None:
            task.uncancel()
        return self._stopped(record, stop, started)

    def _left(self) -> float | None:
        """Seconds until the run's deadline, if it has one."""
        deadline = self.scope.deadline if self.scope is not None else None
        return None if deadline is None else deadline - time.time()

    def _late(self) -> StopReason | None:
        left = self._left()
        return _LATE if left is not None and left <= 0 else None

    def _allowed(self) -> tuple[float | None, bool]:
        """How long this attempt may take, and whether the run's deadline is what limits it."""
        timeout, left = self.options.timeout, self._left()
        if left is not None and (timeout is None or left < timeout):
            return max(left, 0.0), True
        return timeout, False

    async def _lease(self) -> Lease | None:
        """Wait for a place under the cap; `None` if the run's deadline came first."""
        assert self.limit is not None
        left = self._left()
        if left is None:
            return await self.limit.lease()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                return await self.limit.lease()
        except TimeoutError:
            return None

    async def _timed(
        self,
        value: Any,
        config: RunnableConfig | None,
        started: float,
        seconds: float,
        by_deadline: bool,
    ) -> Any:
        try:
            async with asyncio.timeout(seconds) as deadline:
                return await self.unit(value, config or context_config())
        except TimeoutError:
            if not deadline.expired():
                raise
            elapsed = time.perf_counter() - started
            if by_deadline:
                raise DeadlineExceeded(
                    f"{self.unit.label} was stopped by the run's deadline after {elapsed:.3f}s"
                ) from None
            raise NodeTimeoutError(
                self.unit.label, elapsed, kind="run", run_timeout=self.options.timeout
            ) from None

    def _over_budget(self) -> StopReason | None:
        # Checked once the unit could start, so units queued behind the cap see the spend.
        scope = self.scope
        if scope is None or not scope.over_budget():
            return None
        return StopReason(
            "TokenBudgetExceeded",
            f"not started: the run used {scope.tokens:,} tokens of its "
            f"token_budget={scope.token_budget:,}",
        )

    def _rejected(
        self, record: dict[str, Any], lease: Lease | None, exc: Exception
    ) -> float | None:
        """The wait before trying again at no cost to the retry budget, for a 429; else `None`.

        Not when the package's HTTP transport has already retried the call's 429s (it told
        the lease, and gave up), nor past `_MAX_REJECTIONS` or the run's deadline.
        """
        if lease is None or not rate_limited(exc):
            return None
        rejected = record.get("rate_limited", 0)
        if rejected >= _MAX_REJECTIONS:
            return None
        wait = lease.settle_rejection(error_retry_after(exc))
        if wait is None:
            return None
        left = self._left()
        if left is not None and wait >= left:
            return None
        record["rate_limited"] = rejected + 1
        record["attempts"] -= 1
        return wait

    def _attempt(self, record: dict[str, Any]) -> None:
        record["attempts"] += 1
        if self.writer is not None:
            first = record["attempts"] == 1 and "rate_limited" not in record
            kind: BranchEventKind = "start" if first else "retry"
            self.writer(start_event(kind, self.branch, record["index"], record["attempts"]))

    def _succeeded(self, record: dict[str, Any], result: Any, started: float) -> BranchResult:
        elapsed = time.perf_counter() - started
        done = _finish(record, "ok", value=result, elapsed=elapsed, attempts=record["attempts"])
        self._ended("finish", done)
        return done

    def _failed(self, record: dict[str, Any], exc: Exception, started: float) -> float | None:
        """The delay before a retry, or `None` after the last try.

        The last try's failure is recorded, or raised under `fail_fast`.
        """
        late = isinstance(exc, DeadlineExceeded)
        delay = None if late else retry_delay(self.options.retry, exc, record["attempts"])
        left = self._left()
        if delay is not None and (left is None or delay < left):  # no retry past the deadline
            return delay
        elapsed = time.perf_counter() - started
        timed_out = late or isinstance(exc, NodeTimeoutError)
        status: BranchStatus = "timeout" if timed_out else "error"
        done = _finish(record, status, exc=exc, elapsed=elapsed, attempts=record["attempts"])
        self._ended("error", done)
        if self.options.fail_fast:
            raise exc
        return None

    def _stopped(
        self,
        record: dict[str, Any],
        reason: StopReason,
        started: float | None,
        status: BranchStatus = "cancelled",
    ) -> BranchResult:
        elapsed = 0.0 if started is None else time.perf_counter() - started
        done = _finish(
            record, status, exc=_Reason(reason), elapsed=elapsed, attempts=record["attempts"]
        )
        self._ended("error", done)
        return done

    def _ended(self, kind: BranchEventKind, record: BranchResult) -> None:
        """Stream the unit's end at once, with its record.

        So results arrive as each unit finishes, not when LangGraph commits its task (or,
        for a chunk, when the chunk's slowest item is done).
        """
        if self.writer is not None:
            limit = self.limit.state() if isinstance(self.limit, AdaptiveLimit) else None
            self.writer(end_event(kind, record, limit))


async def run_unit(
    unit: Unit,
    value: Any,
    *,
    branch: str,
    index: int,
    config: RunnableConfig,
    options: RunOptions,
    scope: RunScope | None = None,
    writer: StreamWriter | None = None,
    inline: bool = False,
) -> BranchResult:
    """Run one unit of work under `options` and return its record.

    Its elapsed time runs from its first attempt's start (after any wait for a concurrency
    slot) to its end. Under `fail_fast` the unit's final error is raised instead of
    recorded. Interrupts and other LangGraph control flow (`GraphBubbleUp`) propagate, and
    so does cancellation, unless the unit's own `scope` stopped it: then it is recorded as
    `cancelled`. With `inline`, a sync unit with no timeout or deadline is called in this
    thread (see `Unit.__call__`).
    """
    runner = _Runner(unit, branch, options, scope, writer)
    task = asyncio.current_task() if scope is not None else None
    if scope is None or task is None:
        return await runner.run(index, value, config, False, inline)
    registered = {branch: {index: task}}
    scope.register(registered)
    try:
        return await runner.run(index, value, config, False, inline)
    finally:
        scope.unregister(registered)


Job = tuple[Unit, str, int, Any]
"""One unit of work for `run_units`: what to run, its branch name, its index, its input."""


async def run_units(
    jobs: Iterable[Job],
    *,
    config: RunnableConfig,
    options: RunOptions,
    scope: RunScope | None = None,
    writer: StreamWriter | None = None,
) -> list[BranchResult]:
    """Run many units concurrently, each in a task of its own; records come in `jobs` order.

    Under `fail_fast` the first error cancels the other units and is raised. `jobs` may be a
    generator: nothing keeps a job once its task has started. Each task starts with the
    shared config and scope in its context, and sets no variables it would have to reset
    (its context dies with it). A unit that is given a config gets one of its own, tagged
    with its branch and index (`unit_config`); a plain function that takes no config gets
    none, so model calls it makes without a config carry the shared config's metadata, not
    its index. Per-unit objects are what a very large fan-out pays for; see `_Runner`.
    """
    config = with_usage_collector(config)
    runners: dict[tuple[int, str], _Runner] = {}
    runner: _Runner | None = None
    started: dict[str, dict[int, asyncio.Task[BranchResult]]] = {}
    shared = enter_run(config, scope)
    loop = asyncio.get_running_loop()
    try:
        tasks = []
        for unit, branch, index, value in jobs:
            if runner is None or runner.unit is not unit or runner.branch != branch:
                key = (id(unit), branch)
                if key not in runners:
                    runners[key] = _Runner(unit, branch, options, scope, writer)
                runner, by_index = runners[key], started.setdefault(branch, {})
            item_config = unit_config(config, branch, index) if unit.uses_config else None
            task = loop.create_task(runner.run(index, value, item_config, True))
            tasks.append(task)
            by_index[index] = task
    finally:
        exit_run(shared)
    if not tasks:
        return []
    if scope is not None:  # before any task starts: a stop from now on reaches each one
        scope.register(started)
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        await _cancel_all(tasks)
        raise
    finally:
        if scope is not None:
            scope.unregister(started)
    if pending:
        await _cancel_all(pending)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc
    return [task.result() for task in tasks]


async def _cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until they have stopped, so none is left running."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
