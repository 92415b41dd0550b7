"""Morning briefing (sectioning): weather, news and calendar fetched at once, then joined.

Each source is a pluggable async callable; the defaults are offline simulations.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, NotRequired

from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.graphs import ParallelStateGraph
from langgraph_parallel.templates._simulated import SIMULATED, pause

Source = Callable[[dict[str, Any]], Awaitable[Any]]


class BriefingInput(TypedDict):
    """What the briefing is for."""

    city: str
    date: NotRequired[str]


async def simulated_weather(state: dict[str, Any]) -> dict[str, Any]:
    """A made-up forecast for the city, after a simulated network delay."""
    city = state["city"]
    await pause(f"weather:{city}")
    rng = random.Random(f"{city}:{state.get('date', '')}")
    return {
        "source": SIMULATED,
        "summary": rng.choice(["sunny", "overcast", "light rain", "windy", "snow showers"]),
        "high_c": rng.randint(-5, 28),
    }


async def simulated_news(state: dict[str, Any]) -> dict[str, Any]:
    """Made-up headlines, after a simulated network delay."""
    await pause(f"news:{state['city']}")
    return {
        "source": SIMULATED,
        "headlines": [
            f"{state['city']} council approves new cycle lanes",
            "Markets open flat ahead of rate decision",
        ],
    }


async def simulated_calendar(state: dict[str, Any]) -> dict[str, Any]:
    """Made-up meetings, after a simulated network delay."""
    await pause(f"calendar:{state['city']}")
    return {"source": SIMULATED, "events": ["09:30 stand-up", "14:00 design review"]}


def compose_briefing(state: dict[str, Any]) -> str:
    """Join the sections into one text; a failed section says so instead of vanishing."""
    parts = {r["branch"]: r for r in state["results"]}
    lines = [f"Briefing for {state['city']}" + (f", {state['date']}" if state.get("date") else "")]
    for name in ("weather", "news", "calendar"):
        record = parts.get(name)
        if record is None or record["status"] != "ok":
            reason = record["error"]["message"] if record and record["error"] else "no result"
            lines.append(f"- {name}: unavailable ({reason})")
            continue
        value = record["value"]
        if name == "weather":
            text = f"{value['summary']}, high {value['high_c']} C"
        elif name == "news":
            text = "; ".join(value["headlines"])
        else:
            text = ", ".join(value["events"])
        lines.append(f"- {name}: {text} [{value.get('source', 'live')}]")
    return "\n".join(lines)


def build(
    *,
    weather: Source = simulated_weather,
    news: Source = simulated_news,
    calendar: Source = simulated_calendar,
    timeout: float = 5.0,
) -> ParallelStateGraph:
    """The briefing graph with the given sources (the defaults are simulated)."""
    return create_fanout_graph(
        {"weather": weather, "news": news, "calendar": calendar},
        compose_briefing,
        state_schema=BriefingInput,
        timeout=timeout,
    )


graph = build().compile(name="morning-briefing")
