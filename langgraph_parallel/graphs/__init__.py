"""Graph factories: sectioning fan-out, orchestrator-worker, voting and guarded generation."""

from langgraph_parallel.engine.options import ExecutorLike, MaxConcurrency, OnError
from langgraph_parallel.graphs._graph import ParallelStateGraph
from langgraph_parallel.graphs._options import ParallelOptions
from langgraph_parallel.graphs.fanout import Branch, create_fanout_graph
from langgraph_parallel.graphs.guarded import create_guarded_graph
from langgraph_parallel.graphs.orchestrator import create_orchestrator_graph
from langgraph_parallel.graphs.retry import aretry_failed, retry_command, retry_failed
from langgraph_parallel.graphs.voting import create_voting_graph

__all__ = [
    "Branch",
    "ExecutorLike",
    "MaxConcurrency",
    "OnError",
    "ParallelOptions",
    "ParallelStateGraph",
    "aretry_failed",
    "create_fanout_graph",
    "create_guarded_graph",
    "create_orchestrator_graph",
    "create_voting_graph",
    "retry_command",
    "retry_failed",
]
