"""SIGKILL in the middle of a 50-item run on SQLite and on PostgreSQL, then resume.

What the checkpointer had saved is kept: those items do not run again. Everything else runs
exactly once more, the synthesizer once, and no result is lost or duplicated.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from langgraph_parallel.testing import FakeOpenAIServer

JOB = Path(__file__).parent / "crash_job.py"
ITEMS = 50


def lines(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


async def persisted_items(backend: str, connection: str, thread: str) -> set[int]:
    """The items whose results the checkpointer holds (pending writes of the worker step)."""
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver as Saver
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver as Saver  # type: ignore[assignment]
    async with Saver.from_conn_string(connection) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    assert saved is not None
    return {
        record["index"]
        for _, channel, value in saved.pending_writes or []
        if channel == "results"
        for record in value
        if record["status"] == "ok"
    }


def kill_midway_and_resume(
    backend: str, connection: str, tmp_path: Path, *engine: str, env: dict[str, str] | None = None
) -> None:
    """Kill the job after 15 items are done, resume it, and check what ran again.

    `engine` (`ray=ADDRESS` or `dask=ADDRESS`) runs the items on a cluster, where items
    of the killed run may still finish after the kill: only the resumed run's are counted.
    It may also hold the job's flags (`--sync`, `--model`), and `env` its environment.
    """
    marks, thread = tmp_path / "marks", f"crash-{uuid.uuid4().hex[:8]}"
    args = [backend, connection, thread, str(marks), *engine]
    job = subprocess.Popen(
        [sys.executable, str(JOB), "run", *args], start_new_session=True, env=env
    )
    deadline = time.monotonic() + 120
    while sum(line.startswith("done") for line in lines(marks)) < 15:
        assert job.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    before = lines(marks)
    done_before = {int(line.split()[1]) for line in before if line.startswith("done")}
    assert "synth" not in before and len(done_before) < ITEMS  # killed midway

    kept = asyncio.run(persisted_items(backend, connection, thread))
    assert kept and kept <= done_before

    resumed = subprocess.run(
        [sys.executable, str(JOB), "resume", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout) == [i * i for i in range(ITEMS)]  # all, once, in order

    started = [line.split() for line in lines(marks) if line.startswith("start")]
    rerun = Counter(int(item) for _, item, mode in started if mode == "resume")
    assert not kept & set(rerun)  # what was saved did not run again
    assert set(rerun) == set(range(ITEMS)) - kept and set(rerun.values()) == {1}
    assert lines(marks).count("synth") == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_run_resumes_without_redoing_finished_items(
    backend: str, tmp_path: Path, request: Any
) -> None:
    connection = (
        str(tmp_path / "threads.sqlite")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    kill_midway_and_resume(backend, connection, tmp_path)


@pytest.mark.parametrize("call", ["sync", "async"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_run_with_a_real_client_resumes(
    backend: str, call: str, tmp_path: Path, request: Any
) -> None:
    """The same with each item a request to a server that keeps connections alive, on the
    sync saver with `invoke` and on the async one with `ainvoke`: the resumed run must
    neither hang nor lose an item."""
    connection = (
        str(tmp_path / "threads.sqlite")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    with FakeOpenAIServer(latency=0.1) as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        flags = ["--sync", "--model"] if call == "sync" else ["--model"]
        kill_midway_and_resume(backend, connection, tmp_path, *flags, env=env)
