"""Every calling context, with real clients against a server that keeps connections alive.

The usage matrix: the three factories x five kinds of worker x seven calling contexts
(`tests/usage.py`), each case in a child process of its own with a timeout, so a hang fails
in seconds, all against ONE `FakeOpenAIServer` for the whole matrix (clients are reused
across runs and cases talk to a server that has served others, as in a real process).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import usage

from langgraph_parallel.testing import FakeOpenAIServer

HANG = 60.0
"""Seconds a case may take before it counts as hung; each needs one or two."""

_forkserver = multiprocessing.get_context("forkserver")
# What the cases import, loaded once in the fork server (which fails quietly on a module it
# cannot find: tests/ is not on its path, so `usage` itself is imported by each child).
_forkserver.set_forkserver_preload(
    [
        "langchain_core.output_parsers",
        "langchain_core.prompts",
        "langchain_openai",
        "langgraph_parallel.graphs",
        "langgraph_parallel.engine.http",
        "langgraph_parallel.nodes.llm",
        "langgraph_parallel.testing",
    ]
)


def run_in_child(target: Any, args: tuple[Any, ...], timeout: float = HANG) -> dict[str, Any]:
    """Run `target(conn, *args)` in a forked child; what it sent, or a hang or a crash."""
    receive, send = _forkserver.Pipe(duplex=False)
    process = _forkserver.Process(target=target, args=(send, *args), daemon=True)
    process.start()
    send.close()
    try:
        if receive.poll(timeout):
            try:
                return dict(receive.recv())
            except EOFError:
                pass
        else:
            return {"passed": 0, "error": f"hung: no answer within {timeout:.0f}s"}
    finally:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    return {"passed": 0, "error": f"the child died (exit code {process.exitcode})"}


MATRIX = list(itertools.product(usage.FACTORIES, usage.WORKERS, usage.CONTEXTS))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency=0.002) as server:
        yield server


@pytest.fixture(scope="module")
def matrix(server: FakeOpenAIServer) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every case's result, run three at a time up front; each test below reads its own."""

    def run(case: tuple[str, str, str]) -> dict[str, Any]:
        safe = usage.out_of_reach(case[1], case[2])
        return run_in_child(usage.child, (case, server.base_url, safe))

    with ThreadPoolExecutor(3) as pool:
        return dict(zip(MATRIX, pool.map(run, MATRIX), strict=True))


@pytest.mark.parametrize(("factory", "worker", "context"), MATRIX)
def test_every_factory_worker_and_calling_context_passes_every_run(
    matrix: dict[tuple[str, str, str], dict[str, Any]], factory: str, worker: str, context: str
) -> None:
    result = matrix[factory, worker, context]
    assert result["error"] is None, result["error"]
    assert result["passed"] == usage.RUNS[context]


def passes(result: dict[str, Any]) -> None:
    assert result["error"] is None, result["error"]
    assert result["passed"] == result["runs"]


@pytest.mark.parametrize("example", ["invoke", "asyncio_run", "others"])
def test_the_examples_that_failed_pass_20_of_20(server: FakeOpenAIServer, example: str) -> None:
    result = run_in_child(usage.scenario, ("issue_examples", server.base_url, example))
    passes(result)
    assert result["runs"] == 20


@pytest.mark.parametrize("worker", usage.OWN_CLIENT)
@pytest.mark.parametrize("context", ["asyncio_run", "alternating", "threads_in_turn"])
def test_a_users_own_client_on_several_loops_fails_unless_made_loop_safe(
    server: FakeOpenAIServer, worker: str, context: str
) -> None:
    """Out of the package's reach: the user's code calls its own client from several loops.

    Without the helper the second loop to use the client's connections fails (or hangs,
    which the timeout turns into a failure); with it (`loop_safe`, `LoopSafeAsyncTransport`,
    as docs/models.md advises) every run passes: the matrix runs these cases so. Threads in
    turn stand for the matrix's 8 threads at once, whose failure is only very likely: each
    thread's calls run on that thread's own loop, and the second thread finds the first
    one's connection in the pool.
    """
    plain = run_in_child(usage.child, (("fanout", worker, context), server.base_url, False), 20)
    assert plain["error"] is not None and plain["passed"] < usage.RUNS[context], plain
    passes(run_in_child(usage.child, (("fanout", worker, context), server.base_url, True)))


def test_where_plain_langgraph_fails_with_a_received_model_the_package_does_not(
    server: FakeOpenAIServer, matrix: dict[tuple[str, str, str], dict[str, Any]]
) -> None:
    """langchain#35783: a `ChatOpenAI` with default clients, `asyncio.run` per call.

    By hand, two async nodes calling it fail from the second run on; on one loop they pass.
    Given to the package (`llm_node(prompt, model)`) it passes in every calling context.
    If the first assertion fails, langchain has fixed its client cache upstream.
    """
    by_hand = run_in_child(usage.scenario, ("handwritten", server.base_url, "asyncio_run"))
    assert by_hand["error"] is not None and by_hand["passed"] < 20, by_hand
    passes(run_in_child(usage.scenario, ("handwritten", server.base_url, "one_loop")))
    for factory, context in itertools.product(usage.FACTORIES, usage.CONTEXTS):
        passes(matrix[factory, "chat_openai", context])


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_checkpointed_run_resumes_after_interrupt_and_before_the_join(
    server: FakeOpenAIServer, backend: str, mode: str, tmp_path: Any, request: Any
) -> None:
    connection = (
        str(tmp_path / "threads.sqlite")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    passes(
        run_in_child(usage.scenario, ("checkpointed", server.base_url, backend, mode, connection))
    )


def test_auto_concurrency_under_invoke_reaches_a_steady_state_without_errors() -> None:
    with FakeOpenAIServer(latency=0.05, capacity=4) as limited:
        passes(run_in_child(usage.scenario, ("auto_under_invoke", limited.base_url)))
        assert limited.counts.get(429, 0) > 0  # the limit met the capacity and held
        assert set(limited.counts) <= {200, 429}


def test_a_429_then_a_retry_under_invoke_succeeds_and_streams_every_finish() -> None:
    with FakeOpenAIServer(latency=0.002) as rejecting:
        rejecting.when("Rate limit me", *[429, "ok"] * 10)  # each run: a 429, then an answer
        passes(run_in_child(usage.scenario, ("retry_after_429", rejecting.base_url)))
        assert rejecting.counts[429] == 10


@pytest.mark.parametrize("context", ["invoke", "asyncio_run"])
def test_a_factory_graph_composed_into_a_users_graph(
    server: FakeOpenAIServer, context: str
) -> None:
    passes(run_in_child(usage.scenario, ("composed", server.base_url, context)))


@pytest.mark.parametrize("context", ["invoke", "asyncio_run"])
def test_a_graph_invoked_inside_another_graphs_branches(
    server: FakeOpenAIServer, context: str
) -> None:
    passes(run_in_child(usage.scenario, ("nested", server.base_url, context)))
