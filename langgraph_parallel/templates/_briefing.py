"""What the two briefing templates share: an LLM-written summary over the fetched sections."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel.models import ModelLike
from langgraph_parallel.nodes.text import render_input, variables
from langgraph_parallel.templates._answers import template_model

Render = Callable[[Any], str]


def section_lines(state: Mapping[str, Any], renderers: Mapping[str, Render]) -> list[str]:
    """One line per section in order; a failed section says why instead of vanishing.

    Each line says where its data came from (`[simulated]`, `[live]`), once: at its start
    when the section's own text is labelled, else at its end.
    """
    records = {r["branch"]: r for r in state.get("results") or ()}
    lines = []
    for name, render in renderers.items():
        record = records.get(name)
        if record is None or record["status"] != "ok":
            reason = record["error"]["message"] if record and record["error"] else "no result"
            lines.append(
                f"- {name}: unavailable ({record['status'] if record else 'missing'}: {reason})"
            )
        else:
            value = record["value"]
            source = value.get("source", "live") if isinstance(value, Mapping) else "live"
            text = render(value)
            labelled = text.startswith(f"[{source}]")  # its items say it already
            lines.append(f"- {name}: {text}" if labelled else f"- {name}: {text} [{source}]")
    return lines


def briefing_writer(
    title: Callable[[Mapping[str, Any]], str],
    renderers: Mapping[str, Render],
    instructions: str,
    model: ModelLike,
) -> Runnable[Any, Any]:
    """An aggregator: the model writes a short summary; the sections follow it as data."""
    from langgraph_parallel.engine.bridge import make_node

    chat = template_model(model)

    async def write_briefing(state: Mapping[str, Any], config: RunnableConfig) -> str:
        lines = section_lines(state, renderers)
        data = {
            r["branch"]: r["value"] if r["status"] == "ok" else f"unavailable: {r['status']}"
            for r in state.get("results") or ()
        }
        prompt = f"{render_input(variables(state))}\n\nData:\n{json.dumps(data, default=str)}"
        summary = await chat.ainvoke([SystemMessage(instructions), HumanMessage(prompt)], config)
        return "\n".join([title(state), "", str(summary.content), "", *lines])

    return make_node(write_briefing, name="write_briefing")


def join(items: Sequence[Any]) -> str:
    """Items joined for one line."""
    return "; ".join(str(i) for i in items)
