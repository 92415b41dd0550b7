"""One event loop per sync call, kept per thread; HTTP clients that work from any loop.

The calling-context matrix (test_calling_contexts.py) shows the whole package from a user's
process; these pin the two mechanisms it rests on, each on its own.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import httpx
import pytest
from helpers import wait_until
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from langgraph_parallel import create_fanout_graph
from langgraph_parallel.models import (
    LoopSafeAsyncTransport,
    SimulatedChatModel,
    loop_safe,
    resolve_model,
)
from langgraph_parallel.testing import FakeOpenAIServer


def loops_graph() -> Any:
    """Three async branches that report the event loop they ran on."""

    async def where(state: Any) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    return create_fanout_graph(
        {"a": where, "b": where, "c": where}, lambda s: [r["value"] for r in s["results"]]
    ).compile()


def in_thread(call: Any) -> Any:
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(value=call()))
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    return box["value"]


class TestOneLoopPerCall:
    def test_a_sync_calls_branches_share_one_loop_kept_for_the_threads_next_calls(self) -> None:
        graph = loops_graph()
        first, second = (graph.invoke({"input": None})["output"] for _ in range(2))
        batched = [out["output"] for out in graph.batch([{"input": None}] * 3)]
        streamed = [
            record["value"]
            for chunk in graph.stream({"input": None}, stream_mode="updates")
            for update in chunk.values()
            for record in (update or {}).get("results", [])
        ]
        loops = {*first, *second, *streamed, *(loop for out in batched for loop in out)}
        assert len(loops) == 1
        (loop,) = loops
        assert loop.is_running()  # in a thread of its own, between calls too

    def test_other_threads_have_loops_of_their_own(self) -> None:
        graph = loops_graph()
        here = set(graph.invoke({"input": None})["output"])
        there = set(in_thread(lambda: graph.invoke({"input": None})["output"]))
        assert len(here) == len(there) == 1 and here != there

    def test_a_threads_loop_is_closed_when_the_thread_ends(self) -> None:
        graph = loops_graph()
        (loop,) = set(in_thread(lambda: graph.invoke({"input": None})["output"]))
        gc.collect()  # the thread's local storage, and so its loop's owner, are gone
        wait_until(loop.is_closed, 10, "the ended thread's loop to close")

    def test_invoke_in_a_running_loop_uses_the_threads_loop_not_the_running_one(self) -> None:
        graph = loops_graph()
        outside = set(graph.invoke({"input": None})["output"])

        async def cell() -> tuple[set[Any], asyncio.AbstractEventLoop]:
            return set(graph.invoke({"input": None})["output"]), asyncio.get_running_loop()

        inside, running = asyncio.run(cell())
        assert inside == outside and running not in inside


@pytest.fixture(scope="module")
def server() -> Any:
    with FakeOpenAIServer(latency=0.0) as running:
        yield running


LEAVES_A_SOCKET = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
"""For a test that strands a connection on a closed loop on purpose."""


def post(client: httpx.AsyncClient) -> Any:
    async def one() -> int:
        response = await client.post("/chat/completions", json={"messages": []})
        return response.status_code

    return one


class TestLoopSafeTransport:
    @LEAVES_A_SOCKET
    def test_a_plain_client_fails_on_a_second_loop_against_a_server_that_keeps_connections(
        self, server: FakeOpenAIServer
    ) -> None:
        """The premise: what langchain#35783 and every module-level client run into."""
        client = httpx.AsyncClient(base_url=server.base_url)
        assert asyncio.run(post(client)()) == 200
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            asyncio.run(post(client)())
        del client
        gc.collect()  # its connection, stranded on the closed loop, is reported here

    def test_one_pool_per_loop_each_closed_when_its_loop_ends(
        self, server: FakeOpenAIServer
    ) -> None:
        transport = LoopSafeAsyncTransport()
        client = httpx.AsyncClient(base_url=server.base_url, transport=transport)

        async def ask() -> tuple[int, int]:
            return await post(client)(), transport.pools()

        assert [asyncio.run(ask()) for _ in range(5)] == [(200, 1)] * 5
        assert transport.pools() == 0  # each asyncio.run closed its loop's pool
        wait_until(lambda: server.open_connections == 0, 10, "the connections to close")

    def test_two_loops_use_one_client_at_once(self, server: FakeOpenAIServer) -> None:
        transport = LoopSafeAsyncTransport()
        client = httpx.AsyncClient(base_url=server.base_url, transport=transport)
        pools: list[int] = []
        both = threading.Barrier(2, action=lambda: pools.append(transport.pools()))

        async def ask() -> int:
            status = await post(client)()
            await asyncio.to_thread(both.wait, 10)  # both loops hold a pool now
            return status

        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(asyncio.run(ask()))) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [200, 200] and pools == [2]

    @LEAVES_A_SOCKET
    def test_a_loop_closed_without_shutting_down_is_forgotten(
        self, server: FakeOpenAIServer
    ) -> None:
        transport = LoopSafeAsyncTransport()
        client = httpx.AsyncClient(base_url=server.base_url, transport=transport)
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(post(client)()) == 200
        loop.close()  # no shutdown_asyncgens: its pool could not be closed
        assert transport.pools() == 1
        assert asyncio.run(post(client)()) == 200
        assert transport.pools() == 0
        gc.collect()  # the forgotten pool's connection goes to the collector, as documented


def openai(server: FakeOpenAIServer, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key="sk-test", **options)


class TestLoopSafe:
    def test_a_model_copy_works_from_every_loop_and_the_original_is_untouched(
        self, server: FakeOpenAIServer
    ) -> None:
        model = openai(server)
        original = model.root_async_client
        safe = loop_safe(model)
        assert safe is not model and model.root_async_client is original
        for _ in range(3):
            assert asyncio.run(safe.ainvoke("hi")).content.startswith("[fake server]")

    def test_a_chain_and_a_model_with_tools_are_searched_for_models(
        self, server: FakeOpenAIServer
    ) -> None:
        @tool
        def look_up(query: str) -> str:
            """Look something up."""
            return query

        prompt = ChatPromptTemplate.from_messages([("user", "Say {input}.")])
        chain = loop_safe(prompt | openai(server) | StrOutputParser())
        tools = loop_safe(openai(server).bind_tools([look_up]))
        for _ in range(3):
            assert asyncio.run(chain.ainvoke({"input": "hi"})).startswith("[fake server]")
            assert asyncio.run(tools.ainvoke("hi")).content.startswith("[fake server]")

    def test_what_needs_nothing_is_returned_as_it_is(self, server: FakeOpenAIServer) -> None:
        own = openai(server, http_async_client=httpx.AsyncClient())
        simulated = SimulatedChatModel()
        chain = ChatPromptTemplate.from_messages([("user", "{input}")]) | simulated
        assert loop_safe(own) is own
        assert loop_safe(simulated) is simulated
        assert loop_safe(chain) is chain
        assert loop_safe("not a model") == "not a model"
        assert loop_safe(loop_safe(openai(server))) is not None

    def test_resolve_model_makes_a_received_model_loop_safe(self, server: FakeOpenAIServer) -> None:
        model = resolve_model(openai(server))
        for _ in range(3):
            assert asyncio.run(model.ainvoke("hi")).content.startswith("[fake server]")


def anthropic(server: FakeOpenAIServer) -> Any:
    from langchain_anthropic import ChatAnthropic

    # max_retries=0: the SDK's retries would hide a failed first attempt.
    return ChatAnthropic(
        model="claude-test",
        base_url=server.base_url.removesuffix("/v1"),
        api_key="sk-ant-test",
        max_retries=0,
    )


class TestAnotherProvidersModels:
    """langchain-anthropic caches its async client per process, as langchain-openai does."""

    @LEAVES_A_SOCKET
    def test_a_plain_anthropic_model_fails_on_a_second_loop(self, server: FakeOpenAIServer) -> None:
        """The premise, for a second provider."""
        model = anthropic(server)
        assert asyncio.run(model.ainvoke("hi")).content.startswith("[fake server]")
        with pytest.raises(Exception, match="Connection error"):
            asyncio.run(model.ainvoke("hi"))
        del model
        gc.collect()

    def test_its_loop_safe_copy_works_from_every_loop_and_closes_each_pool(
        self, server: FakeOpenAIServer
    ) -> None:
        model = anthropic(server)
        safe = loop_safe(model)
        assert safe is not model and loop_safe(safe) is safe
        for _ in range(4):
            assert asyncio.run(safe.ainvoke("hi")).content.startswith("[fake server]")
        assert in_thread(lambda: asyncio.run(safe.ainvoke("hi"))).content
        wait_until(lambda: server.open_connections == 0, 10, "each loop's pool to close")

    def test_a_spec_and_a_graph_use_it_safely(
        self, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from langgraph_parallel.nodes import concatenate, llm_node

        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url.removesuffix("/v1"))
        model = resolve_model("anthropic:claude-test")
        assert type(model).__name__ == "ChatAnthropic" and loop_safe(model) is model
        graph = create_fanout_graph(
            {"a": llm_node("Say {input}.", model), "b": llm_node("Hum {input}.", model)},
            concatenate(),
        ).compile()
        for _ in range(3):  # a sync call, then asyncio.run per call: a new loop each time
            assert graph.invoke({"input": "hi"})["output"].count("[fake server]") == 2
            out = asyncio.run(graph.ainvoke({"input": "hi"}))["output"]
            assert out.count("[fake server]") == 2
