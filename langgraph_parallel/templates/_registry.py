"""The templates: name, module, pattern, description and an example input."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    """A ready-made graph."""

    name: str
    """Its name in `langgraph.json` and on the command line."""
    module: str
    """Its module under `langgraph_parallel.templates`."""
    pattern: str
    """Which parallel pattern it shows."""
    description: str
    """One sentence for `langgraph.json`, Studio and `langgraph-parallel list`."""
    example: dict[str, Any]
    """An input that runs offline."""
    takes_model: bool = True
    """Whether `build()` takes a `model`."""
    offline_sources: bool = False
    """Whether its default data sources are offline simulations."""

    def build(self, **options: Any) -> Any:
        """A fresh compiled graph built with `options` (e.g. `model`, `max_concurrency`)."""
        module = importlib.import_module(f"langgraph_parallel.templates.{self.module}")
        if not options:
            return module.graph
        return module.build(**options).compile(name=self.name)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "morning-briefing",
            "morning_briefing",
            "sectioning",
            "Weather, news and calendar fetched at once, then one briefing.",
            {"city": "Oslo", "date": "2026-11-22"},
            offline_sources=True,
        ),
        Template(
            "investment-briefing",
            "investment_briefing",
            "sectioning",
            "Stock price, recent news and financials fetched at once, then an LLM-written "
            "briefing.",
            {"ticker": "ACME"},
            offline_sources=True,
        ),
        Template(
            "report-writer",
            "report_writer",
            "orchestrator-worker",
            "A planner splits a topic into sections, a writer per section runs at once, "
            "and the report is assembled in plan order.",
            {"topic": "Offshore wind in the North Sea", "sections": 4},
        ),
        Template(
            "code-review",
            "code_review",
            "sectioning",
            "Security, performance, style and documentation reviewers read the same code "
            "at once; one report with every dimension.",
            {"code": "def load(path):\n    return eval(open(path).read())\n", "language": "Python"},
        ),
        Template(
            "classify-vote",
            "classify_vote",
            "voting",
            "Five voters label the same text at once; the majority wins, with a confidence.",
            {"text": "I loved the food but the service was slow"},
        ),
        Template(
            "guarded-generation",
            "guarded_generation",
            "sectioning (guardrail)",
            "A moderation check runs alongside generation; flagged content is never returned.",
            {"request": "Suggest a name for a bakery"},
        ),
        Template(
            "multi-search",
            "multi_search",
            "orchestrator-worker",
            "Several queries searched at once; results merged, deduplicated by URL, "
            "ranked by score, top k.",
            {"queries": ["tidal energy", "tidal energy costs", "tidal energy Norway"], "top_k": 5},
            takes_model=False,
            offline_sources=True,
        ),
    )
}
