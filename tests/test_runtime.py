"""The sync/async bridge never hangs: nesting, running loops, fork, threads, streams.

Each case here hung or failed when every sync caller shared one background event loop. A
hang is caught by running the call in a thread and failing when it has not returned in a
time far beyond what the call needs (milliseconds of work against tens of seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import FailFastSibling, wait_until
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_config
from langgraph.constants import CONFIG_KEY_CHECKPOINTER

import langgraph_parallel
import langgraph_parallel.engine.bridge
from langgraph_parallel import create_fanout_graph, create_orchestrator_graph
from langgraph_parallel.errors import DeadlineExceeded

HANG = 60.0  # seconds; every call below needs well under one


def within(call: Callable[[], Any], seconds: float = HANG) -> Any:
    """Run `call` in a thread; its result, or a failure if it has not returned in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not return within {seconds:.0f}s: the runtime hung")
    if "error" in box:
        raise box["error"]
    return box["value"]


def values(state: Any) -> list[Any]:
    return [r["value"] for r in state["results"]]


def nested(depth: int, width: int = 3) -> Any:
    """A fan-out whose async branches call the next level's sync `invoke`."""
    if depth == 0:

        async def leaf(state: Any) -> str:
            await asyncio.sleep(0.005)
            return "leaf"

        return create_fanout_graph({f"b{i}": leaf for i in range(width)}, values).compile()
    inner = nested(depth - 1, width)

    async def calls_invoke(state: Any) -> Any:
        return inner.invoke({"input": state["input"]})["output"]

    return create_fanout_graph({f"b{i}": calls_invoke for i in range(width)}, values).compile()


def leaves(depth: int, width: int = 3) -> Any:
    out: Any = "leaf"
    for _ in range(depth + 1):
        out = [out] * width
    return out


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_nested_sync_invoke_inside_async_branches_completes(depth: int) -> None:
    graph = nested(depth)
    assert within(lambda: graph.invoke({"input": "x"}))["output"] == leaves(depth)
    assert within(lambda: asyncio.run(graph.ainvoke({"input": "x"})))["output"] == leaves(depth)


def test_nested_invoke_inside_an_orchestrator_worker_completes() -> None:
    inner = nested(0, width=2)

    async def worker(item: int) -> Any:
        return inner.invoke({"input": item})["output"]

    graph = create_orchestrator_graph(lambda s: list(range(4)), worker, values).compile()
    assert within(lambda: graph.invoke({"input": None}))["output"] == [["leaf"] * 2] * 4


def test_invoke_from_inside_a_running_event_loop_completes() -> None:
    graph = nested(1)

    async def notebook_cell() -> Any:
        return graph.invoke({"input": "x"})["output"]  # as a Jupyter cell would call it

    assert within(lambda: asyncio.run(notebook_cell())) == leaves(1)


def test_invoke_in_a_forked_child_completes() -> None:
    graph = nested(1)
    assert graph.invoke({"input": "x"})["output"] == leaves(1)  # the parent's pools and loop exist
    with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the run completed with the right output
        code = 1
        try:
            done = threading.Event()
            result: dict[str, Any] = {}

            def run() -> None:
                result["output"] = graph.invoke({"input": "x"})["output"]
                done.set()

            threading.Thread(target=run, daemon=True).start()
            code = 0 if done.wait(HANG) and result["output"] == leaves(1) else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + HANG + 10
    while time.monotonic() < deadline:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited:
            assert os.waitstatus_to_exitcode(status) == 0, "the child's invoke failed or hung"
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's invoke hung")


def test_invoke_from_many_threads_at_once_completes() -> None:
    graph = nested(1)
    outputs: list[Any] = [None] * 16
    barrier = threading.Barrier(16)

    def run(i: int) -> None:
        barrier.wait()
        outputs[i] = graph.invoke({"input": i})["output"]

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG)
    assert not any(t.is_alive() for t in threads), "a thread's invoke hung"
    assert outputs == [leaves(1)] * 16


def test_one_callers_blocking_code_does_not_delay_another_threads_run() -> None:
    started, slept = threading.Event(), threading.Event()

    async def blocks(state: Any) -> str:
        started.set()
        time.sleep(2.0)  # blocking call inside async code: stalls the loop it runs on
        slept.set()
        return "slow"

    async def quick(state: Any) -> str:
        return "quick"

    slow_graph = create_fanout_graph({"blocks": blocks, "other": quick}, values).compile()
    quick_graph = create_fanout_graph({"a": quick, "b": quick}, values).compile()
    slow = threading.Thread(target=lambda: slow_graph.invoke({"input": None}), daemon=True)
    slow.start()
    assert started.wait(HANG)
    assert quick_graph.invoke({"input": None})["output"] == ["quick", "quick"]
    assert not slept.is_set(), "the unrelated run waited for the other caller's blocking code"
    slow.join(HANG)


class TestStreamsBehaveLikeInvoke(FailFastSibling):
    """`stream`/`astream` fail and cancel as `invoke`/`ainvoke` do."""

    def test_stream_raises_what_invoke_raises_and_lets_the_sibling_finish(self) -> None:
        for call in (
            lambda g: g.invoke({"input": None}),
            lambda g: list(g.stream({"input": None}, stream_mode="updates")),
        ):
            graph = self.graph().compile()
            with pytest.raises(ConnectionError, match="down"):
                within(lambda g=graph, c=call: c(g))  # type: ignore[misc]
            assert self.finished  # LangGraph's sync path lets a running sibling finish

    def test_astream_raises_what_ainvoke_raises_and_cancels_the_sibling(self) -> None:
        async def streamed(graph: Any) -> list[Any]:
            return [chunk async for chunk in graph.astream({"input": None})]

        for call in (lambda g: g.ainvoke({"input": None}), streamed):
            graph = self.graph().compile()
            with pytest.raises(ConnectionError, match="down"):
                within(lambda g=graph, c=call: asyncio.run(c(g)))  # type: ignore[misc]
            time.sleep(0.5)  # past the sibling's 0.3 s: had it run on, it would be done
            assert not self.finished

    def test_closing_a_stream_early_stops_the_run(self) -> None:
        ran: list[int] = []

        async def work(item: int) -> int:
            await asyncio.sleep(0.05 * item)
            ran.append(item)
            return item

        graph = create_orchestrator_graph(
            lambda s: list(range(1, 40)), work, values, chunk_size=1
        ).compile()

        async def first_update() -> Any:
            stream = graph.astream({"input": None}, stream_mode="updates")
            async for chunk in stream:
                await stream.aclose()
                return chunk
            return None

        assert "planner" in within(lambda: asyncio.run(first_update()))
        time.sleep(0.3)
        assert len(ran) < 39  # the 39 items need 2 s; closing the stream cancelled them


def test_the_checkpointer_is_found_under_langgraphs_public_config_key() -> None:
    """Pins what `check_saveable` relies on: `langgraph.constants.CONFIG_KEY_CHECKPOINTER`."""
    saver = InMemorySaver()
    seen: list[Any] = []

    def branch(state: Any) -> None:
        seen.append(get_config()["configurable"].get(CONFIG_KEY_CHECKPOINTER))

    graph = create_fanout_graph({"a": branch}, lambda s: None).compile(checkpointer=saver)
    graph.invoke({"input": None}, {"configurable": {"thread_id": "t"}})
    assert seen == [saver]


def test_the_package_uses_only_langgraphs_public_api() -> None:
    root = Path(langgraph_parallel.__file__).parent
    private = re.compile(r"langgraph\._internal|\bco_code\b|__dict__")
    offenders = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []


def test_an_inner_graphs_sync_branches_still_run_at_once_inside_an_outer_invoke() -> None:
    """A sync branch runs inline only where its node runs alone, never on a shared loop."""

    def inner_graph() -> Any:
        together = threading.Barrier(2, timeout=10)  # broken if the two run one by one

        def meets(state: Any) -> str:
            together.wait()
            return "met"

        return create_fanout_graph({"a": meets, "b": meets}, values).compile()

    async def awaits_inner(state: Any) -> Any:
        return (await inner_graph().ainvoke({"input": None}))["output"]

    def calls_inner(state: Any) -> Any:  # a sync branch, itself run inline
        return inner_graph().invoke({"input": None})["output"]

    outer = create_fanout_graph({"awaits": awaits_inner, "calls": calls_inner}, values).compile()
    state = within(lambda: outer.invoke({"input": None}))
    assert [r["status"] for r in state["results"]] == ["ok", "ok"], state["results"]
    assert state["output"] == [["met", "met"], ["met", "met"]]


def test_units_get_langgraphs_node_arguments_from_the_public_getters() -> None:
    """`config`, `writer`, `store` and `runtime` reach a unit as they reach a LangGraph node."""
    from langgraph.store.memory import InMemoryStore

    store = InMemoryStore()
    store.put(("users",), "ada", {"name": "Ada"})

    def writes(state: Any, writer: Any) -> str:
        writer({"note": "from the sync branch"})
        return "wrote"

    async def reads(state: Any, *, store: Any, config: Any) -> Any:
        return [store.get(("users",), "ada").value["name"], config["metadata"]["lgp_branch"]]

    def sees(state: Any, runtime: Any) -> bool:
        return runtime.store is store

    graph = create_fanout_graph({"writes": writes, "reads": reads, "sees": sees}, values).compile(
        store=store
    )
    for run in (
        lambda: list(graph.stream({"input": None}, stream_mode=["custom", "values"])),
        lambda: asyncio.run(
            _collect(graph.astream({"input": None}, stream_mode=["custom", "values"]))
        ),
    ):
        chunks = within(run)
        notes = [c for mode, c in chunks if mode == "custom" and "note" in c]
        assert notes == [{"note": "from the sync branch"}]
        assert [c for mode, c in chunks if mode == "values"][-1]["output"] == [
            "wrote",
            ["Ada", "reads"],
            True,
        ]


async def _collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


INTERRUPT_JOB = Path(__file__).parent / "interrupt_job.py"


@pytest.mark.parametrize("how", ["process", "by-thread"])
@pytest.mark.parametrize("call", ["invoke", "stream", "batch"])
def test_ctrl_c_stops_a_sync_run_at_once_says_what_it_stopped_and_it_resumes(
    call: str, how: str, tmp_path: Path
) -> None:
    """SIGINT to a process blocked in a sync call with two branches of ten minutes each.

    The KeyboardInterrupt comes well before the branches could end, their coroutines are
    cancelled (they record it), its note names them, and the thread resumes from the
    checkpoint without running the branch that had finished. `by-thread`: the signal is
    taken by a thread that is not the main one, as the kernel may choose for a signal sent
    to the process; Python runs the handler in the main thread only when that thread next
    runs, and a main thread blocked for good in a wait never did (1 run in 3 hung under
    load).
    """
    marks, saved = tmp_path / "marks", tmp_path / "threads.sqlite"

    def lines() -> list[str]:
        return marks.read_text().splitlines() if marks.exists() else []

    args = [str(saved), str(marks)]
    job = subprocess.Popen(
        [sys.executable, str(INTERRUPT_JOB), "run", call, *args, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: {"start slow0", "start slow1", "done quick"} <= set(lines()),
            HANG,
            "both slow branches started",
        )
        if how == "process":
            job.send_signal(signal.SIGINT)
        try:
            out, _ = job.communicate(timeout=HANG)  # the branches would take 600 s
        except subprocess.TimeoutExpired:
            job.send_signal(signal.SIGUSR1)  # the job dumps every thread's stack
            time.sleep(2)
            job.kill()
            out, err = job.communicate()
            pytest.fail(f"no exit {HANG:.0f}s after SIGINT; printed {out!r}; stacks:\n{err}")
    finally:
        job.kill()
        job.communicate()
    report = json.loads(out.splitlines()[-1])
    assert report["interrupted"]
    note = "\n".join(report["notes"])
    assert "node 'slow0'" in note and "node 'slow1'" in note, note
    assert "invoke(None, config)" in note
    assert {"cancelled slow0", "cancelled slow1"} <= set(lines())
    assert "done slow0" not in lines() and "done slow1" not in lines()

    resumed = subprocess.run(
        [sys.executable, str(INTERRUPT_JOB), "resume", call, *args],
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout.splitlines()[-1])["output"] == ["quick", "slow0", "slow1"]
    assert lines().count("start quick") == 1  # its result was saved before the interrupt


def test_a_node_whose_loop_is_blocked_past_the_deadline_is_given_up_naming_the_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocking code in an async branch stops the loop, so the runner cannot end it at the
    run's deadline; the sync caller gives up a grace period later and says where it blocks.
    """
    monkeypatch.setattr(langgraph_parallel.engine.bridge, "DEADLINE_GRACE", 0.5)
    release = threading.Event()

    async def blocks(state: Any) -> str:
        release.wait(HANG)  # blocking: the event loop runs nothing else meanwhile
        return "late"

    graph = create_fanout_graph({"blocks": blocks}, values, deadline=0.2).compile()
    try:
        with pytest.raises(DeadlineExceeded) as raised:
            within(lambda: graph.invoke({"input": None}))
    finally:
        release.set()
    message = str(raised.value)
    assert "node 'blocks'" in message and "after the run's deadline" in message
    assert "blocked in wait (" in message  # threading.Event.wait, in the branch:
    assert "called from blocks (" in message and "test_runtime.py" in message
