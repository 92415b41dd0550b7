"""Morning briefing (sectioning): weather, news and calendar fetched at once, one briefing.

The three sources are pluggable async functions of the state; the defaults are offline
simulations with realistic latency (the simulated weather service has no station in
"Atlantis", to show a failing branch). The briefing's summary is written by the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.models import ModelLike
from langgraph_parallel.templates import _simulated
from langgraph_parallel.templates._briefing import briefing_writer, join
from langgraph_parallel.templates._registry import served_options

Source = Callable[[dict[str, Any]], Awaitable[Any]]


class BriefingInput(TypedDict):
    """What the briefing is for."""

    city: Annotated[str, Field(min_length=1, max_length=100, description="The city to brief on.")]
    date: NotRequired[
        Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The day, as YYYY-MM-DD.")]
    ]


RENDER = {
    "weather": lambda v: f"{v['summary']}, {v['low_c']} to {v['high_c']} C",
    "news": lambda v: join(v["headlines"]),
    "calendar": lambda v: join(v["events"]),
}


def build(
    *,
    model: ModelLike = None,
    weather: Source = _simulated.weather,
    news: Source = _simulated.news,
    calendar: Source = _simulated.calendar,
    timeout: float = 10.0,
    max_concurrency: MaxConcurrency = None,
) -> ParallelStateGraph:
    """The briefing graph with the given model and sources (the defaults are offline)."""
    return create_fanout_graph(
        {"weather": weather, "news": news, "calendar": calendar},
        briefing_writer(
            lambda s: (
                f"Morning briefing for {s['city']}" + (f", {s['date']}" if s.get("date") else "")
            ),
            RENDER,
            "Write a two-sentence morning briefing from the data. Mention anything unavailable.",
            model,
        ),
        state_schema=BriefingInput,
        timeout=timeout,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="morning-briefing")
