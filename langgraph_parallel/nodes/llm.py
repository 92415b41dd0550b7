"""LLM nodes: a prompt and a model, optionally with a structured-output schema."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.fleet import adaptive_limit
from langgraph_parallel.engine.http import can_limit, limited, provider_key
from langgraph_parallel.engine.limits import (
    AdaptiveLimit,
    ConcurrencyLimit,
    error_retry_after,
    rate_limited,
)
from langgraph_parallel.engine.options import MaxConcurrency, concurrency_cap
from langgraph_parallel.models import ModelLike, resolve_model, structured_output
from langgraph_parallel.nodes.text import render_input, variables


class _Variables(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(
            f"the prompt uses {{{key}}}, which the input does not have "
            f"(it has: {', '.join(sorted(self)) or 'nothing'}); "
            "add the key to the input, or double the braces ({{ }}) to write them literally"
        )


async def prompt_messages(
    prompt: str | BasePromptTemplate[Any], value: Any, config: RunnableConfig | None = None
) -> list[BaseMessage]:
    """The messages for one call.

    A prompt template is filled from the input; system text is filled the same way and
    followed by the input as the user message.
    """
    if isinstance(prompt, BasePromptTemplate):
        return (await prompt.ainvoke(variables(value), config)).to_messages()
    system = prompt.format_map(_Variables(variables(value)))
    return [SystemMessage(system), HumanMessage(render_input(value))]


def llm_node(
    prompt: str | BasePromptTemplate[Any],
    model: ModelLike = None,
    *,
    schema: type | dict[str, Any] | None = None,
    output_key: str | None = None,
    max_concurrency: MaxConcurrency = None,
    name: str = "llm",
) -> Runnable[Any, Any]:
    """Build a node that asks a model and returns its answer.

    The node's input (a graph's state, a work item, or a voter's input) fills the prompt:
    a dict's keys are the template variables, any other value is `{input}`. With a string
    prompt, that string is the system message and the input is the user message. Model
    usage is recorded per branch by the graphs of this package (`BranchResult.usage`).

    Args:
        prompt: System text with optional `{variables}`, or a LangChain prompt template.
        model: A chat model, a spec like `"openai:gpt-4o-mini"`, or `None` for the default
            (the offline simulated model when no API key is set); see `resolve_model`.
        schema: A Pydantic model or JSON schema: the node returns a validated object (dict
            for a JSON schema) instead of text. It is asked for with `structured_output`, so
            a server that ignores `response_format` or tools, or a model that fences its
            JSON, still gives one; the record says which way worked.
        output_key: Return `{output_key: answer}`, a state update, instead of the answer
            itself; use this to add the node to your own `StateGraph`.
        max_concurrency: Most calls of this node at once: a number; `"auto"`, the provider's
            `adaptive_limit` (keyed by provider, base URL and model, shared by every node
            and graph that asks for it), which finds the provider's capacity from its 429s;
            or a shared `ConcurrencyLimit` or `AdaptiveLimit`. An OpenAI model (one
            `resolve_model` built, or a `ChatOpenAI` with its default HTTP clients) carries
            an adaptive limit at the HTTP layer, so it sees each 429 before the `openai`
            client retries it; other models feed it the rate-limit errors they raise.
        name: The node's name.

    Returns:
        A Runnable usable as a branch, worker, voter or aggregator, or as a LangGraph node.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.models import Latency, SimulatedChatModel
        from langgraph_parallel.nodes import concatenate, llm_node

        model = SimulatedChatModel(latency=Latency.fixed(0.01))
        graph = create_fanout_graph(
            {
                "pros": llm_node("List the advantages of {input}.", model),
                "cons": llm_node("List the drawbacks of {input}.", model),
            },
            concatenate(),
        ).compile()
        assert graph.invoke({"input": "remote work"})["output"].count("[simulated]") == 2
        ```
    """
    chat = resolve_model(model)
    gate = _gate(max_concurrency, chat, name)
    at_http = gate if isinstance(gate, AdaptiveLimit) and can_limit(chat) else None
    # Through the package's transport even without a limit of its own: a graph built with
    # max_concurrency="auto" then sees this node's 429s too.
    chat = limited(chat, at_http)
    if at_http is not None:
        gate = None  # the transport holds it, per request
    runnable: Runnable[Any, Any] = structured_output(chat, schema) if schema is not None else chat

    async def ask(value: Any, config: RunnableConfig) -> Any:
        messages = await prompt_messages(prompt, value, config)
        if gate is None:
            answer = await runnable.ainvoke(messages, config)
        else:
            async with gate:
                sent = time.perf_counter()
                try:
                    answer = await runnable.ainvoke(messages, config)
                except Exception as exc:
                    if isinstance(gate, AdaptiveLimit) and rate_limited(exc):
                        gate.rejected(sent, error_retry_after(exc))
                    raise
                if isinstance(gate, AdaptiveLimit):
                    gate.succeeded(sent)
        if schema is None:
            answer = answer.content
        return answer if output_key is None else {output_key: answer}

    return make_node(ask, name=name)


def _gate(
    max_concurrency: MaxConcurrency, chat: BaseChatModel, name: str
) -> ConcurrencyLimit | None:
    """The limit an `llm_node`'s calls hold, from its `max_concurrency`."""

    def provider() -> AdaptiveLimit:
        kind, base_url, model = provider_key(chat)
        return adaptive_limit(kind, base_url=base_url, model=model)

    cap = concurrency_cap(max_concurrency, what=f"llm_node {name!r}", auto=provider)
    if cap is None or isinstance(cap, ConcurrencyLimit):
        return cap
    return ConcurrencyLimit(cap, name=name)
