"""The templates: registered for langgraph dev, correct results, failures kept, stable order,
offline by default and on a real model client when one is configured."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers import Gauge
from langchain_openai import ChatOpenAI
from langgraph.graph import START
from langgraph.graph.state import CompiledStateGraph

from langgraph_parallel.models import Latency, SimulatedChatModel
from langgraph_parallel.templates import (
    TEMPLATES,
    classify_vote,
    code_review,
    guarded_generation,
    investment_briefing,
    morning_briefing,
    multi_search,
    report_writer,
)
from langgraph_parallel.testing import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / "langgraph.json").read_text())
FAST = SimulatedChatModel(latency=Latency.fixed(0.005))


def load(path: str) -> Any:
    file, _, attr = path.partition(":")
    name = file.lstrip("./").replace("/", "__").removesuffix(".py")  # as langgraph_api does
    spec = importlib.util.spec_from_file_location(name, ROOT / file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


def run(graph: Any, value: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(
        graph.compile().ainvoke(value) if hasattr(graph, "compile") else graph.ainvoke(value)
    )


class FailsOn(SimulatedChatModel):
    """A simulated model whose calls fail when the prompt mentions `word`."""

    word: str = ""

    async def _agenerate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        if self.word and any(self.word in str(m.content) for m in messages):
            raise ConnectionError(f"upstream lost while answering about {self.word}")
        return await super()._agenerate(messages, *args, **kwargs)


class CountsCalls(SimulatedChatModel):
    gauge: Any = None

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        with self.gauge.inside():
            return await super()._agenerate(*args, **kwargs)


class TestRegistration:
    @pytest.mark.parametrize("graph_id", CONFIG["graphs"])
    def test_every_registered_path_is_a_compiled_graph_with_a_description(
        self, graph_id: str
    ) -> None:
        entry = CONFIG["graphs"][graph_id]
        assert isinstance(entry, dict) and entry["description"]
        assert isinstance(load(entry["path"]), CompiledStateGraph)

    def test_langgraph_json_registers_every_template_with_its_description(self) -> None:
        assert list(CONFIG["graphs"]) == list(TEMPLATES)
        for name, template in TEMPLATES.items():
            entry = CONFIG["graphs"][name]
            assert entry["description"] == template.description
            assert entry["path"] == f"./langgraph_parallel/templates/{template.module}.py:graph"

    def test_every_pattern_is_covered(self) -> None:
        assert {t.pattern for t in TEMPLATES.values()} >= {
            "sectioning",
            "orchestrator-worker",
            "voting",
        }

    @pytest.mark.parametrize("name", TEMPLATES)
    def test_the_drawing_shows_the_fan_out_edges(self, name: str) -> None:
        drawing = TEMPLATES[name].build().get_graph(xray=True)
        conditional = {
            (e.source.split(":")[-1], e.target.split(":")[-1])
            for e in drawing.edges
            if e.conditional
        }
        expected = {
            "morning-briefing": {(START, "weather"), (START, "news"), (START, "calendar")},
            "investment-briefing": {(START, "price"), (START, "news"), (START, "financials")},
            "report-writer": {("dispatch", "worker"), ("dispatch", "synthesizer")},
            "code-review": {(START, d) for d in code_review.DIMENSIONS},
            "classify-vote": {(START, "voter")},
            "guarded-generation": {(START, "generate"), (START, "guardrail")},
            "multi-search": {("dispatch", "worker"), ("dispatch", "synthesizer")},
        }[name]
        assert expected <= conditional, conditional

    @pytest.mark.parametrize("name", TEMPLATES)
    def test_every_template_runs_offline_on_its_example(self, name: str) -> None:
        template = TEMPLATES[name]
        state = asyncio.run(template.build().ainvoke(template.example))
        assert state["output"] is not None
        for record in state.get("results", []):
            assert record["status"] == "ok", record


class TestBriefings:
    def test_morning_briefing_has_every_section_and_a_model_summary(self) -> None:
        out = run(morning_briefing.build(model=FAST), {"city": "Oslo", "date": "2026-11-22"})[
            "output"
        ]
        lines = out.splitlines()
        assert lines[0] == "Morning briefing for Oslo, 2026-11-22"
        assert lines[2].startswith("[simulated]")
        assert [line.split(":")[0] for line in lines[4:]] == ["- weather", "- news", "- calendar"]
        assert all("[simulated]" in line for line in lines[4:])  # each line says where it came from

    def test_a_failed_source_is_shown_and_the_others_kept(self) -> None:
        state = run(morning_briefing.build(model=FAST), {"city": "Atlantis"})
        assert [r["status"] for r in state["results"]] == ["error", "ok", "ok"]
        expected = "- weather: unavailable (error: the simulated weather service has no station in "
        assert f"{expected}Atlantis)" in state["output"]
        assert "- news: [simulated] Atlantis" in state["output"]

    @pytest.mark.parametrize("slow", ["weather", "calendar"])
    def test_sections_keep_their_order_whatever_finishes_first(self, slow: str) -> None:
        def source(name: str) -> Any:
            async def fetch(state: Any) -> dict[str, Any]:
                await asyncio.sleep(0.1 if name == slow else 0.0)
                return {
                    "summary": name,
                    "low_c": 0,
                    "high_c": 1,
                    "headlines": [name],
                    "events": [name],
                }

            return fetch

        graph = morning_briefing.build(
            model=FAST, weather=source("weather"), news=source("news"), calendar=source("calendar")
        )
        state = run(graph, {"city": "Oslo"})
        assert [r["branch"] for r in state["results"]] == ["weather", "news", "calendar"]
        assert [line.split(":")[0] for line in state["output"].splitlines()[4:]] == [
            "- weather",
            "- news",
            "- calendar",
        ]
        assert state["output"].endswith("[live]")

    def test_investment_briefing(self) -> None:
        async def down(state: Any) -> Any:
            raise TimeoutError("market data feed timed out")

        state = run(investment_briefing.build(model=FAST, price=down), {"ticker": "acme"})
        assert state["output"].startswith("Investment briefing: ACME")
        assert "- price: unavailable (error: market data feed timed out)" in state["output"]
        assert "revenue" in state["output"] and [r["branch"] for r in state["results"]] == [
            "price",
            "news",
            "financials",
        ]


class TestReportWriter:
    def test_sections_are_assembled_in_plan_order(self) -> None:
        state = run(
            report_writer.build(model=SimulatedChatModel(latency=Latency.uniform(0.0, 0.05))),
            {"topic": "Tides", "sections": 5},
        )
        plan = state["plan"]
        assert 2 <= len(plan) <= 5
        headings = [line[3:] for line in state["output"].splitlines() if line.startswith("## ")]
        assert headings == [section["title"] for section in plan]
        assert [r["index"] for r in state["results"]] == list(range(len(plan)))
        assert state["output"].startswith("# Tides")

    def test_a_failed_section_leaves_a_marked_gap(self) -> None:
        planned = run(report_writer.build(model=FAST), {"topic": "Tides", "sections": 3})["plan"]
        victim = planned[1]["title"]
        state = run(
            report_writer.build(
                model=FailsOn(latency=Latency.fixed(0.0), word=f"Section: {victim}.")
            ),
            {"topic": "Tides", "sections": 3},
        )
        statuses = [r["status"] for r in state["results"]]
        assert statuses == ["ok", "error", "ok"]
        assert f"## {victim}\n\n(this section failed: upstream lost" in state["output"]


class TestCodeReview:
    CODE: ClassVar[dict[str, str]] = {"code": "def f(x):\n    return eval(x)\n"}

    def test_every_dimension_is_reported_with_a_score(self) -> None:
        out = run(code_review.build(model=FAST), self.CODE)["output"]
        for dimension in code_review.DIMENSIONS:
            assert f"## {dimension}: " in out and "/10" in out
        assert "from 4 of 4 reviewers" in out

    def test_one_failed_reviewer_keeps_the_others(self) -> None:
        model = FailsOn(latency=Latency.fixed(0.0), word="for performance only")
        state = run(code_review.build(model=model), self.CODE)
        assert [r["status"] for r in state["results"]] == ["ok", "error", "ok", "ok"]
        assert "## performance: no score (reviewer error: upstream lost" in state["output"]
        assert "from 3 of 4 reviewers" in state["output"]

    def test_concurrent_model_calls_can_be_capped(self) -> None:
        gauge = Gauge()
        model = CountsCalls(latency=Latency.fixed(0.05), gauge=gauge)
        run(code_review.build(model=model, max_concurrency=2), self.CODE)
        assert gauge.entered == 4 and gauge.peak == 2


class TestClassifyVote:
    def test_majority_with_confidence(self) -> None:
        state = run(classify_vote.build(model=FAST), {"text": "great, wonderful, fast"})
        outcome = state["output"]
        assert outcome["cast"] == 5 and outcome["winner"] in classify_vote.LABELS
        assert classify_vote.headline(outcome) == (
            f"{outcome['winner']} (confidence: {outcome['agreement']:.0%}, "
            f"{outcome['support']} of 5 votes)"
        )
        assert [v["voter"] for v in outcome["votes"]] == [f"voter_{i}" for i in range(1, 6)]

    def test_custom_labels_and_a_failed_voter(self) -> None:
        class FailsFirst(SimulatedChatModel):
            async def _agenerate(
                self, messages: Any, *args: Any, run_manager: Any = None, **kwargs: Any
            ) -> Any:
                if run_manager and run_manager.metadata.get("lgp_index") == 0:
                    raise ConnectionError("voter 1 lost")
                return await super()._agenerate(messages, *args, run_manager=run_manager, **kwargs)

        state = run(
            classify_vote.build(model=FailsFirst(latency=Latency.fixed(0.0))),
            {"text": "hi", "labels": ["spam", "ham"]},
        )
        outcome = state["output"]
        assert (outcome["failed"], outcome["cast"]) == (1, 4)
        assert outcome["winner"] in {"spam", "ham"}
        assert state["results"][0]["error"]["message"] == "voter 1 lost"


class TestGuardedGeneration:
    def test_flagged_requests_are_blocked_and_the_content_never_returned(self) -> None:
        state = run(guarded_generation.build(model=FAST), {"request": "Write malware for me"})
        assert state["output"] == {
            "content": guarded_generation.BLOCKED_MESSAGE,
            "blocked": True,
            "reason": "mentions blocked term(s): malware",
        }
        assert "[simulated]" not in json.dumps(state)

    def test_allowed_requests_get_the_generation(self) -> None:
        state = run(guarded_generation.build(model=FAST), {"request": "Name a bakery"})
        assert state["output"]["blocked"] is False and state["output"]["content"].startswith(
            "[simulated]"
        )

    def test_a_failed_generation_is_reported_not_hidden(self) -> None:
        model = FailsOn(latency=Latency.fixed(0.0), word="Name a bakery")
        output = run(guarded_generation.build(model=model), {"request": "Name a bakery"})["output"]
        assert output["blocked"] is False and output["content"] is None
        assert output["reason"].startswith("generation failed: upstream lost")

    def test_a_policy_uses_a_model_guardrail(self) -> None:
        gauge = Gauge()
        model = CountsCalls(latency=Latency.fixed(0.01), gauge=gauge)
        output = run(
            guarded_generation.build(model=model, policy="No medical advice."),
            {"request": "Name a bakery"},
        )["output"]
        assert gauge.entered >= 1  # the guardrail asked the model
        if output["blocked"]:  # the simulated moderator's verdict, with its (simulated) reason
            assert output["content"] == guarded_generation.BLOCKED_MESSAGE
            assert output["reason"].startswith("[simulated]")
        else:
            assert output["content"].startswith("[simulated]") and output["reason"] is None


class TestMultiSearch:
    def test_results_are_merged_deduplicated_ranked_and_cut_to_top_k(self) -> None:
        state = run(
            multi_search.build(), {"queries": ["tides", "tides energy", "tides", " "], "top_k": 3}
        )
        assert state["plan"] == ["tides", "tides energy"]
        out = state["output"]
        assert len(out) == 3
        assert len({hit["url"] for hit in out}) == 3
        assert [hit["score"] for hit in out] == sorted((hit["score"] for hit in out), reverse=True)
        everything = [hit for r in state["results"] for hit in r["value"]]
        best = {}
        for hit in everything:
            best[hit["url"]] = max(best.get(hit["url"], 0), hit["score"])
        assert [hit["score"] for hit in out] == sorted(best.values(), reverse=True)[:3]

    def test_a_failed_search_is_recorded_and_the_rest_merged(self) -> None:
        async def search(query: str) -> list[dict[str, Any]]:
            if query == "broken":
                raise ConnectionError("search API unreachable")
            return [{"url": f"https://e.com/{query}", "score": 0.5}]

        state = run(multi_search.build(search=search), {"queries": ["a", "broken", "b"]})
        assert [r["status"] for r in state["results"]] == ["ok", "error", "ok"]
        assert [hit["url"] for hit in state["output"]] == ["https://e.com/a", "https://e.com/b"]


@pytest.mark.parametrize("name", [n for n, t in TEMPLATES.items() if t.takes_model])
def test_every_model_template_runs_on_a_real_openai_client(name: str) -> None:
    template = TEMPLATES[name]
    with FakeOpenAIServer(latency=0.01) as server:
        model = ChatOpenAI(
            base_url=server.base_url, api_key="sk-test", model="gpt-4o-mini", max_retries=0
        )
        state = asyncio.run(template.build(model=model).ainvoke(template.example))
        assert server.count >= 1
    for record in state.get("results", []):
        assert record["status"] == "ok", record
        assert "simulated" not in record
    assert state["output"] is not None
