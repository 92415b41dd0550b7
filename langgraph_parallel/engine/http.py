"""The HTTP clients the package gives OpenAI models, and the copies of models that use them.

Their transport shows an `AdaptiveLimit` every 429 where it happens. The `openai` client
retries a 429 itself (`max_retries=2` by default), so a limit that only sees the errors a
branch raises never learns of most of them. The transport sits under the client: each
request holds a place in the limit, a 429 shrinks it and is sent again after the provider's
`Retry-After` (the client never sees it, so it costs no retry of the client's or the
branch's), and a success lets it grow.

Which limit: the transport's own (`llm_node(max_concurrency="auto")`), else the one the
current unit of work holds (a graph built with `max_concurrency="auto"`). When the unit
holds a place in that limit, its requests report on the unit's `Lease`, not on a second
place (`current_lease`). With neither, requests pass straight through. The transport knows
only limits and leases, not who runs it.

The async transport sends through a `LoopSafeAsyncTransport`, so these clients work from
any event loop. `limited` and `loop_safe` copy a model onto them: the first for a limit,
the second for every OpenAI model the package resolves or receives.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from langgraph_parallel.engine.limits import (
    AdaptiveLimit,
    Lease,
    current_lease,
    retry_after_seconds,
)
from langgraph_parallel.engine.per_loop import LoopSafeAsyncTransport, PerLoop, aclose

if TYPE_CHECKING:
    from langchain_openai.chat_models.base import BaseChatOpenAI

MAX_REJECTIONS = 20
"""How many 429s one request may meet before the client is given the 429."""

# What openai's own default client allows; httpx's default (100) would cap a wide fan-out.
_CONNECTIONS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

_ours: weakref.WeakKeyDictionary[httpx.Client | httpx.AsyncClient, AdaptiveLimit | None] = (
    weakref.WeakKeyDictionary()
)
"""The HTTP clients the package made, each with its transports' own limit."""


class _Releasing(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A response body that gives its request's place back when it is closed (read to the end)."""

    def __init__(self, stream: Any, lease: Lease) -> None:
        self._stream, self._lease = stream, lease

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._lease.release()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._lease.release()


def _holding(response: httpx.Response, lease: Lease) -> httpx.Response:
    return httpx.Response(
        status_code=response.status_code,
        headers=response.headers,
        stream=_Releasing(response.stream, lease),
        extensions=response.extensions,
    )


class AdaptiveAsyncTransport(httpx.AsyncBaseTransport):
    """The async transport: see the module docstring.

    Args:
        limit: Its own limit (e.g. one per provider), or `None` to use the current unit's.
        inner: The transport that sends the requests (default: a `LoopSafeAsyncTransport`,
            with openai's connection limits).
    """

    def __init__(
        self, limit: AdaptiveLimit | None = None, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.limit = limit
        self._inner = inner or LoopSafeAsyncTransport(limits=_CONNECTIONS)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on a place in the limit, absorbing its 429s."""
        lease = current_lease(self.limit)  # the unit's, which this request then reports on
        own = lease is None  # a place of its own, given back when the body is read
        if lease is None:
            if self.limit is None:
                return await self._inner.handle_async_request(request)
            lease = await self.limit.lease()
        try:
            for rejections in itertools.count():
                sent = time.perf_counter()
                response = await self._inner.handle_async_request(request)
                if response.status_code == 429:
                    wait = lease.request_rejected(sent, retry_after_seconds(response.headers))
                    if rejections < MAX_REJECTIONS:
                        await response.aclose()
                        await lease.wait_out(wait)
                        continue
                elif response.status_code < 400:
                    lease.request_succeeded(sent)
                return _holding(response, lease) if own else response
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            if own:
                lease.release()
            raise

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


class AdaptiveTransport(httpx.BaseTransport):
    """The sync transport, for a model's `invoke`: see `AdaptiveAsyncTransport`."""

    def __init__(
        self, limit: AdaptiveLimit | None = None, inner: httpx.BaseTransport | None = None
    ) -> None:
        self.limit = limit
        self._inner = inner or httpx.HTTPTransport(limits=_CONNECTIONS)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on a place in the limit, absorbing its 429s."""
        lease = current_lease(self.limit)  # the unit's, which this request then reports on
        own = lease is None
        if lease is None:
            if self.limit is None:
                return self._inner.handle_request(request)
            lease = self.limit.lease_blocking()
        try:
            for rejections in itertools.count():
                sent = time.perf_counter()
                response = self._inner.handle_request(request)
                if response.status_code == 429:
                    wait = lease.request_rejected(sent, retry_after_seconds(response.headers))
                    if rejections < MAX_REJECTIONS:
                        response.close()
                        lease.wait_out_blocking(wait)
                        continue
                elif response.status_code < 400:
                    lease.request_succeeded(sent)
                return _holding(response, lease) if own else response
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            if own:
                lease.release()
            raise

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()


def openai_http_clients(limit: AdaptiveLimit | None) -> dict[str, Any]:
    """A new `http_client` and `http_async_client` for `ChatOpenAI`, through the transports.

    Plain httpx clients, as openai's own defaults are (the client gives each request its
    timeout). They are the caller's to close; models the package makes share one pair per
    limit instead (`shared_http_clients`).
    """
    clients: dict[str, Any] = {
        "http_client": httpx.Client(transport=AdaptiveTransport(limit), follow_redirects=True),
        "http_async_client": httpx.AsyncClient(
            transport=AdaptiveAsyncTransport(limit), follow_redirects=True
        ),
    }
    for client in clients.values():
        _ours[client] = limit
    return clients


_shared: weakref.WeakKeyDictionary[AdaptiveLimit, dict[str, Any]] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()
_unlimited: dict[str, Any] = {}


def _close_shared() -> None:
    """At exit: close the shared sync clients' kept-alive connections.

    The async clients' pools close with their event loops.
    """
    with _shared_lock:
        pairs = [_unlimited, *_shared.values()]
    for clients in pairs:
        if "http_client" in clients:
            clients["http_client"].close()


atexit.register(_close_shared)


def shared_http_clients(limit: AdaptiveLimit | None) -> dict[str, Any]:
    """The process's one pair of clients for `limit`, made on first use.

    Making an httpx client builds an SSL context (tens of milliseconds), so models share
    them, as LangChain's own default clients are shared.
    """
    with _shared_lock:
        clients = _unlimited if limit is None else _shared.get(limit)
        if not clients:
            clients = openai_http_clients(limit)
            if limit is None:
                _unlimited.update(clients)
            else:
                _shared[limit] = clients
        return clients


def _openai(model: BaseChatModel) -> TypeGuard[BaseChatOpenAI]:
    # imported on use, as in resolve_model: langchain-openai is slow to import
    from langchain_openai.chat_models.base import BaseChatOpenAI

    return isinstance(model, BaseChatOpenAI)


def can_limit(model: BaseChatModel) -> TypeGuard[BaseChatOpenAI]:
    """Whether `model` can carry a limit at the HTTP layer.

    It can if it is an OpenAI model whose HTTP clients are its defaults or the package's
    own; a client the user gave is left alone.
    """
    return _openai(model) and all(
        client is None or client in _ours for client in (model.http_client, model.http_async_client)
    )


def limited(model: BaseChatModel, limit: AdaptiveLimit | None) -> BaseChatModel:
    """A copy of `model` whose requests go through the transports with `limit`.

    `model` itself is not changed. Models that cannot carry it (`can_limit`) are returned
    as they are.
    """
    if not can_limit(model):
        return model
    mine = [model.http_client, model.http_async_client]
    if all(client is not None and _ours.get(client, False) is limit for client in mine):
        return model  # already so (its clients are the caller's to close)
    clients = shared_http_clients(limit)
    update: dict[str, Any] = dict(clients)
    root_async = getattr(model, "root_async_client", None)
    if root_async is not None:  # openai's public `with_options`: a copy with the new client
        root_async = root_async.with_options(http_client=clients["http_async_client"])
        update |= {"root_async_client": root_async, "async_client": root_async.chat.completions}
    root = getattr(model, "root_client", None)
    if root is not None:
        root = root.with_options(http_client=clients["http_client"])
        update |= {"root_client": root, "client": root.chat.completions}
    return model.model_copy(update=update)


R = TypeVar("R")


def loop_safe(thing: R) -> R:
    """A copy of a chat model, or of a chain, whose HTTP clients work from any event loop.

    `ChatOpenAI` (and `AzureChatOpenAI`) built with their default HTTP clients share one
    async client per process (langchain#35783), bound to the event loop that first used it:
    called again under another loop (`asyncio.run` per call, several threads, a notebook
    and a script) they fail with "bound to a different event loop" or "Event loop is
    closed", or hang; `ChatAnthropic` does the same. The copy's clients keep one connection
    pool per event loop. The package does this itself to every model it resolves or
    receives (a spec string, `llm_node(prompt, model)`, a chain given as a branch, worker or
    voter); use this for the models your own code calls.

    A model or chain is searched for chat models through its fields (`prompt | model`,
    `model.bind_tools(...)`, `with_structured_output`, fallbacks, parallel maps); anything
    else, and a model whose HTTP client you passed yourself (`http_async_client=`), is
    returned unchanged: give such a client a `LoopSafeAsyncTransport`, or use it from one
    loop. The original is never changed.

    Args:
        thing: A chat model, a Runnable, or anything else.

    Returns:
        The loop-safe copy, or `thing` itself when nothing in it needed one.

    Example:
        ```python
        import asyncio

        from langchain_openai import ChatOpenAI
        from langgraph_parallel.models import loop_safe
        from langgraph_parallel.testing import FakeOpenAIServer

        with FakeOpenAIServer(latency=0.0) as server:
            model = loop_safe(ChatOpenAI(base_url=server.base_url, api_key="sk-test"))
            for _ in range(3):  # a new event loop each time
                assert asyncio.run(model.ainvoke("hi")).content.startswith("[fake server]")
        ```
    """
    return cast(R, _loop_safe(thing, {}))


def _loop_safe(thing: Any, seen: dict[int, Any]) -> Any:
    if id(thing) in seen:
        return seen[id(thing)]
    seen[id(thing)] = thing  # a cycle back here keeps the original
    if isinstance(thing, BaseChatModel):
        done: Any = thing
        if _default_clients(thing):
            done = limited(thing, None)
        elif _anthropic(thing):
            done = _anthropic_loop_safe(thing)
    elif isinstance(thing, Runnable) and isinstance(thing, BaseModel):
        update = {}
        for name in type(thing).model_fields:
            value = getattr(thing, name, None)
            safe = _loop_safe_value(value, seen)
            if safe is not value:
                update[name] = safe
        done = thing.model_copy(update=update) if update else thing
    else:
        done = thing
    seen[id(thing)] = done
    return done


def _loop_safe_value(value: Any, seen: dict[int, Any]) -> Any:
    """A field's value with the Runnables in it (directly, in a list or a dict) made safe."""
    if isinstance(value, Runnable):
        return _loop_safe(value, seen)
    if isinstance(value, list | tuple) and any(isinstance(v, Runnable) for v in value):
        items = [_loop_safe_value(v, seen) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict) and any(isinstance(v, Runnable) for v in value.values()):
        mapped = {k: _loop_safe_value(v, seen) for k, v in value.items()}
        return value if all(mapped[k] is v for k, v in value.items()) else mapped
    return value


def _default_clients(model: BaseChatModel) -> bool:
    """Whether `model` is an OpenAI model whose async client is langchain's shared default."""
    return _openai(model) and model.http_async_client is None and model.http_client is None


def _anthropic(model: BaseChatModel) -> bool:
    return type(model).__module__.startswith("langchain_anthropic")  # not imported to check


def _anthropic_loop_safe(model: Any) -> Any:
    """A copy of a `ChatAnthropic` whose async client sends through the package's clients.

    langchain-anthropic caches one async HTTP client per process (its
    `_get_default_async_httpx_client`), as langchain-openai does, with the same failure under
    a second event loop. The copy's `_async_client` (a cached property) is an
    `anthropic.AsyncClient` made with the model's own parameters and the package's
    loop-safe client. A model with a proxy (`anthropic_proxy`) is left as it is.
    """
    if getattr(model, "anthropic_proxy", None) or getattr(model, "_lgp_loop_safe", False):
        return model
    import anthropic

    copy = model.model_copy()
    # `_client` and `_async_client` are cached properties of ChatAnthropic: model_copy copies
    # what was cached, deleting drops it, and setting one caches the given client.
    for cached in ("_client", "_async_client"):
        with contextlib.suppress(AttributeError):
            delattr(copy, cached)
    http = anthropic.DefaultAsyncHttpxClient(transport=_anthropic_transport())
    copy._async_client = anthropic.AsyncClient(**copy._client_params, http_client=http)
    copy._lgp_loop_safe = True
    return copy


_anthropic_transports: list[Any] = []


def _anthropic_transport() -> Any:
    """The process's one loop-safe transport for the anthropic SDK, made on first use.

    The SDK sends through `httpx2` (its own copy of httpx), so it takes a transport of that
    library: one `httpx2.AsyncHTTPTransport` per event loop, kept by a `PerLoop`.
    """
    with _shared_lock:
        if not _anthropic_transports:
            import httpx2

            class LoopSafeTransport(httpx2.AsyncBaseTransport):
                def __init__(self) -> None:
                    self.pools: PerLoop[Any] = PerLoop(httpx2.AsyncHTTPTransport, aclose)

                async def handle_async_request(self, request: Any) -> Any:
                    return await (await self.pools.get()).handle_async_request(request)

                async def aclose(self) -> None:
                    await self.pools.close_here()

            _anthropic_transports.append(LoopSafeTransport())
        return _anthropic_transports[0]


_BASE_URL_FIELDS = ("openai_api_base", "anthropic_api_url", "base_url")
"""Where chat models keep their endpoint (`ChatOpenAI`, `ChatAnthropic`, `ChatOllama`...)."""


def provider_key(model: BaseChatModel) -> tuple[str, str | None, str | None]:
    """`(provider, base URL, model name)` of a chat model, for `adaptive_limit`."""
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    base = next(
        (url for field in _BASE_URL_FIELDS if isinstance(url := getattr(model, field, None), str)),
        None,
    )
    if _openai(model):
        return "openai", base or "https://api.openai.com/v1", name
    return type(model).__name__, base, name if isinstance(name, str) else None
