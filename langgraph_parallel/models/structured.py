"""Structured output that survives real servers: three ways to ask, lenient parsing, one repair.

`with_structured_output` trusts the server. An OpenAI-compatible server that ignores
`response_format` (many local ones) answers prose, one that ignores tools answers without a
tool call, and a model may wrap its JSON in a code fence or a sentence. `structured_output`
asks the provider's own way first (`"native"`: what `with_structured_output` does for the
model), then by a forced tool call (`"tools"`), then with the schema in the prompt
(`"prompt"`). Whatever comes back is parsed leniently (a tool call's arguments, JSON in a
fence or inside prose) and validated against the schema; an answer that has JSON but not a
valid value is sent back once with the error, for the model to correct. The way that worked
is remembered for the model (its provider, base URL and name) and tried first next time,
and noted in the running unit's record (`BranchResult.structured_output`). When no way
works, `StructuredOutputError` names every
way tried and why each failed, in full.

Errors of the call itself (a 429, a timeout, a refused connection) are not answers: they are
raised as they are, for the graph's retry policy and limits. A 400 that refuses the request's
`response_format` or `tools` moves on to the next way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Literal

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import TypeAdapter, ValidationError

from langgraph_parallel.engine.http import provider_key
from langgraph_parallel.engine.limits import http_status
from langgraph_parallel.engine.telemetry import note_structured_output
from langgraph_parallel.errors import StructuredOutputError

Method = Literal["native", "tools", "prompt"]
"""A way to ask a model for a value of a schema."""
METHODS: tuple[Method, ...] = ("native", "tools", "prompt")

Schema = type | dict[str, Any]
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def structured_output(model: BaseChatModel, schema: Schema) -> Runnable[LanguageModelInput, Any]:
    """A runnable that asks `model` for a value of `schema` and returns it, validated.

    It works where `model.with_structured_output(schema)` fails: on a server that ignores
    `response_format` or tools, and with a model that wraps its JSON in a fence or prose
    (see the module's docstring for the three ways it asks, and the one repair).

    Args:
        model: Any LangChain chat model.
        schema: A Pydantic model (the value is an instance of it), a `TypedDict`, or a JSON
            schema (the value is a `dict`, checked against the schema).

    Returns:
        A runnable taking what the model takes (messages, a string, a prompt value).

    Raises:
        StructuredOutputError: (when run) no way gave a valid value; the message has each
            way's cause in full.

    Example:
        ```python
        from pydantic import BaseModel
        from langgraph_parallel.models import Latency, SimulatedChatModel, structured_output

        class Label(BaseModel):
            label: str

        ask = structured_output(SimulatedChatModel(latency=Latency.fixed(0.0)), Label)
        assert isinstance(ask.invoke("Classify: great food"), Label)
        ```
    """
    asker = _Asker(model, schema)
    return RunnableLambda(asker.invoke, afunc=asker.ainvoke, name="structured_output")


class _Asker:
    """Asks one model for one schema; the way that worked is remembered per model (`_worked`)."""

    def __init__(self, model: BaseChatModel, schema: Schema) -> None:
        self.model = model
        self.schema = schema
        self.json_schema = _json_schema(schema)
        self.name = str(self.json_schema.get("title") or "value")
        self._check = _validator(schema)
        self._ways: dict[Method, Runnable[Any, Any] | None] = {}
        self._server = provider_key(model)

    def invoke(self, value: LanguageModelInput, config: RunnableConfig) -> Any:
        talk = _Conversation(self._steps(_messages(value)))
        while (request := talk.request) is not None:
            talk.settle(_outcome(lambda: request[0].invoke(request[1], config)))
        return talk.value

    async def ainvoke(self, value: LanguageModelInput, config: RunnableConfig) -> Any:
        talk = _Conversation(self._steps(_messages(value)))
        while (request := talk.request) is not None:
            talk.settle(await _aoutcome(request[0].ainvoke(request[1], config)))
        return talk.value

    def _steps(self, messages: list[BaseMessage]) -> Generator[Request, Any, Any]:
        """The conversation with the model: yields each request, receives its answer."""
        worked = _worked.get(self._server)
        order = [m for m in METHODS if m != worked]
        if worked is not None:
            order.insert(0, worked)
        failures: list[str] = []
        for method in order:
            runnable = self._way(method)
            if runnable is None:
                continue
            asked = self._prompted(messages) if method == "prompt" else messages
            for calls in (1, 2):
                try:
                    answer = yield runnable, asked
                except Exception as exc:
                    if _refused(exc):
                        failures.append(f"{method}: the server refused it ({_one_line(exc)})")
                    elif isinstance(exc, OutputParserException | ValidationError | ValueError):
                        failures.append(f"{method}: its answer did not parse ({_one_line(exc)})")
                    else:
                        raise  # the call failed (429, timeout...): the graph's to handle
                    break
                raw = _raw(answer)
                try:
                    value = self._check(_parse(raw))
                except _NoValue as problem:  # not even JSON: the server ignored this way
                    failures.append(f"{method}: {problem}")
                    if method != "prompt" or calls == 2:
                        break
                    problem_text = str(problem)
                except (ValueError, ValidationError) as problem:
                    failures.append(f"{method}: {str(problem).strip()}")
                    if calls == 2:
                        break
                    problem_text = str(problem).strip()
                else:
                    _worked[self._server] = method
                    note_structured_output(method, calls)
                    return value
                asked = [*asked, _as_text(raw), HumanMessage(_REPAIR.format(problem=problem_text))]
        raise StructuredOutputError(self.name, failures)

    def _way(self, method: Method) -> Runnable[Any, Any] | None:
        """The runnable that asks one way, or `None` where the model has no such way."""
        if method not in self._ways:
            self._ways[method] = self._build(method)
        return self._ways[method]

    def _build(self, method: Method) -> Runnable[Any, Any] | None:
        if method == "prompt":
            return self.model
        options: dict[str, Any] = {"include_raw": True}
        if method == "tools":
            if type(self.model).with_structured_output is BaseChatModel.with_structured_output:
                return None  # its native way already is a tool call
            options["method"] = "function_calling"
        try:
            # The JSON schema, not a Pydantic class: some clients parse a class themselves
            # and raise without the answer; this validates it, leniently, with the answer.
            return self.model.with_structured_output(self.json_schema, **options)
        except (TypeError, ValueError, NotImplementedError):
            return None  # this model has no such way

    def _prompted(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        schema = json.dumps(self.json_schema, indent=1)
        return [*messages, HumanMessage(_IN_PROMPT.format(schema=schema))]


_worked: dict[tuple[str, str | None, str | None], Method] = {}
"""The way that worked last, per provider, base URL and model: tried first next time."""

_IN_PROMPT = (
    "Answer with one JSON object and nothing else: no prose, no code fence. It must match "
    "this JSON schema:\n{schema}"
)
_REPAIR = (
    "That answer cannot be used: {problem}\n"
    "Answer again with only the corrected JSON object that matches the schema."
)


Request = tuple[Runnable[Any, Any], list[BaseMessage]]
Outcome = tuple[Any, Exception | None]


class _Conversation:
    """Drives `_Asker._steps`: its next request, or its value once it has one."""

    def __init__(self, steps: Generator[Request, Any, Any]) -> None:
        self.steps = steps
        self.request: Request | None = None
        self.value: Any = None
        self.settle((None, None))

    def settle(self, outcome: Outcome) -> None:
        """Hand the last request's answer (or its exception) to the steps."""
        answer, error = outcome
        try:
            self.request = self.steps.throw(error) if error is not None else self.steps.send(answer)
        except StopIteration as done:
            self.request, self.value = None, done.value


def _outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return call(), None
    except Exception as exc:
        return None, exc


async def _aoutcome(call: Awaitable[Any]) -> Outcome:
    try:
        return await call, None
    except Exception as exc:
        return None, exc


class _NoValue(ValueError):
    """The answer holds no JSON at all (no tool call, no object in its text)."""


def _messages(value: LanguageModelInput) -> list[BaseMessage]:
    if isinstance(value, str):
        return [HumanMessage(value)]
    if isinstance(value, PromptValue):
        return value.to_messages()
    return [m if isinstance(m, BaseMessage) else HumanMessage(str(m)) for m in value]


def _raw(answer: Any) -> AIMessage:
    """The model's message, from a plain model or a `with_structured_output(include_raw=True)`."""
    if isinstance(answer, dict) and "raw" in answer:
        answer = answer["raw"]
    if not isinstance(answer, AIMessage):
        raise TypeError(f"expected the model's message, got {type(answer).__name__}")
    return answer


def _parse(message: AIMessage) -> Any:
    """The value a message holds: its tool call's arguments, or JSON in its text.

    The text may be bare JSON, JSON in a code fence, or JSON inside prose.
    """
    if message.tool_calls:
        return message.tool_calls[0]["args"]
    text = message.text.strip()
    if not text:
        raise _NoValue("the answer was empty (no JSON, no tool call)")
    candidates = [text, *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    broken: ValueError | None = None
    starts = [i for i, c in enumerate(text) if c == "{"] + ([0] if text[0] == "[" else [])
    for start in starts:
        try:
            return decoder.raw_decode(text, start)[0]
        except ValueError as exc:
            broken = broken or exc
    if broken is not None:
        raise ValueError(f"the answer's JSON is invalid ({broken}): {text}")
    raise _NoValue(f"the answer holds no JSON and no tool call: {text}")


def _validator(schema: Schema) -> Callable[[Any], Any]:
    """What checks a parsed value against `schema` and returns the value the caller gets."""
    if isinstance(schema, dict):
        import jsonschema

        checker = jsonschema.validators.validator_for(schema)(schema)

        def check_json(value: Any) -> Any:
            errors = sorted(checker.iter_errors(value), key=lambda e: list(e.path))
            if errors:
                raise ValueError(
                    "it does not match the schema: "
                    + "; ".join(
                        f"{'/'.join(map(str, e.path)) or 'value'}: {e.message}" for e in errors
                    )
                )
            return value

        return check_json
    adapter: TypeAdapter[Any] = TypeAdapter(schema)
    return adapter.validate_python


def _json_schema(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    return convert_to_json_schema(schema)


def _as_text(message: AIMessage) -> AIMessage:
    """The answer as plain text, to show the model what it said (a tool call has no reply)."""
    said = json.dumps(message.tool_calls[0]["args"]) if message.tool_calls else message.text
    return AIMessage(said)


def _refused(exc: Exception) -> bool:
    """Whether the server refused the request's form (a 400 or 422), not failed to answer."""
    return http_status(exc) in (400, 422)


def _one_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
