"""Re-run only what failed in a finished run, merged into the same thread."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send, StateSnapshot

from langgraph_parallel.graphs._graph import ParallelStateGraph
from langgraph_parallel.state.records import BranchStatus

FAILED: tuple[BranchStatus, ...] = ("error", "timeout", "cancelled")
"""The statuses `retry_failed` re-runs by default."""


def _sends(graph: Any, snapshot: StateSnapshot, statuses: Collection[str]) -> list[Send]:
    builder = getattr(graph, "builder", None)
    if not isinstance(builder, ParallelStateGraph):
        raise TypeError(
            "retry_failed re-runs the branches of a graph built by create_fanout_graph, "
            "create_orchestrator_graph or create_voting_graph (compiled); "
            f"got {type(graph).__name__}"
        )
    if snapshot.next:
        raise ValueError(
            f"the thread has work pending ({', '.join(snapshot.next)}): finish it first with "
            "graph.invoke(None, config); retry_failed is for runs that completed"
        )
    records = snapshot.values.get("results") or []
    failed = {r["index"] for r in records if r["status"] in statuses}
    return builder.resend(snapshot.values, failed) if failed else []


def retry_command(
    graph: Any, snapshot: StateSnapshot, statuses: Collection[BranchStatus] = FAILED
) -> Command[Any] | None:
    """The `Command` that re-runs the failed units of a finished thread, or `None` if none.

    For callers that run it themselves, e.g. to stream it:
    `graph.astream(retry_command(graph, await graph.aget_state(config)), config)`.
    """
    sends = _sends(graph, snapshot, statuses)
    return Command(goto=sends) if sends else None


def _check(graph: Any, config: RunnableConfig) -> None:
    if getattr(graph, "checkpointer", None) is None or not config.get("configurable", {}).get(
        "thread_id"
    ):
        raise ValueError(
            "retry_failed continues a thread: compile the graph with a checkpointer and pass "
            "the thread's config, e.g. {'configurable': {'thread_id': ...}}"
        )


def retry_failed(
    graph: Any, config: RunnableConfig, *, statuses: Collection[BranchStatus] = FAILED
) -> dict[str, Any]:
    """Re-run only the failed branches, work items or voters of a finished run, in place.

    Their new records replace the failed ones in the thread's `results` (records are merged
    by index and branch), and the join (aggregator, synthesizer or tally) runs once more on
    the whole set. Branches that succeeded are not run again.

    Args:
        graph: A compiled graph of this package, with a checkpointer.
        config: The thread's config (`{"configurable": {"thread_id": ...}}`).
        statuses: Which records count as failed.

    Returns:
        The thread's state afterwards (unchanged if nothing had failed).

    Raises:
        ValueError: No checkpointer or thread, or the thread has work pending (resume it
            with `graph.invoke(None, config)` instead).
        TypeError: The graph was not built by this package's factories.

    Example:
        ```python
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph_parallel import create_fanout_graph, retry_failed

        upstream = {"up": False}

        def flaky(state):
            if not upstream["up"]:
                raise ConnectionError("upstream down")
            return "fresh"

        graph = create_fanout_graph(
            {"steady": lambda s: "ok", "flaky": flaky},
            lambda s: [r["status"] for r in s["results"]],
        ).compile(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "report-1"}}
        assert graph.invoke({"input": None}, config)["output"] == ["ok", "error"]
        upstream["up"] = True
        assert retry_failed(graph, config)["output"] == ["ok", "ok"]
        ```
    """
    _check(graph, config)
    snapshot = graph.get_state(config)
    command = retry_command(graph, snapshot, statuses)
    if command is None:
        return dict(snapshot.values)
    return dict(graph.invoke(command, config))


async def aretry_failed(
    graph: Any, config: RunnableConfig, *, statuses: Collection[BranchStatus] = FAILED
) -> dict[str, Any]:
    """`retry_failed` for async code."""
    _check(graph, config)
    snapshot = await graph.aget_state(config)
    command = retry_command(graph, snapshot, statuses)
    if command is None:
        return dict(snapshot.values)
    return dict(await graph.ainvoke(command, config))


__all__ = ["FAILED", "aretry_failed", "retry_command", "retry_failed"]
