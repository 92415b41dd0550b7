"""The templates: name, module, pattern, description and an example input."""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from typing import Any

MAX_CONCURRENCY_ENV = "LANGGRAPH_PARALLEL_MAX_CONCURRENCY"
"""The served templates' `max_concurrency` (a number, or `auto`), as `langgraph dev` and the
LangGraph server build them; with `LANGGRAPH_PARALLEL_LIMITS_URL` too, `auto` is the fleet's."""


def served_options() -> dict[str, Any]:
    """The options a template's default graph is built with, from the environment."""
    value = os.environ.get(MAX_CONCURRENCY_ENV, "").strip()
    if not value:
        return {}
    if value != "auto" and not (value.isdigit() and int(value) > 0):
        raise ValueError(
            f"{MAX_CONCURRENCY_ENV}={value!r} is not a choice; set a positive whole number, "
            "or auto (find the provider's capacity from its 429s)"
        )
    return {"max_concurrency": value if value == "auto" else int(value)}


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

    @property
    def example_file(self) -> str:
        """Its example input as a file in the checkout, for `--input-file`."""
        return f"examples/{self.name}.json"

    def inputs(self) -> list[InputKey]:
        """The keys its input takes, from the graph's input JSON schema (what Studio shows)."""
        schema = self.build().get_input_jsonschema()
        required = set(schema.get("required", ()))
        return [
            InputKey(
                name,
                _type_text(spec),
                name in required,
                spec.get("description", ""),
                _bounds_text(spec),
                self.example.get(name),
            )
            for name, spec in schema.get("properties", {}).items()
        ]


@dataclass(frozen=True)
class InputKey:
    """One key of a template's input."""

    name: str
    type: str
    """Its type, as Python writes it, e.g. `list[str]`."""
    required: bool
    description: str
    bounds: str
    """The values it accepts beyond its type, e.g. `1 to 20`; `""` when any."""
    example: Any
    """Its value in the template's example input; `None` when the example leaves it out."""

    def summary(self) -> str:
        """Its type and bounds in a few words, e.g. `int, 1 to 20, required`."""
        parts = [self.type, self.bounds, "required" if self.required else ""]
        return ", ".join(p for p in parts if p)

    def example_text(self) -> str:
        return "" if self.example is None else json.dumps(self.example)


_JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def _type_text(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind == "array":
        return f"list[{_type_text(spec.get('items', {}))}]"
    if kind == "object":
        return "dict"
    return _JSON_TYPES.get(str(kind), "any")


def _bounds_text(spec: dict[str, Any]) -> str:
    """What `spec` accepts beyond its type, in words."""
    parts = []
    for low, high, unit in (
        ("minimum", "maximum", ""),
        ("minLength", "maxLength", " characters"),
        ("minItems", "maxItems", " items"),
    ):
        if low in spec and high in spec:
            parts.append(f"{spec[low]} to {spec[high]}{unit}")
        elif low in spec:
            parts.append(
                "non-empty"
                if (spec[low], unit) == (1, " characters")
                else f"at least {spec[low]}{unit}"
            )
        elif high in spec:
            parts.append(f"at most {spec[high]}{unit}")
    # A `pattern` is left to the description, which says it in words.
    items = spec.get("items")
    if isinstance(items, dict) and (inner := _bounds_text(items)):
        parts.append(f"each {inner}")
    return ", ".join(parts)


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
