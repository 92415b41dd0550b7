"""State schemas of the three graph factories.

Each factory merges the keys below into the caller's own `state_schema` (or, without one,
into a schema with a single `input` key). Subclass these to type your own code against the
state a graph produces.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain_core.messages.ai import UsageMetadata
from typing_extensions import TypedDict

from langgraph_parallel.state.records import BranchResult
from langgraph_parallel.state.reducers import merge_results


class ParallelState(TypedDict):
    """The keys every graph of this package writes."""

    results: NotRequired[Annotated[list[BranchResult], merge_results]]
    """One record per branch, work item or voter, in index order."""
    usage: NotRequired[UsageMetadata | None]
    """Tokens used by all branches of the latest run and by the join node, summed."""
    output: NotRequired[Any]
    """What the join node (aggregator, synthesizer or tally) returned."""


class OrchestratorState(ParallelState):
    """The keys an orchestrator-worker graph adds."""

    plan: NotRequired[Any]
    """The work items the planner returned, as it returned them."""


class DefaultInput(TypedDict):
    """The input schema used when a factory is given no `state_schema`."""

    input: NotRequired[Any]
    """Whatever the branches, planner or voters should work on."""
