"""The usage matrix's cases, as a user's process runs them (tests/test_calling_contexts.py).

Each case runs in a child process of its own, forked from a server process that has already
imported this module (so a case starts in milliseconds), against the one fake OpenAI server
the whole matrix shares. A case builds one graph of one factory with one kind of worker,
calls it in one calling context several times (reusing its clients, as a real process
does), checks every answer, and sends back how many runs passed and the first errors.
"""

from __future__ import annotations

import asyncio
import operator
import os
import threading
import traceback
from collections.abc import Callable
from typing import Annotated, Any

import httpx
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from typing_extensions import TypedDict

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, create_voting_graph
from langgraph_parallel.models import LoopSafeAsyncTransport, loop_safe
from langgraph_parallel.nodes import llm_node
from langgraph_parallel.state import merge_results
from langgraph_parallel.testing import MARKER

FACTORIES = ("fanout", "orchestrator", "voting")
WORKERS = ("spec", "chat_openai", "ainvoke", "httpx_client", "chain")
"""How a worker calls the model: a spec string given to `llm_node`; a `ChatOpenAI` with
default clients given to `llm_node`; an async function calling a `ChatOpenAI` of its own
(`model.ainvoke`); an async function posting with a module-level `httpx.AsyncClient`; a
Runnable chain `prompt | ChatOpenAI | parser` given as the worker."""
CONTEXTS = ("invoke", "asyncio_run", "stream", "batch", "threads", "running_loop", "alternating")
"""`invoke` x20; `asyncio.run(ainvoke)` x20; `stream(updates)` x3; `batch` of 4 x3; 8 threads
x5 `invoke` each; `invoke` x5 inside a running loop (a notebook cell); `invoke`,
`asyncio.run(ainvoke)` and one long-lived loop's `ainvoke`, in turn, x2 each. One more,
`threads_in_turn` (4 threads, one after another, one `invoke` each), is not in the matrix: it
shows deterministically what 8 threads at once make only very likely."""

OWN_CLIENT = ("ainvoke", "httpx_client")
"""Workers that call a client the user made: the package cannot change it."""
SEVERAL_LOOPS = ("asyncio_run", "threads", "alternating")
"""Contexts in which the user's own code runs on several event loops."""


def out_of_reach(worker: str, context: str) -> bool:
    """A user's own client used from several loops by the user's choice (see docs/models.md).

    The matrix runs these with the package's public helper applied (`loop_safe`,
    `LoopSafeAsyncTransport`), as the docs advise; `test_calling_contexts` shows what
    happens without it.
    """
    return worker in OWN_CLIENT and context in SEVERAL_LOOPS


def _text(value: Any) -> str:
    return str(value["input"] if isinstance(value, dict) else value)


def make_worker(kind: str, base_url: str, *, safe: bool = False) -> Any:
    """One worker of `kind`; `safe`: the user applied the package's helper to their client."""
    if kind == "spec":
        return llm_node("Say {input}.", "openai:gpt-4o-mini")
    if kind == "chat_openai":
        return llm_node("Say {input}.", ChatOpenAI(base_url=base_url, api_key="sk-test"))
    if kind == "ainvoke":
        model = ChatOpenAI(base_url=base_url, api_key="sk-test")
        if safe:
            model = loop_safe(model)

        async def ask(value: Any) -> str:
            return str((await model.ainvoke(f"Say {_text(value)}.")).content)

        return ask
    if kind == "httpx_client":
        transport = LoopSafeAsyncTransport() if safe else None
        client = httpx.AsyncClient(base_url=base_url, transport=transport)

        async def post(value: Any) -> str:
            message = {"role": "user", "content": f"Say {_text(value)}."}
            body = {"model": "gpt-4o-mini", "messages": [message]}
            response = await client.post("/chat/completions", json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])

        return post
    if kind == "chain":
        prompt = ChatPromptTemplate.from_messages([("user", "Say {input}.")])
        return prompt | ChatOpenAI(base_url=base_url, api_key="sk-test") | StrOutputParser()
    raise ValueError(kind)


def make_graph(factory: str, worker: Any) -> Any:
    """The factory's graph with `worker` in every parallel place, compiled."""
    if factory == "fanout":
        return create_fanout_graph({"a": worker, "b": worker}, _values).compile()
    if factory == "orchestrator":
        return create_orchestrator_graph(lambda state: ["x", "y", "z"], worker, _values).compile()
    return create_voting_graph(worker, n=3).compile()


def _values(state: Any) -> list[Any]:
    return [r["value"] for r in state["results"]]


UNITS = {"fanout": 2, "orchestrator": 3, "voting": 3}


def check(output: Any, factory: str) -> None:
    """Every unit ran and answered from the server; raise what went wrong otherwise."""
    records = output["results"]
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        error = failed[0]["error"] or {}
        raise AssertionError(f"{error.get('type')}: {error.get('message')}")
    if len(records) != UNITS[factory]:
        raise AssertionError(f"{len(records)} records, expected {UNITS[factory]}")
    for record in records:
        if MARKER not in str(record["value"]):
            raise AssertionError(f"not the server's answer: {record['value']!r:.80}")


INPUT = {"input": "go"}


def contexts(graph: Any, factory: str) -> dict[str, Callable[[Callable[[], None]], None]]:
    """Each calling context: given `ran` (counts one passed run), it makes its runs."""

    def invoke(ran: Callable[[], None]) -> None:
        for _ in range(20):
            check(graph.invoke(INPUT), factory)
            ran()

    def asyncio_run(ran: Callable[[], None]) -> None:
        for _ in range(20):
            check(asyncio.run(graph.ainvoke(INPUT)), factory)
            ran()

    def stream(ran: Callable[[], None]) -> None:
        for _ in range(3):
            records = [
                record
                for chunk in graph.stream(INPUT, stream_mode="updates")
                for update in chunk.values()
                if isinstance(update, dict)
                for record in update.get("results") or []
            ]
            check({"results": records}, factory)
            ran()

    def batch(ran: Callable[[], None]) -> None:
        for _ in range(3):
            for output in graph.batch([INPUT] * 4):
                check(output, factory)
            ran()

    def threads(ran: Callable[[], None]) -> None:
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def caller() -> None:
            try:
                barrier.wait()
                for _ in range(5):
                    check(graph.invoke(INPUT), factory)
                    ran()
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=caller) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]

    def threads_in_turn(ran: Callable[[], None]) -> None:
        for _ in range(4):  # one thread after another: each thread's calls have their own loop
            errors: list[BaseException] = []
            thread = threading.Thread(target=_call_into, args=(errors, graph, factory, ran))
            thread.start()
            thread.join()
            if errors:
                raise errors[0]

    def running_loop(ran: Callable[[], None]) -> None:
        async def cell() -> None:
            for _ in range(5):
                check(graph.invoke(INPUT), factory)
                ran()

        asyncio.run(cell())

    def alternating(ran: Callable[[], None]) -> None:
        loop = asyncio.new_event_loop()
        try:
            for _ in range(2):
                check(graph.invoke(INPUT), factory)
                ran()
                check(asyncio.run(graph.ainvoke(INPUT)), factory)
                ran()
                check(loop.run_until_complete(graph.ainvoke(INPUT)), factory)
                ran()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return {
        "invoke": invoke,
        "asyncio_run": asyncio_run,
        "stream": stream,
        "batch": batch,
        "threads": threads,
        "threads_in_turn": threads_in_turn,
        "running_loop": running_loop,
        "alternating": alternating,
    }


def _call_into(errors: list[BaseException], graph: Any, factory: str, ran: Any) -> None:
    try:
        check(graph.invoke(INPUT), factory)
        ran()
    except BaseException as exc:
        errors.append(exc)


RUNS = {
    "invoke": 20,
    "asyncio_run": 20,
    "stream": 3,
    "batch": 3,
    "threads": 40,
    "threads_in_turn": 4,
    "running_loop": 5,
    "alternating": 6,
}


def run_case(
    factory: str, worker: str, context: str, base_url: str, *, safe: bool
) -> dict[str, Any]:
    """Run one case here; how many runs passed, and the error that ended it, if any."""
    os.environ.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-test")
    passed = 0
    lock = threading.Lock()

    def ran() -> None:
        nonlocal passed
        with lock:
            passed += 1

    try:
        graph = make_graph(factory, make_worker(worker, base_url, safe=safe))
        contexts(graph, factory)[context](ran)
    except BaseException as exc:
        return {"passed": passed, "runs": RUNS[context], "error": _describe(exc)}
    return {"passed": passed, "runs": RUNS[context], "error": None}


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[:500]


def child(conn: Any, case: tuple[str, str, str], base_url: str, safe: bool) -> None:
    """A child process's entry: run the case, send the result back."""
    conn.send(run_case(*case, base_url, safe=safe))
    conn.close()


class HandwrittenState(TypedDict):
    input: str
    answers: Annotated[list[str], operator.add]


class UserState(TypedDict, total=False):
    """A user's own graph's state, with the keys the package's graph reads and writes."""

    input: str
    results: Annotated[list[Any], merge_results]
    output: Any
    summary: str


def _runs(runs: int, body: Callable[[], None]) -> dict[str, Any]:
    passed = 0
    try:
        for _ in range(runs):
            body()
            passed += 1
    except BaseException as exc:
        return {"passed": passed, "runs": runs, "error": _describe(exc)}
    return {"passed": passed, "runs": runs, "error": None}


def scenario(conn: Any, name: str, base_url: str, *args: Any) -> None:
    """A child process's entry for one of the scenarios below."""
    os.environ.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-test")
    conn.send(SCENARIOS[name](base_url, *args))
    conn.close()


def handwritten(base_url: str, context: str) -> dict[str, Any]:
    """A LangGraph graph written by hand: two async nodes call one `ChatOpenAI` at once."""
    from langgraph.graph import START, StateGraph

    model = ChatOpenAI(base_url=base_url, api_key="sk-test")

    async def ask(state: HandwrittenState) -> dict[str, Any]:
        return {"answers": [str((await model.ainvoke(f"Say {state['input']}.")).content)]}

    builder = StateGraph(HandwrittenState)
    builder.add_node("a", ask)
    builder.add_node("b", ask)
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    graph = builder.compile()

    def checked(output: Any) -> None:
        assert len(output["answers"]) == 2 and all(MARKER in a for a in output["answers"])

    if context == "asyncio_run":
        return _runs(20, lambda: checked(asyncio.run(graph.ainvoke(INPUT))))

    async def one_loop() -> None:
        for _ in range(20):
            checked(await graph.ainvoke(INPUT))

    return _runs(1, lambda: asyncio.run(one_loop()))


def checkpointed(base_url: str, backend: str, mode: str, connection: str) -> dict[str, Any]:
    """Pause and resume on a checkpointer: after `interrupt()`, and before the join.

    Each resume is made from another thread than the run it resumes (`mode="sync"`), or
    from the same `asyncio.run` (`mode="async"`, the async savers' loop).
    """
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from langgraph.types import Command, interrupt

    ask = llm_node("Say {input}.", "openai:gpt-4o-mini")

    async def asks_first(state: Any, config: Any) -> Any:
        return await ask.ainvoke({"input": interrupt("go on?")}, config)

    def build(checkpointer: Any, before_join: bool) -> Any:
        builder = create_fanout_graph(
            {"a": ask, "b": asks_first if not before_join else ask}, _values
        )
        return builder.compile(
            checkpointer=checkpointer, interrupt_before=["aggregator"] if before_join else None
        )

    def configs() -> tuple[Any, Any]:
        return {"configurable": {"thread_id": uuid.uuid4().hex}}, {}

    def sync_runs(checkpointer: Any) -> None:
        with ThreadPoolExecutor(1) as other:
            for before_join in (False, True):
                graph = build(checkpointer, before_join)
                config = configs()[0]
                paused = graph.invoke(INPUT, config)
                if before_join:
                    assert graph.get_state(config).next == ("aggregator",)
                    done = other.submit(graph.invoke, None, config).result()
                else:
                    assert [i.value for i in paused["__interrupt__"]] == ["go on?"]
                    done = other.submit(graph.invoke, Command(resume="yes"), config).result()
                check(done, "fanout")

    async def async_runs(checkpointer: Any) -> None:
        for before_join in (False, True):
            graph = build(checkpointer, before_join)
            config = configs()[0]
            paused = await graph.ainvoke(INPUT, config)
            if before_join:
                done = await graph.ainvoke(None, config)
            else:
                assert [i.value for i in paused["__interrupt__"]] == ["go on?"]
                done = await graph.ainvoke(Command(resume="yes"), config)
            check(done, "fanout")

    def once() -> None:
        if mode == "sync":
            with _sync_saver(backend, connection) as checkpointer:
                sync_runs(checkpointer)
        else:
            asyncio.run(_with_async_saver(backend, connection, async_runs))

    return _runs(3, once)


def _sync_saver(backend: str, connection: str) -> Any:
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        return SqliteSaver.from_conn_string(connection)
    from contextlib import contextmanager

    from langgraph.checkpoint.postgres import PostgresSaver

    @contextmanager
    def saver() -> Any:
        with PostgresSaver.from_conn_string(connection) as checkpointer:
            checkpointer.setup()
            yield checkpointer

    return saver()


async def _with_async_saver(backend: str, connection: str, body: Any) -> None:
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(connection) as checkpointer:
            await body(checkpointer)
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(connection) as checkpointer:
        await checkpointer.setup()
        await body(checkpointer)


def auto_under_invoke(base_url: str) -> dict[str, Any]:
    """`max_concurrency="auto"` against a server of small capacity, from sync `invoke`."""
    graph = create_orchestrator_graph(
        lambda state: [f"item {i}" for i in range(24)],
        llm_node("Say {input}.", "openai:gpt-4o-mini"),
        _values,
        max_concurrency="auto",
    ).compile()

    def run() -> None:
        records = graph.invoke(INPUT)["results"]
        assert [r["status"] for r in records] == ["ok"] * 24, [r["error"] for r in records]

    return _runs(5, run)


def retry_after_429(base_url: str) -> dict[str, Any]:
    """A branch meets a 429 (the client does not retry it), the graph's retry policy runs it
    again; the custom stream carries every branch's finish."""
    from langgraph.types import RetryPolicy

    model = ChatOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    graph = create_fanout_graph(
        {
            "a": llm_node("Say {input}.", model),
            "limited": llm_node("Rate limit me: {input}.", model),
        },
        _values,
        retry=RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False),
    ).compile()

    def run() -> None:
        events, last = [], None
        for mode, chunk in graph.stream(INPUT, stream_mode=["custom", "values"]):
            if mode == "custom":
                events.append((chunk["branch"], chunk["event"]))
            else:
                last = chunk
        check(last, "fanout")
        limited = next(r for r in last["results"] if r["branch"] == "limited")
        assert limited["attempts"] == 2, limited
        assert sorted(e for e in events if e[1] == "finish") == [
            ("a", "finish"),
            ("limited", "finish"),
        ], events
        assert ("limited", "retry") in events, events

    return _runs(10, run)


def composed(base_url: str, context: str) -> dict[str, Any]:
    """A factory graph as a node of the user's own graph, between two of the user's nodes."""
    from langgraph.graph import END, START, StateGraph

    fanout = make_graph("fanout", make_worker("spec", base_url))
    builder = StateGraph(UserState)
    builder.add_node("prepare", lambda state: {"input": state["input"].upper()})
    builder.add_node("fanout", fanout)
    builder.add_node("summarize", lambda state: {"summary": f"{len(state['output'])} answers"})
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "fanout")
    builder.add_edge("fanout", "summarize")
    builder.add_edge("summarize", END)
    graph = builder.compile()

    def checked(output: Any) -> None:
        check(output, "fanout")
        assert output["summary"] == "2 answers"

    if context == "invoke":
        return _runs(20, lambda: checked(graph.invoke(INPUT)))
    return _runs(20, lambda: checked(asyncio.run(graph.ainvoke(INPUT))))


def nested(base_url: str, context: str) -> dict[str, Any]:
    """A graph's branches call another graph's sync `invoke`: one sync branch, one async."""
    inner = make_graph("fanout", make_worker("spec", base_url))

    def sync_branch(state: Any) -> Any:
        output = inner.invoke(INPUT)
        check(output, "fanout")
        return f"{MARKER} inner: {len(output['results'])}"

    async def async_branch(state: Any) -> Any:
        output = inner.invoke(INPUT)  # blocks this loop while the inner graph runs elsewhere
        check(output, "fanout")
        return f"{MARKER} inner: {len(output['results'])}"

    outer = create_fanout_graph({"a": sync_branch, "b": async_branch}, _values).compile()
    if context == "invoke":
        return _runs(10, lambda: check(outer.invoke(INPUT), "fanout"))
    return _runs(10, lambda: check(asyncio.run(outer.ainvoke(INPUT)), "fanout"))


def issue_examples(base_url: str, example: str) -> dict[str, Any]:
    """The three examples that failed when the sync path moved loops (issue 22), 20 runs each.

    `invoke`: the issue's code block; `asyncio_run`: `asyncio.run(graph.ainvoke(...))` per
    call; `others`: `batch`, 8 threads at once, `invoke` in a running loop and `stream`, five
    runs each.
    """
    from langgraph_parallel.nodes import concatenate

    g = create_fanout_graph(
        {
            "a": llm_node("Say a.", "openai:gpt-4o-mini"),
            "b": llm_node("Say b.", "openai:gpt-4o-mini"),
        },
        concatenate(),
    ).compile()

    def statuses(output: Any) -> None:
        assert [r["status"] for r in output["results"]] == ["ok", "ok"], output["results"]

    if example == "invoke":
        return _runs(20, lambda: statuses(g.invoke({"input": "go"})))
    if example == "asyncio_run":
        return _runs(20, lambda: statuses(asyncio.run(g.ainvoke({"input": "go"}))))

    def eight_threads() -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            for output in pool.map(lambda _: g.invoke({"input": "go"}), range(8)):
                statuses(output)

    async def in_a_cell() -> None:
        statuses(g.invoke({"input": "go"}))

    def streamed() -> None:
        chunks = list(g.stream({"input": "go"}, stream_mode="values"))
        statuses(chunks[-1])

    others = [
        lambda: [statuses(o) for o in g.batch([{"input": "go"}] * 3)],
        eight_threads,
        lambda: asyncio.run(in_a_cell()),
        streamed,
    ]
    runs = iter(others * 5)
    return _runs(20, lambda: next(runs)())


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "issue_examples": issue_examples,
    "handwritten": handwritten,
    "checkpointed": checkpointed,
    "auto_under_invoke": auto_under_invoke,
    "retry_after_429": retry_after_429,
    "composed": composed,
    "nested": nested,
}
