"""The templates' simulated answers read like an answer: labelled, grammatical, on the prompt's
subject, deterministic for a seed, different between samples; the offline data sources label
their text; the simulated model's own default answers and an answers hook stay labelled."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langgraph_parallel import create_voting_graph
from langgraph_parallel.models import SIMULATED_NOTICE, Latency, SimulatedCall, SimulatedChatModel
from langgraph_parallel.nodes import llm_guardrail, llm_node
from langgraph_parallel.nodes.llm import prompt_messages
from langgraph_parallel.templates import (
    TEMPLATES,
    TemplateAnswers,
    _simulated,
    classify_vote,
    code_review,
    guarded_generation,
    investment_briefing,
    morning_briefing,
    report_writer,
)
from langgraph_parallel.templates._answers import template_model

FAST = Latency.fixed(0.0)
LABEL = f"{SIMULATED_NOTICE} "
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'/%+.-]*[A-Za-z0-9%]|[A-Za-z0-9]")

# The old model's text, to show that the checks below reject it.
WORD_SALAD = [
    "[simulated] Response to: 'topic: Offshore wind in the North Sea title:'. Details risk "
    "review approach here and review the regular point cost point timing approach.",
    '[simulated] Response to: \'city: Oslo date: 2026-11-22 Data: {"weather": '
    '{"source": "simulated",\'. Evidence review the the the and follow is with details.',
]


def model(seed: int = 0, **kwargs: Any) -> SimulatedChatModel:
    """A simulated model answering as the templates do."""
    return SimulatedChatModel(latency=FAST, seed=seed, answers=TemplateAnswers(), **kwargs)


def repeated_words(text: str) -> list[str]:
    """Words written twice in a row within a clause (`the the`, `cost, cost`)."""
    found = []
    for clause in re.split(r"[.;:!?](?:\s|$)", text):
        words = [w.lower() for w in WORD.findall(clause)]
        found += [a for a, b in itertools.pairwise(words) if a == b]
    return found


def sentence_problems(text: str) -> list[str]:
    """What keeps a text from being `[simulated]` and then whole sentences."""
    if not text.startswith(LABEL):
        return [f"does not start with {LABEL!r}: {text[:40]!r}"]
    problems = []
    if text.count(SIMULATED_NOTICE) != 1:
        problems.append("the label appears more than once")
    if re.search(r"\b[a-z_]+: '|\{|\}|Response to", text):
        problems.append("quotes the raw prompt")
    for sentence in re.split(r"(?<=[.!?])\s+", text[len(LABEL) :]):
        if not re.fullmatch(r"[A-Z0-9][^\n]*[.!?]", sentence):
            problems.append(f"not a sentence: {sentence!r}")
    if rep := repeated_words(text):
        problems.append(f"repeats {rep}")
    return problems


def ask(chat: Any, messages: list[BaseMessage] | str, index: int = 0) -> Any:
    return chat.invoke(messages, config={"metadata": {"lgp_index": index}})


def run(graph: Any, value: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(graph.compile().ainvoke(value))


def strings(value: Any) -> Iterator[str]:
    """Every string in a nested value (a BaseModel's fields too)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def template_prompts() -> list[list[BaseMessage]]:
    """Prompts as the templates' nodes build them."""

    async def build() -> list[list[BaseMessage]]:
        section = {
            "topic": "Offshore wind in the North Sea",
            "title": "[simulated] Costs and financing",
            "focus": "[simulated] Covers costs and financing: upfront cost and running costs.",
        }
        writer = (
            "You write one section of a report on {topic}. Section: {title}. Cover: {focus}. "
            "Write two short paragraphs, no heading."
        )
        prompts = [await prompt_messages(writer, section)]
        for name, focus in code_review.DIMENSIONS.items():
            reviewer = f"You review code for {name} only: {focus}. Score it from 1 to 10."
            code = {"code": "def load(path):\n    return eval(open(path).read())\n"}
            prompts.append(await prompt_messages(reviewer, code))
        answer = "You are a helpful assistant. Answer the request."
        prompts.append(await prompt_messages(answer, {"request": "Suggest a name for a bakery"}))
        return prompts

    return asyncio.run(build())


QUESTIONS = [
    "What is the capital of Norway?",
    "Summarise the tides",
    "Suggest a name for a bakery",
    "tell me a story",
    "hello",
    "List the advantages and drawbacks of remote work.",
]


class TestTheCheckers:
    """The checks below reject the old word salad, so passing them means something."""

    @pytest.mark.parametrize("text", WORD_SALAD)
    def test_the_old_word_salad_fails_them(self, text: str) -> None:
        assert sentence_problems(text)

    def test_they_see_a_doubled_word(self) -> None:
        assert repeated_words("review the the plan") == ["the"]
        assert repeated_words("Oslo. Oslo council") == []  # a new sentence may repeat one


class TestPlainText:
    @pytest.mark.parametrize("question", QUESTIONS)
    def test_answers_are_labelled_sentences_without_doubled_words(self, question: str) -> None:
        for seed in range(5):
            for index in range(3):
                text = ask(model(seed), question, index).content
                assert not sentence_problems(text), (text, sentence_problems(text))

    def test_the_templates_prompts_get_sentences(self) -> None:
        for messages in template_prompts():
            for index in range(5):
                text = ask(model(), messages, index).content
                assert not sentence_problems(text), (text, sentence_problems(text))

    def test_the_subject_of_the_prompt_is_in_the_answer(self) -> None:
        chat = model()
        assert "capital of Norway" in ask(chat, "What is the capital of Norway?").content
        assert "bakery" in ask(chat, "Suggest a name for a bakery").content
        section, *reviews, request = template_prompts()
        text = ask(chat, section).content
        assert text.startswith(f"{LABEL}Offshore wind in the North Sea: costs and financing.")
        for messages in reviews:
            assert "load()" in ask(chat, messages).content
        assert "bakery" in ask(chat, request).content

    def test_a_report_section_draws_on_what_its_heading_covers(self) -> None:
        section = template_prompts()[0]
        words = ("upfront cost", "financing terms", "running costs")
        for index in range(5):
            assert any(w in ask(model(), section, index).content for w in words)

    def test_deterministic_for_a_seed_and_different_between_seeds(self) -> None:
        for messages in [*template_prompts(), [HumanMessage("Summarise the tides")]]:
            first = ask(model(3), messages).content
            assert ask(model(3), messages).content == first
            assert len({ask(model(seed), messages).content for seed in range(6)}) > 1

    def test_samples_with_different_indices_differ(self) -> None:
        chat = model()
        for messages in [*template_prompts(), [HumanMessage("Pick one")]]:
            assert len({ask(chat, messages, index).content for index in range(6)}) > 1

    def test_streaming_gives_the_same_labelled_text(self) -> None:
        chat = model()
        section = template_prompts()[0]
        streamed = "".join(str(c.content) for c in chat.stream(section))
        assert streamed == chat.invoke(section).content
        assert not sentence_problems(streamed)

    async def test_async_streaming_gives_the_same_labelled_text(self) -> None:
        chat = model()
        text = "".join([str(c.content) async for c in chat.astream("Summarise the tides")])
        assert text == (await chat.ainvoke("Summarise the tides")).content
        assert not sentence_problems(text)

    def test_words_sets_the_length(self) -> None:
        short = ask(model(words=6), "Summarise the tides").content
        long = ask(model(words=60), "Summarise the tides").content
        assert len(short.split()) < len(long.split())
        assert not sentence_problems(short) and not sentence_problems(long)

    def test_a_briefing_summarises_its_data_and_says_what_is_unavailable(self) -> None:
        messages = [
            SystemMessage("Write a two-sentence morning briefing from the data."),
            HumanMessage(
                'city: Oslo\n\nData:\n{"weather": "unavailable: error", '
                '"news": {"source": "simulated", "headlines": '
                '["[simulated] Oslo council wins award", "[simulated] Oslo harbour opens"]}}'
            ),
        ]
        text = ask(model(), messages).content
        assert text.startswith(f"{LABEL}Oslo.")
        assert "Weather" in text and "unavailable (error)" in text
        assert "Oslo council wins award" in text and "source" not in text
        assert not sentence_problems(text)

    def test_the_answer_after_a_tool_call_uses_the_tools_result(self) -> None:
        @tool
        def lookup(city: str) -> str:
            """Look up the weather."""
            return "sunny"

        chat = model().bind_tools([lookup])
        first = chat.invoke("weather in Oslo?")
        reply = ToolMessage("sunny", tool_call_id=first.tool_calls[0]["id"])
        final = chat.invoke([HumanMessage("weather in Oslo?"), first, reply]).content
        assert "Oslo" in final and "sunny" in final and not sentence_problems(final)


class TestStructuredOutput:
    def test_tool_call_string_arguments_are_labelled(self) -> None:
        @tool
        def search(query: str, limit: int, note: str) -> str:
            """Search the web."""
            return ""

        calls = ask(model().bind_tools([search]), "Find tidal energy costs").tool_calls
        assert calls and calls[0]["name"] == "search"
        args = calls[0]["args"]
        assert args["query"] == f"{LABEL}tidal energy costs"
        assert args["note"].startswith(LABEL) and isinstance(args["limit"], int)

    def test_a_report_plan_has_distinct_headings_and_a_focus_on_the_topic(self) -> None:
        chat = model().with_structured_output(report_writer.outline_schema(6))
        prompt = [
            SystemMessage("Plan a report on Offshore wind in the North Sea in exactly 6 sections."),
            HumanMessage("topic: Offshore wind in the North Sea\nsections: 6"),
        ]
        for index in range(4):
            sections = ask(chat, prompt, index)["sections"]
            titles = [s["title"] for s in sections]
            assert len(set(titles)) == len(titles) == 6
            for section in sections:
                title = section["title"].removeprefix(LABEL)
                assert section["title"].startswith(LABEL) and title[0].isupper()
                assert ":" not in title and len(title.split()) <= 4, title  # a heading
                assert not repeated_words(title)
                focus = section["focus"]
                assert focus.startswith(LABEL) and focus.endswith(".")
                assert "Offshore wind in the North Sea" in focus
                assert not repeated_words(focus), focus

    def test_the_report_writer_runs_offline_with_headings_and_sections_that_match(self) -> None:
        state = run(report_writer.build(model=model()), {"topic": "Tidal power", "sections": 5})
        assert len(state["plan"]) == 5
        for section, record in zip(state["plan"], state["results"], strict=True):
            heading = section["title"].removeprefix(LABEL)
            assert record["value"].startswith(f"{LABEL}Tidal power: {heading.lower()}.")
            assert not sentence_problems(record["value"])
        assert state["output"].startswith("# Tidal power\n\n## [simulated] ")

    def test_reviews_name_their_own_dimension_and_findings_point_at_the_code(self) -> None:
        state = run(code_review.build(model=model()), {"code": "def f(x):\n    return eval(x)\n"})
        for record in state["results"]:
            review: code_review.Review = record["value"]
            assert review.dimension == record["branch"]
            assert not sentence_problems(review.summary), review.summary
            assert review.findings
            for finding in review.findings:
                assert "f()" in finding and not sentence_problems(finding), finding
            focus = code_review.DIMENSIONS[review.dimension]
            assert any(part.strip() in review.summary for part in focus.split(","))

    def test_a_guardrails_reason_agrees_with_its_verdict(self) -> None:
        guardrail = llm_guardrail("No medical advice.", model())
        verdicts = [
            guardrail.invoke({"request": f"Name a bakery {i}"}, {"metadata": {"lgp_index": i}})
            for i in range(30)
        ]
        allowed = [v["allowed"] for v in verdicts]
        assert allowed.count(True) > allowed.count(False) > 0  # most requests pass a check
        for verdict in verdicts:
            reason = verdict["reason"]
            assert not sentence_problems(reason) and "bakery" in reason, reason
            assert ("No medical advice" in reason) is (not verdict["allowed"])

    def test_structured_strings_are_deterministic_and_differ_between_samples(self) -> None:
        chat = model().with_structured_output(code_review.Review)
        prompt = template_prompts()[1]
        assert ask(chat, prompt, 2) == ask(chat, prompt, 2)
        assert len({ask(chat, prompt, i).summary for i in range(6)}) > 1

    def test_voters_can_disagree(self) -> None:
        graph = classify_vote.build(model=model(), voters=9)
        texts = ["I loved the food but the service was slow", "fine", "meh, it was ok"]
        outcomes = [run(graph, {"text": text})["output"] for text in texts]
        assert any(o["agreement"] < 1 for o in outcomes)
        assert all(o["winner"] in classify_vote.LABELS for o in outcomes)

    def test_voters_without_a_config_differ_by_their_units_index(self) -> None:
        chat = model()

        def voter(state: dict[str, Any]) -> str:
            return str(chat.invoke("Pick one").content)  # no config: the unit says which

        outcome = create_voting_graph(voter, n=6).compile().invoke({"input": "x"})["output"]
        answers = [v["answer"] for v in outcome["votes"]]
        assert len(set(answers)) > 1
        assert all(not sentence_problems(a) for a in answers)


class TestTemplates:
    # classify-vote's voters answer with labels only.
    @pytest.mark.parametrize(
        "name", [n for n, t in TEMPLATES.items() if t.takes_model and n != "classify-vote"]
    )
    def test_every_model_text_of_every_template_reads_as_sentences(self, name: str) -> None:
        template = TEMPLATES[name]
        plain = SimulatedChatModel(latency=FAST)  # the template gives it its answers
        state = asyncio.run(template.build(model=plain).ainvoke(template.example))
        texts = [s for r in state.get("results", []) for s in strings(r["value"])]
        texts += list(strings(state["output"]))
        written = [t for t in texts if t.startswith(LABEL)]
        assert written, texts
        for text in written:
            if text.count("\n"):  # an assembled document: check each of its paragraphs
                paragraphs = [p for p in text.split("\n") if p.startswith(LABEL)]
            else:
                paragraphs = [text]
            for paragraph in paragraphs:
                if paragraph.endswith((".", "!", "?")):
                    assert not sentence_problems(paragraph), (paragraph, name)
                assert not repeated_words(paragraph), (paragraph, name)

    def test_the_briefing_summary_quotes_the_data_once_labelled(self) -> None:
        graph = morning_briefing.build(model=model())
        out = run(graph, {"city": "Oslo", "date": "2026-11-22"})["output"]
        summary = out.splitlines()[2]
        assert summary.startswith(f"{LABEL}Oslo, 2026-11-22.")
        assert summary.count(SIMULATED_NOTICE) == 1
        assert all(part in summary for part in ("Weather:", "News:", "Calendar:"))
        assert not sentence_problems(summary)

    def test_an_unavailable_section_is_mentioned_in_the_summary(self) -> None:
        out = run(morning_briefing.build(model=model()), {"city": "Atlantis"})["output"]
        assert "unavailable (error)" in out.splitlines()[2]

    def test_the_investment_briefing_states_the_figures(self) -> None:
        state = run(investment_briefing.build(model=model()), {"ticker": "acme"})
        summary = state["output"].splitlines()[2]
        financials = state["results"][2]["value"]
        assert f"revenue {financials['revenue_bn']} bn" in summary
        assert not sentence_problems(summary)

    def test_guarded_generation_answers_the_request(self) -> None:
        out = run(guarded_generation.build(model=model()), {"request": "Name a bakery"})["output"]
        assert out["content"].startswith(f"{LABEL}A bakery.")
        assert not sentence_problems(out["content"])


class TestDataSources:
    STATE: ClassVar[dict[str, Any]] = {"city": "Oslo", "date": "2026-11-22", "ticker": "acme"}

    def test_every_text_the_sources_give_is_labelled(self) -> None:
        async def fetch() -> list[Any]:
            sources = [
                _simulated.weather,
                _simulated.news,
                _simulated.calendar,
                _simulated.stock_price,
                _simulated.company_news,
                _simulated.financials,
            ]
            return list(await asyncio.gather(*(s(self.STATE) for s in sources)))

        values = asyncio.run(fetch())
        weather, news, calendar, price, company, financials = values
        assert financials["revenue_bn"] > 0  # figures only: the source line marks them
        assert weather["summary"].startswith(LABEL)
        assert news["headlines"] and all(h.startswith(LABEL) for h in news["headlines"])
        assert calendar["events"] and all(e.startswith(LABEL) for e in calendar["events"])
        assert company["headlines"] and all(h.startswith(LABEL) for h in company["headlines"])
        assert price["ticker"] == "ACME"  # the input, echoed, not made up
        # The briefings print each section's source after its line.
        assert all(v["source"] == _simulated.SIMULATED for v in values)
        assert _simulated.LABEL == SIMULATED_NOTICE

    def test_search_results_have_labelled_titles_and_the_keys_the_ranking_reads(self) -> None:
        hits = asyncio.run(_simulated.search("tidal energy"))
        assert hits and all(h["title"].startswith(f"{LABEL}") for h in hits)
        assert all("tidal energy" in h["title"] for h in hits)
        assert all({"url", "score", "query"} <= h.keys() and "source" not in h for h in hits)
        assert hits == asyncio.run(_simulated.search("tidal energy"))  # deterministic

    def test_the_briefing_lines_stay_marked_simulated(self) -> None:
        out = run(morning_briefing.build(model=model()), {"city": "Oslo"})["output"]
        lines = out.splitlines()[4:]
        assert len(lines) == 3 and all(line.count("[simulated]") >= 1 for line in lines)
        assert f"- news: {LABEL}Oslo" in out and not out.endswith("[simulated] [simulated]")
        assert not any(line.endswith("[simulated]") for line in lines if ": [simulated]" in line)

    def test_an_llm_node_over_the_data_keeps_one_label(self) -> None:
        node = llm_node("Summarise {city}'s news.", model())
        text = node.invoke({"city": "Oslo"})
        assert text.startswith(f"{LABEL}Oslo") and text.count(SIMULATED_NOTICE) == 1


class TestWhoSuppliesTheAnswers:
    def test_a_template_gives_the_simulated_model_its_answers_and_keeps_its_settings(
        self,
    ) -> None:
        chat = template_model(SimulatedChatModel(latency=FAST, seed=3, words=9))
        assert isinstance(chat, SimulatedChatModel) and isinstance(chat.answers, TemplateAnswers)
        assert (chat.seed, chat.words, chat.latency) == (3, 9, FAST)
        assert template_model(None).answers.__class__ is TemplateAnswers  # nothing configured

    def test_a_template_leaves_answers_the_caller_chose_and_other_models_alone(self) -> None:
        def mine(call: SimulatedCall) -> str:
            return "Mine."

        chosen = SimulatedChatModel(latency=FAST, answers=mine)
        assert template_model(chosen) is chosen
        other = FakeListChatModel(responses=["real"])
        assert template_model(other) is other

    def test_a_subclass_passed_to_a_template_keeps_its_behaviour(self) -> None:
        calls: list[str] = []

        class Counting(SimulatedChatModel):
            async def _agenerate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(str(messages[-1].content))
                return await super()._agenerate(messages, *args, **kwargs)

        out = run(
            guarded_generation.build(model=Counting(latency=FAST)), {"request": "Name a bakery"}
        )
        assert calls == ["request: Name a bakery"]
        assert out["output"]["content"].startswith(f"{LABEL}A bakery.")

    def test_without_the_templates_answers_the_model_says_what_it_stands_in_for(self) -> None:
        text = ask(SimulatedChatModel(latency=FAST), "Suggest a name for a bakery").content
        assert text.startswith(f"{LABEL}An answer to: Suggest a name for a bakery.")
        assert text != ask(model(), "Suggest a name for a bakery").content
