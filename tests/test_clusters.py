"""Branches on real local clusters: Ray (`RayExecutor`) and Dask (`client.get_executor()`).

Each engine's cluster is started once per session (see conftest.py) on 127.0.0.1. Every test
runs on both, and checks what a user relies on: where the work ran, its value, its record.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpu_work import spin
from helpers import wait_until
from test_crash import kill_midway_and_resume

from langgraph_parallel import (
    Branch,
    create_fanout_graph,
    create_orchestrator_graph,
    create_voting_graph,
)
from langgraph_parallel.errors import BranchFailuresError
from langgraph_parallel.models import SimulatedChatModel
from langgraph_parallel.models.simulated import Latency

ENGINES = ["ray", "dask"]


@pytest.fixture(params=ENGINES)
def engine(request: Any) -> Any:
    """A fresh executor on the session's cluster of that engine."""
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
        from langgraph_parallel.executors import RayExecutor

        return RayExecutor(num_cpus=1)
    return request.getfixturevalue("dask_client").get_executor()


def values(state: dict[str, Any]) -> list[Any]:
    return [r["value"] for r in state["results"]]


def where(_: Any) -> int:
    return os.getpid()


async def where_async(_: Any) -> int:
    await asyncio.sleep(0)
    return os.getpid()


def test_sync_async_and_closure_units_run_on_the_cluster(engine: Any) -> None:
    base = 10
    graph = create_fanout_graph(
        {
            "sync": where,
            "async": where_async,
            "closure": lambda s: s["input"] + base,
        },
        values,
        executor=engine,
    ).compile()
    state = graph.invoke({"input": 5})
    assert [r["status"] for r in state["results"]] == ["ok"] * 3
    sync_pid, async_pid, plus = state["output"]
    assert os.getpid() not in (sync_pid, async_pid)
    assert plus == 15


def test_voters_on_a_cluster_sample_differently_and_know_their_index(engine: Any) -> None:
    # Dask's get_executor() submits with pure=True: without the package's care, five
    # voters with one input would be run once and give one answer.
    def draw(state: Any) -> float:
        return random.random()

    outcome = create_voting_graph(draw, n=5, executor=engine).compile().invoke({"input": "q"})
    assert len({v["answer"] for v in outcome["output"]["votes"]}) == 5

    def index(state: Any, config: Any) -> tuple[str, int, str, bool]:
        meta, keys = config["metadata"], config["configurable"]
        internal = "client" in keys or any(k.startswith("__") for k in keys)
        return meta["lgp_branch"], meta["lgp_index"], keys["tenant"], internal

    graph = create_voting_graph(index, n=3, executor=engine).compile()
    # plain-data keys cross; LangGraph's internal ones and objects stay here
    run = {"configurable": {"tenant": "acme", "client": threading.Lock()}}
    state = graph.invoke({"input": "q"}, run)
    assert [v["answer"] for v in state["output"]["votes"]] == [
        ("voter_1", 0, "acme", False),
        ("voter_2", 1, "acme", False),
        ("voter_3", 2, "acme", False),
    ]


def test_model_usage_made_on_a_worker_counts_in_usage_and_the_token_budget(engine: Any) -> None:
    model = SimulatedChatModel(latency=Latency.fixed(0.0))

    def ask(state: Any) -> str:
        return str(model.invoke(f"Name a colour {state['input']}").content)

    graph = create_voting_graph(ask, n=3, executor=engine).compile()
    state = graph.invoke({"input": "now"})
    assert all(r["simulated"] and r["usage"]["total_tokens"] > 0 for r in state["results"])
    assert state["usage"]["total_tokens"] == sum(
        r["usage"]["total_tokens"] for r in state["results"]
    )
    assert len({r["value"] for r in state["results"]}) == 3  # each voter its own sample

    limited = create_voting_graph(ask, n=4, executor=engine, max_concurrency=1, token_budget=1)
    statuses = sorted(r["status"] for r in limited.compile().invoke({"input": "x"})["results"])
    assert statuses == ["cancelled"] * 3 + ["ok"]


class Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"refused with code {code}")
        self.code = code


def refuse(item: int) -> int:
    if item % 2:
        raise Refused(item)
    return item


def test_a_remote_error_is_recorded_as_itself_and_raised_as_itself(engine: Any) -> None:
    graph = create_orchestrator_graph(lambda s: [0, 1, 2, 3], refuse, values, executor=engine)
    state = graph.compile().invoke({"input": None})
    assert [r["status"] for r in state["results"]] == ["ok", "error", "ok", "error"]
    assert state["results"][1]["error"] == {"type": "Refused", "message": "refused with code 1"}

    failing = create_orchestrator_graph(
        lambda s: [1], refuse, values, executor=engine, on_error="fail_fast"
    ).compile()
    with pytest.raises(Refused) as raised:
        failing.invoke({"input": None})
    assert raised.value.code == 1
    assert "raised on the executor's worker" in "".join(raised.value.__notes__)


def flaky(state: dict[str, Any]) -> int:
    """Fail the first attempt (the marker file is how a worker process remembers it)."""
    marker = Path(state["marker"])
    if not marker.exists():
        marker.write_text("tried")
        raise ConnectionError("the first call drops")
    return 7


def test_retries_run_again_on_the_cluster(engine: Any, tmp_path: Path) -> None:
    from langgraph.types import RetryPolicy
    from typing_extensions import TypedDict

    class Job(TypedDict):
        marker: str

    graph = create_fanout_graph(
        {"flaky": flaky},
        values,
        state_schema=Job,
        executor=engine,
        retry=RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False),
    ).compile()
    record = graph.invoke({"marker": str(tmp_path / "marker")})["results"][0]
    assert (record["status"], record["value"], record["attempts"]) == ("ok", 7, 2)


def spin_until(stop: Path, seconds: float) -> float:
    """Keep a CPU busy for `seconds`, or until `stop` exists; how long it ran.

    Dask cannot stop a running task: a test that times one out makes it end this way
    afterwards, so it does not hold a worker in the tests that follow.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and not stop.exists():
        spin(0.01)
    return time.perf_counter() - started


@pytest.fixture
def stop(tmp_path: Path) -> Iterator[Path]:
    """A file whose creation ends `spin_until`; made when the test ends."""
    path = tmp_path / "stop"
    yield path
    path.touch()


def test_a_timed_out_unit_is_recorded_and_the_run_moves_on(engine: Any, stop: Path) -> None:
    _warm(engine)  # a worker still starting would make the fast branch late too
    graph = create_fanout_graph(
        {"slow": lambda s: spin_until(stop, 10.0), "fast": lambda s: "done"},
        values,
        executor=engine,
        timeout=1.0,
    ).compile()
    started = time.perf_counter()
    state = graph.invoke({})
    assert time.perf_counter() - started < 7  # about 1 s, not the 10 s of the slow one
    assert [(r["status"], r["value"]) for r in state["results"]] == [
        ("timeout", None),
        ("ok", "done"),
    ]
    assert state["results"][0]["error"]["type"] == "NodeTimeoutError"


def test_the_runs_deadline_stops_what_is_still_running_on_the_cluster(
    engine: Any, stop: Path
) -> None:
    _warm(engine)
    # The slow item goes last: an engine may queue a task behind a running one on the same
    # worker (Dask places up to two on a one-thread worker), and a fast item queued behind the
    # slow one would rightly be stopped by the deadline too.
    graph = create_orchestrator_graph(
        lambda s: [0.0, 0.0, 10.0],
        lambda seconds: spin_until(stop, seconds),
        values,
        executor=engine,
        deadline=2.0,
    ).compile()
    started = time.perf_counter()
    state = graph.invoke({"input": None})
    assert time.perf_counter() - started < 7  # about 2 s, not the 10 s of the slow one
    assert [r["status"] for r in state["results"]] == ["ok", "ok", "timeout"]
    assert state["results"][2]["error"]["type"] == "DeadlineExceeded"


STOPPED = 180.0
"""How long the cancel tests wait for a task to be stopped: it would run for 600 s if not."""


def _gone(pid: int) -> bool:
    """The process has exited (a zombie awaiting its parent counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def _warm(engine: Any) -> None:
    """Both of the cluster's workers up, so the timed-out tasks below start well inside their
    10 s (a timeout that fired while a task still waited for a worker would prove nothing)."""
    warm = create_voting_graph(where, n=2, executor=engine).compile().invoke({"input": 0})
    assert {r["status"] for r in warm["results"]} == {"ok"}


def test_ray_cancels_a_timed_out_task_so_it_frees_its_cpu(ray_cluster: str, tmp_path: Path) -> None:
    from langgraph_parallel.executors import RayExecutor

    # Two tasks of 600 s on the cluster's 2 CPUs, timed out at 10 s. ray.cancel interrupts
    # each that runs (a KeyboardInterrupt in the task), which it records; one still queued
    # when the timeout comes (a worker slow to take it, on a loaded machine) is dropped
    # unstarted. Then the CPUs take new work.
    def hog(_: Any) -> float:
        mark = f"{os.getpid()}-{time.monotonic_ns()}"
        (tmp_path / f"started-{mark}").touch()
        try:
            return spin(600.0)
        except BaseException:
            (tmp_path / f"interrupted-{mark}").touch()
            raise

    def count(kind: str) -> int:
        return len(list(tmp_path.glob(f"{kind}-*")))

    engine = RayExecutor(num_cpus=1)
    _warm(engine)
    hogs = create_voting_graph(hog, n=2, executor=engine, timeout=10.0)
    assert {r["status"] for r in hogs.compile().invoke({"input": 0})["results"]} == {"timeout"}
    wait_until(lambda: count("started") >= 1, STOPPED, "a hog started")
    wait_until(lambda: count("interrupted") == count("started"), STOPPED, "every hog interrupted")
    after = create_voting_graph(where, n=2, executor=engine).compile().invoke({"input": 0})
    assert {r["status"] for r in after["results"]} == {"ok"}


def test_force_cancel_stops_a_ray_task_blocked_in_c(ray_cluster: str, tmp_path: Path) -> None:
    from langgraph_parallel.executors import RayExecutor

    # time.sleep is blocked in C, where no KeyboardInterrupt reaches it: force_cancel kills
    # the worker process, so each sleeper's process exits long before its 600 s are up.
    def sleeper(_: Any) -> None:
        (tmp_path / f"{os.getpid()}.pid").touch()
        time.sleep(600)

    engine = RayExecutor(num_cpus=1, force_cancel=True)
    _warm(engine)
    sleepers = create_voting_graph(sleeper, n=2, executor=engine, timeout=10.0)
    assert {r["status"] for r in sleepers.compile().invoke({"input": 0})["results"]} == {"timeout"}
    wait_until(lambda: len(list(tmp_path.glob("*.pid"))) == 2, STOPPED, "both sleepers started")
    pids = [int(f.stem) for f in tmp_path.glob("*.pid")]
    wait_until(lambda: all(_gone(pid) for pid in pids), STOPPED, f"sleepers {pids} killed")
    after = create_voting_graph(where, n=2, executor=engine).compile().invoke({"input": 0})
    assert {r["status"] for r in after["results"]} == {"ok"}
    assert not set(values(after)) & set(pids)  # new workers, not the killed ones


def test_what_cannot_be_pickled_fails_with_the_units_name(engine: Any) -> None:
    lock = threading.Lock()
    with pytest.raises(ValueError, match=r"branch 'locked'.*cannot be \(TypeError"):
        create_fanout_graph({"locked": lambda s: lock.locked()}, values, executor=engine)

    graph = create_orchestrator_graph(
        lambda s: [1, threading.Lock(), 3], lambda n: n, values, executor=engine
    ).compile()
    state = graph.invoke({"input": None})  # the other items are kept
    assert [r["status"] for r in state["results"]] == ["ok", "error", "ok"]
    assert state["results"][1]["error"]["type"] == "TypeError"
    assert state["results"][1]["error"]["message"].startswith(
        "worker: its input cannot be pickled to send to the executor"
    )


def test_a_chunked_1000_item_orchestrator_keeps_plan_order(engine: Any) -> None:
    graph = create_orchestrator_graph(
        lambda s: list(range(1000)),
        lambda n: {"i": n, "v": f"done-{n}"},
        values,
        executor=engine,
        chunk_size=100,
    ).compile()
    out = graph.invoke({"input": None})["output"]
    assert out == [{"i": n, "v": f"done-{n}"} for n in range(1000)]


def test_one_branch_on_the_cluster_the_others_at_home(engine: Any) -> None:
    graph = create_fanout_graph(
        {"heavy": Branch(where, executor=engine), "light": where}, values
    ).compile()
    heavy, light = graph.invoke({})["output"]
    assert light == os.getpid() != heavy


def test_with_ray_address_set_the_first_call_joins_that_cluster(ray_cluster: str) -> None:
    code = (
        "import os, ray\n"
        "from langgraph_parallel.executors import RayExecutor\n"
        "print(RayExecutor().submit(os.getpid).result() != os.getpid())\n"
        "print(ray.get_runtime_context().gcs_address)\n"
    )
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", ray_cluster]


def test_rayexecutor_never_starts_a_cluster_itself() -> None:
    code = (
        "from langgraph_parallel.executors import RayExecutor\n"
        "try:\n"
        "    RayExecutor().submit(print)\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
        "import ray\n"
        "print('initialized' if ray.is_initialized() else 'not initialized')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Ray is not connected to a cluster; call ray.init()" in done.stdout
    assert done.stdout.strip().endswith("not initialized")


@pytest.mark.parametrize("kind", ENGINES)
def test_a_killed_run_on_a_cluster_resumes_without_redoing_saved_items(
    kind: str, request: Any, tmp_path: Path
) -> None:
    """The driver is killed midway; resumed, only what was not saved runs, on the cluster."""
    cluster = (
        request.getfixturevalue("ray_cluster")
        if kind == "ray"
        else request.getfixturevalue("dask_client").scheduler.address
    )
    kill_midway_and_resume(
        "sqlite", str(tmp_path / "threads.sqlite"), tmp_path, f"{kind}={cluster}"
    )


def test_a_failed_remote_run_names_the_failures(engine: Any) -> None:
    graph = create_orchestrator_graph(
        lambda s: [1, 3], refuse, values, executor=engine, min_successes=1
    ).compile()
    with pytest.raises(BranchFailuresError, match="Refused"):
        graph.invoke({"input": None})
