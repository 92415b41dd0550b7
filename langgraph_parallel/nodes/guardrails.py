"""Guardrails: a check that runs alongside generation and can block its result."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.nodes.text import render_input

if TYPE_CHECKING:
    from langgraph_parallel.models import ModelLike


class Verdict(TypedDict):
    """A guardrail's decision."""

    allowed: bool
    """Whether the content may be returned."""
    reason: str | None
    """Why it was blocked (or a note), for the record."""


class GuardedOutput(TypedDict):
    """What a guarded generation returns."""

    content: Any
    """The generated content, or `blocked_message` (default `None`) when blocked."""
    blocked: bool
    """Whether the guardrail blocked the content."""
    reason: str | None
    """Why it was blocked, or why there is no content."""


def keyword_guardrail(blocked: Iterable[str]) -> Callable[[Any], Verdict]:
    """A guardrail that blocks input mentioning any of `blocked` (case-insensitive).

    Example:
        ```python
        from langgraph_parallel.nodes import keyword_guardrail

        check = keyword_guardrail(["password"])
        assert check({"input": "What is the admin PASSWORD?"}) == {
            "allowed": False, "reason": "mentions blocked term(s): password"}
        ```
    """
    terms = [t.casefold() for t in blocked]

    def keyword_guardrail(value: Any) -> Verdict:
        text = render_input(value).casefold()
        hits = [t for t in terms if t in text]
        if hits:
            return {"allowed": False, "reason": f"mentions blocked term(s): {', '.join(hits)}"}
        return {"allowed": True, "reason": None}

    return keyword_guardrail


class _ModelVerdict(BaseModel):
    allowed: bool = Field(description="true if the request complies with the policy")
    reason: str = Field(description="one sentence: why it does or does not comply")


def llm_guardrail(policy: str, model: ModelLike = None) -> Runnable[Any, Verdict]:
    """A guardrail that asks a model whether the input complies with `policy`.

    Args:
        policy: The rules, in plain words.
        model: A chat model, a spec, or `None` for the default (see `resolve_model`).
    """
    from langgraph_parallel.nodes.llm import llm_node

    literal = policy.replace("{", "{{").replace("}", "}}")  # a policy is not a template
    system = (
        "You are a content moderator. Decide whether the user's request complies with "
        f"this policy:\n{literal}"
    )
    ask = llm_node(system, model, schema=_ModelVerdict, name="llm_guardrail")

    async def llm_guardrail(value: Any, config: RunnableConfig) -> Verdict:
        verdict: _ModelVerdict = await ask.ainvoke(value, config)
        return {"allowed": verdict.allowed, "reason": verdict.reason}

    return make_node(llm_guardrail, name="llm_guardrail")
