"""Structured output survives real servers: one that ignores `response_format` and tools, a model
that fences its JSON or wraps it in prose, and a first answer that is invalid JSON. The templates
run through each with the real client (`ChatOpenAI`) against one kept-alive local server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.errors import StructuredOutputError
from langgraph_parallel.models import Latency, SimulatedChatModel, structured_output
from langgraph_parallel.nodes import concatenate, llm_node
from langgraph_parallel.templates import TEMPLATES
from langgraph_parallel.testing import FakeOpenAIServer, Structured

MODES: dict[Structured, tuple[str, int]] = {
    "native": ("native", 1),
    "ignored": ("prompt", 1),
    "fenced": ("native", 1),
    "invalid_once": ("native", 2),
}
"""Each server mode, and the way and number of calls that get a valid value from it."""

_names = itertools.count()


class Label(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency=0.01) as running:  # keeps connections alive, as real ones do
        yield running


def chat(server: FakeOpenAIServer) -> ChatOpenAI:
    # A model name of its own: the way that worked is remembered per model.
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="sk-test",
        model=f"local-{next(_names)}",
        max_retries=0,
    )


class Scripted(BaseChatModel):
    """A chat model that answers with the given texts in turn, and records what it was sent."""

    answers: list[str | Exception]
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    # A name of its own: the way that worked is remembered per model.
    model_name: str = Field(default_factory=lambda: f"scripted-{next(_names)}")

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=tools, **kwargs)  # bound, and ignored, as some servers do

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(messages)
        answer = self.answers[len(self.seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])


class TestParsing:
    @pytest.mark.parametrize(
        "text",
        [
            '{"label": "good", "confidence": 0.9}',
            'Sure! Here it is:\n```json\n{"label": "good", "confidence": 0.9}\n```\nAnything else?',
            'The answer is {"label": "good", "confidence": 0.9} as requested.',
        ],
    )
    def test_bare_fenced_or_in_prose_json_is_taken(self, text: str) -> None:
        model = Scripted(answers=[text])  # its tools ignored, its text parsed
        assert structured_output(model, Label).invoke("rate it") == Label(
            label="good", confidence=0.9
        )

    def test_an_invalid_value_is_sent_back_once_with_the_error(self) -> None:
        model = Scripted(
            answers=['{"label": "good", "confidence": 7}', '{"label": "good", "confidence": 0.7}']
        )
        assert structured_output(model, Label).invoke("rate it").confidence == 0.7
        correction = model.seen[1]
        assert correction[-2].content == '{"label": "good", "confidence": 7}'
        assert "less than or equal to 1" in str(correction[-1].content)

    def test_a_json_schema_gives_a_checked_dict(self) -> None:
        schema = {
            "title": "Sentiment",
            "type": "object",
            "properties": {"label": {"enum": ["positive", "negative"]}},
            "required": ["label"],
        }
        model = Scripted(answers=['{"label": "meh"}', '{"label": "negative"}'])
        assert structured_output(model, schema).invoke("rate it") == {"label": "negative"}
        assert "'meh' is not one of ['positive', 'negative']" in str(model.seen[1][-1].content)

    def test_no_valid_value_names_every_way_tried_and_each_cause_in_full(self) -> None:
        long_prose = "I would rather not answer in JSON. " * 10
        invalid = '{"label": 1, "confidence": 2}'
        model = Scripted(answers=[long_prose, invalid, invalid])
        with pytest.raises(StructuredOutputError) as raised:
            structured_output(model, Label).invoke("rate it")
        error = raised.value
        # native: no JSON at all, so on to the prompt: invalid, sent back, invalid again
        assert error.schema == "Label" and len(error.failures) == 3
        assert [f.split(":")[0] for f in error.failures] == ["native", "prompt", "prompt"]
        assert long_prose.strip() in str(error)  # the cause in full, not cut
        assert "Input should be a valid string" in error.failures[2]
        assert "less than or equal to 1" in error.failures[2]
        broken = Scripted(answers=['{"label": "a", "conf'] * 4)
        with pytest.raises(StructuredOutputError, match=r"JSON is invalid \(Unterminated"):
            structured_output(broken, Label).invoke("rate it")

    def test_a_failed_call_is_raised_as_it_is_for_the_graphs_retry(self) -> None:
        model = Scripted(answers=[ConnectionError("upstream lost")])
        with pytest.raises(ConnectionError, match="upstream lost"):
            structured_output(model, Label).invoke("rate it")
        assert len(model.seen) == 1  # not asked again another way

    def test_a_request_the_server_refuses_moves_on_to_the_next_way(self) -> None:
        class Refused(Exception):
            status_code = 400

        answer = '{"label": "a", "confidence": 0.1}'
        model = Scripted(answers=[Refused("response_format is not supported"), answer])
        assert structured_output(model, Label).invoke("rate it").label == "a"
        assert "JSON schema:" in str(model.seen[1][-1].content)  # the prompt way

    async def test_async_and_sync_agree(self) -> None:
        model = SimulatedChatModel(latency=Latency.fixed(0.0))
        ask = structured_output(model, Label)
        assert await ask.ainvoke("rate it") == ask.invoke("rate it")


class TestAgainstTheServer:
    @pytest.mark.parametrize("mode", MODES)
    def test_llm_node_records_the_way_that_worked(
        self, server: FakeOpenAIServer, mode: Structured
    ) -> None:
        server.structured = mode
        try:
            node = llm_node("Rate {input}.", chat(server), schema=Label)
            graph = create_fanout_graph({"a": node, "b": node}, concatenate()).compile()
            records = graph.invoke({"input": "the soup"})["results"]
        finally:
            server.structured = "native"
        method, calls = MODES[mode]
        for record in records:
            assert record["status"] == "ok", record["error"]
            assert isinstance(record["value"], Label)
            assert record["structured_output"]["method"] == method
        assert max(r["structured_output"]["calls"] for r in records) == calls

    def test_the_way_that_worked_is_tried_first_next_time(self, server: FakeOpenAIServer) -> None:
        server.structured = "ignored"
        try:
            model = chat(server)
            ask = structured_output(model, Label)
            ask.invoke("rate the soup")
            before = server.count
            asyncio.run(ask.ainvoke("rate the bread"))
            assert server.count == before + 1  # straight to the prompt way
        finally:
            server.structured = "native"

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize(
        "name", [n for n, t in TEMPLATES.items() if t.takes_model] + ["guarded-generation+policy"]
    )
    def test_every_template_runs_on_a_server_in_each_mode(
        self, server: FakeOpenAIServer, mode: Structured, name: str
    ) -> None:
        template = TEMPLATES[name.removesuffix("+policy")]
        options: dict[str, Any] = {"model": chat(server)}
        if name.endswith("+policy"):
            options["policy"] = "No medical advice."
        server.structured = mode
        try:
            state = asyncio.run(template.build(**options).ainvoke(template.example))
        finally:
            server.structured = "native"
        records = state.get("results") or []
        assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
        assert state["output"]
        ways = [r["structured_output"] for r in records if "structured_output" in r]
        if name in ("code-review", "classify-vote"):
            assert len(ways) == len(records) and all(w["method"] == MODES[mode][0] for w in ways)


def test_the_way_is_recorded_for_a_unit_on_a_process_pool() -> None:
    node = llm_node("Rate {input}.", SimulatedChatModel(latency=Latency.fixed(0.0)), schema=Label)
    graph = create_fanout_graph({"a": node}, concatenate(), executor="process").compile()
    (record,) = graph.invoke({"input": "the soup"})["results"]
    assert record["structured_output"] == {"method": "native", "calls": 1}
    assert record["simulated"] is True
