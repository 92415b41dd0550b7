"""State schemas, records and reducers shared by the graphs of this package."""

from langgraph_parallel.state.records import (
    BranchError,
    BranchEvent,
    BranchEventKind,
    BranchResult,
    BranchStatus,
    StopKind,
    StructuredOutcome,
    Vote,
    VoteCount,
    VoteOutcome,
    VoteStatus,
)
from langgraph_parallel.state.reducers import merge_results
from langgraph_parallel.state.schemas import DefaultInput, OrchestratorState, ParallelState

__all__ = [
    "BranchError",
    "BranchEvent",
    "BranchEventKind",
    "BranchResult",
    "BranchStatus",
    "DefaultInput",
    "OrchestratorState",
    "ParallelState",
    "StopKind",
    "StructuredOutcome",
    "Vote",
    "VoteCount",
    "VoteOutcome",
    "VoteStatus",
    "merge_results",
]
