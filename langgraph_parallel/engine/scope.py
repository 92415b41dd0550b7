"""What the parallel units of one run share: a concurrency cap, a token budget, a way to stop.

LangGraph gives the tasks of one step no shared object, so each run's `Send` payloads carry a
scope id and every unit looks its scope up here. Scopes are found by id as long as a unit
holds them, and the most recent ones are kept a while longer, so a unit that starts late
(queued behind LangGraph's own `max_concurrency`) still finds its run's budget.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from langchain_core.messages.ai import UsageMetadata

from langgraph_parallel.engine.limits import ConcurrencyLimit
from langgraph_parallel.state.records import StopKind

_RECENT = 4096
T = TypeVar("T")


@dataclass(frozen=True)
class StopReason:
    """Why a unit was stopped: recorded as its error (`type` = `kind`)."""

    kind: StopKind
    message: str


@dataclass(eq=False)
class RunScope:
    """The shared state of one run's parallel units.

    Attributes:
        limit: The cap the run's units share, if any.
        token_budget: Tokens the run may use before it stops starting units.
    """

    id: str = ""
    limit: ConcurrencyLimit | None = None
    token_budget: int | None = None
    tokens: int = 0
    deadline: float | None = None
    """When (`time.time()`) the run's units must be done, if it has a deadline."""
    any_stopped: bool = field(default=False, init=False)
    """Whether `stop` was ever called: until then no unit needs to look for its stop."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # branch -> index -> ...: integer keys, because a tuple key per running unit is one more
    # object per unit for the garbage collector (see `engine.runner._Runner`).
    _running: dict[str, dict[int, asyncio.Task[Any]]] = field(default_factory=dict)
    _stopped: dict[str, dict[int, StopReason]] = field(default_factory=dict)
    _attached: dict[str, Any] = field(default_factory=dict)

    def add_usage(self, usage: UsageMetadata) -> None:
        """Count a model call's tokens against the budget."""
        with self._lock:
            self.tokens += usage.get("total_tokens", 0)

    def over_budget(self) -> bool:
        """Whether the run has used up its token budget."""
        return self.token_budget is not None and self.tokens >= self.token_budget

    def attached(self, key: str, make: Callable[[], T]) -> T:
        """The run's object under `key` (e.g. a vote watcher), made on first use."""
        with self._lock:
            if key not in self._attached:
                self._attached[key] = make()
            return cast(T, self._attached[key])

    def register(self, units: Mapping[str, Mapping[int, asyncio.Task[Any]]]) -> None:
        """Register the tasks running units, by branch and index, so `stop` can cancel them.

        A batch registers all its units at once (one lock for thousands of units), before
        any of them starts.
        """
        with self._lock:
            for branch, tasks in units.items():
                self._running.setdefault(branch, {}).update(tasks)

    def unregister(self, units: Mapping[str, Iterable[int]]) -> None:
        """Forget the tasks of units, by branch and index, once they have ended."""
        with self._lock:
            for branch, indexes in units.items():
                running = self._running.get(branch)
                if running is not None:
                    for index in indexes:
                        running.pop(index, None)

    def stopped(self, branch: str, index: int) -> StopReason | None:
        """Why unit `(branch, index)` was stopped, if it was (so it must not start)."""
        if not self.any_stopped:  # most runs stop nothing: no lock then
            return None
        with self._lock:
            stopped = self._stopped.get(branch)
            return None if stopped is None else stopped.get(index)

    def stop(self, units: Iterable[tuple[str, int]], reason: StopReason) -> None:
        """Stop units: cancel those running, and keep those not started from starting."""
        with self._lock:
            self.any_stopped = True
            for branch, index in units:
                stopped = self._stopped.setdefault(branch, {})
                if index in stopped:
                    continue
                stopped[index] = reason
                task = self._running.get(branch, {}).get(index)
                if task is not None:
                    task.get_loop().call_soon_threadsafe(task.cancel)


_live: weakref.WeakValueDictionary[str, RunScope] = weakref.WeakValueDictionary()
_recent: OrderedDict[str, RunScope] = OrderedDict()
_registry_lock = threading.Lock()


def new_scope_id() -> str:
    """A fresh id for one run of a graph."""
    return uuid.uuid4().hex


def find_scope(scope_id: str) -> RunScope | None:
    """The scope of run `scope_id` if this process still has it."""
    with _registry_lock:
        return _live.get(scope_id) or _recent.get(scope_id)


def run_scope(
    scope_id: str, max_concurrency: int | ConcurrencyLimit | None, token_budget: int | None
) -> RunScope:
    """The scope of run `scope_id`, created on first use with these limits."""
    with _registry_lock:
        scope = _live.get(scope_id)
        if scope is None:
            limit = (
                ConcurrencyLimit(max_concurrency, name=scope_id)
                if isinstance(max_concurrency, int)
                else max_concurrency
            )
            scope = _live[scope_id] = RunScope(id=scope_id, limit=limit, token_budget=token_budget)
        _recent[scope_id] = scope
        _recent.move_to_end(scope_id)
        while len(_recent) > _RECENT:
            _recent.popitem(last=False)
        return scope
