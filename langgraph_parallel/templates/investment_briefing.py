"""Investment briefing (sectioning): price, news and financials at once, an LLM-written briefing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.graphs import MaxConcurrency, ParallelStateGraph
from langgraph_parallel.models import ModelLike
from langgraph_parallel.templates import _simulated
from langgraph_parallel.templates._briefing import briefing_writer, join
from langgraph_parallel.templates._registry import served_options

Source = Callable[[dict[str, Any]], Awaitable[Any]]


class InvestmentInput(TypedDict):
    """The company to brief on."""

    ticker: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z][A-Za-z0-9.-]{0,9}$",
            description="Its stock ticker, 1 to 10 letters, digits, dots or dashes.",
        ),
    ]


RENDER = {
    "price": lambda v: f"{v['ticker']} {v['price']} ({v['change_pct']:+}%)",
    "news": lambda v: join(v["headlines"]),
    "financials": lambda v: (
        f"revenue {v['revenue_bn']} bn, net margin {v['net_margin_pct']}%, P/E {v['pe_ratio']}"
    ),
}


def build(
    *,
    model: ModelLike = None,
    price: Source = _simulated.stock_price,
    news: Source = _simulated.company_news,
    financials: Source = _simulated.financials,
    timeout: float = 10.0,
    max_concurrency: MaxConcurrency = None,
) -> ParallelStateGraph:
    """The investment briefing with the given model and sources (the defaults are offline)."""
    return create_fanout_graph(
        {"price": price, "news": news, "financials": financials},
        briefing_writer(
            lambda s: f"Investment briefing: {s['ticker'].upper()}",
            RENDER,
            "Write a three-sentence investment briefing from the data: price move, what the "
            "news means, and what the financials say. No advice. Mention anything unavailable.",
            model,
        ),
        state_schema=InvestmentInput,
        timeout=timeout,
        max_concurrency=max_concurrency,
    )


graph = build(**served_options()).compile(name="investment-briefing")
