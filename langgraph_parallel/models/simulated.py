"""An offline chat model for demos, tests and benchmarks, which always says it is simulated."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from langgraph_parallel._telemetry import current_unit
from langgraph_parallel.models._schema import SchemaFiller

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


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        part if isinstance(part, str) else str(part.get("text", "")) for part in content
    )


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 4 / 3))


class SimulatedChatModel(BaseChatModel):
    """A chat model that runs offline: deterministic answers after a simulated latency.

    Use it for demos, tests and benchmarks. It supports streaming, tool calls,
    `with_structured_output` (Pydantic models and JSON schemas, with schema-valid values)
    and reports `usage_metadata`. It never passes for a real model: text starts with
    `[simulated]`, free-text fields of structured output too, and every message carries
    `response_metadata["simulated"] = True`.

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

    _rng: random.Random = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: itertools.count[int] = PrivateAttr(default_factory=itertools.count)

    def model_post_init(self, context: Any) -> None:
        """Start the latency stream from the seed."""
        self._rng = random.Random(self.seed)

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
        prompt = "\n".join(_text_of(m) for m in messages)
        sample = (metadata or {}).get("lgp_index")
        if sample is None:  # a call made without its unit's config: ask the unit itself
            running = current_unit()
            sample = running[2] if running is not None else 0
        key = f"{self.seed}:{sample}:{prompt}"
        rng = random.Random(hashlib.sha256(key.encode()).digest())
        bias = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 7
        call = next(self._calls)
        usage_in = sum(_tokens(_text_of(m)) for m in messages)
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
                    "args": SchemaFiller(
                        t["function"].get("parameters", {}), rng, bias=bias
                    ).fill(),
                    "id": f"call_sim_{call}_{i}",
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
                id=f"sim-{call}",
            )
        last = _text_of(messages[-1]) if messages else ""
        topic = " ".join(last.split()[:8])
        filler = " ".join(rng.choice(_FILLER) for _ in range(max(3, self.words - 10)))
        text = f"{SIMULATED_NOTICE} Response to: {topic!r}. {filler.capitalize()}."
        return AIMessage(
            content=text,
            response_metadata=metadata_out,
            usage_metadata=_usage(usage_in, _tokens(text)),
            id=f"sim-{call}",
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


_FILLER = [
    "the",
    "main",
    "point",
    "is",
    "clear",
    "and",
    "the",
    "details",
    "follow",
    "from",
    "it",
    "several",
    "factors",
    "matter",
    "here",
    "including",
    "timing",
    "cost",
    "and",
    "risk",
    "evidence",
    "suggests",
    "a",
    "cautious",
    "approach",
    "with",
    "regular",
    "review",
]


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
    import json

    return json.dumps(value)
