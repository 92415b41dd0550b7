"""Offline stand-ins for slow services: deterministic data after a simulated latency.

No output passes for real data: every text a value shows (a headline, an event, a forecast's
summary, a search result's title) starts with `[simulated]`, like the simulated model's
text. A briefing's sections also carry `"source": "simulated"`, which the briefings print
after each line (a record of figures alone, a price, has no text to label). Each provider is
an async function of the template's state (or work item), so a real API drops in with the
same signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

SIMULATED = "simulated"
"""The `source` of every briefing section produced here."""

LABEL = "[simulated]"
"""What every text produced here starts with (the simulated model's `SIMULATED_NOTICE`)."""


def labelled(text: str) -> str:
    """`text`, marked as simulated."""
    return f"{LABEL} {text}"


def rng_for(*key: object) -> random.Random:
    """A random source seeded by `key`, the same in every process."""
    return random.Random(hashlib.sha256(repr(key).encode()).digest())


async def pause(*key: object, low: float = 0.05, high: float = 0.25) -> None:
    """Sleep a repeatable latency for `key`, between `low` and `high` seconds."""
    await asyncio.sleep(rng_for("latency", *key).uniform(low, high))


UNKNOWN_CITY = "Atlantis"
"""The simulated weather service has no station here: use it to see a failing branch."""


async def weather(state: dict[str, Any]) -> dict[str, Any]:
    """A made-up forecast for `state["city"]` (none for `UNKNOWN_CITY`)."""
    city = state["city"]
    await pause("weather", city)
    if city == UNKNOWN_CITY:
        raise LookupError(f"the simulated weather service has no station in {city}")
    rng = rng_for("weather", city, state.get("date", ""))
    return {
        "source": SIMULATED,
        "summary": labelled(
            rng.choice(["sunny", "overcast", "light rain", "windy", "snow showers"])
        ),
        "high_c": rng.randint(-5, 28),
        "low_c": rng.randint(-12, 10),
    }


async def news(state: dict[str, Any]) -> dict[str, Any]:
    """Made-up local headlines for `state["city"]`."""
    city = state["city"]
    await pause("news", city)
    rng = rng_for("news", city)
    subjects = ["council", "harbour", "university", "rail operator", "hospital"]
    events = ["approves new cycle lanes", "opens a new wing", "announces delays", "wins award"]
    return {
        "source": SIMULATED,
        "headlines": [
            labelled(f"{city} {rng.choice(subjects)} {rng.choice(events)}") for _ in range(3)
        ],
    }


async def calendar(state: dict[str, Any]) -> dict[str, Any]:
    """A made-up day of meetings."""
    await pause("calendar", state["city"])
    return {
        "source": SIMULATED,
        "events": [
            labelled(event)
            for event in ("09:30 stand-up", "11:00 vendor call", "14:00 design review")
        ],
    }


async def stock_price(state: dict[str, Any]) -> dict[str, Any]:
    """A made-up quote for `state["ticker"]`."""
    ticker = state["ticker"].upper()
    await pause("price", ticker)
    rng = rng_for("price", ticker)
    price = round(rng.uniform(10, 500), 2)
    return {
        "source": SIMULATED,
        "ticker": ticker,
        "price": price,
        "change_pct": round(rng.uniform(-4, 4), 2),
    }


async def company_news(state: dict[str, Any]) -> dict[str, Any]:
    """Made-up headlines about `state["ticker"]`."""
    ticker = state["ticker"].upper()
    await pause("company-news", ticker)
    rng = rng_for("company-news", ticker)
    items = [
        "beats earnings estimates",
        "announces buyback",
        "faces regulatory review",
        "names new CFO",
    ]
    return {
        "source": SIMULATED,
        "headlines": [labelled(f"{ticker} {h}") for h in rng.sample(items, 2)],
    }


async def financials(state: dict[str, Any]) -> dict[str, Any]:
    """Made-up key figures for `state["ticker"]`."""
    ticker = state["ticker"].upper()
    await pause("financials", ticker, low=0.1, high=0.4)
    rng = rng_for("financials", ticker)
    return {
        "source": SIMULATED,
        "revenue_bn": round(rng.uniform(1, 120), 1),
        "net_margin_pct": round(rng.uniform(-5, 30), 1),
        "pe_ratio": round(rng.uniform(8, 60), 1),
    }


_PAGES = [
    ("https://example.org/{slug}/overview", "Overview of {q}"),
    ("https://example.org/{slug}/guide", "A practical guide to {q}"),
    ("https://example.com/news/{slug}", "Latest news on {q}"),
    ("https://example.net/wiki/{slug}", "{q} - encyclopedia entry"),
    ("https://example.com/forum/{slug}", "Discussion: {q}"),
    ("https://example.org/research/{slug}", "Recent research on {q}"),
]


async def search(query: str) -> list[dict[str, Any]]:
    """Made-up search results for `query`. Related queries share some URLs, as real ones do.

    Each title starts with `[simulated]`; the ranking reads only `url` and `score`.
    """
    await pause("search", query, low=0.05, high=0.3)
    rng = rng_for("search", query)
    topic = query.split()[0].lower() if query.split() else "topic"
    hits = rng.sample(_PAGES, 4)
    return [
        {
            "title": labelled(title.format(q=query)),
            "url": url.format(slug=topic),
            "score": round(rng.uniform(0.3, 1.0), 3),
            "query": query,
        }
        for url, title in hits
    ]
