"""Ready-made LangGraph workflows for running agent work in parallel.

Four graph factories, each returning an uncompiled `StateGraph`:

- `create_fanout_graph`: sectioning. Named branches run at once; an aggregator joins them.
- `create_orchestrator_graph`: a planner decides the work items; workers run them at once;
  a synthesizer joins them in plan order.
- `create_voting_graph`: voters do the same task at once; a tally picks the winner.
- `create_guarded_graph`: a guardrail runs alongside generation; flagged content is never
  returned.

Each public name has one home: the factories, re-running what failed and the concurrency
limits here; the options' types and the graph class in `.graphs`; records, reducers and
schemas in `.state`; the node library in `.nodes`; models in `.models`; errors in
`.errors`; cluster executors in `.executors`; the fake OpenAI server in `.testing`.
"""

from langgraph_parallel.engine.fleet import SharedAdaptiveLimit, adaptive_limit
from langgraph_parallel.engine.limits import AdaptiveLimit, ConcurrencyLimit, shared_limit
from langgraph_parallel.graphs.fanout import Branch, create_fanout_graph
from langgraph_parallel.graphs.guarded import create_guarded_graph
from langgraph_parallel.graphs.orchestrator import create_orchestrator_graph
from langgraph_parallel.graphs.retry import aretry_failed, retry_failed
from langgraph_parallel.graphs.voting import create_voting_graph

__all__ = [
    "AdaptiveLimit",
    "Branch",
    "ConcurrencyLimit",
    "SharedAdaptiveLimit",
    "adaptive_limit",
    "aretry_failed",
    "create_fanout_graph",
    "create_guarded_graph",
    "create_orchestrator_graph",
    "create_voting_graph",
    "retry_failed",
    "shared_limit",
]
