"""The shared node library: LLM nodes, aggregators, guardrails, tool calls, wrappers, limits.

Everything here works as a branch, worker, voter, aggregator or synthesizer of the graph
factories, and as a node of your own `StateGraph`. Names are imported on first use.
"""

from typing import TYPE_CHECKING

from langgraph_parallel._lazy import lazy as _lazy

if TYPE_CHECKING:
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
        with_concurrency_limit,
        with_fallback,
        with_rate_limit,
        with_retry,
        with_timeout,
    )

_WHERE = {
    **dict.fromkeys(
        [
            "best_score",
            "concatenate",
            "llm_synthesis",
            "majority_vote",
            "merge_dedupe",
            "weighted_vote",
        ],
        "langgraph_parallel.nodes.aggregators",
    ),
    **dict.fromkeys(
        ["GuardedOutput", "Verdict", "keyword_guardrail", "llm_guardrail"],
        "langgraph_parallel.nodes.guardrails",
    ),
    "llm_node": "langgraph_parallel.nodes.llm",
    "parallel_tool_node": "langgraph_parallel.nodes.tools",
    **dict.fromkeys(
        ["Normalizer", "VoteMethod", "normalizer", "tally"], "langgraph_parallel.nodes.votes"
    ),
    **dict.fromkeys(
        [
            "TRANSIENT_RETRY",
            "Hedge",
            "hedged",
            "is_transient",
            "with_concurrency_limit",
            "with_fallback",
            "with_rate_limit",
            "with_retry",
            "with_timeout",
        ],
        "langgraph_parallel.nodes.wrappers",
    ),
}
__getattr__, __dir__ = _lazy(__name__, _WHERE, globals())

__all__ = [
    "TRANSIENT_RETRY",
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
    "tally",
    "weighted_vote",
    "with_concurrency_limit",
    "with_fallback",
    "with_rate_limit",
    "with_retry",
    "with_timeout",
]
