"""The shared node library: limits, vote counting and aggregators for parallel branches."""

from langgraph_parallel.nodes.limits import ConcurrencyLimit
from langgraph_parallel.nodes.votes import Normalizer, VoteMethod, normalizer, tally

__all__ = ["ConcurrencyLimit", "Normalizer", "VoteMethod", "normalizer", "tally"]
