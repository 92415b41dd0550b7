"""Code review (sectioning): four reviewers read the same code at once; one report."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.models import ModelLike
from langgraph_parallel.nodes import llm_node
from langgraph_parallel.templates._answers import template_model
from langgraph_parallel.templates._registry import served_options

DIMENSIONS = {
    "security": "injection, secrets, unsafe deserialisation, missing input validation",
    "performance": "algorithmic cost, needless work in loops, blocking I/O, memory",
    "style": "naming, structure, duplication, idiomatic use of the language",
    "documentation": "docstrings, comments that explain why, type hints, examples",
}


class CodeInput(TypedDict):
    """The code to review."""

    code: Annotated[
        str, Field(min_length=1, max_length=100_000, description="The source code to review.")
    ]
    language: NotRequired[
        Annotated[str, Field(min_length=1, max_length=40, description="Its language, if known.")]
    ]


class Review(BaseModel):
    """One reviewer's verdict."""

    dimension: Literal["security", "performance", "style", "documentation"]
    score: int = Field(ge=1, le=10, description="1 = serious problems, 10 = exemplary")
    findings: list[str] = Field(description="concrete problems, most important first")
    summary: str = Field(description="one sentence")


def report(state: dict[str, Any]) -> str:
    """A review report with every dimension; a failed reviewer is shown, not dropped."""
    lines = ["# Code review", ""]
    scores = []
    for record in state["results"]:
        name = record["branch"]
        if record["status"] != "ok":
            error = record["error"]["message"] if record["error"] else record["status"]
            lines.append(f"## {name}: no score (reviewer {record['status']}: {error})")
            continue
        review: Review = record["value"]
        scores.append(review.score)
        lines.append(f"## {name}: {review.score}/10")
        lines.append(review.summary)
        lines.extend(f"- {finding}" for finding in review.findings)
    overall = f"{sum(scores) / len(scores):.1f}/10" if scores else "n/a"
    lines[1] = f"Overall: {overall} from {len(scores)} of {len(state['results'])} reviewers"
    return "\n".join(lines)


def build(
    *, model: ModelLike = None, timeout: float = 60.0, max_concurrency: MaxConcurrency = None
) -> ParallelStateGraph:
    """The review graph; `max_concurrency` caps concurrent model calls (e.g. 2)."""
    chat = template_model(model)
    reviewers = {
        name: llm_node(
            f"You review code for {name} only: {focus}. "
            "Score it from 1 to 10 and list concrete findings.",
            chat,
            schema=Review,
            name=name,
        )
        for name, focus in DIMENSIONS.items()
    }
    return create_fanout_graph(
        reviewers,
        report,
        state_schema=CodeInput,
        timeout=timeout,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="code-review")
