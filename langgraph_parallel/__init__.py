"""Ready-made LangGraph workflows for running agent work in parallel.

Three graph factories, each returning an uncompiled `StateGraph`:

- `create_fanout_graph`: sectioning. Named branches run at once; an aggregator joins them.
- `create_orchestrator_graph`: a planner decides the work items; workers run them at once;
  a synthesizer joins them in plan order.
- `create_voting_graph`: voters do the same task at once; a tally picks the winner.
"""

from langgraph_parallel.engine.limits import AdaptiveLimit, ConcurrencyLimit, adaptive_limit
from langgraph_parallel.errors import BranchFailuresError, InvalidInputError, InvalidPlanError
from langgraph_parallel.graphs import (
    Branch,
    OnError,
    create_fanout_graph,
    create_orchestrator_graph,
    create_voting_graph,
    retry_failed,
)
from langgraph_parallel.graphs.retry import aretry_failed
from langgraph_parallel.state import BranchEvent, BranchResult, BranchStatus, Vote, VoteOutcome

__all__ = [
    "AdaptiveLimit",
    "Branch",
    "BranchEvent",
    "BranchFailuresError",
    "BranchResult",
    "BranchStatus",
    "ConcurrencyLimit",
    "InvalidInputError",
    "InvalidPlanError",
    "OnError",
    "Vote",
    "VoteOutcome",
    "adaptive_limit",
    "aretry_failed",
    "create_fanout_graph",
    "create_orchestrator_graph",
    "create_voting_graph",
    "retry_failed",
]
