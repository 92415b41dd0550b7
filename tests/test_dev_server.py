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


def test_the_server_binds_loopback_only(client: Any) -> None:
    host = client.http.client.base_url.host
    assert host == "127.0.0.1"
