"""The graphs with the real `openai` client (ChatOpenAI) over real HTTP, against a local
OpenAI-compatible server on 127.0.0.1 that adds latency, counts requests in flight, and
answers 429, 500 or hangs on cue."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from langgraph.types import RetryPolicy
from pydantic import BaseModel

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, create_voting_graph
from langgraph_parallel.models import resolve_model
from langgraph_parallel.nodes import concatenate, is_transient, llm_node
from langgraph_parallel.testing import FakeOpenAIServer

FAKE_KEY = "sk-fake-test-key-0123456789"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency=0.3) as running:
        yield running


def chat(server: FakeOpenAIServer) -> ChatOpenAI:
    # max_retries=0: the client's own retries would hide what the graph does.
    return ChatOpenAI(
        base_url=server.base_url, api_key=FAKE_KEY, model="gpt-4o-mini", max_retries=0
    )


def topics(n: int) -> dict[str, Any]:
    return {f"topic_{i}": i for i in range(n)}


def fanout(server: FakeOpenAIServer, n: int, **options: Any) -> Any:
    model = chat(server)
    branches = {name: llm_node(f"Write about {name}.", model, name=name) for name in topics(n)}
    return create_fanout_graph(branches, concatenate(), **options).compile()


def test_the_server_listens_on_loopback_only(server: FakeOpenAIServer) -> None:
    assert server.host == "127.0.0.1" and server.base_url.startswith("http://127.0.0.1:")


def test_an_n_way_fanout_has_n_requests_in_flight_at_once(server: FakeOpenAIServer) -> None:
    result = asyncio.run(fanout(server, 8).ainvoke({"input": "x"}))
    assert server.count == 8
    assert server.peak_in_flight == 8  # counted by the server: all 8 at once, not a timing
    assert all(
        r["status"] == "ok" and r["value"].startswith("[fake server]") for r in result["results"]
    )
    assert all(r["usage"]["total_tokens"] > 0 and "simulated" not in r for r in result["results"])


def test_sync_invoke_also_has_every_request_in_flight() -> None:
    # 1 s per answer: under load, LangGraph's sync path took over 0.3 s to start all eight
    # threads (peak 5 of 8 at the fixture's 0.3 s).
    with FakeOpenAIServer(latency=1.0) as slow:
        fanout(slow, 8).invoke({"input": "x"})
        assert slow.peak_in_flight == 8


@pytest.mark.parametrize("kind", ["fanout", "orchestrator", "voting"])
def test_the_cap_is_respected(server: FakeOpenAIServer, kind: str) -> None:
    node = llm_node("Answer.", chat(server))
    if kind == "fanout":
        graph = create_fanout_graph(
            {f"b{i}": node for i in range(9)}, concatenate(), max_concurrency=3
        )
    elif kind == "orchestrator":
        graph = create_orchestrator_graph(
            lambda s: list(range(9)), node, concatenate(), max_concurrency=3
        )
    else:
        graph = create_voting_graph(node, n=9, max_concurrency=3)
    asyncio.run(graph.compile().ainvoke({"input": "question"}))
    assert server.count == 9
    assert server.peak_in_flight == 3


def test_a_429_is_retried_to_success(server: FakeOpenAIServer) -> None:
    server.when("topic_1", 429, 429)
    retry = RetryPolicy(initial_interval=0.01, jitter=False, max_attempts=3, retry_on=is_transient)
    result = asyncio.run(fanout(server, 3, retry=retry).ainvoke({"input": "x"}))
    record = result["results"][1]
    assert (record["status"], record["attempts"]) == ("ok", 3)
    assert [r.answer for r in server.requests_for("topic_1")] == [429, 429, "ok"]
    assert [r["attempts"] for r in result["results"]] == [1, 3, 1]


def test_langgraphs_default_retry_policy_also_retries_a_429(server: FakeOpenAIServer) -> None:
    server.when("topic_0", 429)
    result = asyncio.run(
        fanout(server, 1, retry=RetryPolicy(initial_interval=0.01, jitter=False)).ainvoke(
            {"input": "x"}
        )
    )
    assert (result["results"][0]["status"], result["results"][0]["attempts"]) == ("ok", 2)


def test_a_500_is_a_failed_branch_under_collect_and_the_others_finish(
    server: FakeOpenAIServer,
) -> None:
    server.when("topic_2", 500)
    result = asyncio.run(fanout(server, 4).ainvoke({"input": "x"}))
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["ok", "ok", "error", "ok"]
    error = result["results"][2]["error"]
    assert error["type"] == "OpenAIAPIError" and "500" in error["message"]
    assert "[topic_2 #2 error: OpenAIAPIError" in result["output"]


def test_a_hanging_request_is_ended_by_the_branch_timeout(server: FakeOpenAIServer) -> None:
    server.when("topic_0", "hang")
    server.latency = 0.05  # the answered requests stay far inside the 1 s timeout
    started = time.perf_counter()
    result = asyncio.run(fanout(server, 3, timeout=1.0).ainvoke({"input": "x"}))
    assert time.perf_counter() - started < 5  # about the 1 s timeout; the hang is for ever
    assert [r["status"] for r in result["results"]] == ["timeout", "ok", "ok"]
    assert result["results"][0]["error"]["type"] == "NodeTimeoutError"


def test_structured_output_over_http(server: FakeOpenAIServer) -> None:
    class Verdict(BaseModel):
        label: str
        score: float

    voter = llm_node("Classify the text.", chat(server), schema=Verdict)
    graph = create_voting_graph(voter, n=3, normalize=lambda v: v.label).compile()
    outcome = asyncio.run(graph.ainvoke({"input": "great stuff"}))["output"]
    assert outcome["cast"] == 3 and all(isinstance(v["answer"], Verdict) for v in outcome["votes"])


def test_tokens_stream_over_sse_per_branch(server: FakeOpenAIServer) -> None:
    model = ChatOpenAI(
        base_url=server.base_url,
        api_key=FAKE_KEY,
        max_retries=0,
        streaming=True,
        stream_usage=True,
    )
    graph = create_fanout_graph(
        {"alpha": llm_node("Say alpha.", model), "beta": llm_node("Say beta.", model)},
        concatenate(),
    ).compile()

    async def collect() -> dict[str, str]:
        texts: dict[str, str] = {}
        async for chunk, meta in graph.astream({"input": "go"}, stream_mode="messages"):
            if isinstance(chunk, AIMessageChunk) and "lgp_branch" in meta:
                texts[meta["lgp_branch"]] = texts.get(meta["lgp_branch"], "") + str(chunk.content)
        return texts

    texts = asyncio.run(collect())
    assert set(texts) == {"alpha", "beta"}
    assert all(t.startswith("[fake server] reply to:") for t in texts.values())
    assert all(r.body.get("stream") for r in server.requests)


def test_the_model_spec_and_env_point_at_the_local_server(server: FakeOpenAIServer) -> None:
    model = resolve_model(
        None, env={"OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "local-llm"}
    )
    assert model.invoke("ping").content.startswith("[fake server]")
    assert server.requests[-1].body["model"] == "local-llm"


def test_the_api_key_is_sent_to_the_server_but_never_kept_in_results(
    server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.when("topic_1", 401)  # its error message echoes the key back, as providers do
    with caplog.at_level(logging.DEBUG):
        result = asyncio.run(fanout(server, 2).ainvoke({"input": "x"}))
    assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    error = result["results"][1]["error"]
    assert error["type"] == "OpenAIAuthenticationError"
    assert error["message"].startswith("Error code: 401") and "sk-***" in error["message"]
    assert FAKE_KEY not in json.dumps(result, default=str)
    assert FAKE_KEY not in caplog.text


def test_the_cli_keeps_keys_out_of_its_output(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from langgraph_parallel import cli

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.when("security only", 401, 401)  # one per run below
    for argv in (["run", "code-review"], ["run", "code-review", "--json"]):
        assert cli.main(argv) == 0
        out, err = capsys.readouterr()
        assert "OpenAIAuthenticationError" in out
        assert FAKE_KEY not in out + err
