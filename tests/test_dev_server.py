"""`langgraph dev` serves every template: listed, drawn with its fan-out, and run to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devserver import dev_server
from langgraph_sdk import get_sync_client

from langgraph_parallel.templates import TEMPLATES

FAN_OUT = {
    "morning-briefing": {
        ("__start__", "weather"),
        ("__start__", "news"),
        ("__start__", "calendar"),
    },
    "investment-briefing": {
        ("__start__", "price"),
        ("__start__", "news"),
        ("__start__", "financials"),
    },
    "report-writer": {("dispatch", "worker"), ("dispatch", "synthesizer")},
    "code-review": {
        ("__start__", d) for d in ("security", "performance", "style", "documentation")
    },
    "classify-vote": {("__start__", "voter")},
    "guarded-generation": {("__start__", "generate"), ("__start__", "guardrail")},
    "multi-search": {("dispatch", "worker"), ("dispatch", "synthesizer")},
}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with dev_server() as url:
        sdk = get_sync_client(url=url)
        try:
            yield sdk
        finally:
            sdk.http.client.close()


@pytest.fixture(scope="module")
def assistants(client: Any) -> dict[str, dict[str, Any]]:
    return {a["graph_id"]: a for a in client.assistants.search(limit=100)}


def test_every_template_is_served_as_an_assistant(assistants: dict[str, dict[str, Any]]) -> None:
    assert set(assistants) == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        assert assistants[name]["description"] == template.description


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_drawing_studio_uses_has_the_fan_out_edges(
    client: Any, assistants: dict[str, Any], name: str
) -> None:
    drawing = client.assistants.get_graph(assistants[name]["assistant_id"], xray=True)
    edges = {
        (e["source"].split(":")[-1], e["target"].split(":")[-1])
        for e in drawing["edges"]
        if e.get("conditional")
    }
    assert FAN_OUT[name] <= edges, edges


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_runs_to_completion_through_the_server(
    client: Any, assistants: dict[str, Any], name: str
) -> None:
    template = TEMPLATES[name]
    thread = client.threads.create()
    state = client.runs.wait(
        thread["thread_id"], assistants[name]["assistant_id"], input=template.example
    )
    assert state["output"] is not None
    for record in state.get("results", []):
        assert record["status"] == "ok", record
    run = client.runs.list(thread["thread_id"])[0]
    assert run["status"] == "success"


def test_the_servers_listen_on_loopback_only(client: Any, postgres_uri: str) -> None:
    from devserver import listening_on

    from langgraph_parallel.testing import FakeOpenAIServer

    assert listening_on(client.http.client.base_url.port) == {"127.0.0.1"}
    with FakeOpenAIServer() as fake:
        assert listening_on(fake.port) == {"127.0.0.1"}
    assert listening_on(int(postgres_uri.rsplit(":", 1)[1].split("/")[0])) == {"127.0.0.1"}


def test_fifty_concurrent_runs_all_complete_with_their_own_results(
    client: Any, assistants: dict[str, Any]
) -> None:
    import asyncio

    from langgraph_sdk import get_client

    assistant = assistants["morning-briefing"]["assistant_id"]
    cities = [f"City{i:02d}" for i in range(50)]

    async def fifty() -> list[Any]:
        sdk = get_client(url=str(client.http.client.base_url))
        try:
            return await asyncio.gather(
                *(sdk.runs.wait(None, assistant, input={"city": city}) for city in cities)
            )
        finally:
            await sdk.http.client.aclose()

    results = asyncio.run(fifty())
    for city, state in zip(cities, results, strict=True):
        assert state["output"].startswith(f"Morning briefing for {city}\n")
        assert [r["status"] for r in state["results"]] == ["ok", "ok", "ok"]


def test_invalid_input_gets_an_error_and_the_server_keeps_serving(
    client: Any, assistants: dict[str, Any]
) -> None:
    assistant = assistants["morning-briefing"]["assistant_id"]
    thread = client.threads.create()
    with pytest.raises(Exception, match="input key 'city' should be str") as caught:
        client.runs.wait(thread["thread_id"], assistant, input={"city": 42})
    assert "Traceback" not in str(caught.value)
    run = client.runs.list(thread["thread_id"])[0]
    assert run["status"] == "error"
    state = client.runs.wait(None, assistant, input={"city": "Oslo"})
    assert state["output"].startswith("Morning briefing for Oslo")


@pytest.mark.parametrize("name", ["report-writer", "multi-search", "classify-vote"])
def test_streams_through_the_server_carry_no_internal_values(
    client: Any, assistants: dict[str, Any], name: str
) -> None:
    """What Studio shows: no `{"type": "__overwrite__"}`, and progress events as documented."""
    import json

    chunks = list(
        client.runs.stream(
            None,
            assistants[name]["assistant_id"],
            input=TEMPLATES[name].example,
            stream_mode=["updates", "values", "custom"],
        )
    )
    events = {chunk.event for chunk in chunks}
    assert {"updates", "values", "custom"} <= events, events
    text = json.dumps([chunk.data for chunk in chunks])
    assert "__overwrite__" not in text and "Overwrite" not in text
    progress = [c.data for c in chunks if c.event == "custom" and c.data.get("kind") == "branch"]
    assert progress and all({"event", "branch", "index", "at"} <= e.keys() for e in progress)
    if name != "classify-vote":
        dispatch = [
            c.data["dispatch"] for c in chunks if c.event == "updates" and "dispatch" in c.data
        ]
        assert dispatch == [{"results": [], "usage": None, "output": None}]
