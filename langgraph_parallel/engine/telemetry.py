"""What a running unit reports: its context, its model usage, its progress events."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.config import get_stream_writer
from langgraph.types import StreamWriter

from langgraph_parallel.engine.scope import RunScope
from langgraph_parallel.state.records import BranchEvent, BranchEventKind, BranchResult, LimitState

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


def note_structured_output(method: str, calls: int) -> None:
    """Note in the running unit's record how its model's structured output was obtained."""
    record = _unit_record.get()
    if record is not None:
        record["structured_output"] = {"method": method, "calls": calls}


UnitTokens = tuple[contextvars.Token[Any], contextvars.Token[Any], contextvars.Token[Any] | None]


def enter_unit(
    record: dict[str, Any],
    scope: RunScope | None,
    config: RunnableConfig | None,
    *,
    own_context: bool,
) -> UnitTokens | None:
    """Make `record` (its run's `scope`, and `config`) the running unit's context.

    Returns the tokens that undo it (`exit_unit`), or `None` for a unit in a context of its
    own (a task's or a worker's), which dies with it and needs no undoing.
    """
    if own_context:
        _unit_record.set(record)
        if config is not None:
            var_child_runnable_config.set(config)
        return None
    return (
        _unit_record.set(record),
        _unit_scope.set(scope),
        None if config is None else var_child_runnable_config.set(config),
    )


def exit_unit(tokens: UnitTokens) -> None:
    """Undo `enter_unit`."""
    _unit_record.reset(tokens[0])
    _unit_scope.reset(tokens[1])
    if tokens[2] is not None:
        var_child_runnable_config.reset(tokens[2])


RunTokens = tuple[contextvars.Token[Any], contextvars.Token[Any]]


def enter_run(config: RunnableConfig, scope: RunScope | None) -> RunTokens:
    """Make `config` and `scope` the context that the tasks started from here inherit."""
    return var_child_runnable_config.set(config), _unit_scope.set(scope)


def exit_run(tokens: RunTokens) -> None:
    """Undo `enter_run`."""
    _unit_scope.reset(tokens[1])
    var_child_runnable_config.reset(tokens[0])


def count_usage(usage: UsageMetadata | None, simulated: bool) -> None:
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
            count_usage(*_usage_of(response))


_COLLECTOR = _UsageCollector()


def with_usage_collector(config: RunnableConfig) -> RunnableConfig:
    """A copy of `config` whose callbacks record model usage per unit of work."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(_COLLECTOR, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or ()), _COLLECTOR]}


def context_config() -> RunnableConfig:
    """The config of the Runnable call this code runs in (LangChain's context), or `{}`."""
    return var_child_runnable_config.get() or {}


def unit_config(config: RunnableConfig, branch: str, index: int) -> RunnableConfig:
    """The config a unit runs with: tagged so its model calls can be told apart in streams."""
    metadata = {**config.get("metadata", {}), "lgp_branch": branch, "lgp_index": index}
    return {**config, "metadata": metadata}


def does_nothing(_: Any) -> None:
    """A stream writer that writes nothing, for units run outside a graph."""


def stream_writer() -> StreamWriter | None:
    """LangGraph's custom-stream writer; `None` outside a graph run.

    Progress events are written whether or not anyone streams `"custom"`: LangGraph has no
    public way to ask, and a writer nobody reads costs two small dicts per unit.
    """
    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a runnable context, e.g. node.invoke() directly
        return None


def _event(kind: BranchEventKind, branch: str, index: int) -> BranchEvent:
    """A progress event (see `BranchEvent`) with no fields beyond the common ones."""
    return {"kind": "branch", "event": kind, "branch": branch, "index": index, "at": time.time()}


def start_event(kind: BranchEventKind, branch: str, index: int, attempt: int) -> BranchEvent:
    """A `start` or `retry` event: one dict literal, as it is written once per attempt."""
    return {
        "kind": "branch",
        "event": kind,
        "branch": branch,
        "index": index,
        "at": time.time(),
        "attempt": attempt,
    }


def end_event(
    kind: BranchEventKind, record: BranchResult, limit: LimitState | None = None
) -> BranchEvent:
    """A `finish` or `error` event carrying the unit's record (and an adaptive limit's state)."""
    event: BranchEvent = {
        "kind": "branch",
        "event": kind,
        "branch": record["branch"],
        "index": record["index"],
        "at": time.time(),
        "status": record["status"],
        "error": record["error"],
        "elapsed": record["elapsed"],
        "attempts": record["attempts"],
        "record": record,
    }
    if limit is not None:
        event["limit"] = limit
    return event


def usage_total(records: Sequence[Mapping[str, Any]]) -> UsageMetadata | None:
    """Sum the usage of records (with `add_usage`); `None` when none has any."""
    total: UsageMetadata | None = None
    for record in records:
        if record.get("usage"):
            total = add_usage(total, record["usage"])
    return total
