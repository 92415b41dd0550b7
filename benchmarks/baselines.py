"""The hand-written LangGraph equivalents: what a user would write without this package."""

from __future__ import annotations

import operator
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer, Send
from typing_extensions import TypedDict


class FanOut(TypedDict, total=False):
    items: list[Any]
    results: Annotated[list[Any], operator.add]
    answer: Any


def send_fanout(work: Callable[[Any], Awaitable[Any]], *, checkpointer: Checkpointer = None) -> Any:
    """A planner's items sent to a worker node with `Send`, results added with a reducer."""

    async def worker(payload: dict[str, Any]) -> dict[str, Any]:
        return {"results": [await work(payload["item"])]}

    builder = StateGraph(FanOut)
    builder.add_node("worker", worker)
    builder.add_conditional_edges(
        START, lambda s: [Send("worker", {"item": i}) for i in s["items"]], ["worker"]
    )
    builder.add_edge("worker", END)
    return builder.compile(checkpointer=checkpointer)


def sync_nodes(count: int, seconds: float) -> Any:
    """`count` sync nodes from START, each sleeping `seconds`."""

    def node(state: FanOut) -> dict[str, Any]:
        time.sleep(seconds)
        return {"results": [1]}

    builder = StateGraph(FanOut)
    for i in range(count):
        builder.add_node(f"n{i}", node)
        builder.add_edge(START, f"n{i}")
    return builder.compile()


def cpu_nodes(count: int, work: Callable[[Any], Any], arg: Any) -> Any:
    """`count` sync nodes from START, each running CPU-bound `work(arg)`."""

    def node(state: FanOut) -> dict[str, Any]:
        return {"results": [work(arg)]}

    builder = StateGraph(FanOut)
    for i in range(count):
        builder.add_node(f"n{i}", node)
        builder.add_edge(START, f"n{i}")
    return builder.compile()


def send_vote(voter: Callable[[int], Awaitable[str]], voters: int) -> Any:
    """`voters` Sends to one voter node, then a majority count."""

    async def vote(payload: dict[str, Any]) -> dict[str, Any]:
        return {"results": [await voter(payload["i"])]}

    def count(state: FanOut) -> dict[str, Any]:
        votes = state["results"]
        return {"answer": max(set(votes), key=votes.count)}

    builder = StateGraph(FanOut)
    builder.add_node("vote", vote)
    builder.add_node("count", count)
    builder.add_conditional_edges(
        START, lambda s: [Send("vote", {"i": i}) for i in range(voters)], ["vote"]
    )
    builder.add_edge("vote", "count")
    builder.add_edge("count", END)
    return builder.compile()
