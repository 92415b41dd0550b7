"""The registry of templates: name, module, pattern, description and an example input."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    """A ready-made graph."""

    name: str
    module: str
    pattern: str
    description: str
    example: dict[str, Any]

    def load(self) -> Any:
        """The template's compiled graph."""
        return importlib.import_module(f"langgraph_parallel.templates.{self.module}").graph


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "morning-briefing",
            "morning_briefing",
            "sectioning (fan-out)",
            "Weather, news and calendar fetched at once, joined into one briefing.",
            {"city": "Oslo", "date": "2026-11-22"},
        ),
        Template(
            "report-writer",
            "report_writer",
            "orchestrator-worker",
            "A planner splits a topic into sections, a writer per section runs at once, "
            "the report is assembled in plan order.",
            {"topic": "Offshore wind in the North Sea", "sections": 4},
        ),
        Template(
            "classify-vote",
            "classify_vote",
            "voting",
            "Five voters label the same text at once; the majority wins, with a confidence.",
            {"text": "I loved the food but the service was slow"},
        ),
    )
}
