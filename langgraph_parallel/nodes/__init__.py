"""The shared node library: LLM nodes, aggregators, guardrails, tool calls, wrappers, limits.

Everything here works as a branch, worker, voter, aggregator or synthesizer of the graph
factories, and as a node of your own `StateGraph`.
"""

from langgraph_parallel._limits import ConcurrencyLimit
from langgraph_parallel.nodes.aggregators import (
    best_score,
    concatenate,
    llm_synthesis,
    majority_vote,
    merge_dedupe,
    weighted_vote,
)
from langgraph_parallel.nodes.guardrails import (
    GuardedOutput,
    Verdict,
    keyword_guardrail,
    llm_guardrail,
)
from langgraph_parallel.nodes.llm import llm_node
from langgraph_parallel.nodes.tools import parallel_tool_node
from langgraph_parallel.nodes.votes import Normalizer, VoteMethod, normalizer, tally
from langgraph_parallel.nodes.wrappers import (
    TRANSIENT_RETRY,
    Hedge,
    hedged,
    is_transient,
    shared_limit,
    with_concurrency_limit,
    with_fallback,
    with_rate_limit,
    with_retry,
    with_timeout,
)

__all__ = [
    "TRANSIENT_RETRY",
    "ConcurrencyLimit",
    "GuardedOutput",
    "Hedge",
    "Normalizer",
    "Verdict",
    "VoteMethod",
    "best_score",
    "concatenate",
    "hedged",
    "is_transient",
    "keyword_guardrail",
    "llm_guardrail",
    "llm_node",
    "llm_synthesis",
    "majority_vote",
    "merge_dedupe",
    "normalizer",
    "parallel_tool_node",
    "shared_limit",
    "tally",
    "weighted_vote",
    "with_concurrency_limit",
    "with_fallback",
    "with_rate_limit",
    "with_retry",
    "with_timeout",
]
