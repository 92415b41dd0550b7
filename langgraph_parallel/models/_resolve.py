"""Resolve a chat model from an instance, a spec string, or the environment."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any, cast

from langchain_core.language_models import BaseChatModel

from langgraph_parallel.models.simulated import SimulatedChatModel

ModelLike = BaseChatModel | str | None
"""A chat model instance, a spec such as `"openai:gpt-4o-mini"` or `"simulated"`, or `None`
for the default (see `resolve_model`)."""

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
MODEL_ENV = "LANGGRAPH_PARALLEL_MODEL"


def resolve_model(
    model: ModelLike = None, *, env: Mapping[str, str] | None = None
) -> BaseChatModel:
    """Turn a model argument into a chat model.

    - A `BaseChatModel` instance is used as given (any LangChain chat model works), except
      that an OpenAI model with langchain's default HTTP clients is replaced by a copy with
      clients that work from any event loop (`loop_safe`).
    - `"openai:<name>"` builds `ChatOpenAI`, honouring `OPENAI_API_KEY` and `OPENAI_BASE_URL`,
      so a local OpenAI-compatible server (vLLM, Ollama, LM Studio) works too.
    - `"<provider>:<name>"` for another provider LangChain's `init_chat_model` knows
      (`anthropic`, `ollama`, `google_genai`, `groq`, `mistralai`, ... see `PROVIDERS`)
      builds that provider's chat model, made loop-safe where its client allows
      (`ChatAnthropic` does); it reads its own environment variables (`ANTHROPIC_API_KEY`,
      ...). A provider package that is not installed is a `ValueError` naming the
      `pip install` to run.
    - `"simulated"` (or `"simulated:<seed>"`) is the offline `SimulatedChatModel`.
    - `None` reads `LANGGRAPH_PARALLEL_MODEL`; without it, `openai:gpt-4o-mini` when
      `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set (`OPENAI_MODEL` overrides the name), and
      the simulated model when neither is: the only case where it is chosen for you.

    An OpenAI model built here sends its requests through the package's HTTP transport,
    so an adaptive limit (`max_concurrency="auto"`) sees each 429 where it happens.

    A real model that was asked for never falls back to the simulated one: a missing key is
    an error here, and a failing call is a failing call.

    Args:
        model: The model argument.
        env: The environment to read (default `os.environ`).

    Returns:
        The chat model.

    Raises:
        ValueError: An unknown provider, or an OpenAI model without a key or base URL.
        TypeError: Something that is neither a chat model nor a string.

    Example:
        ```python
        from langgraph_parallel.models import SimulatedChatModel, resolve_model

        assert isinstance(resolve_model(None, env={}), SimulatedChatModel)
        model = resolve_model("openai:gpt-4o-mini", env={"OPENAI_API_KEY": "sk-test"})
        assert type(model).__name__ == "ChatOpenAI" and model.model_name == "gpt-4o-mini"
        ```
    """
    if isinstance(model, BaseChatModel):
        from langgraph_parallel.engine.http import loop_safe

        return loop_safe(model)
    env = os.environ if env is None else env
    if model is None:
        model = env.get(MODEL_ENV) or None
        if model is None:
            if not (env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL")):
                return SimulatedChatModel()
            model = f"openai:{env.get('OPENAI_MODEL') or DEFAULT_OPENAI_MODEL}"
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a LangChain chat model or a spec like 'openai:gpt-4o-mini', "
            f"got {type(model).__name__}"
        )
    provider, _, name = model.partition(":")
    if provider == "simulated":
        try:
            return SimulatedChatModel(seed=int(name or 0))
        except ValueError:
            raise ValueError(
                f"model {model!r}: the seed after 'simulated:' must be a whole number"
            ) from None
    if provider == "openai":
        return _openai(name, env, model)
    if provider in PROVIDERS:
        return _provider(provider, name, model)
    raise ValueError(
        f"unknown model {model!r}: write 'provider:model' with a provider LangChain's "
        f"init_chat_model knows ({', '.join(sorted(PROVIDERS))}), 'openai:<model>' for "
        "OpenAI or an OpenAI-compatible server (OPENAI_BASE_URL), or 'simulated' to run offline"
    )


def _openai(name: str, env: Mapping[str, str], spec: str) -> BaseChatModel:
    if not name:
        raise ValueError(f"model {spec!r} names no model; write e.g. 'openai:gpt-4o-mini'")
    key, base_url = env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL")
    if not key and not base_url:
        raise ValueError(
            f"model {spec!r} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
            "OpenAI-compatible server); set it, or use the model 'simulated' to run offline"
        )
    from langchain_openai import ChatOpenAI  # imported on use: it is slow to import

    from langgraph_parallel.engine.http import shared_http_clients

    # Requests go through the package's transport, so an adaptive limit sees every 429.
    options: dict[str, Any] = {
        "model": name,
        "api_key": key or "unused-by-local-server",
        **shared_http_clients(None),
    }
    if base_url:
        options["base_url"] = base_url
    else:  # what ChatOpenAI turns on for OpenAI itself when it builds its own clients
        options["stream_usage"] = True
    return ChatOpenAI(**options)


PROVIDERS: dict[str, tuple[str, str, str]] = {
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "azure_openai": ("langchain_openai", "AzureChatOpenAI", "langchain-openai"),
    "bedrock": ("langchain_aws", "ChatBedrock", "langchain-aws"),
    "bedrock_converse": ("langchain_aws", "ChatBedrockConverse", "langchain-aws"),
    "cohere": ("langchain_cohere", "ChatCohere", "langchain-cohere"),
    "deepseek": ("langchain_deepseek", "ChatDeepSeek", "langchain-deepseek"),
    "fireworks": ("langchain_fireworks", "ChatFireworks", "langchain-fireworks"),
    "google_genai": ("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai"),
    "google_vertexai": ("langchain_google_vertexai", "ChatVertexAI", "langchain-google-vertexai"),
    "groq": ("langchain_groq", "ChatGroq", "langchain-groq"),
    "mistralai": ("langchain_mistralai", "ChatMistralAI", "langchain-mistralai"),
    "nvidia": ("langchain_nvidia_ai_endpoints", "ChatNVIDIA", "langchain-nvidia-ai-endpoints"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
    "openrouter": ("langchain_openrouter", "ChatOpenRouter", "langchain-openrouter"),
    "perplexity": ("langchain_perplexity", "ChatPerplexity", "langchain-perplexity"),
    "together": ("langchain_together", "ChatTogether", "langchain-together"),
    "xai": ("langchain_xai", "ChatXAI", "langchain-xai"),
}
"""Providers of `provider:model` specs besides `openai` and `simulated`: the module, the chat
model class and the package to install, as LangChain's `init_chat_model` names them."""


def _provider(provider: str, name: str, spec: str) -> BaseChatModel:
    module_name, class_name, package = PROVIDERS[provider]
    if not name:
        raise ValueError(f"model {spec!r} names no model; write e.g. '{provider}:<model name>'")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ValueError(
            f"model {spec!r} needs the {package} package, which is not installed: "
            f"pip install {package}"
        ) from None
    try:
        model = getattr(module, class_name)(model=name)
    except Exception as exc:  # its own check, e.g. a missing API key
        detail = " ".join(str(exc).split())
        raise ValueError(f"model {spec!r} could not be made: {detail}") from None
    from langgraph_parallel.engine.http import loop_safe

    return cast(BaseChatModel, loop_safe(model))


def is_simulated(model: Any) -> bool:
    """Whether `model` is (or wraps) the offline simulated model."""
    while model is not None:
        if isinstance(model, SimulatedChatModel):
            return True
        model = getattr(model, "bound", None)
    return False
