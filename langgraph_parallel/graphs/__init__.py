"""What the graph factories are made of: the options they share and the graph they build.

The factories themselves, `Branch` and `retry_failed` are imported from `langgraph_parallel`.
"""

from langgraph_parallel.engine.options import ExecutorLike, MaxConcurrency, OnError
from langgraph_parallel.graphs._graph import ParallelStateGraph
from langgraph_parallel.graphs._options import ParallelOptions
from langgraph_parallel.graphs.retry import retry_command

__all__ = [
    "ExecutorLike",
    "MaxConcurrency",
    "OnError",
    "ParallelOptions",
    "ParallelStateGraph",
    "retry_command",
]
