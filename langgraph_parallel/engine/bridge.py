"""The sync/async bridge: where async work runs when the caller is sync, and the worker pools.

Async HTTP clients are bound to the event loop that opened their connections, so where the
package runs async work decides whether a caller's loop-bound resources keep working. The
rules:

- Every thread that makes sync calls has a *home*: an event loop running in a daemon thread
  of its own, made on first use and closed when the calling thread ends. A sync call of a
  graph (`invoke`, `stream`, `batch`) runs all its async work on its caller's home, so one
  call uses one loop and successive calls from one thread use the same loop, as under one
  `asyncio.run`: a module-level `httpx.AsyncClient` keeps working.
- Threads never share a home, so one caller's blocking code never stalls another's.
- Work never waits for the loop it would run on: a sync call made from async code running on
  a home (an async branch that calls a graph's `invoke`) runs on that home thread's own home.
- A node whose only work is a sync function, with no timeout or deadline, holds nothing
  bound to a loop: it runs alone on an idle loop in LangGraph's thread, which calls the
  function itself (`run_alone`), sparing four thread hand-offs per branch.
- A graph's LangGraph loop runs in a driver thread while the caller waits (`drive`), so
  Ctrl-C reaches the caller at once; it cancels the call's work (and that of the calls made
  inside it) and says what it stopped. A node that is still running past its run's deadline
  is given up with an error that says what its loop is busy with.
- After `fork()` the child starts with no homes and no pools. The parent's loops are left
  alone: closing one would unregister the parent's descriptors from the epoll they share.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import os
import queue
import sys
import sysconfig
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any, TypeVar, cast

from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel.engine.telemetry import context_config
from langgraph_parallel.errors import DeadlineExceeded

T = TypeVar("T")

STOP_WAIT = 5.0
"""Seconds a caller waits, after Ctrl-C or closing a stream, for the cancelled work to end."""

DEADLINE_GRACE = 5.0
"""Seconds past the run's deadline a node may still be running before its caller gives up.

The runner stops units at the deadline itself; this only ends a wait on a loop that cannot
do so (blocked by blocking code in an async function)."""

_SYNC_WORKERS = int(os.environ.get("LANGGRAPH_PARALLEL_SYNC_WORKERS", "256"))
_pool: ThreadPoolExecutor | None = None
_processes: concurrent.futures.ProcessPoolExecutor | None = None
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


class Home:
    """An event loop running in a daemon thread of its own, for one calling thread."""

    def __init__(self, owner: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self.closing = False
        self.thread = threading.Thread(
            target=self._serve, name=f"langgraph-parallel loop of {owner}", daemon=True
        )
        self.thread.start()
        _homes.add(self)

    def usable(self) -> bool:
        """Whether this thread may run work here and wait for it (it is not the loop's own)."""
        return (
            not self.closing
            and self.pid == os.getpid()
            and self.thread.ident != threading.get_ident()
        )

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        while not self.closing:
            # A task that raises KeyboardInterrupt or SystemExit ends run_forever; the task
            # has recorded it for its caller, and the loop serves on.
            with contextlib.suppress(BaseException):
                self.loop.run_forever()
        _shut_down(self.loop)

    def close(self, wait: float | None = None) -> None:
        """Stop the loop (its leftover tasks are cancelled, its async generators closed)."""
        if self.closing or self.pid != os.getpid():
            return
        self.closing = True
        with contextlib.suppress(RuntimeError):  # closed already
            self.loop.call_soon_threadsafe(self.loop.stop)
        if wait:
            self.thread.join(wait)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        what: str,
        deadline: float | None = None,
        call: Call | None = None,
    ) -> T:
        """Run `coro` here, in a copy of the caller's context, and wait for its result.

        Args:
            coro: The work.
            what: What it is, for messages (`"node 'a'"`).
            deadline: A `time.time()` past which (plus `DEADLINE_GRACE`) the wait gives up.
            call: The sync call it belongs to, so stopping the call cancels it.
        """
        job = _Job(self, coro, what, call, contextvars.copy_context())
        self.loop.call_soon_threadsafe(job.start)
        try:
            return cast(T, job.wait(deadline))
        except BaseException as exc:
            if not job.settled:  # given up, or interrupted, while it runs: stop it too
                job.cancel()
                if isinstance(exc, KeyboardInterrupt):  # let it unwind before the caller does
                    job.wait_stopped(STOP_WAIT)
                    exc.add_note(f"langgraph-parallel: interrupted while waiting for {what}")
            raise

    def busy(self) -> str:
        """What the loop's thread is doing now, for a message about a wait that went on."""
        frame = sys._current_frames().get(self.thread.ident or -1)
        if frame is None:
            return f"its event loop ({self.thread.name}) has stopped"
        if frame.f_code.co_filename.endswith("selectors.py"):
            return f"its event loop ({self.thread.name}) is idle: the work waits on something else"
        where = _where(frame)
        caller = next((f for f in _outward(frame) if not _library(f.f_code.co_filename)), None)
        if caller is not None and caller is not frame:
            where += f", called from {_where(caller)}"
        return (
            f"its event loop ({self.thread.name}) is blocked in {where}: blocking code in an "
            "async function stalls all the call's work; run it with asyncio.to_thread, or "
            "make the function sync"
        )


def _outward(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _where(frame: FrameType) -> str:
    return f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"


_LIBRARIES = tuple({sysconfig.get_path(name) for name in ("stdlib", "purelib", "platlib")})


def _library(filename: str) -> bool:
    """Whether a frame's file is Python's, an installed package's or this package's own."""
    return filename.startswith(_LIBRARIES) or filename.startswith(_PACKAGE) or "<" in filename


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """What `asyncio.run` does when its coroutine ends: cancel, close generators, close."""
    try:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


class _Job:
    """One coroutine sent to a home, and the outcome its caller waits for.

    The outcome is handed over through a queue, not a `concurrent.futures.Future`: the
    caller's wait is then a C-level get that Ctrl-C interrupts cleanly, with no lock it could
    leave held for the loop to block on.
    """

    __slots__ = ("_outcome", "call", "context", "coro", "home", "settled", "task", "what")

    def __init__(
        self,
        home: Home,
        coro: Coroutine[Any, Any, Any],
        what: str,
        call: Call | None,
        context: contextvars.Context,
    ) -> None:
        self.home, self.coro, self.what, self.call, self.context = home, coro, what, call, context
        self._outcome: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self.settled = False
        self.task: asyncio.Task[Any] | None = None

    def _settle(self, ok: bool, value: Any) -> None:
        # on the home's loop only, so never twice at once
        if not self.settled:
            self.settled = True
            self._outcome.put((ok, value))

    def start(self) -> None:
        """On the home's loop: start the task, unless that would be in vain.

        Not if it was cancelled first, the call was stopped, or the loop is closing (a task
        started now would never be awaited).
        """
        if (
            self.settled
            or self.home.closing
            or (self.call is not None and not self.call.admit(self))
        ):
            self.coro.close()
            self._settle(False, asyncio.CancelledError(f"{self.what} was not started"))
            return
        self.task = self.home.loop.create_task(self.coro, name=self.what, context=self.context)
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if self.call is not None:
            self.call.finished(self)
        if task.cancelled():
            self._settle(False, asyncio.CancelledError(f"{self.what} was cancelled"))
        elif (exc := task.exception()) is not None:
            self._settle(False, exc)
        else:
            self._settle(True, task.result())

    def cancel(self) -> None:
        """From any thread: cancel the task (or, if it has not started, never start it)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing runs there
            self.home.loop.call_soon_threadsafe(self._cancel_here)

    def _cancel_here(self) -> None:
        if self.task is not None:
            self.task.cancel()
        else:
            self._settle(False, asyncio.CancelledError(f"{self.what} was not started"))

    def wait(self, deadline: float | None) -> Any:
        """The coroutine's result (or its raise); past `deadline` plus a grace, give up."""
        timeout = None if deadline is None else max(deadline - time.time(), 0.0) + DEADLINE_GRACE
        try:
            ok, value = _get(self._outcome, timeout)
        except queue.Empty:
            raise DeadlineExceeded(
                f"{self.what} was still running {DEADLINE_GRACE:g}s after the run's "
                f"deadline, and was given up: {self.home.busy()}"
            ) from None
        if ok:
            return value
        raise value

    def wait_stopped(self, seconds: float) -> None:
        """After `cancel`: wait up to `seconds` for the task to end."""
        with contextlib.suppress(queue.Empty):
            _get(self._outcome, seconds)


class Call:
    """One sync call of a graph: its home, the work it runs there, the calls made inside it."""

    def __init__(self, home: Home, what: str, parent: Call | None) -> None:
        self.home, self.what, self.parent = home, what, parent
        self.stopped = False
        self._lock = threading.Lock()
        self._jobs: set[_Job] = set()
        self._inner: set[Call] = set()
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, inner: Call) -> None:
        with self._lock:
            self._inner.add(inner)
            stopped = self.stopped
        if stopped:
            inner.stop()

    def admit(self, job: _Job) -> bool:
        """Register a job about to start here; `False` once the call has been stopped."""
        with self._lock:
            if self.stopped:
                return False
            self._jobs.add(job)
            return True

    def finished(self, job: _Job) -> None:
        """Forget a job that has ended."""
        with self._lock:
            self._jobs.discard(job)

    def ended(self) -> None:
        """The call has returned: its parent stops tracking it."""
        if self.parent is not None:
            with self.parent._lock:
                self.parent._inner.discard(self)

    def stop(self) -> list[str]:
        """Cancel everything the call (and the calls inside it) still runs; what it was."""
        with self._lock:
            self.stopped = True
            jobs, inner = list(self._jobs), list(self._inner)
        for job in jobs:
            job.cancel()
        names = [job.what for job in jobs]
        for call in inner:
            names += call.stop()
        return names


_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "langgraph_parallel_call", default=None
)
_homes: weakref.WeakSet[Home] = weakref.WeakSet()
_inherited: list[Home] = []  # a forked child's: never used, never closed
_inherited_loops: list[asyncio.AbstractEventLoop] = []  # likewise
_local = threading.local()


class _Owner:
    """Kept in its thread's local storage: when the thread ends, so does its home."""

    __slots__ = ("__weakref__", "home")

    def __init__(self, home: Home) -> None:
        self.home = home


def _thread_home() -> Home:
    owner: _Owner | None = getattr(_local, "owner", None)
    if owner is None or not owner.home.usable():
        home = Home(threading.current_thread().name)
        owner = _local.owner = _Owner(home)
        weakref.finalize(owner, home.close).atexit = False  # _close_homes does it at exit
    return owner.home


def _here() -> tuple[Home, Call | None]:
    """Where async work started from this thread runs: the call's home, else the thread's."""
    call = _call.get()
    if call is not None and call.home.usable():
        return call.home, call
    return _thread_home(), None


def run_sync(
    coro: Coroutine[Any, Any, T], *, what: str = "async work", deadline: float | None = None
) -> T:
    """Run a coroutine to completion from sync code, on the call's loop, and wait for it.

    The wait can be interrupted (Ctrl-C cancels the work). With a `deadline`
    (`time.time()`), a wait that goes `DEADLINE_GRACE` seconds past it raises
    `DeadlineExceeded`, saying what the loop is busy with.
    """
    home, call = _here()
    return home.run(coro, what=what, deadline=deadline, call=call)


_idle: list[asyncio.AbstractEventLoop] = []
"""Loops for `run_alone`, not running now. A loop belongs to no thread while it is not
running; LangGraph's sync path starts fresh threads for each call, and a loop made per
thread would cost its sockets and selector every time."""
_MAX_IDLE = 256
_alone: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "langgraph_parallel_alone", default=None
)


def runs_alone() -> bool:
    """Whether this is the top task of a node that `run_alone` runs.

    Its loop runs nothing else, so the node may call a sync function in this thread.
    """
    task = _alone.get()
    return task is not None and task is asyncio.current_task()


async def _as_alone(coro: Coroutine[Any, Any, T]) -> T:
    _alone.set(asyncio.current_task())  # in the task's own context copy
    return await coro


def run_alone(coro: Coroutine[Any, Any, T], *, what: str) -> T:
    """Run a node's coroutine on an idle loop in this thread, where nothing else runs.

    For a node whose only work is a sync function: it is bound to no loop, and on the
    call's loop it would cost a hand-off to the loop, to a pool thread and back twice. Where
    a loop already runs in this thread, it goes to `run_sync` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return run_sync(coro, what=what)
    try:
        loop = _idle.pop()
    except IndexError:
        loop = asyncio.new_event_loop()
    task = loop.create_task(_as_alone(coro), name=what)
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


_POLL = 0.05
"""How often a wait in the main thread wakes to let a signal's handler run (see `_get`)."""


def _get(items: queue.SimpleQueue[T], timeout: float | None = None) -> T:
    """`items.get(timeout=timeout)`, which Ctrl-C interrupts in the main thread.

    A signal sent to the process may be taken by any of its threads. Python then runs the
    handler (raising `KeyboardInterrupt`) in the main thread, but only when that thread
    next runs bytecode: one blocked in a lock's wait is only woken if the signal came to it.
    So the main thread waits in short slices; other threads wait in one piece.
    """
    if threading.current_thread() is not threading.main_thread():
        return items.get(timeout=timeout)
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _POLL if end is None else min(_POLL, end - time.monotonic())
        try:
            return items.get(timeout=max(left, 0.0))
        except queue.Empty:
            if end is not None and time.monotonic() >= end:
                raise


class _Channel:
    """Hands a driver's items to its caller one at a time; the caller asks for each next one.

    Both sides wait in C-level queue gets (the caller's in slices, `_get`), which Ctrl-C
    interrupts cleanly: a Python `Condition` could be left held by an interrupt that comes
    between acquiring it and entering its `with` block, and the driver would then wait on it
    for ever.
    """

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wanted: queue.SimpleQueue[bool] = queue.SimpleQueue()

    def put(self, kind: str, value: Any) -> bool:
        """Hand over an item, and wait until the caller wants the next; `False`: it has gone."""
        self._items.put((kind, value))
        return kind != "item" or self._wanted.get()

    def get(self) -> tuple[str, Any]:
        """The next item, from the caller's side."""
        return _get(self._items)

    def want_next(self) -> None:
        self._wanted.put(True)

    def close(self) -> None:
        """From the caller: it wants no more (the driver stops at its next item)."""
        self._wanted.put(False)


def _pump(start: Callable[[], Iterator[Any]], channel: _Channel) -> None:
    try:
        stream = start()
        try:
            for item in stream:
                if not channel.put("item", item):
                    return  # the caller has gone: closing the stream (below) ends the run
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    except BaseException as exc:
        channel.put("raised", exc)
        return
    channel.put("end", None)


def drive(start: Callable[[], Iterator[T]], *, what: str) -> Iterator[T]:
    """Iterate `start()` in a driver thread, as a new call.

    Its async work runs on the loop of the call it is made in, else on this thread's home.

    The caller only waits for items, so Ctrl-C (or closing this iterator) reaches it at once:
    the call's work is cancelled, and the caller waits up to `STOP_WAIT` seconds for the
    driver to finish before it raises.
    """
    call = Call(_here()[0], what, _call.get())
    context = contextvars.copy_context()
    context.run(_call.set, call)
    channel = _Channel()
    driver = threading.Thread(
        target=context.run,
        args=(_pump, start, channel),
        name=f"langgraph-parallel driver of {what}",
        daemon=True,
    )
    driver.start()
    try:
        while True:
            kind, value = channel.get()
            if kind != "item":
                break
            yield value
            channel.want_next()
    except BaseException as exc:  # Ctrl-C, or the caller closed the stream
        stopped = call.stop()
        channel.close()
        driver.join(STOP_WAIT)
        if isinstance(exc, KeyboardInterrupt):
            exc.add_note(_interrupted(what, stopped, driver.is_alive(), call.home))
        raise
    finally:
        call.ended()
    if kind == "raised":
        raise value


def _interrupted(what: str, stopped: list[str], stuck: bool, home: Home) -> str:
    note = f"langgraph-parallel: interrupted {what}"
    if stopped:
        note += f"; cancelled {', '.join(stopped)}"
    if stuck:
        note += f"; it had not stopped after {STOP_WAIT:g}s: {home.busy()}"
    return note + (
        ". With a checkpointer, work that finished is saved: "
        "invoke(None, config) with the same thread_id resumes the run"
    )


def run_driven(fn: Callable[[], T], *, what: str) -> T:
    """`fn()` in a driver thread, as a new call (see `drive`)."""
    results = list(drive(lambda: iter((fn(),)), what=what))
    return results[0]


def _close_homes() -> None:
    homes = [home for home in list(_homes) if home.pid == os.getpid()]
    for home in homes:
        home.close()
    for home in homes:  # let them close their connections while modules still exist
        home.thread.join(1.0)
    while _idle:
        _idle.pop().close()


atexit.register(_close_homes)


def _after_fork_in_child() -> None:
    # The parent's threads (pool workers, loop threads) do not exist here, and a loop made
    # before the fork shares its selector with the parent: start with none.
    global _pool, _processes, _pool_lock
    _pool, _processes = None, None
    _pool_lock = threading.Lock()
    _inherited.extend(_homes)
    _homes.clear()
    _inherited_loops.extend(_idle)  # they share their selectors with the parent's
    _idle.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


NodeFunc = Callable[[Any, RunnableConfig], Coroutine[Any, Any, Any]]


class AsyncNode(Runnable[Any, Any]):
    """A graph node around an async function, for both of LangGraph's paths.

    Under `ainvoke` it is awaited; under `invoke` it runs on the sync call's event loop
    (see `run_sync`), or alone in LangGraph's thread when `alone(input)` says it may
    (`run_alone`).

    LangGraph's own `add_node(afunc)` would reject the sync path; a `RunnableLambda` would
    trace each call as a child run. This does neither.
    """

    def __init__(
        self,
        afunc: NodeFunc,
        *,
        name: str,
        deadline_of: Callable[[Any], float | None] | None = None,
        alone: Callable[[Any], bool] | None = None,
    ) -> None:
        self.afunc, self.name, self.deadline_of, self.alone = afunc, name, deadline_of, alone

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node from sync code."""
        work, what = self.afunc(input, config or context_config()), f"node {self.name!r}"
        if self.alone is not None and self.alone(input):
            return run_alone(work, what=what)
        deadline = None if self.deadline_of is None else self.deadline_of(input)
        return run_sync(work, what=what, deadline=deadline)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the node."""
        return await self.afunc(input, config or context_config())


def make_node(
    afunc: NodeFunc,
    *,
    name: str,
    deadline_of: Callable[[Any], float | None] | None = None,
    alone: Callable[[Any], bool] | None = None,
) -> AsyncNode:
    """A node that runs `afunc` natively under `ainvoke`, and on the call's loop under `invoke`.

    Args:
        afunc: The node's work.
        name: The node's name.
        deadline_of: Gives the run's deadline (`time.time()`) from the node's input, if it
            has one: a sync caller then stops waiting a little past it (`run_sync`).
        alone: Says from the node's input whether its only work is a sync function that
            nothing must stop early: then a sync caller runs it alone (`run_alone`).
    """
    return AsyncNode(afunc, name=name, deadline_of=deadline_of, alone=alone)
