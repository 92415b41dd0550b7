"""The sync/async bridge: how sync callers run the package's async nodes, and the worker pools.

Each call of `run_sync` runs the coroutine on an event loop of its own, taken from a list
of idle loops (or made) and given back when the call ends, never on a loop another thread
is running: a shared loop let one caller's blocking code stall every other caller, deadlocked
a branch that called another graph's sync `invoke` from that loop, and was lost in a child
after `fork()`. A thread whose loop is already running (a notebook cell, or an async branch
that calls a graph's sync `invoke`) has the call run in a helper thread, and blocks the way
any sync call does. After `fork()` the child starts with no loops and no pools.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel._telemetry import context_config

T = TypeVar("T")

_SYNC_WORKERS = int(os.environ.get("LANGGRAPH_PARALLEL_SYNC_WORKERS", "256"))
_pool: ThreadPoolExecutor | None = None
_processes: concurrent.futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_node_task: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "langgraph_parallel_node_task", default=None
)


def runs_alone() -> bool:
    """Whether this is the top task of a node that LangGraph's sync path gave a thread.

    Its event loop then runs nothing else, so a sync call may block it. Tasks it starts (an
    inner graph's `ainvoke`, say) are not alone: they share that loop.
    """
    task = _node_task.get()
    return task is not None and task is asyncio.current_task()


async def _alone(coro: Coroutine[Any, Any, T]) -> T:
    _node_task.set(asyncio.current_task())  # in the run's own context copy
    return await coro


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


def process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """The shared process pool for `executor="process"`, started on first use."""
    global _processes
    if _processes is None:
        with _pool_lock:
            if _processes is None:
                import multiprocessing

                # spawn, not fork: this process has threads (pools, event loops).
                _processes = concurrent.futures.ProcessPoolExecutor(
                    mp_context=multiprocessing.get_context("spawn")
                )
                # Shut down while modules still exist, not from a finaliser at teardown.
                atexit.register(_processes.shutdown, wait=True, cancel_futures=True)
    return _processes


_idle: list[asyncio.AbstractEventLoop] = []
"""Event loops not running now. A loop belongs to no thread while it is not running, so a
thread that needs one takes an idle one: LangGraph's sync path starts fresh threads for each
`invoke`, and a loop made per thread would cost its sockets and selector every time."""
_MAX_IDLE = 256
_inherited: list[asyncio.AbstractEventLoop] = []  # a forked child's, never used or closed


def _close_idle() -> None:
    while _idle:
        _idle.pop().close()


atexit.register(_close_idle)


def _run_here(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    try:
        loop = _idle.pop()
    except IndexError:
        loop = asyncio.new_event_loop()
    task = loop.create_task(coro, context=context)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():  # the caller gave up (e.g. KeyboardInterrupt): stop the work too
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise
    finally:
        if len(_idle) < _MAX_IDLE and not loop.is_closed():
            _idle.append(loop)
        else:
            loop.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, in the caller's context.

    It runs on an event loop no other thread is running (an idle one, or a new one), in
    this thread; if this thread's loop is busy running the caller, in a thread started for
    this call. Either way the caller blocks until the coroutine is done.
    """
    context = contextvars.copy_context()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro, context)
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(_run_here(coro, context))
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, name="langgraph-parallel-nested", daemon=True).start()
    return done.result()


def _after_fork_in_child() -> None:
    # The parent's threads (pool workers, loops' threads) do not exist here, and a loop
    # made before the fork shares its selector with the parent: start with none.
    global _pool, _processes, _pool_lock
    _pool, _processes = None, None
    _pool_lock = threading.Lock()
    _inherited.extend(_idle)  # they share their selectors with the parent's
    _idle.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


NodeFunc = Callable[[Any, RunnableConfig], Coroutine[Any, Any, Any]]


class AsyncNode(Runnable[Any, Any]):
    """A graph node around an async function, for both of LangGraph's paths.

    Under `ainvoke` it is awaited; under `invoke` it runs to completion on an event loop
    of its own, in the thread LangGraph gave the task (see `run_sync`).

    LangGraph's own `add_node(afunc)` would reject the sync path; a `RunnableLambda` would
    trace each call as a child run. This does neither.
    """

    def __init__(self, afunc: NodeFunc, *, name: str) -> None:
        self.afunc, self.name = afunc, name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node from sync code."""
        return run_sync(_alone(self.afunc(input, config or context_config())))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node."""
        return await self.afunc(input, config or context_config())


def make_node(afunc: NodeFunc, *, name: str) -> AsyncNode:
    """A node that runs `afunc` natively under `ainvoke`, and on a loop of its own under `invoke`.

    Under `invoke` LangGraph runs each task of a step in a thread of its own; each runs its
    async branch on an event loop of its own, so async branches stay concurrent there too.
    """
    return AsyncNode(afunc, name=name)
