"""Report writer (orchestrator-worker): plan sections, write them all at once, assemble in order."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.models import ModelLike, structured_output
from langgraph_parallel.nodes import llm_node
from langgraph_parallel.nodes.llm import prompt_messages
from langgraph_parallel.templates._answers import template_model
from langgraph_parallel.templates._registry import served_options

MAX_SECTIONS = 20
"""The most sections a report may have."""


class ReportInput(TypedDict):
    """What to write about."""

    topic: Annotated[str, Field(min_length=1, max_length=500, description="The report's subject.")]
    sections: NotRequired[
        Annotated[int, Field(ge=1, le=MAX_SECTIONS, description="How many sections (default 4).")]
    ]


class Section(BaseModel):
    """One planned section."""

    title: str = Field(description="the section heading")
    focus: str = Field(description="what the section should cover, in one sentence")


class Outline(BaseModel):
    """The report's plan."""

    sections: list[Section] = Field(min_length=1, description="the sections, in reading order")


def assemble(state: dict[str, Any]) -> str:
    """The report: sections in plan order; a failed section leaves a marked gap."""
    parts = [f"# {state['topic']}"]
    for record in state["results"]:
        section = state["plan"][record["index"]]
        if record["status"] == "ok":
            parts.append(f"## {section['title']}\n\n{record['value']}")
        else:
            error = record["error"]["message"] if record["error"] else record["status"]
            parts.append(f"## {section['title']}\n\n(this section failed: {error})")
    return "\n\n".join(parts)


def outline_schema(count: int) -> dict[str, Any]:
    """The planner's structured output: exactly `count` sections."""
    schema = Outline.model_json_schema()
    schema["properties"]["sections"].update(minItems=count, maxItems=count)
    return schema


def build(
    *, model: ModelLike = None, timeout: float = 60.0, max_concurrency: MaxConcurrency = None
) -> ParallelStateGraph:
    """The report writer with the given model (default: see `resolve_model`)."""
    chat = template_model(model)

    async def plan(state: dict[str, Any], config: RunnableConfig) -> list[dict[str, str]]:
        count = state.get("sections", 4)
        planner = structured_output(chat, outline_schema(count))
        messages = await prompt_messages(
            "Plan a report on {topic} in exactly {count} sections. Give each a title and a focus.",
            {**state, "count": count},
            config,
        )
        outline = Outline.model_validate(await planner.ainvoke(messages, config))
        return [{"topic": state["topic"], **s.model_dump()} for s in outline.sections[:count]]

    writer = llm_node(
        "You write one section of a report on {topic}. Section: {title}. Cover: {focus}. "
        "Write two short paragraphs, no heading.",
        chat,
        name="write_section",
    )
    return create_orchestrator_graph(
        plan,
        writer,
        assemble,
        state_schema=ReportInput,
        timeout=timeout,
        max_items=MAX_SECTIONS,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="report-writer")
