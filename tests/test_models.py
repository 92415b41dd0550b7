"""Model resolution and the offline simulated model."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field, TypeAdapter

from langgraph_parallel.models import (
    SIMULATED_NOTICE,
    Answers,
    Latency,
    SimulatedCall,
    SimulatedChatModel,
    SimulatedModelError,
    is_simulated,
    resolve_model,
)
from langgraph_parallel.models.schema import SchemaFiller
from langgraph_parallel.nodes import llm_node

FAST = Latency.fixed(0.0)


class TestResolve:
    def test_an_instance_is_used_as_given(self) -> None:
        model = SimulatedChatModel(seed=9)
        assert resolve_model(model) is model

    def test_no_model_and_no_key_is_the_simulated_model(self) -> None:
        assert isinstance(resolve_model(None, env={}), SimulatedChatModel)

    def test_an_openai_key_makes_the_default_a_real_openai_model(self) -> None:
        model = resolve_model(None, env={"OPENAI_API_KEY": "sk-fake-key"})
        assert type(model).__name__ == "ChatOpenAI"
        assert model.model_name == "gpt-4o-mini"
        assert not is_simulated(model)

    def test_a_base_url_points_the_openai_client_at_a_local_server(self) -> None:
        env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "llama3.1"}
        model = resolve_model(None, env=env)
        assert model.model_name == "llama3.1"
        assert str(model.openai_api_base) == "http://127.0.0.1:9/v1"

    def test_the_model_env_var_chooses_the_spec(self) -> None:
        model = resolve_model(None, env={"LANGGRAPH_PARALLEL_MODEL": "simulated:42"})
        assert isinstance(model, SimulatedChatModel) and model.seed == 42

    def test_asking_for_openai_without_a_key_is_an_error_not_a_silent_fallback(self) -> None:
        with pytest.raises(ValueError, match="needs OPENAI_API_KEY"):
            resolve_model("openai:gpt-4o-mini", env={})

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("nosuch:model", "unknown model 'nosuch:model': write 'provider:model'"),
            ("openai:", "names no model"),
            ("anthropic:", "names no model; write e.g. 'anthropic:<model name>'"),
            ("simulated:x", "must be a whole number"),
            # a provider whose package is not installed: the command that installs it
            (
                "ollama:llama3",
                "needs the langchain-ollama package, which is not installed: "
                "pip install langchain-ollama",
            ),
        ],
    )
    def test_bad_specs_say_how_to_fix_them(self, spec: str, message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            resolve_model(spec, env={"OPENAI_API_KEY": "k"})

    def test_another_providers_spec_makes_its_model_as_init_chat_model_does(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        model = resolve_model("anthropic:claude-sonnet-4-5")
        assert type(model).__name__ == "ChatAnthropic" and model.model == "claude-sonnet-4-5"
        assert not is_simulated(model)

    def test_a_provider_that_cannot_make_its_model_says_why_in_one_line(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.setattr(
            "langchain_anthropic.ChatAnthropic.model_post_init",
            lambda self, context: (_ for _ in ()).throw(ValueError("no API key:\nset one")),
        )
        with pytest.raises(ValueError, match="could not be made: ") as raised:
            resolve_model("anthropic:claude-sonnet-4-5")
        assert "no API key: set one" in str(raised.value) and "\n" not in str(raised.value)

    def test_a_non_model_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="chat model or a spec"):
            resolve_model(42)  # type: ignore[arg-type]

    def test_the_key_never_shows_in_the_model_repr(self) -> None:
        model = resolve_model("openai:gpt-4o-mini", env={"OPENAI_API_KEY": "sk-do-not-leak-123"})
        assert "sk-do-not-leak-123" not in repr(model) and "sk-do-not-leak-123" not in str(
            model.model_dump()
        )


class TestSimulatedModel:
    def test_its_default_answers_name_what_was_asked_and_what_they_stand_in_for(self) -> None:
        model = SimulatedChatModel(latency=FAST)
        text = model.invoke("What is the capital of Norway?").content
        assert text.startswith("[simulated] An answer to: What is the capital of Norway? ")
        node = llm_node("List the pros of {topic}. Be brief.", model)
        assert node.invoke({"topic": "remote work"}).startswith(
            "[simulated] An answer to: List the pros of remote work."
        )
        short = SimulatedChatModel(latency=FAST, words=5).invoke("hi").content
        long = SimulatedChatModel(latency=FAST, words=60).invoke("hi").content
        assert len(short.split()) < len(long.split())

    def test_answers_come_from_the_caller_and_are_always_labelled(self) -> None:
        seen: list[SimulatedCall] = []

        def write(call: SimulatedCall) -> str:
            seen.append(call)
            return f"{SIMULATED_NOTICE} Labelled." if call.sample else f"Sample {call.sample}."

        model = SimulatedChatModel(latency=FAST, seed=4, answers=write)
        first = model.invoke("hello", config={"metadata": {"lgp_index": 0}})
        second = model.invoke("hello", config={"metadata": {"lgp_index": 1}})
        assert (first.content, second.content) == ("[simulated] Sample 0.", "[simulated] Labelled.")
        assert [c.sample for c in seen] == [0, 1] and seen[0].request == "hello"
        again = SimulatedChatModel(latency=FAST, seed=4, answers=write)
        again.invoke("hello", config={"metadata": {"lgp_index": 0}})
        assert seen[2].rng.random() == seen[0].rng.random()  # seeded by seed, sample, prompt
        assert first.usage_metadata and first.usage_metadata["output_tokens"] > 0

    def test_an_answers_subclass_shapes_structured_output_and_tool_arguments(self) -> None:
        class Fixed(Answers):
            def filler(self, call: SimulatedCall, schema: Any) -> SchemaFiller:
                class Always(SchemaFiller):
                    def _string(self, schema: Any, name: str, depth: int) -> str:
                        return f"{self.marker} {name} for {call.request}"

                return Always(schema, call.rng, bias=call.bias, marker=SIMULATED_NOTICE)

        class Verdict(BaseModel):
            reason: str
            score: int = Field(ge=1, le=3)

        @tool
        def look_up(city: str) -> str:
            """Look a city up."""
            return city

        model = SimulatedChatModel(latency=FAST, answers=Fixed())
        verdict = model.with_structured_output(Verdict).invoke("Oslo")
        assert verdict.reason == "[simulated] reason for Oslo" and 1 <= verdict.score <= 3
        calls = model.bind_tools([look_up]).invoke("Bergen").tool_calls
        assert calls[0]["args"] == {"city": "[simulated] city for Bergen"}

    def test_a_model_with_the_templates_answers_pickles_for_a_cluster(self) -> None:
        import pickle

        from langgraph_parallel.templates import TemplateAnswers

        model = SimulatedChatModel(latency=FAST, seed=2, answers=TemplateAnswers())
        copy = pickle.loads(pickle.dumps(model))
        assert isinstance(copy.answers, TemplateAnswers)
        assert (
            copy.invoke("Summarise the tides").content
            == model.invoke("Summarise the tides").content
        )

    def test_text_answers_say_they_are_simulated_and_report_usage(self) -> None:
        answer = SimulatedChatModel(latency=FAST).invoke("What is the capital of Norway?")
        assert answer.content.startswith("[simulated]")
        assert answer.response_metadata["simulated"] is True
        usage = answer.usage_metadata
        assert usage and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    def test_answers_are_deterministic_for_a_seed_and_differ_between_seeds(self) -> None:
        prompt = [HumanMessage("Summarise the tides")]
        first = SimulatedChatModel(latency=FAST, seed=1).invoke(prompt).content
        again = SimulatedChatModel(latency=FAST, seed=1).invoke(prompt).content
        other = SimulatedChatModel(latency=FAST, seed=2).invoke(prompt).content
        assert first == again != other

    def test_samples_differ_by_index_like_sampled_model_answers(self) -> None:
        model = SimulatedChatModel(latency=FAST)
        answers = {
            model.invoke("Pick one", config={"metadata": {"lgp_index": i}}).content
            for i in range(5)
        }
        assert len(answers) > 1

    def test_structured_output_is_valid_for_pydantic_models(self) -> None:
        class Review(BaseModel):
            dimension: Literal["security", "performance", "style"]
            score: int = Field(ge=1, le=10)
            findings: list[str]
            summary: str

        review = SimulatedChatModel(latency=FAST).with_structured_output(Review).invoke("review")
        assert isinstance(review, Review)
        assert 1 <= review.score <= 10
        assert review.summary.startswith("[simulated]")
        assert all(finding.startswith("[simulated] ") for finding in review.findings)

    def test_structured_output_is_valid_for_json_schemas(self) -> None:
        schema = {
            "title": "Label",
            "description": "A sentiment label",
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["positive", "negative"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "required": ["label", "confidence"],
        }
        out = SimulatedChatModel(latency=FAST).with_structured_output(schema).invoke("classify")
        assert out["label"] in {"positive", "negative"} and 0 <= out["confidence"] <= 1

    def test_tool_calls_then_a_final_answer(self) -> None:
        @tool
        def lookup(city: str, days: int) -> str:
            """Look up the weather."""
            return "sunny"

        model = SimulatedChatModel(latency=FAST).bind_tools([lookup])
        first = model.invoke("weather in Oslo?")
        assert [c["name"] for c in first.tool_calls] == ["lookup"]
        assert set(first.tool_calls[0]["args"]) == {"city", "days"}
        reply = ToolMessage("sunny", tool_call_id=first.tool_calls[0]["id"])
        final = model.invoke([HumanMessage("weather in Oslo?"), first, reply])
        assert not final.tool_calls and final.content.startswith("[simulated]")

    def test_streams_token_by_token_with_usage_on_the_last_chunk(self) -> None:
        model = SimulatedChatModel(latency=Latency.fixed(0.05))
        chunks = list(model.stream("tell me a story"))
        assert len(chunks) > 5
        whole = chunks[0]
        for chunk in chunks[1:]:
            whole = whole + chunk
        assert whole.content == model.invoke("tell me a story").content
        assert whole.usage_metadata and whole.usage_metadata["output_tokens"] > 0

    async def test_async_streaming_matches(self) -> None:
        model = SimulatedChatModel(latency=FAST)
        text = "".join([str(c.content) async for c in model.astream("hello")])
        assert text == (await model.ainvoke("hello")).content

    def test_error_rate_raises_a_simulated_error(self) -> None:
        with pytest.raises(SimulatedModelError, match="simulated model failure"):
            SimulatedChatModel(latency=FAST, error_rate=1.0).invoke("hi")


class TestLatency:
    def sample(self, latency: Latency, n: int = 4000) -> list[float]:
        import random

        rng = random.Random(0)
        return [latency.sample(rng) for _ in range(n)]

    def test_fixed_and_uniform(self) -> None:
        assert set(self.sample(Latency.fixed(0.2), 10)) == {0.2}
        uniform = self.sample(Latency.uniform(0.1, 0.3))
        assert min(uniform) >= 0.1 and max(uniform) <= 0.3
        assert statistics.mean(uniform) == pytest.approx(0.2, abs=0.01)

    def test_heavy_tailed_has_the_median_and_p99_it_was_given(self) -> None:
        values = sorted(self.sample(Latency.heavy_tailed(0.1, 1.0), 20000))
        assert statistics.median(values) == pytest.approx(0.1, rel=0.05)
        assert values[int(0.99 * len(values))] == pytest.approx(1.0, rel=0.15)

    def test_bimodal_stragglers(self) -> None:
        values = self.sample(Latency.bimodal(0.1, 2.0, 0.05), 20000)
        assert set(values) == {0.1, 2.0}
        assert values.count(2.0) / len(values) == pytest.approx(0.05, abs=0.01)

    @pytest.mark.parametrize(
        "make",
        [
            lambda: Latency.fixed(-1),
            lambda: Latency.uniform(0.3, 0.1),
            lambda: Latency.heavy_tailed(1.0, 0.5),
            lambda: Latency.bimodal(0.1, 1.0, 1.5),
        ],
    )
    def test_invalid_latencies_are_rejected(self, make: Any) -> None:
        with pytest.raises(ValueError):
            make()

    def test_each_call_draws_its_own_latency(self) -> None:
        model = SimulatedChatModel(latency=Latency.bimodal(0.0, 1.0, 0.5), seed=3)

        async def timed() -> float:
            started = time.perf_counter()
            await model.ainvoke("same prompt")
            return time.perf_counter() - started

        async def many() -> list[float]:
            return await asyncio.gather(*(timed() for _ in range(30)))

        durations = asyncio.run(many())
        # Fast calls take a few ms, even on a loaded machine; slow ones at least 1 s.
        assert any(d < 0.5 for d in durations) and any(d >= 1.0 for d in durations)


json_schemas = st.recursive(
    st.sampled_from(
        [
            {"type": "string"},
            {"type": "string", "format": "date-time"},
            {"type": "string", "maxLength": 12},
            {"type": "integer", "minimum": 3, "maximum": 9},
            {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            {"type": "boolean"},
            {"enum": ["a", "b", "c"]},
            {"const": 7},
            {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        ]
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"type": "array", "items": items, "minItems": 1}, inner),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, min_size=1).map(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)}
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(schema=json_schemas, seed=st.integers(0, 10_000))
def test_generated_values_satisfy_their_schema(schema: dict[str, Any], seed: int) -> None:
    import random

    import jsonschema

    value = SchemaFiller(schema, random.Random(seed)).fill()
    jsonschema.validate(value, schema)


@settings(max_examples=150, deadline=None)
@given(
    schema=json_schemas | st.just({"type": "string", "minLength": 80, "maxLength": 90}),
    seed=st.integers(0, 10_000),
)
def test_the_template_answers_readable_values_satisfy_their_schema_too(
    schema: dict[str, Any], seed: int
) -> None:
    import random

    import jsonschema

    from langgraph_parallel.models import SimulatedCall
    from langgraph_parallel.templates import TemplateAnswers

    call = SimulatedCall(
        messages=[
            SystemMessage("You review code for security only: injection, secrets."),
            HumanMessage("topic: Tides\ntitle: Safety\ncode: def f(x):\n    return x"),
        ],
        rng=random.Random(seed),
        bias=seed % 7,
        words=24,
        sample=0,
    )
    value = TemplateAnswers().filler(call, schema).fill()
    jsonschema.validate(value, schema)


def test_generated_values_validate_against_nested_pydantic_models() -> None:
    import random

    class Source(BaseModel):
        url: str
        score: float = Field(ge=0, le=1)

    class Answer(BaseModel):
        text: str
        sources: list[Source] = Field(min_length=2)
        kind: Literal["fact", "opinion"]
        note: str | None = None

    schema = Answer.model_json_schema()
    for seed in range(50):
        TypeAdapter(Answer).validate_python(SchemaFiller(schema, random.Random(seed)).fill())


def test_a_bound_or_structured_simulated_model_is_still_recognised() -> None:
    model = SimulatedChatModel(latency=FAST)
    assert is_simulated(model.bind_tools([]))
    assert not is_simulated(AIMessage("not a model"))
