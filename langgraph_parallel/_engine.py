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
import contextvars
import inspect
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import var_child_runnable_config
from langgraph._internal._runnable import RunnableCallable
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp, NodeTimeoutError
from langgraph.types import RetryPolicy, StreamWriter, TimeoutPolicy

from langgraph_parallel._scope import (
    RunScope,
    StopReason,
    reset_current_unit,
    set_current_unit,
)
from langgraph_parallel.state.records import BranchError, BranchResult, BranchStatus

T = TypeVar("T")

RetryLike = RetryPolicy | Sequence[RetryPolicy]
TimeoutLike = float | timedelta | TimeoutPolicy

_SYNC_WORKERS = int(os.environ.get("LANGGRAPH_PARALLEL_SYNC_WORKERS", "256"))
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def sync_pool() -> ThreadPoolExecutor:
    """The thread pool that runs sync callables, so they are not capped by the loop's default.

    Its size is `LANGGRAPH_PARALLEL_SYNC_WORKERS` (default 256); threads start on demand.
    """
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(_SYNC_WORKERS, thread_name_prefix="langgraph-parallel")
    return _pool


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, in the caller's context."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # A loop already runs in this thread (e.g. a notebook): run on a helper thread instead.
    ctx = contextvars.copy_context()
    return sync_pool().submit(ctx.run, asyncio.run, coro).result()


def timeout_seconds(timeout: TimeoutLike | None, *, what: str) -> float | None:
    """Read a timeout given as seconds, a `timedelta` or a `TimeoutPolicy`."""
    if timeout is None:
        return None
    if isinstance(timeout, TimeoutPolicy):
        if timeout.idle_timeout is not None:
            raise ValueError(
                f"{what}: idle_timeout is not supported for branches; "
                "use TimeoutPolicy(run_timeout=...) or a number of seconds"
            )
        timeout = timeout.run_timeout
        if timeout is None:
            return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"{what}: timeout must be a positive number of seconds, got {timeout!r}")
    return float(seconds)


def retry_policies(retry: RetryLike | None, *, what: str) -> tuple[RetryPolicy, ...]:
    """Normalise a `RetryPolicy` or a sequence of them; check the type."""
    if retry is None:
        return ()
    if isinstance(retry, RetryPolicy):
        return (retry,)
    given: tuple[Any, ...] = tuple(retry) if isinstance(retry, Sequence) else (retry,)
    for policy in given:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(
                f"{what}: retry must be a langgraph.types.RetryPolicy or a sequence of them, "
                f"got {type(policy).__name__}"
            )
    return given


def _matches(policy: RetryPolicy, exc: Exception) -> bool:
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(exc, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(exc, tuple(retry_on))
    return bool(retry_on(exc))


def retry_delay(policies: Sequence[RetryPolicy], exc: Exception, failures: int) -> float | None:
    """Seconds to wait before retrying, or `None` to give up (LangGraph's rules)."""
    policy = next((p for p in policies if _matches(p, exc)), None)
    if policy is None or failures >= policy.max_attempts:
        return None
    interval = min(
        policy.max_interval, policy.initial_interval * policy.backoff_factor ** (failures - 1)
    )
    return interval + random.uniform(0, 1) if policy.jitter else interval


@dataclass(frozen=True, slots=True)
class Policy:
    """How a unit of work is run: its timeout, retries and failure mode."""

    timeout: float | None = None
    retry: tuple[RetryPolicy, ...] = ()
    fail_fast: bool = False


def _is_async_callable(fn: Any) -> bool:
    # A callable object counts as async when its class's __call__ is a coroutine function.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


class Unit:
    """A branch, worker or voter, adapted so it can be awaited with an input and a config.

    Plain functions get LangGraph's own argument injection (`config`, `writer`, `runtime`,
    `store`), exactly as if they were nodes. Sync callables run on `sync_pool()`.
    """

    __slots__ = ("label", "runnable", "sync")

    def __init__(self, thing: Any, *, label: str) -> None:
        self.label = label
        if isinstance(thing, Runnable):
            self.runnable: Runnable[Any, Any] = thing
            self.sync = isinstance(thing, RunnableLambda) and not hasattr(thing, "afunc")
        elif callable(thing):
            if inspect.isgeneratorfunction(thing) or inspect.isasyncgenfunction(thing):
                raise TypeError(
                    f"{label} is a generator function; return a value instead of yielding"
                )
            self.sync = not _is_async_callable(thing)
            self.runnable = (
                RunnableCallable(thing, None, trace=False)
                if self.sync
                else RunnableCallable(None, thing, trace=False)
            )
        else:
            raise TypeError(
                f"{label} must be a function, a Runnable or a compiled graph, "
                f"got {type(thing).__name__}: {thing!r:.60}"
            )

    async def __call__(self, value: Any, config: RunnableConfig) -> Any:
        if self.sync:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            return await loop.run_in_executor(
                sync_pool(), ctx.run, self.runnable.invoke, value, config
            )
        return await self.runnable.ainvoke(value, config)


class _UsageBox:
    """Collects the usage of one unit's model calls, and counts it against its run's budget."""

    __slots__ = ("lock", "scope", "simulated", "usage")

    def __init__(self, scope: RunScope | None = None) -> None:
        self.lock = threading.Lock()
        self.scope = scope
        self.usage: UsageMetadata | None = None
        self.simulated = False

    def add(self, usage: UsageMetadata | None, *, simulated: bool) -> None:
        with self.lock:
            if usage is not None:
                self.usage = add_usage(self.usage, usage)
            self.simulated = self.simulated or simulated
        if usage is not None and self.scope is not None:
            self.scope.add_usage(usage)


_usage_box: contextvars.ContextVar[_UsageBox | None] = contextvars.ContextVar(
    "langgraph_parallel_usage", default=None
)


def _usage_of(result: LLMResult) -> tuple[UsageMetadata | None, bool]:
    """The usage of a model call, and whether the simulated model made it."""
    total: UsageMetadata | None = None
    simulated = False
    for generations in result.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
                if generation.message.usage_metadata:
                    total = add_usage(total, generation.message.usage_metadata)
                if generation.message.response_metadata.get("simulated"):
                    simulated = True
    return total, simulated


class _UsageCollector(BaseCallbackHandler):
    """Adds each model call's usage to the box of the unit it runs in (a context variable)."""

    run_inline = True

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        box = _usage_box.get()
        if box is not None:
            usage, simulated = _usage_of(response)
            box.add(usage, simulated=simulated)


_COLLECTOR = _UsageCollector()


def with_usage_collector(config: RunnableConfig) -> RunnableConfig:
    """A copy of `config` whose callbacks record model usage per unit of work."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(_COLLECTOR, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or ()), _COLLECTOR]}


def unit_config(config: RunnableConfig, branch: str, index: int) -> RunnableConfig:
    """The config a unit runs with: tagged so its model calls can be told apart in streams."""
    metadata = {**config.get("metadata", {}), "lgp_branch": branch, "lgp_index": index}
    return {**config, "metadata": metadata}


def _error(exc: BaseException) -> BranchError:
    kind = exc.kind if isinstance(exc, _Reason) else type(exc).__name__
    return {"type": kind, "message": str(exc)}


def _record(
    branch: str,
    index: int,
    status: BranchStatus,
    *,
    value: Any = None,
    exc: BaseException | None = None,
    elapsed: float = 0.0,
    attempts: int = 0,
    box: _UsageBox | None = None,
) -> BranchResult:
    record: BranchResult = {
        "branch": branch,
        "index": index,
        "status": status,
        "value": value,
        "error": None if exc is None else _error(exc),
        "elapsed": elapsed,
        "attempts": attempts,
        "usage": None if box is None else box.usage,
    }
    if box is not None and box.simulated:
        record["simulated"] = True
    return record


def stream_writer() -> StreamWriter | None:
    """LangGraph's custom-stream writer, or `None` outside a graph run."""
    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a runnable context, e.g. node.invoke() directly
        return None


def _event(kind: str, branch: str, index: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "branch", "event": kind, "branch": branch, "index": index, **fields}


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


class _Tally:
    """How far one unit got: its attempts, and when the first one started."""

    __slots__ = ("attempts", "started")

    def __init__(self) -> None:
        self.attempts = 0
        self.started: float | None = None

    def begin_attempt(self) -> int:
        self.attempts += 1
        if self.started is None:
            self.started = time.perf_counter()
        return self.attempts

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.perf_counter() - self.started


async def run_unit(
    unit: Unit,
    value: Any,
    *,
    branch: str,
    index: int,
    config: RunnableConfig,
    policy: Policy,
    scope: RunScope | None = None,
    writer: StreamWriter | None = None,
) -> BranchResult:
    """Run one unit of work under `policy` and return its record.

    Its elapsed time runs from its first attempt's start (after any wait for a concurrency
    slot) to its end. Under `fail_fast` the unit's final error is raised instead of
    recorded. Interrupts and other LangGraph control flow (`GraphBubbleUp`) propagate, and
    so does cancellation, unless the unit's own `scope` stopped it: then it is recorded as
    `cancelled`.
    """
    token = var_child_runnable_config.set(config)
    unit_token = set_current_unit(scope, branch, index)
    box = _UsageBox(scope)
    box_token = _usage_box.set(box)
    tally = _Tally()
    try:
        stopped = scope.enter(branch, index) if scope is not None else None
        if stopped is not None:
            return _stopped(branch, index, stopped, tally, box, writer)
        return await _attempts(
            unit, value, branch, index, config, policy, scope, writer, box, tally
        )
    except asyncio.CancelledError:
        reason = scope.leave(branch, index) if scope is not None else None
        if reason is None:
            raise
        if (task := asyncio.current_task()) is not None:
            task.uncancel()
        return _stopped(branch, index, reason, tally, box, writer)
    finally:
        if scope is not None:
            scope.leave(branch, index)
        _usage_box.reset(box_token)
        reset_current_unit(unit_token)
        var_child_runnable_config.reset(token)


def _stopped(
    branch: str,
    index: int,
    reason: StopReason,
    tally: _Tally,
    box: _UsageBox,
    writer: StreamWriter | None,
) -> BranchResult:
    elapsed = tally.elapsed()
    error = {"type": reason.kind, "message": reason.message}
    if writer is not None:
        writer(_event("error", branch, index, status="cancelled", error=error, elapsed=elapsed))
    return _record(
        branch,
        index,
        "cancelled",
        exc=_Reason(reason),
        elapsed=elapsed,
        attempts=tally.attempts,
        box=box,
    )


class _Reason(Exception):
    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.message)
        self.kind = reason.kind


async def _attempts(
    unit: Unit,
    value: Any,
    branch: str,
    index: int,
    config: RunnableConfig,
    policy: Policy,
    scope: RunScope | None,
    writer: StreamWriter | None,
    box: _UsageBox,
    tally: _Tally,
) -> BranchResult:
    limit = scope.limit if scope is not None else None
    while True:
        if limit is not None:
            await limit.acquire()
        # Checked once the unit could start, so units queued behind the cap see the spend.
        if scope is not None and scope.over_budget():
            if limit is not None:
                limit.release()
            reason = StopReason(
                "TokenBudgetExceeded",
                f"not started: the run used {scope.tokens:,} tokens of its "
                f"token_budget={scope.token_budget:,}",
            )
            return _stopped(branch, index, reason, tally, box, writer)
        attempt = tally.begin_attempt()
        if writer is not None:
            writer(_event("start" if attempt == 1 else "retry", branch, index, attempt=attempt))
        try:
            result = await attempt_with_timeout(
                lambda: unit(value, config), policy.timeout, unit.label
            )
        except GraphBubbleUp:
            raise
        except Exception as exc:
            delay = retry_delay(policy.retry, exc, attempt)
            if delay is None:
                status: BranchStatus = "timeout" if isinstance(exc, NodeTimeoutError) else "error"
                elapsed = tally.elapsed()
                if writer is not None:
                    writer(
                        _event(
                            "error",
                            branch,
                            index,
                            status=status,
                            error=_error(exc),
                            elapsed=elapsed,
                            attempts=attempt,
                        )
                    )
                if policy.fail_fast:
                    raise
                return _record(
                    branch, index, status, exc=exc, elapsed=elapsed, attempts=attempt, box=box
                )
        else:
            elapsed = tally.elapsed()
            if writer is not None:
                writer(
                    _event("finish", branch, index, status="ok", elapsed=elapsed, attempts=attempt)
                )
            return _record(
                branch, index, "ok", value=result, elapsed=elapsed, attempts=attempt, box=box
            )
        finally:
            if limit is not None:
                limit.release()
        await asyncio.sleep(delay)


Job = tuple[Unit, str, int, Any]
"""One unit of work for `run_units`: what to run, its branch name, its index, its input."""


async def run_units(
    jobs: Sequence[Job],
    *,
    config: RunnableConfig,
    policy: Policy,
    scope: RunScope | None = None,
    writer: StreamWriter | None = None,
) -> list[BranchResult]:
    """Run many units concurrently; records come back in `jobs` order.

    Under `fail_fast` the first error cancels the other units and is raised.
    """
    config = with_usage_collector(config)

    def start(job: Job) -> Awaitable[BranchResult]:
        unit, branch, index, value = job
        return run_unit(
            unit,
            value,
            branch=branch,
            index=index,
            config=unit_config(config, branch, index),
            policy=policy,
            scope=scope,
            writer=writer,
        )

    if len(jobs) == 1:
        return [await start(jobs[0])]
    tasks = [asyncio.ensure_future(start(job)) for job in jobs]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        await _cancel_all(tasks)
        raise
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


NodeFunc = Callable[[Any, RunnableConfig], Coroutine[Any, Any, Any]]


def make_node(afunc: NodeFunc, *, name: str) -> RunnableCallable:
    """A node that runs `afunc` natively under `ainvoke`, and on its own loop under `invoke`.

    Under `invoke` LangGraph runs each task in a thread; giving each its own event loop
    keeps async branches concurrent there too.
    """

    def func(value: Any, config: RunnableConfig) -> Any:
        return run_sync(afunc(value, config))

    return RunnableCallable(func, afunc, name=name, trace=False)


def usage_total(records: Sequence[Mapping[str, Any]]) -> UsageMetadata | None:
    """Sum the usage of records (with `add_usage`); `None` when none has any."""
    total: UsageMetadata | None = None
    for record in records:
        if record.get("usage"):
            total = add_usage(total, record["usage"])
    return total
