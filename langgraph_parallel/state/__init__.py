"""State schemas, records and reducers shared by the graphs of this package."""

from langgraph_parallel.state.records import (
    BranchError,
    BranchResult,
    BranchStatus,
    Vote,
    VoteCount,
    VoteOutcome,
    VoteStatus,
)
from langgraph_parallel.state.reducers import merge_results
from langgraph_parallel.state.schemas import DefaultInput, OrchestratorState, ParallelState

__all__ = [
    "BranchError",
    "BranchResult",
    "BranchStatus",
    "DefaultInput",
    "OrchestratorState",
    "ParallelState",
    "Vote",
    "VoteCount",
    "VoteOutcome",
    "VoteStatus",
    "merge_results",
]
