"""The fault matrix: each fault, under each policy, loses nothing and says clearly what failed.

Faults covered elsewhere: timeouts and hangs (test_failure_policy), 429/500/hang over HTTP
(test_openai_client), kills (test_crash), misspelled `writes=` keys (test_bad_input).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from devserver import free_port
from helpers import KINDS, build
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, RetryPolicy, interrupt

from langgraph_parallel import create_fanout_graph, create_orchestrator_graph, create_voting_graph
from langgraph_parallel.errors import BranchFailuresError, InvalidInputError, InvalidPlanError
from langgraph_parallel.nodes import is_transient, llm_node


def ok(index: int) -> str:
    return f"ok {index}"


def boom(index: int) -> str:
    raise RuntimeError(f"unit {index} broke")


POLICIES = {"collect": {}, "fail_fast": {"on_error": "fail_fast"}, "budget": {"min_successes": 2}}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_exception_in_one_unit(kind: str, policy: str) -> None:
    config = {"configurable": {"thread_id": f"{kind}-{policy}"}}

    def boom_once_the_others_are_saved(index: int) -> str:
        # Fail fast stops the units still running; the ones that finished are what the resume
        # keeps. Failing only after both are saved makes that the case on a loaded machine.
        for _ in range(3000):
            if len([t for t in graph.get_state(config).tasks if t.result]) >= 2:
                break
            time.sleep(0.01)
        return boom(index)

    unit = boom_once_the_others_are_saved if policy == "fail_fast" else boom
    graph = build(kind, [ok, unit, ok], **POLICIES[policy]).compile(checkpointer=InMemorySaver())
    if policy == "fail_fast":
        with pytest.raises(RuntimeError, match="unit 1 broke"):
            graph.invoke({"input": None}, config)
        kept = [t.result for t in graph.get_state(config).tasks if t.result]
        assert len(kept) == 2  # the units that finished are saved for the resume
        return
    state = graph.invoke({"input": None}, config)  # budget of 2 is met by the 2 successes
    records = state["results"]
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert records[1]["error"] == {"type": "RuntimeError", "message": "unit 1 broke"}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_exception_in_every_unit(kind: str, policy: str) -> None:
    graph = build(kind, [boom, boom, boom], **POLICIES[policy]).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": f"all-{kind}-{policy}"}}
    if policy == "collect":
        records = graph.invoke({"input": None}, config)["results"]
        assert [r["error"]["message"] for r in records] == [f"unit {i} broke" for i in range(3)]
    elif policy == "fail_fast":
        with pytest.raises(RuntimeError, match=r"unit \d broke"):
            graph.invoke({"input": None}, config)
    else:
        with pytest.raises(BranchFailuresError, match="only 0 branch"):
            graph.invoke({"input": None}, config)
        # the records of the failed run are in the thread, for inspection or retry_failed
        records = graph.get_state(config).values["results"]
        assert [r["status"] for r in records] == ["error"] * 3


def test_connection_refused_is_recorded_after_its_retries() -> None:
    refused = ChatOpenAI(
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key="sk-test",
        model="gpt-4o-mini",
        max_retries=0,
    )
    retry = RetryPolicy(initial_interval=0.01, jitter=False, max_attempts=3, retry_on=is_transient)
    graph = create_fanout_graph(
        {"down": llm_node("Hi.", refused), "up": lambda s: "fine"}, lambda s: None, retry=retry
    ).compile()
    down, up = graph.invoke({"input": None})["results"]
    assert (down["status"], down["attempts"]) == ("error", 3)
    assert down["error"]["type"] == "OpenAIConnectionError"
    assert up["status"] == "ok"


@pytest.mark.parametrize("value", [None, {}], ids=["None", "empty dict"])
def test_a_branch_returning_none_or_an_empty_dict_is_a_success_with_that_value(value: Any) -> None:
    graph = create_fanout_graph(
        {"quiet": lambda s: value, "loud": lambda s: 1}, lambda s: None
    ).compile()
    quiet = graph.invoke({"input": None})["results"][0]
    assert (quiet["status"], quiet["value"]) == ("ok", value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_sync_hang_is_waited_for_without_a_timeout_and_left_behind_with_one(kind: str) -> None:
    # Python cannot stop a thread. Without a timeout (or deadline) the run waits for the
    # hung call; with one, the unit is recorded `timeout`, the run goes on, and the thread's
    # late return changes nothing.
    release = threading.Event()

    def hangs(index: int) -> str:
        release.wait(10)
        return "late"

    waiting: dict[str, Any] = {}
    run = threading.Thread(
        target=lambda: waiting.update(build(kind, [hangs, ok]).compile().invoke({"input": 0}))
    )
    run.start()
    run.join(0.3)
    assert run.is_alive()  # still waiting for the hung call
    release.set()
    run.join(5)
    assert [r["status"] for r in waiting["results"]] == ["ok", "ok"]

    release.clear()
    graph = build(kind, [hangs, ok], timeout=0.1).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"hang-{kind}"}}
    records = graph.invoke({"input": 0}, config)["results"]
    assert [r["status"] for r in records] == ["timeout", "ok"]
    assert "0.1" in records[0]["error"]["message"]
    release.set()
    time.sleep(0.1)  # the abandoned thread returns now
    assert graph.get_state(config).values["results"] == records


@pytest.mark.parametrize("kind", KINDS)
def test_a_unit_returning_a_misspelled_key_keeps_it_whole(kind: str) -> None:
    # A plain LangGraph node's unknown keys vanish (test_langgraph_behaviour); here a unit's
    # value is its record, whatever its keys. Keys it writes to state are checked at build
    # time, naming the branch (test_bad_input).
    graph = build(kind, [lambda i: {"sumary": f"text {i}"}, ok]).compile()
    first = graph.invoke({"input": None})["results"][0]
    assert (first["status"], first["value"]) == ("ok", {"sumary": "text 0"})


@pytest.mark.parametrize(
    "plan", [[7], ["same", "same", "other", "same"]], ids=["one item", "duplicates"]
)
def test_one_item_and_duplicate_items(plan: list[Any]) -> None:
    seen: list[Any] = []

    def work(item: Any) -> str:
        seen.append(item)
        return f"{item}!"

    state = (
        create_orchestrator_graph(lambda s: plan, work, lambda s: None)
        .compile()
        .invoke({"input": None})
    )
    assert [r["value"] for r in state["results"]] == [f"{item}!" for item in plan]
    assert sorted(seen) == sorted(plan)  # each occurrence once


def test_ten_thousand_items_with_failures_lose_nothing() -> None:
    async def work(item: int) -> int:
        await asyncio.sleep(0.001)
        if item % 997 == 0:
            raise ValueError(f"item {item}")
        return item

    graph = create_orchestrator_graph(
        lambda s: list(range(10_000)), work, lambda s: None, max_items=10_000
    ).compile()
    records = asyncio.run(graph.ainvoke({"input": None}))["results"]
    assert [r["index"] for r in records] == list(range(10_000))
    failed = [r["index"] for r in records if r["status"] == "error"]
    assert failed == [i for i in range(10_000) if i % 997 == 0]


def test_a_work_item_the_checkpointer_cannot_save_fails_at_dispatch_naming_it() -> None:
    ran: list[Any] = []
    graph = create_orchestrator_graph(
        lambda s: [1, threading.Lock(), 3], lambda item: ran.append(item), lambda s: None
    ).compile(checkpointer=InMemorySaver())
    with pytest.raises(
        InvalidPlanError, match=r"work item 1 \(lock\) cannot be saved by the checkpointer"
    ):
        graph.invoke({"input": None}, {"configurable": {"thread_id": "unsaveable"}})
    assert ran == []
    # without a checkpointer nothing needs saving, and it runs
    free = create_orchestrator_graph(
        lambda s: [threading.Lock()], lambda item: "ok", lambda s: None
    )
    assert free.compile().invoke({"input": None})["results"][0]["status"] == "ok"


@pytest.mark.parametrize("kind", ["fanout", "voting"])
def test_an_input_the_checkpointer_cannot_save_fails_before_any_branch(kind: str) -> None:
    ran: list[int] = []
    graph = build(kind, [lambda i: ran.append(i)] * 2).compile(checkpointer=InMemorySaver())
    with pytest.raises(InvalidInputError, match=r"input key 'input' \(generator\) cannot be saved"):
        graph.invoke({"input": (i for i in range(3))}, {"configurable": {"thread_id": kind}})
    assert ran == []


@pytest.mark.parametrize("kind", KINDS)
def test_interrupts_in_two_parallel_units_resume_by_interrupt_id(kind: str) -> None:
    def ask(question: str) -> Any:
        def unit(_: Any) -> str:
            return f"{question}: {interrupt(question)}"

        return unit

    questions = ["colour?", "size?"]
    checkpointer = InMemorySaver()
    if kind == "fanout":
        graph = create_fanout_graph({"a": ask("colour?"), "b": ask("size?")}, lambda s: None)
    elif kind == "orchestrator":
        graph = create_orchestrator_graph(
            lambda s: questions, lambda q: f"{q}: {interrupt(q)}", lambda s: None, chunk_size=1
        )
    else:
        graph = create_voting_graph([ask("colour?"), ask("size?")])
    compiled = graph.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": f"hitl-{kind}"}}
    paused = compiled.invoke({"input": None}, config)
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    assert set(ids) == set(questions)
    done = compiled.invoke(Command(resume={ids["colour?"]: "red", ids["size?"]: "L"}), config)
    assert [r["value"] for r in done["results"]] == ["colour?: red", "size?: L"]


def test_a_consumer_that_stops_reading_midway_leaves_no_task_running() -> None:
    finished: list[int] = []

    async def unit(index: int) -> int:
        await asyncio.sleep(0.02 if index == 0 else 1.0)
        finished.append(index)
        return index

    graph = create_orchestrator_graph(
        lambda s: list(range(6)), unit, lambda s: None, chunk_size=3
    ).compile()

    async def read_one_event_then_leave() -> set[asyncio.Task[Any]]:
        stream = graph.astream({"input": None}, stream_mode="custom")
        async for event in stream:
            if event.get("event") == "finish":
                break
        await stream.aclose()
        await asyncio.sleep(1.2)  # longer than the slow units would have taken
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    left = asyncio.run(read_one_event_then_leave())
    assert left == set()
    assert finished == [0]  # the others were cancelled, not left to finish
