"""Orchestrator-worker: a planner decides the work items at run time, workers run them at once."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any, Literal, Unpack

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import END, START
from langgraph.pregel import Pregel
from langgraph.types import Command, Send

from langgraph_parallel.engine.bridge import NodeFunc, make_node
from langgraph_parallel.engine.options import RunOptions, check_positive
from langgraph_parallel.engine.runner import run_units
from langgraph_parallel.engine.telemetry import stream_writer
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.errors import InvalidPlanError
from langgraph_parallel.graphs._graph import ParallelStateGraph, UnitPlan
from langgraph_parallel.graphs._input import StateSpec, check_saveable, checkpointer_of
from langgraph_parallel.graphs._nodes import (
    join_node,
    payload_deadline,
)
from langgraph_parallel.graphs._options import ParallelOptions, check_options, takes_options
from langgraph_parallel.state.schemas import OrchestratorState

PLANNER = "planner"
DISPATCH = "dispatch"
WORKER = "worker"
SYNTHESIZER = "synthesizer"

MAX_TASKS = 64
"""With `chunk_size="auto"` and a checkpointer, longer plans are sent as this many chunks.

A chunk's records are saved when its slowest item ends, so a crash re-runs each unfinished
chunk whole: many small chunks lose less finished work.
"""

MAX_TASKS_UNSAVED = 16
"""The same without a checkpointer: nothing is saved or resumed, so fewer, larger chunks cost
less (LangGraph's bookkeeping is about 0.3 ms per task; at 1,000 items, 64 tasks took the run
from 1.19x to 1.36x the time of `asyncio.gather`)."""


def _planner_node(planner: Unit, state: StateSpec) -> NodeFunc:
    async def plan(values: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state.check_input(values)
        items = await planner(values, config)
        if isinstance(items, list | tuple):
            labelled = [(f"work item {i}", item) for i, item in enumerate(items)]
            check_saveable(labelled, config, InvalidPlanError)
        return {"plan": items}

    return plan


def _dispatch_node(max_items: int) -> NodeFunc:
    async def dispatch(values: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        items = values.get("plan")
        if isinstance(items, str | bytes | dict) or not isinstance(items, Sequence):
            raise InvalidPlanError(
                f"the planner must return a list of work items, got {type(items).__name__}: "
                f"{items!r:.80}; the plan is kept in state['plan']"
            )
        if len(items) > max_items:
            raise InvalidPlanError(
                f"the planner returned {len(items):,} work items, more than "
                f"max_items={max_items:,}; raise max_items or have the planner return fewer "
                "(the plan is kept in state['plan'], so re-running this thread resumes here)"
            )
        return {"results": [], "usage": None, "output": None}  # [] clears: see merge_results

    return dispatch


def chunk(count: int, chunk_size: int | Literal["auto"], *, saved: bool = True) -> int:
    """How many items each worker task takes for a plan of `count` items.

    `saved`: whether the run has a checkpointer (see `MAX_TASKS`).
    """
    if chunk_size != "auto":
        return chunk_size
    return max(1, math.ceil(count / (MAX_TASKS if saved else MAX_TASKS_UNSAVED)))


def _worker_node(worker: Unit, options: RunOptions, writes: str | None) -> NodeFunc:
    async def work(payload: dict[str, Any], config: RunnableConfig) -> list[Command[Any]]:
        records = await run_units(
            (
                (worker, WORKER, index, item)
                for index, item in zip(payload["indexes"], payload["items"], strict=True)
            ),
            config=config,
            options=options,
            scope=options.scope(payload["scope"], payload.get("deadline")),
            writer=stream_writer(),
        )
        updates: list[Command[Any]] = (
            [Command(update={writes: r["value"]}) for r in records if r["status"] == "ok"]
            if writes is not None
            else []
        )
        return [*updates, Command(update={"results": records})]

    return work


@takes_options
def create_orchestrator_graph(
    planner: Any,
    worker: Any,
    synthesizer: Any,
    *,
    state_schema: type[Any] | None = None,
    writes: str | None = None,
    max_items: int = 1000,
    chunk_size: int | Literal["auto"] = "auto",
    **options: Unpack[ParallelOptions],
) -> ParallelStateGraph:
    """Build an orchestrator-worker graph: plan, run every work item at once, synthesize.

    The planner receives the state and returns a list of work items (any serialisable
    values). Each item goes to the worker via `Send`; the records in `results` come back in
    **plan order**, not finish order. The synthesizer runs once, after every item finished,
    also when the plan is empty. Its return value becomes `output`.

    Long plans are sent in chunks (`chunk_size`), each chunk running its items concurrently
    in one task, so a 10,000-item plan costs a few dozen LangGraph tasks instead of 10,000.

    Args:
        planner: Function (sync or async) or Runnable: state -> list of work items.
        worker: Function (sync or async), Runnable or compiled graph: item -> value.
        synthesizer: Function (sync or async) or Runnable called with the state, whose
            `results` holds one record per item in plan order; returns the output.
        state_schema: A `TypedDict` of the graph's input keys (and the `writes` key).
        writes: A key of `state_schema` with a reducer that receives each successful
            worker value, in plan order (e.g. `sections: Annotated[list, operator.add]`,
            with workers returning `[section]`).
        max_items: The most work items a plan may have; a longer plan stops the run with
            `InvalidPlanError` before any worker runs, and the plan stays in state.
        chunk_size: Items per worker task, or `"auto"`: with a checkpointer, one item per
            task for plans of up to 64 items (each item then resumes on its own after a
            crash), else 64 tasks; without one (nothing to resume), the same with 16. Workers
            that call `interrupt()` need `chunk_size=1`.
        **options: The options every factory takes (`ParallelOptions`), listed below.

    Returns:
        The uncompiled graph; compile it with your checkpointer, store and name.

    Raises:
        ValueError: A missing planner, worker or synthesizer, a `writes` key without a
            reducer, or an invalid option.
        TypeError: A planner, worker or synthesizer that is not callable.

    Example:
        ```python
        from langgraph_parallel import create_orchestrator_graph

        def plan(state):
            return [f"section {i}" for i in range(3)]

        async def write(item):
            return item.upper()

        def assemble(state):
            return " / ".join(r["value"] for r in state["results"])

        graph = create_orchestrator_graph(plan, write, assemble).compile()
        assert graph.invoke({"input": "report"})["output"] == "SECTION 0 / SECTION 1 / SECTION 2"
        ```
    """
    graph = "create_orchestrator_graph"
    for role, thing in (("planner", planner), ("worker", worker), ("synthesizer", synthesizer)):
        if thing is None:
            raise ValueError(f"{graph}: a {role} is required; pass a function or a Runnable")
    worker_name = worker.get_name() if isinstance(worker, Runnable) else None
    worker_name = worker_name or getattr(worker, "__qualname__", None) or type(worker).__name__
    run_options = check_options(options, graph=graph, units=None, members=[worker_name])
    max_items = check_positive(max_items, what=f"{graph}: max_items", allow_none=False) or 1
    if chunk_size != "auto":
        check_positive(chunk_size, what=f"{graph}: chunk_size (or 'auto')", allow_none=False)
        if chunk_size > 1 and isinstance(worker, Pregel):
            raise ValueError(
                f"{graph}: a compiled-graph worker needs chunk_size=1 (or 'auto'), because "
                "each call of a subgraph needs a task of its own for its checkpoints"
            )
    if isinstance(worker, Pregel):
        chunk_size = 1
    state = StateSpec(
        state_schema,
        OrchestratorState,
        outputs=None if writes is None else {writes: "the worker"},
        graph=graph,
    )
    if writes is not None and not state.has_reducer(writes):
        raise ValueError(
            f"{graph}: writes={writes!r} is written by every worker at once, so it needs a "
            f"reducer; annotate it, e.g. `{writes}: Annotated[list, operator.add]`"
        )
    plan = _item_plan(chunk_size, max_items, run_options)
    builder = ParallelStateGraph(state, options=run_options, plan=plan)
    node_retry = list(run_options.retry) or None
    builder.add_node(
        PLANNER,
        make_node(_planner_node(Unit(planner, label=PLANNER), state), name=PLANNER),
        retry_policy=node_retry,
    )
    builder.add_node(DISPATCH, make_node(_dispatch_node(max_items), name=DISPATCH))
    worker_unit = Unit(worker, label=WORKER, executor=run_options.executor)
    builder.add_node(
        WORKER,
        make_node(
            _worker_node(worker_unit, run_options, writes),
            name=WORKER,
            deadline_of=payload_deadline,
        ),
    )
    builder.add_node(
        SYNTHESIZER,
        make_node(
            join_node(Unit(synthesizer, label=SYNTHESIZER), None, run_options.min_successes),
            name=SYNTHESIZER,
        ),
        retry_policy=node_retry,
    )

    def send_items(values: dict[str, Any], config: RunnableConfig) -> list[Send] | str:
        saved = checkpointer_of(config) is not None
        return _sends(values, None, chunk_size, run_options, saved=saved) or SYNTHESIZER

    builder.add_edge(START, PLANNER)
    builder.add_edge(PLANNER, DISPATCH)
    builder.add_conditional_edges(DISPATCH, send_items, [WORKER, SYNTHESIZER])
    builder.add_edge(WORKER, SYNTHESIZER)
    builder.add_edge(SYNTHESIZER, END)
    return builder


def _sends(
    values: dict[str, Any],
    only: Collection[int] | None,
    chunk_size: int | Literal["auto"],
    options: RunOptions,
    *,
    saved: bool,
) -> list[Send]:
    """The worker `Send`s for the plan in `values`: every item, or those at `only`."""
    plan = values["plan"]
    indexes = [i for i in range(len(plan)) if only is None or i in only]
    items = plan if only is None else [plan[i] for i in indexes]
    size = chunk(len(indexes), chunk_size, saved=saved)
    scope, due = options.start_run()
    # Indexes and items in two lists, not a pair per item: a pair is one more object per
    # waiting item for the garbage collector (see `engine.runner._Runner`).
    return [
        Send(
            WORKER,
            {
                "items": items[start : start + size],
                "indexes": indexes[start : start + size],
                "scope": scope,
                "deadline": due,
            },
        )
        for start in range(0, len(indexes), size)
    ]


def _item_plan(chunk_size: int | Literal["auto"], max_items: int, options: RunOptions) -> UnitPlan:
    """The plan of an orchestrator: the planner's items, sent in chunks to the worker."""

    def resend(values: dict[str, Any], only: Collection[int] | None) -> list[Send]:
        return _sends(values, only, chunk_size, options, saved=True)  # retry needs a checkpointer

    tasks = MAX_TASKS if chunk_size == "auto" else min(math.ceil(max_items / chunk_size), 256)
    return UnitPlan(resend, (WORKER,), tasks)


__all__ = ["create_orchestrator_graph"]
