"""A 50-item orchestrator run on a durable checkpointer, for the crash test to kill and resume.

    python crash_job.py (run|resume) (sqlite|postgres) CONNECTION THREAD MARKS_FILE [ENGINE]
        [--sync] [--model]

Every side effect is one line appended to MARKS_FILE: `start i MODE` and `done i MODE`
around each work item, `synth` when the synthesizer runs. `resume` prints the final output
as JSON. ENGINE, `ray=ADDRESS` or `dask=ADDRESS`, runs the items on that cluster.
`--sync` runs on the sync saver with `invoke` instead of the async one with `ainvoke`;
`--model` has each item ask the OpenAI-compatible server at `OPENAI_BASE_URL` (through a
model the package resolves) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langgraph_parallel import create_orchestrator_graph

ITEMS = 50


def mark(path: str, line: str) -> None:
    with open(path, "a") as marks:
        marks.write(line + "\n")
        marks.flush()
        os.fsync(marks.fileno())


def executor(engine: str | None) -> Any:
    if engine is None:
        return "thread"
    kind, address = engine.split("=", 1)
    if kind == "ray":
        import ray

        from langgraph_parallel.executors import RayExecutor

        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return RayExecutor()
    from distributed import Client

    return Client(address).get_executor()


def build(marks: str, mode: str, engine: str | None = None, model: bool = False) -> Any:
    if model:
        from langgraph_parallel.models import resolve_model

        chat = resolve_model("openai:gpt-4o-mini")

    async def work(item: int) -> int:
        mark(marks, f"start {item} {mode}")
        if model:
            reply = await chat.ainvoke(f"item {item}")
            assert "[fake server]" in str(reply.content)
        else:
            await asyncio.sleep(0.05 + 0.25 * ((item * 7) % 10) / 10)
        mark(marks, f"done {item} {mode}")
        return item * item

    def synthesize(state: dict[str, Any]) -> list[int]:
        mark(marks, "synth")
        return [r["value"] for r in state["results"]]

    return create_orchestrator_graph(
        lambda s: list(range(ITEMS)),
        work,
        synthesize,
        max_concurrency=10,
        executor=executor(engine),
    )


@asynccontextmanager
async def saver(backend: str, connection: str) -> AsyncIterator[Any]:
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(connection) as checkpointer:
            yield checkpointer
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(connection) as checkpointer:
            await checkpointer.setup()
            yield checkpointer


@contextmanager
def sync_saver(backend: str, connection: str) -> Iterator[Any]:
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(connection) as checkpointer:
            yield checkpointer
    else:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(connection) as checkpointer:
            checkpointer.setup()
            yield checkpointer


async def main(
    mode: str,
    backend: str,
    connection: str,
    thread: str,
    marks: str,
    engine: str | None = None,
    model: bool = False,
) -> None:
    async with saver(backend, connection) as checkpointer:
        graph = build(marks, mode, engine, model).compile(checkpointer=checkpointer)
        config = {"configurable": {"thread_id": thread}}
        state = await graph.ainvoke({"input": None} if mode == "run" else None, config)
        if mode == "resume":
            print(json.dumps(state["output"]))


def main_sync(
    mode: str, backend: str, connection: str, thread: str, marks: str, model: bool = False
) -> None:
    with sync_saver(backend, connection) as checkpointer:
        graph = build(marks, mode, None, model).compile(checkpointer=checkpointer)
        config = {"configurable": {"thread_id": thread}}
        state = graph.invoke({"input": None} if mode == "run" else None, config)
        if mode == "resume":
            print(json.dumps(state["output"]))


if __name__ == "__main__":
    flags = {arg for arg in sys.argv[1:] if arg.startswith("--")}
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    if "--sync" in flags:
        main_sync(*args[:5], model="--model" in flags)
    else:
        asyncio.run(main(*args[:6], model="--model" in flags))  # type: ignore[arg-type]
