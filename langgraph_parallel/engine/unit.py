"""The unit adapter: a branch, worker or voter made awaitable with an input and a config."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from langgraph_parallel.engine import remote
from langgraph_parallel.engine.bridge import process_pool, sync_pool
from langgraph_parallel.engine.options import ExecutorLike
from langgraph_parallel.engine.telemetry import context_config, does_nothing, stream_writer


async def _now(call: Callable[..., Any], value: Any, config: RunnableConfig) -> Any:
    return call(value, config)


def _is_async_callable(fn: Any) -> bool:
    # A callable object counts as async when its class's __call__ is a coroutine function.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


_INJECTABLE = ("config", "writer", "store", "runtime")
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _direct_caller(fn: Callable[..., Any], takes_config: bool) -> Callable[..., Any]:
    """`fn` called with its input, and its config when it takes one.

    The closure also takes (and ignores) `inline`, so the runner can start an async unit
    through it directly (`Unit.starter`).
    """
    if takes_config:
        return lambda value, config, inline=False: fn(value, config=config)
    return lambda value, config, inline=False: fn(value)


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
            kwargs[name] = stream_writer() or does_nothing
        elif name == "store":
            kwargs[name] = get_store()
        else:
            kwargs[name] = get_runtime()
    return kwargs


class _Injecting(Runnable[Any, Any]):
    """A function that takes LangGraph's node arguments, called with them (and not traced)."""

    def __init__(self, fn: Callable[..., Any], names: frozenset[str]) -> None:
        self.fn, self.names = fn, names

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Call the function (a sync one) with its input and the arguments it asks for."""
        return self.fn(input, **_injected(self.names, config or context_config()))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Await the function (an async one) with its input and the arguments it asks for."""
        return await self.fn(input, **_injected(self.names, config or context_config()))


def _submit_options(executor: Any) -> dict[str, Any]:
    """Keywords for `executor.submit`: Dask's executor is told each call is a new one.

    Dask's `client.get_executor()` submits with `pure=True`, which would run once the
    voters that share an input; every call's arguments also differ, for other engines.
    """
    module = type(executor).__module__
    if module.startswith("distributed.") and type(executor).__name__ == "ClientExecutor":
        return {"pure": False}
    return {}


class Unit:
    """A branch, worker or voter, adapted so it can be awaited with an input and a config.

    Plain functions get LangGraph's own argument injection (`config`, `writer`, `runtime`,
    `store`), exactly as if they were nodes; one that takes nothing to inject is called
    directly, which keeps large fan-outs light. Sync callables run on `sync_pool()`. A
    Runnable's OpenAI models with default clients are replaced by loop-safe copies
    (`loop_safe`).

    A `ThreadPoolExecutor` given as `executor` takes the place of that pool. Any other
    executor (see `ExecutorLike`) is taken to run calls in another process: any unit (sync
    or async function, closure, Runnable) is pickled once here and each call is sent to it
    (`remote`); it may take its input and a `config`, not the other node arguments.
    """

    __slots__ = (
        "_submit_options",
        "call_direct",
        "direct",
        "executor",
        "injected",
        "label",
        "remote",
        "runnable",
        "sync",
        "takes_config",
        "threads",
    )

    def __init__(self, thing: Any, *, label: str, executor: ExecutorLike | None = None) -> None:
        self.label = label
        self.direct: Callable[..., Any] | None = None
        self.call_direct: Callable[..., Any] | None = None
        self.takes_config = False
        self.executor: concurrent.futures.Executor | None = None
        self.injected: frozenset[str] = frozenset()
        self.remote: remote.Portable | None = None
        self.threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._submit_options: dict[str, Any] = {}
        if isinstance(thing, Runnable):
            # imported on use, as in langgraph_parallel.models: LangChain's model classes
            # are slow to import
            from langgraph_parallel.engine.http import loop_safe

            self.runnable: Runnable[Any, Any] = loop_safe(thing)
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
                self.call_direct = _direct_caller(thing, self.takes_config)
            else:
                self.runnable = _Injecting(thing, self.injected)
        else:
            raise TypeError(
                f"{label} must be a function, a Runnable or a compiled graph, "
                f"got {type(thing).__name__}: {thing!r:.60}"
            )
        if executor not in (None, "thread"):
            self._use_executor(thing, executor)

    def _use_executor(self, thing: Any, executor: Any) -> None:
        if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            self.threads = executor  # in this process: it takes the place of sync_pool()
            return
        if executor == "process":
            self.executor, where = process_pool(), "executor='process'"
        elif isinstance(executor, concurrent.futures.Executor):
            self.executor, where = executor, f"executor={type(executor).__name__}"
        else:
            raise TypeError(
                f"{self.label}: executor must be 'thread', 'process' or a "
                f"concurrent.futures.Executor, got {executor!r}"
            )
        if self.injected - {"config"}:
            raise ValueError(
                f"{self.label}: {where} runs it in another process, and "
                f"{', '.join(sorted(self.injected - {'config'}))} cannot go there "
                "(only its input and a config do); run it on threads, or drop the argument"
            )
        self.remote = remote.portable(
            thing if self.direct is None else self.direct,
            is_async=not self.sync,
            takes_config=self.takes_config,
            label=self.label,
            where=where,
        )
        self._submit_options = _submit_options(executor)

    @property
    def in_this_thread(self) -> bool:
        """Whether the unit is a sync callable that runs in this process's threads."""
        return self.sync and self.executor is None and self.threads is None

    @property
    def uses_config(self) -> bool:
        """Whether the unit is given a config (so it needs one of its own per call).

        A unit on an executor always is: its branch and index go with it to the worker.
        """
        return self.direct is None or self.takes_config or self.executor is not None

    def __call__(self, value: Any, config: RunnableConfig, inline: bool = False) -> Awaitable[Any]:
        """Start the unit; the returned awaitable gives its result.

        A sync unit runs in a thread (`sync_pool()`), never on the call's event loop, which
        its other units share. With `inline` it is called in this thread: for the only unit
        of a node that runs alone on a loop of its own (`bridge.runs_alone`).
        """
        if inline and self.in_this_thread:
            return _now(self.call_direct or self.runnable.invoke, value, config)
        if self.executor is not None:
            assert self.remote is not None
            args = remote.pack(self.remote, value, config)  # a TypeError here names the unit
            future = self.executor.submit(remote.call, self.remote, args, **self._submit_options)
            return remote.submitted(future)
        if self.sync:
            call = self.call_direct or self.runnable.invoke
            return asyncio.get_running_loop().run_in_executor(
                self.threads or sync_pool(), contextvars.copy_context().run, call, value, config
            )
        if self.call_direct is not None:
            return self.call_direct(value, config)  # type: ignore[no-any-return]
        return self.runnable.ainvoke(value, config)

    def starter(self) -> Callable[[Any, RunnableConfig, bool], Awaitable[Any]]:
        """What the runner calls to start the unit.

        `self`, or, for an async function that runs in this process, a closure that calls it
        at once: a large fan-out starts it per item, and this saves two calls each time.
        """
        if self.call_direct is None or self.sync or self.executor is not None:
            return self
        return self.call_direct
