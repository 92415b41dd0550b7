"""Guarded generation: a guardrail runs alongside generation; flagged content is never returned."""

from __future__ import annotations

from typing import Any, Unpack

from langgraph_parallel.graphs._graph import ParallelStateGraph
from langgraph_parallel.graphs._guard import gate, stops_on_block, withheld
from langgraph_parallel.graphs._options import ParallelOptions, takes_options
from langgraph_parallel.graphs.fanout import build_fanout

GENERATE = "generate"
GUARDRAIL = "guardrail"


@takes_options
def create_guarded_graph(
    generate: Any,
    guardrail: Any,
    *,
    state_schema: type[Any] | None = None,
    blocked_message: Any = None,
    **options: Unpack[ParallelOptions],
) -> ParallelStateGraph:
    """Build a graph that generates and checks at once, and returns only allowed content.

    The generation and the guardrail start together (a fan-out of two branches). When the
    guardrail blocks, the generation is stopped at once. Its content never enters the
    graph's state: the branch records only a reference, and the content waits in the run's
    memory until the join, which returns it only if the guardrail allowed it. So it is in
    neither the result, nor the streamed updates, nor any checkpoint. `output` is a
    `GuardedOutput` (content, blocked, reason). A guardrail that fails or times out blocks
    (it fails closed). If the process restarts between generation and join, the content is
    gone and the output says so: run again.

    Args:
        generate: Function, Runnable or compiled graph producing the content from the input.
        guardrail: Function or Runnable returning a `Verdict` (`allowed`, `reason`) for the
            input, e.g. `keyword_guardrail([...])` or `llm_guardrail(policy)`.
        state_schema: A `TypedDict` of the input keys.
        blocked_message: The `content` returned when blocked (default `None`).
        **options: The options every factory takes (`ParallelOptions`), listed below;
            the two branches are its units.

    Returns:
        The uncompiled graph.

    Example:
        ```python
        from langgraph_parallel import create_guarded_graph
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
    return build_fanout(
        [(GENERATE, withheld(generate)), (GUARDRAIL, stops_on_block(guardrail, (GENERATE, 0)))],
        gate(GENERATE, GUARDRAIL, blocked_message=blocked_message),
        state_schema,
        options,
        graph="create_guarded_graph",
    )


__all__ = ["create_guarded_graph"]
