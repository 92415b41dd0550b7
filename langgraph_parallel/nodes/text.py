"""How a node's input becomes text for a model: shared by LLM nodes, aggregators, guardrails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PACKAGE_KEYS = frozenset({"results", "usage", "output", "plan"})


def variables(value: Any) -> dict[str, Any]:
    """The template variables of a node input: a dict's keys, else `{"input": value}`."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k not in _PACKAGE_KEYS}
    return {"input": value}


def render_input(value: Any) -> str:
    """A node input as the text of a user message."""
    if isinstance(value, Mapping):
        return "\n".join(f"{k}: {v}" for k, v in variables(value).items())
    return str(value)
