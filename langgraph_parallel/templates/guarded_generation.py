"""Guarded generation: a moderation check runs alongside generation.

Flagged content is never returned, and the generation is stopped as soon as the check flags
the request.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from langgraph_parallel import create_guarded_graph
from langgraph_parallel.graphs import ParallelStateGraph
from langgraph_parallel.models import ModelLike
from langgraph_parallel.nodes import keyword_guardrail, llm_guardrail, llm_node
from langgraph_parallel.templates._answers import template_model

BLOCKED_TERMS = ["explosive", "weapon", "credit card number", "malware"]
BLOCKED_MESSAGE = "This request was declined by the content policy."


class GuardedInput(TypedDict):
    """The request to answer."""

    request: Annotated[
        str, Field(min_length=1, max_length=20_000, description="What the user asks for.")
    ]


def build(
    *,
    model: ModelLike = None,
    policy: str | None = None,
    blocked_terms: list[str] | None = None,
    timeout: float = 60.0,
) -> ParallelStateGraph:
    """The guarded graph: a keyword check by default, or a model checking `policy`."""
    chat = template_model(model)
    guardrail = (
        llm_guardrail(policy, chat) if policy else keyword_guardrail(blocked_terms or BLOCKED_TERMS)
    )
    return create_guarded_graph(
        llm_node("You are a helpful assistant. Answer the request.", chat, name="generate"),
        guardrail,
        state_schema=GuardedInput,
        blocked_message=BLOCKED_MESSAGE,
        timeout=timeout,
    )


graph = build().compile(name="guarded-generation")
