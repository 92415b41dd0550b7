"""An offline chat model for demos, tests and benchmarks, which always says it is simulated."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from langgraph_parallel.engine.telemetry import current_unit
from langgraph_parallel.models.schema import SchemaFiller

SIMULATED_NOTICE = "[simulated]"
"""The prefix of every text the simulated model writes."""


@dataclass(frozen=True)
class Latency:
    """How long a simulated call takes. Each call draws its own latency.

    Build one with `Latency.fixed`, `Latency.uniform`, `Latency.heavy_tailed` or
    `Latency.bimodal`.
    """

    kind: Literal["fixed", "uniform", "lognormal", "bimodal"]
    a: float
    b: float = 0.0
    p: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        """Every call takes `seconds`."""
        return cls("fixed", _non_negative(seconds))

    @classmethod
    def uniform(cls, low: float, high: float) -> Latency:
        """Calls take between `low` and `high` seconds, evenly spread."""
        if high < low:
            raise ValueError(f"Latency.uniform needs low <= high, got {low} > {high}")
        return cls("uniform", _non_negative(low), _non_negative(high))

    @classmethod
    def heavy_tailed(cls, median: float, p99: float) -> Latency:
        """A log-normal latency: most calls near `median`, 1 in 100 slower than `p99`."""
        if not 0 < median < p99:
            raise ValueError(f"Latency.heavy_tailed needs 0 < median < p99, got {median}, {p99}")
        return cls("lognormal", median, math.log(p99 / median) / 2.326)

    @classmethod
    def bimodal(cls, fast: float, slow: float, p_slow: float) -> Latency:
        """Calls take `fast` seconds, or `slow` seconds with probability `p_slow` (stragglers)."""
        if not 0 <= p_slow <= 1:
            raise ValueError(f"Latency.bimodal needs 0 <= p_slow <= 1, got {p_slow}")
        return cls("bimodal", _non_negative(fast), _non_negative(slow), p_slow)

    def sample(self, rng: random.Random) -> float:
        """Draw one latency in seconds."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "lognormal":
            return self.a * math.exp(rng.gauss(0.0, self.b))
        return self.b if rng.random() < self.p else self.a


def _non_negative(seconds: float) -> float:
    if seconds < 0:
        raise ValueError(f"a latency cannot be negative, got {seconds}")
    return float(seconds)


def message_text(message: BaseMessage) -> str:
    """A message's text: its content, or its text parts joined by spaces."""
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        part if isinstance(part, str) else str(part.get("text", "")) for part in content
    )


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 4 / 3))


@dataclass(frozen=True)
class SimulatedCall:
    """One call to the simulated model, as its `Answers` see it."""

    messages: Sequence[BaseMessage]
    """The prompt."""
    rng: random.Random
    """A random source seeded by the model's seed, the sample and the prompt: draw every
    choice from it and answers repeat for a seed and differ between samples."""
    bias: int
    """A number from 0 to 6 that depends on the prompt alone, the same for every sample:
    prefer choice `bias` and samples mostly agree, as a real model's do."""
    words: int
    """About how many words a text answer should have (the model's `words`)."""
    sample: int
    """Which sample this is (`lgp_index`: a voter's or a unit's index), 0 by default."""

    @property
    def request(self) -> str:
        """The text of the last human message (of the last message, if none is human)."""
        asked = [m for m in self.messages if isinstance(m, HumanMessage)] or self.messages
        return message_text(asked[-1]) if asked else ""


class Answers:
    """What the simulated model says: the hook where its caller supplies answers.

    The model calls `text` for a text answer and `filler` for structured output and tool
    arguments; it adds `[simulated]` to a text that lacks it and passes the marker to the
    filler, so whatever the answers say is labelled. The base class names what was asked
    and says it stands in for a model's answer; subclass it to read your prompts (the
    templates' `TemplateAnswers` does), or give the model a function of a `SimulatedCall`.
    """

    def text(self, call: SimulatedCall) -> str:
        """The text answer to `call`.

        It names what was asked (the system text's first sentence, or the request's), then
        says it stands in for a model's answer, in about `call.words` words.
        """
        system = [message_text(m) for m in call.messages if isinstance(m, SystemMessage)]
        asked = " ".join(_MARKER.sub("", system[0] if system else call.request).split())
        first = re.split(r"(?<=[.!?])\s+", asked, maxsplit=1)[0]
        if len(first.split()) > 16:
            first = " ".join(first.split()[:16]) + " ..."
        parts = [SIMULATED_NOTICE, "An answer to:", first or "your request"]
        if not parts[-1].endswith((".", "?", "!")):
            parts[-1] += "."
        for sentence in call.rng.sample(_STAND_IN, len(_STAND_IN)):
            parts.append(sentence)
            if len(" ".join(parts).split()) >= call.words:
                break
        return " ".join(parts)

    def filler(self, call: SimulatedCall, schema: Mapping[str, Any]) -> SchemaFiller:
        """What fills `schema` (structured output, a tool's arguments) for `call`."""
        return SchemaFiller(schema, call.rng, bias=call.bias, marker=SIMULATED_NOTICE)


_MARKER = re.compile(re.escape(SIMULATED_NOTICE) + r"\s*")
_STAND_IN = [
    "A model would answer it here in its own words.",
    "This text stands in for that answer.",
    "It was written offline, without a model.",
    "Its length, timing and token usage are a model's; its words are not.",
    "Set a model to get a real answer.",
]


class _TextFrom(Answers):
    """Answers whose text comes from a function of the call."""

    def __init__(self, write: Callable[[SimulatedCall], str]) -> None:
        self.write = write

    def text(self, call: SimulatedCall) -> str:
        return self.write(call)


class SimulatedChatModel(BaseChatModel):
    """A chat model that runs offline: deterministic answers after a simulated latency.

    Use it for demos, tests and benchmarks. It supports streaming, tool calls,
    `with_structured_output` (Pydantic models and JSON schemas, with schema-valid values)
    and reports `usage_metadata`. It never passes for a real model: text starts with
    `[simulated]`, free-text fields of structured output too, and every message carries
    `response_metadata["simulated"] = True`.

    The model is mechanics: latency, failures, usage, tool calls, streaming and filling a
    schema. What it says comes from `answers` (an `Answers`, or a function of a
    `SimulatedCall` that returns the text), the way langchain's fake chat models and
    httpx's `MockTransport` take their responses from the caller. The default answers name
    what was asked and say that a model would answer it; the templates supply answers that
    read like theirs (`langgraph_parallel.templates.TemplateAnswers`).

    Answers depend on the seed, the prompt and the sample (`lgp_index` in the run's
    metadata, which every voter of a voting graph has), so repeated runs agree and voters
    differ the way sampled model answers do. Latencies are drawn per call.

    Example:
        ```python
        from pydantic import BaseModel
        from langgraph_parallel.models import Latency, SimulatedChatModel

        class Verdict(BaseModel):
            label: str
            score: float

        model = SimulatedChatModel(latency=Latency.fixed(0.0), seed=7)
        assert model.invoke("Hello").content.startswith("[simulated]")
        verdict = model.with_structured_output(Verdict).invoke("Rate this")
        assert isinstance(verdict, Verdict)

        echo = SimulatedChatModel(latency=Latency.fixed(0.0), answers=lambda call: "Ready.")
        assert echo.invoke("Are you there?").content == "[simulated] Ready."
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    seed: int = 0
    """Seeds answers (with the prompt and the sample index) and the latency stream."""
    latency: Latency = Field(default_factory=lambda: Latency.uniform(0.05, 0.3))
    """How long each call takes."""
    error_rate: float = 0.0
    """Probability that a call fails with `SimulatedModelError` (to rehearse failures)."""
    words: int = 24
    """About how many words a text answer has."""
    answers: Answers = Field(default_factory=lambda: Answers())
    """What the model says (see `Answers`); a function of a `SimulatedCall` returning the
    text is taken too."""

    _rng: random.Random = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: itertools.count[int] = PrivateAttr(default_factory=itertools.count)

    @field_validator("answers", mode="before")
    @classmethod
    def _answers_from_a_function(cls, value: Any) -> Any:
        if isinstance(value, Answers) or not callable(value):
            return value
        return _TextFrom(value)

    def model_post_init(self, context: Any) -> None:
        """Start the latency stream from the seed."""
        self._rng = random.Random(self.seed)

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle without the lock (so the model can go to a process pool or a cluster)."""
        state = super().__getstate__()
        private = dict(state["__pydantic_private__"] or {})
        private.pop("_lock", None)
        return {**state, "__pydantic_private__": private}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Unpickle, with a lock of its own."""
        super().__setstate__(state)
        self._lock = threading.Lock()

    @property
    def _llm_type(self) -> str:
        return "simulated"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"seed": self.seed, "latency": self.latency}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the model calls them the first time it answers a conversation."""
        return self.bind(
            tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs
        )

    def _draw(self) -> tuple[float, bool]:
        with self._lock:
            return self.latency.sample(self._rng), self._rng.random() < self.error_rate

    def _answer(
        self,
        messages: list[BaseMessage],
        metadata: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
        tool_choice: str | None,
    ) -> AIMessage:
        prompt = "\n".join(message_text(m) for m in messages)
        sample = (metadata or {}).get("lgp_index")
        if sample is None:  # a call made without its unit's config: ask the unit itself
            running = current_unit()
            sample = running[2] if running is not None else 0
        key = f"{self.seed}:{sample}:{prompt}"
        call = SimulatedCall(
            messages=messages,
            rng=random.Random(hashlib.sha256(key.encode()).digest()),
            bias=int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 7,
            words=self.words,
            sample=int(sample),
        )
        number = next(self._calls)
        usage_in = sum(_tokens(message_text(m)) for m in messages)
        metadata_out = {"model_name": "simulated", "model_provider": "simulated", "simulated": True}
        answered = messages and isinstance(messages[-1], ToolMessage)
        if tools and (tool_choice not in (None, "none") or not answered):
            chosen = [
                t
                for t in tools
                if tool_choice in (None, "auto", "any", "required")
                or t["function"]["name"] == tool_choice
            ]
            if tool_choice in ("any", "required") or (tool_choice not in (None, "auto") and chosen):
                chosen = chosen[:1]
            calls = [
                {
                    "name": t["function"]["name"],
                    "args": self.answers.filler(call, t["function"].get("parameters", {})).fill(),
                    "id": f"call_sim_{number}_{i}",
                    "type": "tool_call",
                }
                for i, t in enumerate(chosen)
            ]
            usage_out = sum(_tokens(str(c["args"])) for c in calls)
            return AIMessage(
                content="",
                tool_calls=calls,
                response_metadata=metadata_out,
                usage_metadata=_usage(usage_in, usage_out),
                id=f"sim-{number}",
            )
        text = self.answers.text(call)
        if not text.startswith(SIMULATED_NOTICE):  # whoever wrote it, it says so
            text = f"{SIMULATED_NOTICE} {text}"
        return AIMessage(
            content=text,
            response_metadata=metadata_out,
            usage_metadata=_usage(usage_in, _tokens(text)),
            id=f"sim-{number}",
        )

    def _reply(
        self,
        fail: bool,
        messages: list[BaseMessage],
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> AIMessage:
        """The answer, or the failure `_draw` chose."""
        if fail:
            raise SimulatedModelError(f"simulated model failure (error_rate={self.error_rate})")
        tools, tool_choice = kwargs.get("tools"), kwargs.get("tool_choice")
        return self._answer(messages, _metadata(run_manager), tools, tool_choice)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fail = self._draw()
        time.sleep(delay)
        message = self._reply(fail, messages, run_manager, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fail = self._draw()
        await asyncio.sleep(delay)
        message = self._reply(fail, messages, run_manager, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _pieces(self, message: AIMessage) -> list[AIMessageChunk]:
        meta = message.response_metadata
        if message.tool_calls:
            chunks = [
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(name=c["name"], args=_json(c["args"]), id=c["id"], index=i)
                    ],
                    id=message.id,
                )
                for i, c in enumerate(message.tool_calls)
            ]
        else:
            words = str(message.content).split(" ")
            chunks = [
                AIMessageChunk(content=w if i == 0 else f" {w}", id=message.id)
                for i, w in enumerate(words)
            ]
        chunks[-1] = chunks[-1] + AIMessageChunk(
            content="",
            usage_metadata=message.usage_metadata,
            response_metadata=meta,
            chunk_position="last",
        )
        return chunks

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        delay, fail = self._draw()
        time.sleep(delay * 0.3)
        message = self._reply(fail, messages, run_manager, kwargs)
        pieces = self._pieces(message)
        for piece in pieces:  # LangChain reports each token to the callbacks itself
            time.sleep(delay * 0.7 / len(pieces))
            yield ChatGenerationChunk(message=piece)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        delay, fail = self._draw()
        await asyncio.sleep(delay * 0.3)
        message = self._reply(fail, messages, run_manager, kwargs)
        pieces = self._pieces(message)
        for piece in pieces:  # LangChain reports each token to the callbacks itself
            await asyncio.sleep(delay * 0.7 / len(pieces))
            yield ChatGenerationChunk(message=piece)


class SimulatedModelError(RuntimeError):
    """A failure the simulated model was told to produce (`error_rate`)."""


def _metadata(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> dict[str, Any]:
    # LangChain streams without handing `_stream`/`_astream` a run manager; the run's
    # config (which carries the sample index) is then the one in context.
    if run_manager is None:
        config = var_child_runnable_config.get() or {}
        return dict(config.get("metadata") or {})
    return {**run_manager.inheritable_metadata, **(run_manager.metadata or {})}


def _usage(tokens_in: int, tokens_out: int) -> UsageMetadata:
    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def _json(value: Any) -> str:
    return json.dumps(value)
