"""Multi-search (orchestrator-worker): several queries at once, merged into one ranking.

Results are deduplicated by URL, ranked by score, and the best `top_k` kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.nodes import merge_dedupe
from langgraph_parallel.templates import _simulated
from langgraph_parallel.templates._registry import served_options

MAX_QUERIES = 50
"""The most queries one run takes."""

Search = Callable[[str], Awaitable[list[dict[str, Any]]]]


class SearchInput(TypedDict):
    """What to search for."""

    queries: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        Field(min_length=1, max_length=MAX_QUERIES, description="The queries, run at once."),
    ]
    top_k: NotRequired[
        Annotated[int, Field(ge=1, le=100, description="How many results to keep (default 5).")]
    ]


def plan_queries(state: dict[str, Any]) -> list[str]:
    """Each distinct query is a work item, in the order given."""
    return list(dict.fromkeys(q.strip() for q in state["queries"] if q.strip()))


def ranked(state: dict[str, Any]) -> list[dict[str, Any]]:
    """All results merged, one per URL (the best-scored copy), best first, top k."""
    return merge_dedupe(key="url", score="score", top_k=state.get("top_k", 5))(state)


def build(
    *,
    search: Search = _simulated.search,
    timeout: float = 10.0,
    max_concurrency: MaxConcurrency = None,
) -> ParallelStateGraph:
    """The multi-search graph with the given search function (the default is offline)."""
    return create_orchestrator_graph(
        plan_queries,
        search,
        ranked,
        state_schema=SearchInput,
        timeout=timeout,
        max_items=MAX_QUERIES,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="multi-search")
