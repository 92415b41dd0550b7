"""The graph class the factories return, and the compiled graph it makes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.cache.base import BaseCache
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import All, Checkpointer, Send

from langgraph_parallel.engine.bridge import drive, run_driven
from langgraph_parallel.engine.options import RunOptions
from langgraph_parallel.errors import InvalidInputError
from langgraph_parallel.graphs._input import StateSpec, check_saveable
from langgraph_parallel.graphs._nodes import unit_payload


class ParallelCompiledGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """LangGraph's compiled graph, whose sync calls keep one event loop per calling thread.

    `invoke`, `stream`, `batch` and `batch_as_completed` run the graph in a driver thread
    while the caller waits, and every async branch of the call on the caller's own event
    loop, the same for each call from that thread (see `engine.bridge`). The async methods are
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


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """How a graph sends its parallel units (branches, voters or work items).

    Attributes:
        sends: The `Send`s that run every unit of a run (`None`), or those with the given
            indexes (what `retry_failed` re-runs), from the graph's state.
        nodes: The nodes the `Send`s go to.
        tasks: The most LangGraph tasks the units take at once.
        labels: The units' labels (their records' `branch`), by index, when they are known
            when the graph is built (fan-out, voting); empty when a planner decides them.
    """

    sends: Callable[[dict[str, Any], Collection[int] | None], list[Send]]
    nodes: tuple[str, ...]
    tasks: int
    labels: tuple[str, ...] = ()


def fixed_units(
    state: StateSpec, units: Sequence[tuple[str, str]], options: RunOptions
) -> UnitPlan:
    """The plan of a graph whose units are known when it is built (fan-out, voting).

    Args:
        state: The graph's state, to check the input.
        units: `(node, label)` of each unit, by index; the label names its record.
        options: The graph's checked options (its runs' deadline).
    """

    def sends(values: dict[str, Any], only: Collection[int] | None = None) -> list[Send]:
        inputs = state.check_input(values)
        scope, due = options.start_run()
        return [
            Send(node, unit_payload(inputs, scope, label, index, due))
            for index, (node, label) in enumerate(units)
            if only is None or index in only
        ]

    nodes = tuple(dict.fromkeys(node for node, _ in units))
    return UnitPlan(sends, nodes, len(units), tuple(label for _, label in units))


class ParallelStateGraph(StateGraph[Any, Any, Any, Any]):
    """The `StateGraph` a factory returns: it owns the graph's checked options and unit plan.

    Made by the factories, with everything the graph needs: its state, its checked options
    (`options`) and how its units are sent (`plan`), which `retry_failed` asks for the
    units to run again. Its compiled form does not throttle its parallel branches: under
    `invoke`, LangGraph runs a step's tasks in a thread pool of `max_concurrency` threads
    (default `min(32, cpus + 4)`), which would queue branches on small machines, so
    `compile()` sets a default `max_concurrency` large enough for every unit's task to start
    at once; a `max_concurrency` passed at invoke time still wins. Use the factory's own
    `max_concurrency` option to cap units. The compiled graph is a `ParallelCompiledGraph`.

    Args:
        state: The graph's full state (the caller's keys and the package's).
        options: The graph's checked options.
        plan: How the graph sends its units.
    """

    def __init__(self, state: StateSpec, *, options: RunOptions, plan: UnitPlan) -> None:
        super().__init__(state.state, input_schema=state.input)
        self.options = options
        self.plan = plan

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
        return parallel.with_config(max_concurrency=max(32, self.plan.tasks + 4))

    def start_units(self) -> None:
        """Send every unit of the plan from START, each to its node."""

        def start(values: dict[str, Any], config: RunnableConfig) -> list[Send]:
            sends = self.plan.sends(values, None)
            check_saveable(
                [(f"input key {k!r}", v) for k, v in values.items()], config, InvalidInputError
            )
            return sends

        self.add_conditional_edges(START, start, list(self.plan.nodes))

    def resend(self, values: dict[str, Any], indexes: Collection[int]) -> list[Send]:
        """The `Send`s that run the units with these indexes again, from the state `values`."""
        return self.plan.sends(values, indexes)
