"""Every graph on every checkpointer: a failed run resumes, re-running only unfinished work."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import KINDS, build
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_parallel import create_guarded_graph, retry_failed

SAVERS = ["memory", "sqlite", "async-sqlite", "postgres", "async-postgres"]
_threads = itertools.count()


@contextmanager
def sync_saver(kind: str, uri: str) -> Iterator[Any]:
    if kind == "memory":
        yield InMemorySaver()
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with (
            tempfile.TemporaryDirectory() as folder,
            SqliteSaver.from_conn_string(str(Path(folder) / "threads.sqlite")) as saver,
        ):
            yield saver
    else:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(uri) as saver:
            saver.setup()
            yield saver


@asynccontextmanager
async def async_saver(kind: str, uri: str) -> AsyncIterator[Any]:
    if kind == "async-sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        with tempfile.TemporaryDirectory() as folder:
            async with AsyncSqliteSaver.from_conn_string(
                str(Path(folder) / "threads.sqlite")
            ) as saver:
                yield saver
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(uri) as saver:
            await saver.setup()
            yield saver


class Units:
    """Unit 1 fails until fixed; unit 2 is slow; every call is counted."""

    def __init__(self) -> None:
        self.fixed = False
        self.calls: list[int] = []

    def make(self, index: int) -> Any:
        async def unit(_: int) -> str:
            self.calls.append(index)
            if index == 1:
                await asyncio.sleep(0.05)
                if not self.fixed:
                    raise ConnectionError("upstream lost")
            if index == 2:
                await asyncio.sleep(0.3)  # still running when unit 1 fails: cancelled
            return f"v{index}"

        return unit


async def scenario(graph_of: Any, run: Any, units: Units, kind: str, rerun: list[int]) -> None:
    config = {"configurable": {"thread_id": f"t{next(_threads)}"}}
    with pytest.raises(ConnectionError):
        await run(graph_of, {"input": None}, config)
    assert sorted(units.calls) == [0, 1, 2]
    units.fixed, units.calls[:] = True, []
    state = await run(graph_of, None, config)
    assert sorted(units.calls) == rerun  # unit 0 had finished: its result was kept
    assert [r["value"] for r in state["results"]] == ["v0", "v1", "v2"]
    if kind == "voting":
        assert state["output"]["cast"] == 3
    else:
        assert [r["status"] for r in state["output"]] == ["ok"] * 3


@pytest.mark.parametrize("saver", SAVERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_fail_fast_run_resumes_on_every_checkpointer(saver: str, kind: str, request: Any) -> None:
    uri = request.getfixturevalue("postgres_uri") if "postgres" in saver else ""
    units = Units()
    graph = build(kind, [units.make(i) for i in range(3)], on_error="fail_fast")
    if saver.startswith("async"):

        async def main() -> None:
            async with async_saver(saver, uri) as checkpointer:
                compiled = graph.compile(checkpointer=checkpointer)
                # ainvoke cancels the running sibling (unit 2): it runs again on resume.
                await scenario(compiled, lambda g, v, c: g.ainvoke(v, c), units, kind, [1, 2])

        asyncio.run(main())
    else:
        with sync_saver(saver, uri) as checkpointer:
            compiled = graph.compile(checkpointer=checkpointer)

            async def run(g: Any, v: Any, c: Any) -> Any:
                return g.invoke(v, c)

            # invoke takes LangGraph's sync path, which cannot stop a sibling already
            # running in its thread pool: it finishes, its result is kept, and only the
            # failed unit reruns.
            asyncio.run(scenario(compiled, run, units, kind, [1]))


@pytest.mark.parametrize("saver", ["sqlite", "postgres"])
def test_retry_failed_and_the_guarded_graph_on_persistent_checkpointers(
    saver: str, request: Any
) -> None:
    uri = request.getfixturevalue("postgres_uri") if saver == "postgres" else ""
    units = Units()
    units_graph = build("orchestrator", [units.make(i) for i in range(3)])
    guarded = create_guarded_graph(
        lambda s: f"answer to {s['input']}", lambda s: {"allowed": True, "reason": None}
    )
    with sync_saver(saver, uri) as checkpointer:
        compiled = units_graph.compile(checkpointer=checkpointer)
        config = {"configurable": {"thread_id": f"retry-{saver}"}}
        first = compiled.invoke({"input": None}, config)
        assert [r["status"] for r in first["results"]] == ["ok", "error", "ok"]
        units.fixed, units.calls[:] = True, []
        assert [r["status"] for r in retry_failed(compiled, config)["results"]] == ["ok"] * 3
        assert units.calls == [1]
        again = compiled.get_state(config).values
        assert [r["value"] for r in again["results"]] == ["v0", "v1", "v2"]

        safe = guarded.compile(checkpointer=checkpointer)
        state = safe.invoke({"input": "bread"}, {"configurable": {"thread_id": f"guarded-{saver}"}})
        assert state["output"] == {"content": "answer to bread", "blocked": False, "reason": None}
