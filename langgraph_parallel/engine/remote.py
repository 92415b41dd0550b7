"""Units that run on an executor: what is sent to the worker, and what comes back.

Everything crosses as bytes made by cloudpickle, whatever the executor's own pickler is, so
closures and lambdas run in a process pool, on Ray and on Dask alike, and a value that cannot
cross fails at dispatch with the unit's name, not inside the engine. One call sends:

- the unit, pickled once when the graph is built (`Portable`);
- its input and a portable config (`portable_config`: metadata, tags and the plain-data
  `configurable` keys; callbacks, stream writers and checkpointers stay behind), and a
  number that makes each call's arguments unique, so an engine that caches calls by their
  arguments (Dask's `pure=True`) still runs every voter.

The worker (`call`) runs the unit in a fresh context with a usage collector of its own, and
sends back the result or the exception itself (not the engine's wrapper), with the model
usage and what its record noted (whether the simulated model answered, how structured output
was obtained). `received` turns that back into the value
or the raise, and counts the usage against the unit's record and its run's token budget,
exactly as for a unit that ran in-process.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel.engine.telemetry import (
    count_usage,
    enter_unit,
    note_structured_output,
    with_usage_collector,
)
from langgraph_parallel.errors import RemoteError

_calls = itertools.count()


def _dumps(value: Any) -> bytes:
    import cloudpickle  # type: ignore[import-untyped]  # on first use: few graphs need it

    data: bytes = cloudpickle.dumps(value)
    return data


def _loads(data: bytes) -> Any:
    import cloudpickle

    return cloudpickle.loads(data)


@dataclass(frozen=True, slots=True)
class Portable:
    """A unit made ready to send: its pickled callable, how to call it, and its label."""

    thing: bytes
    is_async: bool
    takes_config: bool
    label: str


def portable(thing: Any, *, is_async: bool, takes_config: bool, label: str, where: str) -> Portable:
    """Pickle a unit once, at build time; a clear `ValueError` if it cannot be.

    A Runnable is sent as its `invoke` (or `ainvoke`), which takes the config.
    """
    if isinstance(thing, Runnable):
        thing, takes_config = (thing.ainvoke if is_async else thing.invoke), True
    try:
        data = _dumps(thing)
    except Exception as exc:
        raise ValueError(
            f"{label}: {where} runs it in another process, so it is pickled (with cloudpickle), "
            f"and {thing!r:.60} cannot be ({type(exc).__name__}: {exc}); keep what it uses "
            "(clients, locks, open files) out of its closure, or make them inside it"
        ) from None
    return Portable(data, is_async, takes_config, label)


_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def portable_config(config: RunnableConfig) -> RunnableConfig:
    """What of a unit's config crosses to a worker: plain-data metadata, tags and keys.

    The metadata holds the unit's branch and index (`lgp_branch`, `lgp_index`) and the
    run's thread id; `configurable` keeps the user's plain-data keys, not LangGraph's
    internal ones. Callbacks, stream writers, stores and checkpointers do not cross.
    """
    portable: RunnableConfig = {
        "metadata": {k: v for k, v in config.get("metadata", {}).items() if _plain(v)},
        "tags": [t for t in config.get("tags", ()) if isinstance(t, str)],
    }
    configurable = {
        k: v
        for k, v in config.get("configurable", {}).items()
        if not k.startswith("__") and _plain(v)
    }
    if configurable:
        portable["configurable"] = configurable
    return portable


def pack(unit: Portable, value: Any, config: RunnableConfig) -> bytes:
    """One call's arguments as bytes; a `TypeError` naming the unit if its input cannot cross."""
    try:
        return _dumps((value, portable_config(config), next(_calls)))
    except Exception as exc:
        raise TypeError(
            f"{unit.label}: its input cannot be pickled to send to the executor "
            f"({type(exc).__name__}: {exc}); pass plain data (str, numbers, lists, dicts)"
        ) from None


def received(data: bytes) -> Any:
    """The unit's result from what `call` sent back; its exception is raised here.

    The call's model usage is added to the unit's record and the run's budget first.
    """
    outcome, failed, usage, notes = _loads(data)
    if usage is not None or notes.get("simulated"):
        count_usage(usage, bool(notes.get("simulated")))
    if "structured_output" in notes:
        note_structured_output(**notes["structured_output"])
    if failed:
        raise _rebuilt(*outcome)
    return outcome


def _parts(exc: BaseException) -> tuple[type[BaseException], tuple[Any, ...], dict[str, Any]]:
    try:
        attributes = dict(vars(exc))
    except TypeError:  # an exception type without instance attributes
        attributes = {}
    return type(exc), exc.args, attributes


def _rebuilt(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    """The exception as it was raised: its class, `args` and attributes, `__init__` not rerun.

    Plain pickling calls `cls(*exc.args)`, which garbles an exception whose `__init__`
    takes other arguments than it passes on (`Refused(code)` with a message, say).
    """
    try:
        exc = cls.__new__(cls, *args)
        exc.args = args
        vars(exc).update(state)
    except Exception:
        message = str(args[0]) if len(args) == 1 else str(args)
        return RemoteError(cls.__name__, message)
    return exc


# --- on the worker -------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _load(thing: bytes) -> Any:  # each unit is unpickled once per worker
    return _loads(thing)


def call(unit: Portable, args: bytes) -> bytes:
    """Run one call of `unit` where the executor put it; its outcome, as bytes.

    Module-level, so every executor can pickle it by reference. The unit runs in a fresh
    context: its model calls find the portable config (and a usage collector) there.
    """
    record: dict[str, Any] = {"usage": None}
    try:
        value, config, _ = _loads(args)
        thing = _load(unit.thing)
        outcome: Any = contextvars.Context().run(_run, unit, thing, value, config, record)
        failed, raised = False, None
    except Exception as exc:
        exc.add_note(f"raised on the executor's worker:\n{''.join(traceback.format_exc())}")
        outcome, failed, raised = _parts(exc), True, exc
    usage = record["usage"]
    notes = {k: record[k] for k in ("simulated", "structured_output") if k in record}
    try:
        return _dumps((outcome, failed, usage, notes))
    except Exception as exc:
        if not failed:
            problem: Exception = TypeError(
                f"{unit.label}: its result cannot be pickled to send back "
                f"({type(exc).__name__}: {exc}); return plain data"
            )
        else:  # the exception itself does not pickle: send its type's name and message
            problem = RemoteError(type(raised).__name__, str(raised))
        return _dumps((_parts(problem), True, usage, notes))


def _run(unit: Portable, thing: Any, value: Any, config: RunnableConfig, record: Any) -> Any:
    config = with_usage_collector(config)
    enter_unit(record, None, config, own_context=True)  # the worker's call is its own context
    result = thing(value, config=config) if unit.takes_config else thing(value)
    if unit.is_async or inspect.iscoroutine(result):
        return _on_thread_loop(result, unit.label)
    return result


def _on_thread_loop(coro: Any, label: str) -> Any:
    """Run an async unit to completion on this worker thread's event loop (its home)."""
    from langgraph_parallel.engine.bridge import run_sync

    return run_sync(coro, what=label)


async def submitted(future: Any) -> Any:
    """Await a `concurrent.futures.Future` from `call`; the unit's value (or its raise)."""
    return received(await asyncio.wrap_future(future))
