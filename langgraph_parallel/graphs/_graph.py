"""The graph class the factories return, and the compiled graph it makes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from functools import partial
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.cache.base import BaseCache
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import All, Checkpointer, Send

from langgraph_parallel._bridge import drive, run_driven
from langgraph_parallel._scope import new_scope_id
from langgraph_parallel.errors import InvalidInputError
from langgraph_parallel.graphs._input import StateSpec, check_saveable
from langgraph_parallel.graphs._nodes import deadline_at, unit_payload


class ParallelCompiledGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """LangGraph's compiled graph, whose sync calls keep one event loop per calling thread.

    `invoke`, `stream`, `batch` and `batch_as_completed` run the graph in a driver thread
    while the caller waits, and every async branch of the call on the caller's own event
    loop, the same for each call from that thread (see `_bridge`). The async methods are
    LangGraph's own.
    """

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """LangGraph's `stream`, run as a call of its own (`invoke` runs through it)."""
        return drive(partial(super().stream, *args, **kwargs), what=f"graph {self.name!r}")

    def batch(self, *args: Any, **kwargs: Any) -> list[Any]:
        """LangGraph's `batch`: the inputs' async work shares the caller's event loop."""
        return run_driven(partial(super().batch, *args, **kwargs), what=f"graph {self.name!r}")

    def batch_as_completed(self, *args: Any, **kwargs: Any) -> Iterator[tuple[int, Any]]:
        """LangGraph's `batch_as_completed`, like `batch`."""
        start = partial(super().batch_as_completed, *args, **kwargs)
        return drive(start, what=f"graph {self.name!r}")


class ParallelStateGraph(StateGraph[Any, Any, Any, Any]):
    """A `StateGraph` whose compiled form does not throttle its parallel branches.

    Under `invoke`, LangGraph runs a step's tasks in a thread pool of `max_concurrency`
    threads (default `min(32, cpus + 4)`), which would queue branches on small machines.
    `compile()` sets a default `max_concurrency` large enough for every branch to start at
    once; a `max_concurrency` passed at invoke time still wins. Use the factory's own
    `max_concurrency` option to cap branches. The compiled graph is a
    `ParallelCompiledGraph`.
    """

    parallel_tasks: int = 1
    unit_sends: Callable[[dict[str, Any], Collection[int] | None], list[Send]] | None = None
    """Builds the `Send`s that start the graph's parallel units: all of them (`None`), or
    those with the given indexes (used by `retry_failed`)."""

    def compile(
        self,
        checkpointer: Checkpointer = None,
        *,
        cache: BaseCache[Any] | None = None,
        store: BaseStore | None = None,
        interrupt_before: All | list[str] | None = None,
        interrupt_after: All | list[str] | None = None,
        debug: bool = False,
        name: str | None = None,
        transformers: Sequence[Any] | None = None,
    ) -> ParallelCompiledGraph:
        """Compile the graph; same arguments as `StateGraph.compile`."""
        compiled = super().compile(
            checkpointer,
            cache=cache,
            store=store,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            debug=debug,
            name=name,
            transformers=transformers,
        )
        compiled.__class__ = ParallelCompiledGraph  # the same object, with its sync calls
        parallel = cast(ParallelCompiledGraph, compiled)
        return parallel.with_config(max_concurrency=max(32, self.parallel_tasks + 4))

    def start_units(
        self, state: StateSpec, units: Sequence[tuple[str, str]], *, deadline: float | None
    ) -> None:
        """Start every unit from START, each a `Send` to its node, and set `unit_sends`.

        Args:
            state: The graph's state, to check the input.
            units: `(node, label)` of each unit, by index; the label names its record.
            deadline: Seconds the units may take in all, or `None`.
        """

        def dispatch(values: dict[str, Any], only: Collection[int] | None = None) -> list[Send]:
            inputs, scope, due = state.check_input(values), new_scope_id(), deadline_at(deadline)
            return [
                Send(node, unit_payload(inputs, scope, label, index, due))
                for index, (node, label) in enumerate(units)
                if only is None or index in only
            ]

        def start(values: dict[str, Any], config: RunnableConfig) -> list[Send]:
            sends = dispatch(values)
            check_saveable(
                [(f"input key {k!r}", v) for k, v in values.items()], config, InvalidInputError
            )
            return sends

        self.unit_sends = dispatch
        self.add_conditional_edges(START, start, list(dict.fromkeys(node for node, _ in units)))
