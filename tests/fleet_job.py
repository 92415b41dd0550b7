"""One process of a fleet: an orchestrator of `llm_node`s on a real `ChatOpenAI`.

    python fleet_job.py BASE_URL ITEMS FOLDER NAME

It builds the graph with `max_concurrency="auto"` (no code about sharing: the fleet's limit
comes from `LANGGRAPH_PARALLEL_LIMITS_URL` when the test sets it), writes FOLDER/NAME.ready,
waits for FOLDER/go, runs ITEMS items under one `asyncio.run`, and writes FOLDER/NAME.json
with the statuses and the limit's last state.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from langgraph_parallel import create_orchestrator_graph
from langgraph_parallel.nodes import llm_node


def main() -> None:
    base_url, items, folder, name = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    model = ChatOpenAI(model="fake", api_key="sk-test", base_url=base_url)
    graph = create_orchestrator_graph(
        lambda state: [f"{name} item {i}" for i in range(items)],
        llm_node("Answer briefly.", model),
        lambda state: None,
        max_concurrency="auto",
        max_items=items,
    ).compile()
    (folder / f"{name}.ready").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)

    async def run() -> dict[str, Any]:
        last: dict[str, Any] = {}
        limit = None
        async for mode, chunk in graph.astream({"input": None}, stream_mode=["custom", "values"]):
            if mode == "values":
                last = chunk
            elif isinstance(chunk, dict) and "limit" in chunk:
                limit = chunk["limit"]
        return {"statuses": [r["status"] for r in last["results"]], "limit": limit}

    (folder / f"{name}.json").write_text(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    main()
