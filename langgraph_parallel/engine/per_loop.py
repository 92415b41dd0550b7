"""An httpx transport that keeps one connection pool per event loop.

An `httpx.AsyncClient`'s pooled connections (and httpcore's locks) belong to the event loop
that opened them: used from another loop they fail ("bound to a different event loop",
"Event loop is closed") or hang. `LoopSafeAsyncTransport` opens a pool for each loop that
sends through it and closes that pool when the loop shuts down: when `asyncio.run`,
`asyncio.Runner`, pytest's runner or the package's own loops close their async generators
(`loop.shutdown_asyncgens()`). A loop closed without that step leaves its connections to
the garbage collector.

httpx has no such transport, and langchain-openai's default client is one per process
(langchain#35783), hence this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import httpx

_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _verify() -> ssl.SSLContext:
    """One SSL context for every pool: making one costs tens of milliseconds."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


class LoopSafeAsyncTransport(httpx.AsyncBaseTransport):
    """An async transport with one `httpx.AsyncHTTPTransport` (one pool) per event loop.

    Use it where one async client serves several event loops: a module-level client called
    from `asyncio.run` per request, from several threads, or from a notebook and a script.

    Args:
        **options: Options of `httpx.AsyncHTTPTransport` (`limits`, `http2`, `retries`,
            `proxy`, ...), used for each loop's pool. Without `verify`, the pools share one
            default SSL context.

    Example:
        ```python
        import asyncio

        import httpx
        from langgraph_parallel.models import LoopSafeAsyncTransport
        from langgraph_parallel.testing import FakeOpenAIServer

        client = httpx.AsyncClient(transport=LoopSafeAsyncTransport())  # module level

        async def ask(url: str) -> int:
            response = await client.post(url, json={"messages": []})
            return response.status_code

        with FakeOpenAIServer(latency=0.0) as server:
            url = f"{server.base_url}/chat/completions"
            # each asyncio.run is a new loop: a plain client fails on the second
            assert [asyncio.run(ask(url)) for _ in range(3)] == [200, 200, 200]
        ```
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._pools: PerLoop[httpx.AsyncHTTPTransport] = PerLoop(
            lambda: httpx.AsyncHTTPTransport(**self._options_here()), aclose
        )

    def _options_here(self) -> dict[str, Any]:
        if "verify" in self._options:
            return self._options
        return {**self._options, "verify": _verify()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the running loop's pool."""
        return await (await self._pools.get()).handle_async_request(request)

    async def aclose(self) -> None:
        """Close the running loop's pool; other loops' pools close when their loops end."""
        await self._pools.close_here()

    def pools(self) -> int:
        """How many event loops have a pool open now."""
        return self._pools.count()


T = TypeVar("T")


async def aclose(thing: Any) -> None:
    """Close `thing` (a transport, a client): what a `PerLoop` of them closes each with."""
    await thing.aclose()


class PerLoop(Generic[T]):
    """One `T` per event loop: made on first use in a loop, closed when that loop ends.

    Args:
        make: Makes one (a connection pool, a client) for the running loop.
        close: Closes one, on its loop, when the loop shuts down its async generators (as
            `asyncio.run` does). One whose loop closed without that step is forgotten on
            the next use: nothing can close it then.
    """

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[None]]) -> None:
        self._make = make
        self._close_one = close
        self._lock = threading.Lock()
        self._items: dict[asyncio.AbstractEventLoop, T] = {}

    async def get(self) -> T:
        """The running loop's one, made now if it has none."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is not None:
            return item
        with self._lock:
            for other in [other for other in self._items if other.is_closed()]:
                del self._items[other]  # closed without shutting down: nothing can close it now
            item = self._items.get(loop)
            opened = item is None
            if item is None:
                item = self._items[loop] = self._make()
        if opened:
            await when_loop_ends(loop, lambda: self._close(loop))
        return item

    async def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            item = self._items.pop(loop, None)
        if item is not None:
            await self._close_one(item)

    async def close_here(self) -> None:
        """Close the running loop's one, if it has one."""
        await self._close(asyncio.get_running_loop())

    def count(self) -> int:
        """How many event loops have one now."""
        with self._lock:
            return len(self._items)


_endings: dict[asyncio.AbstractEventLoop, tuple[Any, list[Callable[[], Awaitable[None]]]]] = {}
_endings_lock = threading.Lock()


async def _ending(
    loop: asyncio.AbstractEventLoop, callbacks: list[Callable[[], Awaitable[None]]]
) -> AsyncIterator[None]:
    # Suspended at the yield until the loop shuts down its async generators.
    try:
        yield
    finally:
        with _endings_lock:
            _endings.pop(loop, None)
        for callback in callbacks:
            with contextlib.suppress(Exception):
                await callback()


async def when_loop_ends(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], Awaitable[None]]
) -> None:
    """Await `callback()` on `loop` when it shuts down its async generators.

    Call it from a coroutine running on `loop`. The loop tracks an async generator from its
    first step and closes it at shutdown; it keeps only a weak reference, so this module
    holds the generator until then.
    """
    with _endings_lock:
        entry = _endings.get(loop)
        if entry is not None:
            entry[1].append(callback)
            return
        callbacks = [callback]
        generator = _ending(loop, callbacks)
        _endings[loop] = (generator, callbacks)
        for other in [other for other in _endings if other.is_closed()]:
            del _endings[other]
    await generator.__anext__()
