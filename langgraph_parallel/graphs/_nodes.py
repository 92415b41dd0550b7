"""The nodes the factories share: the one that runs a branch or voter, and the join."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_parallel.engine.bridge import AsyncNode, NodeFunc, make_node, runs_alone
from langgraph_parallel.engine.options import RunOptions
from langgraph_parallel.engine.runner import run_unit
from langgraph_parallel.engine.scope import RunScope
from langgraph_parallel.engine.telemetry import (
    stream_writer,
    unit_config,
    usage_total,
    with_usage_collector,
)
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.errors import BranchFailuresError
from langgraph_parallel.state.records import BranchResult


def check_budget(records: Sequence[BranchResult], needed: int | None) -> None:
    """Raise `BranchFailuresError` when fewer than `needed` records succeeded."""
    if needed is None:
        return
    successes = sum(1 for r in records if r["status"] == "ok")
    if successes < needed:
        failures = [r for r in records if r["status"] != "ok"]
        raise BranchFailuresError(failures, successes=successes, needed=needed)


def unit_payload(
    inputs: dict[str, Any], scope: str, branch: str, index: int, deadline: float | None
) -> dict[str, Any]:
    """The `Send` payload of one branch or voter."""
    return {"state": inputs, "scope": scope, "branch": branch, "index": index, "deadline": deadline}


def payload_deadline(payload: Any) -> float | None:
    """The run's deadline a `Send` payload carries (`time.time()`), if any."""
    return payload.get("deadline") if isinstance(payload, dict) else None


def unit_node(
    unit: Unit,
    options: RunOptions,
    *,
    name: str,
    writes: str | None = None,
    after: Callable[[RunScope, BranchResult], None] | None = None,
) -> AsyncNode:
    """The node that runs one branch or voter (named in its `unit_payload`) and records it.

    Under a sync call it runs on the call's event loop, and gives up a little past the run's
    deadline if that loop is blocked; a sync function that nothing must stop early (no
    timeout, early stop or deadline) runs alone in LangGraph's thread (`run_alone`).

    Args:
        unit: What to run, with the graph's input keys.
        options: The graph's checked options (this unit's own timeout and retries).
        name: The node's name.
        writes: A state key that also receives the value when the unit succeeds.
        after: Called with the run's scope and the record once the unit has finished,
            e.g. to stop siblings whose work can no longer matter.
    """
    may_run_alone = unit.in_this_thread and options.timeout is None and after is None

    async def run_branch(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        branch, index = payload["branch"], payload["index"]
        scope = options.scope(payload["scope"], payload.get("deadline"))
        record = await run_unit(
            unit,
            payload["state"],
            branch=branch,
            index=index,
            config=unit_config(with_usage_collector(config), branch, index),
            options=options,
            scope=scope,
            writer=stream_writer(),
            inline=runs_alone(),
        )
        if after is not None:
            after(scope, record)
        update: dict[str, Any] = {"results": [record]}
        if writes is not None and record["status"] == "ok":
            update[writes] = record["value"]
        return update

    def alone(payload: Any) -> bool:
        return may_run_alone and payload_deadline(payload) is None

    return make_node(run_branch, name=name, deadline_of=payload_deadline, alone=alone)


def join_node(
    aggregator: Unit, names: Collection[str] | None, min_successes: int | None
) -> NodeFunc:
    """The node that checks the error budget, then calls the aggregator once.

    Args:
        aggregator: Called with the state; its return value becomes `output`.
        names: Only records of these branches count (records of branches removed from a
            graph may linger on an old thread); `None` counts all.
        min_successes: The error budget.
    """

    async def join(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        records = state.get("results") or []
        if names is not None:
            records = [r for r in records if r["branch"] in names]
        check_budget(records, min_successes)
        record = await run_unit(
            aggregator,
            {**state, "results": records},
            branch=aggregator.label,
            index=-1,
            config=with_usage_collector(config),
            options=RunOptions(fail_fast=True),
        )
        return {"output": record["value"], "usage": usage_total([*records, record])}

    return join
