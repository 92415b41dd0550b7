"""Classify by vote: n voters label the same text at once; the majority wins, with a confidence."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import Field
from typing_extensions import TypedDict

from langgraph_parallel import create_voting_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.models import ModelLike, structured_output
from langgraph_parallel.state import VoteOutcome
from langgraph_parallel.templates._answers import template_model
from langgraph_parallel.templates._registry import served_options

LABELS = ["positive", "negative", "neutral"]


class ClassifyInput(TypedDict):
    """The text to label."""

    text: Annotated[str, Field(min_length=1, max_length=20_000, description="What to classify.")]
    labels: NotRequired[
        Annotated[
            list[Annotated[str, Field(min_length=1)]],
            Field(
                min_length=2,
                max_length=20,
                description="The labels to choose from (default positive, negative, neutral).",
            ),
        ]
    ]


def label_schema(labels: list[str]) -> dict[str, Any]:
    """The structured output of one voter: one of `labels`."""
    return {
        "title": "Label",
        "description": "The label that fits the text best.",
        "type": "object",
        "properties": {"label": {"type": "string", "enum": labels}},
        "required": ["label"],
    }


def headline(outcome: VoteOutcome) -> str:
    """E.g. `positive (confidence: 80%, 4 of 5 votes)`."""
    if outcome["winner"] is None:
        return f"no winner ({outcome['cast']} votes, {outcome['failed']} failed)"
    return (
        f"{outcome['winner']} (confidence: {outcome['agreement']:.0%}, "
        f"{outcome['support']} of {outcome['cast']} votes)"
    )


def build(
    *,
    model: ModelLike = None,
    voters: int = 5,
    timeout: float = 30.0,
    max_concurrency: MaxConcurrency = None,
) -> ParallelStateGraph:
    """The classification vote with `voters` samples of the model."""
    chat = template_model(model)

    async def classify(state: dict[str, Any], config: RunnableConfig) -> str:
        labels = state.get("labels") or LABELS
        labeller = structured_output(chat, label_schema(labels))
        answer = await labeller.ainvoke(
            [
                SystemMessage(f"Classify the text as one of: {', '.join(labels)}."),
                HumanMessage(state["text"]),
            ],
            config,
        )
        return str(answer["label"] if isinstance(answer, dict) else answer)

    return create_voting_graph(
        classify,
        n=voters,
        normalize=["case", "whitespace"],
        state_schema=ClassifyInput,
        timeout=timeout,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="classify-vote")
