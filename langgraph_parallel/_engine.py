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
import concurrent.futures
import contextvars
import inspect
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp, NodeTimeoutError
from langgraph.types import RetryPolicy, StreamWriter, TimeoutPolicy

from langgraph_parallel._bridge import process_pool, run_sync, sync_pool
from langgraph_parallel._redact import redact
from langgraph_parallel._scope import RunScope, StopReason
from langgraph_parallel.errors import DeadlineExceeded
from langgraph_parallel.state.records import BranchError, BranchResult, BranchStatus

T = TypeVar("T")

RetryLike = RetryPolicy | Sequence[RetryPolicy]
TimeoutLike = float | timedelta | TimeoutPolicy

ExecutorLike = Literal["thread", "process"] | concurrent.futures.Executor
"""Where sync branches run.

- `"thread"` (default): the package's thread pool (`sync_pool()`), good for blocking I/O.
- `"process"`: a `ProcessPoolExecutor` shared by the whole process and reused across runs
  (one worker per CPU, `spawn` start method), for CPU-bound work the GIL would serialise.
  The branch must be a module-level function (it is pickled), and its input and result
  must pickle too; it gets no config, so no model calls or streaming from inside it.
- any `concurrent.futures.Executor`: used as given, e.g. a distributed engine's executor.
"""


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


_INJECTABLE = ("config", "writer", "store", "runtime")
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _injectable(fn: Any) -> frozenset[str]:
    """Which of LangGraph's node arguments (`config`, `writer`, `store`, `runtime`) `fn` takes.

    The same names a LangGraph node may declare; they are filled in from the public
    `get_stream_writer`, `get_store` and `get_runtime` when the unit runs.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: give it its input only
        return frozenset()
    return frozenset(
        p.name for p in params[1:] if p.name in _INJECTABLE and p.kind in _KEYWORD_KINDS
    )


def _injected(names: frozenset[str], config: RunnableConfig) -> dict[str, Any]:
    from langgraph.config import get_store
    from langgraph.runtime import get_runtime

    kwargs: dict[str, Any] = {}
    for name in names:
        if name == "config":
            kwargs[name] = config
        elif name == "writer":
            kwargs[name] = stream_writer() or _does_nothing
        elif name == "store":
            kwargs[name] = get_store()
        else:
            kwargs[name] = get_runtime()
    return kwargs


class _Injecting(Runnable[Any, Any]):
    """A function that takes LangGraph's node arguments, called with them (and not traced)."""

    def __init__(self, fn: Callable[..., Any], names: frozenset[str], sync: bool) -> None:
        self.fn, self.names, self.sync = fn, names, sync

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Call the function (a sync one) with its input and the arguments it asks for."""
        return self.fn(input, **_injected(self.names, config or _context_config()))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Await the function (an async one) with its input and the arguments it asks for."""
        return await self.fn(input, **_injected(self.names, config or _context_config()))


class Unit:
    """A branch, worker or voter, adapted so it can be awaited with an input and a config.

    Plain functions get LangGraph's own argument injection (`config`, `writer`, `runtime`,
    `store`), exactly as if they were nodes; one that takes nothing to inject is called
    directly, which keeps large fan-outs light. Sync callables run on `sync_pool()`, or on
    the given `executor` (see `ExecutorLike`).
    """

    __slots__ = ("direct", "executor", "injected", "label", "runnable", "sync", "takes_config")

    def __init__(self, thing: Any, *, label: str, executor: ExecutorLike | None = None) -> None:
        self.label = label
        self.direct: Callable[..., Any] | None = None
        self.takes_config = False
        self.executor: concurrent.futures.Executor | None = None
        self.injected: frozenset[str] = frozenset()
        if isinstance(thing, Runnable):
            self.runnable: Runnable[Any, Any] = thing
            self.sync = isinstance(thing, RunnableLambda) and not hasattr(thing, "afunc")
        elif callable(thing):
            if inspect.isgeneratorfunction(thing) or inspect.isasyncgenfunction(thing):
                raise TypeError(
                    f"{label} is a generator function; return a value instead of yielding"
                )
            self.sync = not _is_async_callable(thing)
            self.injected = _injectable(thing)
            if self.injected <= {"config"}:
                self.direct, self.takes_config = thing, bool(self.injected)
            else:
                self.runnable = _Injecting(thing, self.injected, self.sync)
        else:
            raise TypeError(
                f"{label} must be a function, a Runnable or a compiled graph, "
                f"got {type(thing).__name__}: {thing!r:.60}"
            )
        if executor not in (None, "thread"):
            self._use_executor(thing, executor)

    def _use_executor(self, thing: Any, executor: Any) -> None:
        where = "a process" if executor == "process" else "an executor"
        if not self.sync or self.direct is None or self.takes_config:
            raise ValueError(
                f"{self.label}: only a plain sync function of its input can run in {where} "
                f"(it gets no config); got {thing!r:.60}"
            )
        if executor == "process":
            import pickle

            try:
                pickle.dumps(thing)
            except Exception as exc:
                raise ValueError(
                    f"{self.label}: executor='process' pickles the function, and {thing!r:.60} "
                    f"cannot be ({type(exc).__name__}); define it at module level"
                ) from None
            self.executor = process_pool()
        elif isinstance(executor, concurrent.futures.Executor):
            self.executor = executor
        else:
            raise TypeError(
                f"{self.label}: executor must be 'thread', 'process' or a "
                f"concurrent.futures.Executor, got {executor!r}"
            )

    @property
    def uses_config(self) -> bool:
        """Whether the unit is given a config (so it needs one of its own per call)."""
        return self.direct is None or self.takes_config

    def __call__(self, value: Any, config: RunnableConfig) -> Awaitable[Any]:
        """Start the unit; the returned awaitable gives its result."""
        if self.executor is not None:
            assert self.direct is not None  # checked in _use_executor
            return asyncio.get_running_loop().run_in_executor(self.executor, self.direct, value)
        if self.sync:
            call = self.runnable.invoke if self.direct is None else self._call_direct
            return asyncio.get_running_loop().run_in_executor(
                sync_pool(), contextvars.copy_context().run, call, value, config
            )
        if self.direct is not None:
            return self._call_direct(value, config)  # type: ignore[no-any-return]
        return self.runnable.ainvoke(value, config)

    def _call_direct(self, value: Any, config: RunnableConfig) -> Any:
        assert self.direct is not None
        return self.direct(value, config=config) if self.takes_config else self.direct(value)


_usage_lock = threading.Lock()  # one lock for all units: usage arrives rarely, units are many
_unit_record: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "langgraph_parallel_record", default=None
)
_unit_scope: contextvars.ContextVar[RunScope | None] = contextvars.ContextVar(
    "langgraph_parallel_scope", default=None
)


def current_unit() -> tuple[RunScope, str, int] | None:
    """The scope, branch name and index of the unit running in this context, if any."""
    record, scope = _unit_record.get(), _unit_scope.get()
    if record is None or scope is None:
        return None
    return scope, record["branch"], record["index"]


def mark_hedged() -> None:
    """Note in the running unit's record (and the custom stream) that it started a backup call."""
    record = _unit_record.get()
    if record is None:
        return
    record["hedged"] = True
    writer = stream_writer()
    if writer is not None:
        writer(_event("hedge", record["branch"], record["index"]))


def _add_usage(usage: UsageMetadata | None, simulated: bool) -> None:
    """Count a model call against the unit running in this context, and its run's budget."""
    record = _unit_record.get()
    if record is None:
        return
    with _usage_lock:
        if usage is not None:
            record["usage"] = add_usage(record["usage"], usage)
        if simulated:
            record["simulated"] = True
    scope = _unit_scope.get()
    if usage is not None and scope is not None:
        scope.add_usage(usage)


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
    """Adds each model call's usage to the unit it runs in (found through a context variable)."""

    run_inline = True

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        if _unit_record.get() is not None:
            _add_usage(*_usage_of(response))


_COLLECTOR = _UsageCollector()


def with_usage_collector(config: RunnableConfig) -> RunnableConfig:
    """A copy of `config` whose callbacks record model usage per unit of work."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(_COLLECTOR, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or ()), _COLLECTOR]}


def _context_config() -> RunnableConfig:
    return var_child_runnable_config.get() or {}


def unit_config(config: RunnableConfig, branch: str, index: int) -> RunnableConfig:
    """The config a unit runs with: tagged so its model calls can be told apart in streams."""
    metadata = {**config.get("metadata", {}), "lgp_branch": branch, "lgp_index": index}
    return {**config, "metadata": metadata}


def _error(exc: BaseException) -> BranchError:
    kind = exc.kind if isinstance(exc, _Reason) else type(exc).__name__
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


def _does_nothing(_: Any) -> None:
    pass


def stream_writer() -> StreamWriter | None:
    """LangGraph's custom-stream writer; `None` outside a graph run.

    Progress events are written whether or not anyone streams `"custom"`: LangGraph has no
    public way to ask, and a writer nobody reads costs two small dicts per unit.
    """
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


_LATE = StopReason("DeadlineExceeded", "not started: the run's deadline had passed")


class _Reason(Exception):
    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.message)
        self.kind = reason.kind


class _Runner:
    """Runs the units of one batch: what they share is kept here, once, not per unit.

    A waiting unit's coroutine frame is the largest thing the package keeps per item of a
    large fan-out, so `run` takes only what differs per unit and the rare paths (failure,
    stop, budget) live in plain methods. Every object a waiting unit keeps alive also counts
    against Python's garbage collector, whose full collections dominated 10,000-item
    fan-outs before.
    """

    __slots__ = ("branch", "limit", "policy", "scope", "unit", "writer")

    def __init__(
        self,
        unit: Unit,
        branch: str,
        policy: Policy,
        scope: RunScope | None,
        writer: StreamWriter | None,
    ) -> None:
        self.unit = unit
        self.branch = branch
        self.policy = policy
        self.scope = scope
        self.writer = writer
        self.limit = scope.limit if scope is not None else None

    async def run(
        self, index: int, value: Any, config: RunnableConfig | None, own_context: bool
    ) -> BranchResult:
        """Run unit `index` and return its record (see `run_unit`)."""
        record = _new_record(self.branch, index)
        tokens = _enter(record, self.scope, config, own_context)
        started: float | None = None
        try:
            if self.scope is not None and (stop := self.scope.enter(self.branch, index)):
                return self._stopped(record, stop, started)
            while True:
                if self.limit is not None and not await self._acquire():
                    return self._stopped(record, _LATE, started, "timeout")
                try:
                    if (stop := self._over_budget() or self._late()) is not None:
                        late: BranchStatus = "timeout" if stop is _LATE else "cancelled"
                        return self._stopped(record, stop, started, late)
                    if started is None:
                        started = time.perf_counter()
                    self._attempt(record)
                    try:
                        seconds, by_deadline = self._allowed()
                        if seconds is None:
                            result = await self.unit(value, config or _context_config())
                        else:
                            result = await self._timed(value, config, started, seconds, by_deadline)
                    except GraphBubbleUp:
                        raise
                    except Exception as exc:
                        delay = self._failed(record, exc, started)
                        if delay is None:
                            return cast(BranchResult, record)
                    else:
                        return self._succeeded(record, result, started)
                finally:
                    if self.limit is not None:
                        self.limit.release()
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            stop = self.scope.leave(self.branch, index) if self.scope is not None else None
            if stop is None:
                raise
            if (task := asyncio.current_task()) is not None:
                task.uncancel()
            return self._stopped(record, stop, started)
        finally:
            if self.scope is not None:
                self.scope.leave(self.branch, index)
            if tokens is not None:
                _exit(tokens)

    def _left(self) -> float | None:
        """Seconds until the run's deadline, if it has one."""
        deadline = self.scope.deadline if self.scope is not None else None
        return None if deadline is None else deadline - time.time()

    def _late(self) -> StopReason | None:
        left = self._left()
        return _LATE if left is not None and left <= 0 else None

    def _allowed(self) -> tuple[float | None, bool]:
        """How long this attempt may take, and whether the run's deadline is what limits it."""
        timeout, left = self.policy.timeout, self._left()
        if left is not None and (timeout is None or left < timeout):
            return max(left, 0.0), True
        return timeout, False

    async def _acquire(self) -> bool:
        """Wait for a place under the cap; `False` if the run's deadline came first."""
        assert self.limit is not None
        left = self._left()
        if left is None:
            await self.limit.acquire()
            return True
        try:
            async with asyncio.timeout(max(left, 0.0)):
                await self.limit.acquire()
        except TimeoutError:
            return False
        return True

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
                return await self.unit(value, config or _context_config())
        except TimeoutError:
            if not deadline.expired():
                raise
            elapsed = time.perf_counter() - started
            if by_deadline:
                raise DeadlineExceeded(
                    f"{self.unit.label} was stopped by the run's deadline after {elapsed:.3f}s"
                ) from None
            raise NodeTimeoutError(
                self.unit.label, elapsed, kind="run", run_timeout=self.policy.timeout
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

    def _attempt(self, record: dict[str, Any]) -> None:
        record["attempts"] += 1
        if self.writer is not None:
            kind = "start" if record["attempts"] == 1 else "retry"
            self.writer(_event(kind, self.branch, record["index"], attempt=record["attempts"]))

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
        delay = None if late else retry_delay(self.policy.retry, exc, record["attempts"])
        left = self._left()
        if delay is not None and (left is None or delay < left):  # no retry past the deadline
            return delay
        elapsed = time.perf_counter() - started
        timed_out = late or isinstance(exc, NodeTimeoutError)
        status: BranchStatus = "timeout" if timed_out else "error"
        done = _finish(record, status, exc=exc, elapsed=elapsed, attempts=record["attempts"])
        self._ended("error", done)
        if self.policy.fail_fast:
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

    def _ended(self, kind: str, record: BranchResult) -> None:
        """Stream the unit's end at once, with its record.

        So results arrive as each unit finishes, not when LangGraph commits its task (or,
        for a chunk, when the chunk's slowest item is done).
        """
        if self.writer is not None:
            self.writer(
                _event(
                    kind,
                    self.branch,
                    record["index"],
                    status=record["status"],
                    error=record["error"],
                    elapsed=record["elapsed"],
                    attempts=record["attempts"],
                    record=record,
                )
            )


_Tokens = tuple[contextvars.Token[Any], contextvars.Token[Any], contextvars.Token[Any] | None]


def _enter(
    record: dict[str, Any],
    scope: RunScope | None,
    config: RunnableConfig | None,
    own_context: bool,
) -> _Tokens | None:
    """Make `record` (and `config`) the unit's context; the tokens to undo it, if needed."""
    if own_context:  # nothing to undo: the context dies with the task
        _unit_record.set(record)
        if config is not None:
            var_child_runnable_config.set(config)
        return None
    return (
        _unit_record.set(record),
        _unit_scope.set(scope),
        None if config is None else var_child_runnable_config.set(config),
    )


def _exit(tokens: _Tokens) -> None:
    _unit_record.reset(tokens[0])
    _unit_scope.reset(tokens[1])
    if tokens[2] is not None:
        var_child_runnable_config.reset(tokens[2])


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
    runner = _Runner(unit, branch, policy, scope, writer)
    return await runner.run(index, value, config, False)


Job = tuple[Unit, str, int, Any]
"""One unit of work for `run_units`: what to run, its branch name, its index, its input."""


async def run_units(
    jobs: Iterable[Job],
    *,
    config: RunnableConfig,
    policy: Policy,
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
    shared = (var_child_runnable_config.set(config), _unit_scope.set(scope))
    try:
        tasks = []
        for unit, branch, index, value in jobs:
            runner = runners.get((id(unit), branch))
            if runner is None:
                runner = runners[id(unit), branch] = _Runner(unit, branch, policy, scope, writer)
            item_config = unit_config(config, branch, index) if unit.uses_config else None
            tasks.append(asyncio.ensure_future(runner.run(index, value, item_config, True)))
    finally:
        _unit_scope.reset(shared[1])
        var_child_runnable_config.reset(shared[0])
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


class AsyncNode(Runnable[Any, Any]):
    """A graph node around an async function, for both of LangGraph's paths.

    Under `ainvoke` it is awaited; under `invoke` it runs to completion on the calling
    thread's own event loop (see `_bridge.run_sync`).

    LangGraph's own `add_node(afunc)` would reject the sync path; a `RunnableLambda` would
    trace each call as a child run. This does neither.
    """

    def __init__(self, afunc: NodeFunc, *, name: str) -> None:
        self.afunc, self.name = afunc, name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node from sync code."""
        return run_sync(self.afunc(input, config or _context_config()))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node."""
        return await self.afunc(input, config or _context_config())


def make_node(afunc: NodeFunc, *, name: str) -> AsyncNode:
    """A node that runs `afunc` natively under `ainvoke`, and on its thread's loop under `invoke`.

    Under `invoke` LangGraph runs each task of a step in a thread of its own; each runs its
    async branch on that thread's event loop, so async branches stay concurrent there too.
    """
    return AsyncNode(afunc, name=name)


def usage_total(records: Sequence[Mapping[str, Any]]) -> UsageMetadata | None:
    """Sum the usage of records (with `add_usage`); `None` when none has any."""
    total: UsageMetadata | None = None
    for record in records:
        if record.get("usage"):
            total = add_usage(total, record["usage"])
    return total
