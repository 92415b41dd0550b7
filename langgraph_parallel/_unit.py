"""The unit adapter: a branch, worker or voter made awaitable with an input and a config."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from langgraph_parallel._bridge import process_pool, sync_pool
from langgraph_parallel._options import ExecutorLike
from langgraph_parallel._telemetry import context_config, does_nothing, stream_writer


async def _now(call: Callable[..., Any], value: Any, config: RunnableConfig) -> Any:
    return call(value, config)


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
                self.runnable = _Injecting(thing, self.injected)
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

    def __call__(self, value: Any, config: RunnableConfig, inline: bool = False) -> Awaitable[Any]:
        """Start the unit; the returned awaitable gives its result.

        With `inline`, a sync unit is called in this thread, blocking its event loop: for
        the only unit of a node that runs alone (`_bridge.runs_alone`) and that nothing
        must stop early. It saves handing each unit to a second thread.
        """
        if inline and self.sync and self.executor is None:
            return _now(
                self.runnable.invoke if self.direct is None else self._call_direct, value, config
            )
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
