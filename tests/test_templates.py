"""langgraph.json: every graph imports as a compiled graph, and Studio can draw its fan-out."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START
from langgraph.graph.state import CompiledStateGraph

from langgraph_parallel.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / "langgraph.json").read_text())


def load(path: str) -> Any:
    file, _, attr = path.partition(":")
    name = file.lstrip("./").replace("/", "__").removesuffix(".py")  # as langgraph_api does
    spec = importlib.util.spec_from_file_location(name, ROOT / file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


@pytest.mark.parametrize("graph_id", CONFIG["graphs"])
def test_every_registered_path_is_a_compiled_graph_with_a_description(graph_id: str) -> None:
    entry = CONFIG["graphs"][graph_id]
    assert isinstance(entry, dict) and entry["description"]
    assert isinstance(load(entry["path"]), CompiledStateGraph)


def test_langgraph_json_registers_every_template_with_its_description() -> None:
    assert set(CONFIG["graphs"]) == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        entry = CONFIG["graphs"][name]
        assert entry["description"] == template.description
        assert entry["path"] == f"./langgraph_parallel/templates/{template.module}.py:graph"


def test_one_graph_per_pattern_is_registered() -> None:
    patterns = {t.pattern for t in TEMPLATES.values()}
    assert patterns == {"sectioning (fan-out)", "orchestrator-worker", "voting"}


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_drawing_shows_the_fan_out_edges(name: str) -> None:
    drawing = TEMPLATES[name].load().get_graph()
    conditional = {(e.source, e.target) for e in drawing.edges if e.conditional}
    expected = {
        "morning-briefing": {(START, "weather"), (START, "news"), (START, "calendar")},
        "report-writer": {("dispatch", "worker"), ("dispatch", "synthesizer")},
        "classify-vote": {(START, "voter")},
    }[name]
    assert expected <= conditional


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_runs_offline_and_says_its_data_is_simulated(name: str) -> None:
    template = TEMPLATES[name]
    state = asyncio.run(template.load().ainvoke(template.example))
    assert state["results"] and all(r["status"] == "ok" for r in state["results"])
    if name == "classify-vote":
        assert state["output"]["winner"] in {"positive", "negative", "neutral"}
    else:
        assert "simulated" in state["output"]


def test_a_failing_source_shows_in_the_briefing() -> None:
    from langgraph_parallel.templates import morning_briefing

    async def down(state: Any) -> Any:
        raise ConnectionError("weather service unreachable")

    graph = morning_briefing.build(weather=down).compile()
    output = graph.invoke({"city": "Oslo"})["output"]
    assert "- weather: unavailable (weather service unreachable)" in output
    assert "- news:" in output and "[simulated]" in output
