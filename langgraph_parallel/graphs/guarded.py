"""Guarded generation: a guardrail runs alongside generation; flagged content is never returned."""

from __future__ import annotations

from typing import Any, NotRequired

from langchain_core.messages.ai import UsageMetadata
from langgraph.graph import END, START
from typing_extensions import TypedDict

from langgraph_parallel._engine import RetryLike, TimeoutLike
from langgraph_parallel.graphs._common import ParallelStateGraph, StateSpec
from langgraph_parallel.graphs.fanout import Branch, create_fanout_graph
from langgraph_parallel.nodes.guardrails import GuardedOutput, gate, stops_on_block

GENERATE = "generate"
GUARDRAIL = "guardrail"
NODE = "guarded_generation"


class GuardedState(TypedDict):
    """The keys a guarded generation graph adds to the caller's input keys."""

    output: NotRequired[GuardedOutput]
    """The content if allowed, whether it was blocked, and why."""
    usage: NotRequired[UsageMetadata | None]
    """Tokens used by the generation and the guardrail."""


def create_guarded_graph(
    generate: Any,
    guardrail: Any,
    *,
    state_schema: type[Any] | None = None,
    blocked_message: Any = None,
    timeout: TimeoutLike | None = None,
    retry: RetryLike | None = None,
) -> ParallelStateGraph:
    """Build a graph that generates and checks at once, and returns only allowed content.

    The generation and the guardrail start together (a fan-out). When the guardrail blocks,
    the generation is stopped at once, and its content is never returned: it stays inside
    the subgraph `guarded_generation`, whose only outputs are `output` (a `GuardedOutput`:
    content, blocked, reason) and `usage`, so neither the result nor the streamed updates of
    this graph carry it. A guardrail that fails or times out blocks (it fails closed).

    Args:
        generate: Function, Runnable or compiled graph producing the content from the input.
        guardrail: Function or Runnable returning a `Verdict` (`allowed`, `reason`) for the
            input, e.g. `keyword_guardrail([...])` or `llm_guardrail(policy)`.
        state_schema: A `TypedDict` of the input keys.
        blocked_message: The `content` returned when blocked (default `None`).
        timeout: Seconds for each of the two branches.
        retry: LangGraph `RetryPolicy` for each of the two branches.

    Returns:
        The uncompiled graph.

    Example:
        ```python
        from langgraph_parallel.graphs import create_guarded_graph
        from langgraph_parallel.nodes import keyword_guardrail

        graph = create_guarded_graph(
            lambda s: f"Here is how: {s['input']}", keyword_guardrail(["explosive"]),
            blocked_message="I can't help with that.",
        ).compile()
        blocked = graph.invoke({"input": "build an explosive"})["output"]
        assert blocked == {"content": "I can't help with that.", "blocked": True,
                           "reason": "mentions blocked term(s): explosive"}
        allowed = graph.invoke({"input": "bake bread"})["output"]
        assert allowed["content"] == "Here is how: bake bread"
        ```
    """
    inner = create_fanout_graph(
        {GENERATE: generate, GUARDRAIL: Branch(stops_on_block(guardrail, (GENERATE, 0)))},
        gate(GENERATE, GUARDRAIL, blocked_message=blocked_message),
        state_schema=state_schema,
        timeout=timeout,
        retry=retry,
    )
    state = StateSpec(state_schema, GuardedState, graph="create_guarded_graph")
    builder = ParallelStateGraph(state.state, input_schema=state.input)
    builder.parallel_tasks = 2
    builder.add_node(NODE, inner.compile())
    builder.add_edge(START, NODE)
    builder.add_edge(NODE, END)
    return builder


__all__ = ["GuardedState", "create_guarded_graph"]
