"""Realistic work, each measurement in a fresh process: what users run, against fair baselines.

Work items return a small dict (`{"i": i, "v": "done-i"}`) from a worker that takes a
`config`; the synthesizer reads every record. Three variants of each case:

- `floor`: `asyncio.gather` of the same work calls, then the same synthesis: the fastest the
  machine allows.
- `package`: `create_orchestrator_graph` with default options (only `max_items` raised,
  which a plan of more than 1,000 items needs).
- `hand`: the graph LangGraph's docs write: a planner node, a conditional edge returning one
  `Send` per item, a worker node returning `{"results": [value]}` into an `operator.add`
  reducer, and a synthesizer node.

A measurement is one child process (`python benchmarks/realistic.py child ...`), which
imports everything, then runs its variant twice: the first run is *cold* (first call in the
process), the second *warm*. It reports wall and CPU seconds, full (generation 2) garbage
collections and their time for each run, and checks the result: N results, in plan order
(the package; the hand-written graph keeps completion order, which is reported), each value
right. A round runs every variant once, in turn; ratios are taken within a round, and the
median over the rounds is reported.

    python benchmarks/realistic.py child CASE VARIANT N [--memory]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import operator
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

ROOT = Path(__file__).resolve().parents[1]
L = 0.1  # seconds each work item waits (a model or tool call)
HAND_LIMIT = 300.0  # seconds after which a hand-written run is stopped
VARIANTS = [
    "floor",
    "package",
    "package-frozen",
    "hand",
    "runnable",
    "llm",
    "llm-floor",
    "fanout",
    "fanout-hand",
    "fanout-floor",
]


# --- the work, as users write it ----------------------------------------------------------


async def work(item: int, config: RunnableConfig) -> dict[str, Any]:
    """One work item: waits like a model call, returns a small dict."""
    await asyncio.sleep(L)
    return {"i": item, "v": f"done-{item}"}


def summary(values: list[dict[str, Any]]) -> dict[str, Any]:
    """The synthesis: reads every value."""
    return {"done": len(values), "chars": sum(len(v["v"]) for v in values)}


class Job(TypedDict):
    n: int


def check(values: list[Any], n: int, *, ordered: bool) -> bool:
    """N results, each value right; in plan order when `ordered`. Raises when wrong."""
    if len(values) != n:
        raise AssertionError(f"{len(values)} results for {n} items")
    by_item = values if ordered else sorted(values, key=lambda v: v["i"])
    for i, value in enumerate(by_item):
        if value != {"i": i, "v": f"done-{i}"}:
            raise AssertionError(f"item {i}: {value!r}")
    return [v["i"] for v in values] == list(range(n))


# --- the variants -------------------------------------------------------------------------


def synthesize(state: dict[str, Any]) -> dict[str, Any]:
    return summary([r["value"] for r in state["results"] if r["status"] == "ok"])


def count_answers(state: dict[str, Any]) -> dict[str, Any]:
    answers = [r["value"] for r in state["results"] if r["status"] == "ok"]
    return {"done": len(answers), "chars": sum(map(len, answers))}


def package_graph(checkpointer: Any = None, worker: Any = work, join: Any = synthesize) -> Any:
    from langgraph_parallel import create_orchestrator_graph

    return create_orchestrator_graph(
        lambda s: list(range(s["n"])), worker, join, state_schema=Job, max_items=1_000_000
    ).compile(checkpointer=checkpointer)


class HandState(TypedDict, total=False):
    n: int
    items: list[int]
    results: Annotated[list[dict[str, Any]], operator.add]
    output: dict[str, Any]


def hand_graph(checkpointer: Any = None) -> Any:
    """The orchestrator-worker graph of LangGraph's docs."""

    def planner(state: HandState) -> dict[str, Any]:
        return {"items": list(range(state["n"]))}

    def assign(state: HandState) -> list[Send]:
        return [Send("worker", {"item": i}) for i in state["items"]]

    async def worker(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {"results": [await work(payload["item"], config)]}

    def synthesizer(state: HandState) -> dict[str, Any]:
        return {"output": summary(state["results"])}

    builder = StateGraph(HandState)
    builder.add_node("planner", planner)
    builder.add_node("worker", worker)
    builder.add_node("synthesizer", synthesizer)
    builder.add_edge(START, "planner")
    builder.add_conditional_edges("planner", assign, ["worker"])
    builder.add_edge("worker", "synthesizer")
    builder.add_edge("synthesizer", END)
    return builder.compile(checkpointer=checkpointer)


@asynccontextmanager
async def saver(kind: str) -> AsyncIterator[Any]:
    """No checkpointer, a SQLite file, or a PostgreSQL server (the one the tests use)."""
    if kind == "none":
        yield None
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "bench.sqlite")
            async with AsyncSqliteSaver.from_conn_string(path) as checkpointer:
                yield checkpointer
    elif kind == "postgres":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        sys.path.insert(0, str(ROOT / "tests"))
        from postgres import postgres_server

        with postgres_server() as uri:
            async with AsyncPostgresSaver.from_conn_string(uri) as checkpointer:
                await checkpointer.setup()
                yield checkpointer
    else:
        raise ValueError(f"unknown checkpointer {kind!r}")


PROMPT = "Say that the item is done."


def simulated() -> Any:
    from langgraph_parallel.models import Latency, SimulatedChatModel

    return SimulatedChatModel(latency=Latency.fixed(0.0), words=6)


def check_answers(values: list[Any], n: int) -> bool:
    if len(values) != n or not all(str(v).startswith("[simulated]") for v in values):
        raise AssertionError(f"{len(values)} answers for {n} items, or one is not simulated")
    return True


async def branch(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
    """A static branch of a fan-out: waits like a model call, returns a small dict."""
    await asyncio.sleep(L)
    return {"i": 0, "v": "done-0"}


def fanout_graph(n: int) -> Any:
    from langgraph_parallel import create_fanout_graph

    def aggregate(state: dict[str, Any]) -> dict[str, Any]:
        return summary([r["value"] for r in state["results"] if r["status"] == "ok"])

    return create_fanout_graph({f"b{i}": branch for i in range(n)}, aggregate).compile()


def fanout_hand_graph(n: int) -> Any:
    """`n` nodes from START into an aggregator, the way LangGraph's docs write a fan-out."""

    async def node(state: HandState, config: RunnableConfig) -> dict[str, Any]:
        return {"results": [await branch(dict(state), config)]}

    def aggregator(state: HandState) -> dict[str, Any]:
        return {"output": summary(state["results"])}

    builder = StateGraph(HandState)
    builder.add_node("aggregator", aggregator)
    for i in range(n):
        builder.add_node(f"b{i}", node)
        builder.add_edge(START, f"b{i}")
    builder.add_edge([f"b{i}" for i in range(n)], "aggregator")
    builder.add_edge("aggregator", END)
    return builder.compile()


def check_branches(values: list[Any], n: int) -> bool:
    if values != [{"i": 0, "v": "done-0"}] * n:
        raise AssertionError(f"{len(values)} branch values for {n} branches, or one is wrong")
    return True


def runner(variant: str, n: int, checkpointer: Any) -> Callable[[int], Awaitable[bool]]:
    """What one run of `variant` does; it returns whether the results came in plan order."""
    threads = iter(range(1_000_000))

    def config() -> dict[str, Any]:
        return {"configurable": {"thread_id": f"t{next(threads)}"}} if checkpointer else {}

    if variant == "floor":

        async def floor(n: int) -> bool:
            values = await asyncio.gather(*(work(i, {}) for i in range(n)))
            summary(values)
            return check(values, n, ordered=True)

        return floor
    if variant in ("package", "package-frozen"):
        graph = package_graph(checkpointer)

        async def package(n: int) -> bool:
            state = await graph.ainvoke({"n": n}, config())
            assert state["output"] == summary([r["value"] for r in state["results"]])
            return check([r["value"] for r in state["results"]], n, ordered=True)

        return package
    if variant == "hand":
        graph = hand_graph(checkpointer)

        async def hand(n: int) -> bool:
            state = await graph.ainvoke({"n": n}, config())
            assert state["output"] == summary(state["results"])
            return check(state["results"], n, ordered=False)

        return hand
    if variant == "runnable":
        from langchain_core.runnables import RunnableLambda

        graph = package_graph(checkpointer, worker=RunnableLambda(work))

        async def runnable(n: int) -> bool:
            state = await graph.ainvoke({"n": n}, config())
            return check([r["value"] for r in state["results"]], n, ordered=True)

        return runnable
    if variant == "llm":
        from langgraph_parallel.nodes import llm_node

        graph = package_graph(checkpointer, llm_node(PROMPT, simulated()), count_answers)

        async def llm(n: int) -> bool:
            state = await graph.ainvoke({"n": n}, config())
            assert [r["index"] for r in state["results"]] == list(range(n))
            return check_answers([r["value"] for r in state["results"]], n)

        return llm
    if variant == "llm-floor":
        model = simulated()

        async def llm_floor(n: int) -> bool:
            answers = await asyncio.gather(
                *(model.ainvoke([("system", PROMPT), ("human", str(i))]) for i in range(n))
            )
            texts = [a.content for a in answers]
            count_answers({"results": [{"status": "ok", "value": t} for t in texts]})
            return check_answers(texts, n)

        return llm_floor
    if variant == "fanout":
        graph = fanout_graph(n)

        async def fanout(n: int) -> bool:
            state = await graph.ainvoke({})
            return check_branches([r["value"] for r in state["results"]], n)

        return fanout
    if variant == "fanout-hand":
        graph = fanout_hand_graph(n)

        async def fanout_hand(n: int) -> bool:
            state = await graph.ainvoke({})
            return check_branches(state["results"], n)

        return fanout_hand
    if variant == "fanout-floor":

        async def fanout_floor(n: int) -> bool:
            values = await asyncio.gather(*(branch({}, {}) for _ in range(n)))
            return check_branches(list(values), n)

        return fanout_floor
    raise ValueError(f"unknown variant {variant!r}")


# --- one measurement, in this (fresh) process --------------------------------------------


class _Collections:
    """Counts full collections and their time, through `gc.callbacks`."""

    def __init__(self) -> None:
        self.full = 0
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.full += 1
            self.seconds += time.perf_counter() - self._started


async def child(case: str, variant: str, n: int, memory: bool) -> dict[str, Any]:
    import langgraph_parallel  # noqa: F401  (imports first: they are not the run's cost)

    if variant == "package-frozen":  # the opt-in recipe: the imports' objects leave the GC
        gc.collect()
        gc.freeze()

    collections = _Collections()
    out: dict[str, Any] = {"case": case, "variant": variant, "n": n, "runs": []}
    async with saver(case) as checkpointer:
        run = runner(variant, n, checkpointer)
        for _ in range(2):  # cold, then warm
            gc.collect()
            full, gc_seconds = collections.full, collections.seconds
            if memory:
                tracemalloc.start()
                base = tracemalloc.get_traced_memory()[0]
            cpu, wall = time.process_time(), time.perf_counter()
            ordered = await run(n)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            peak = None
            if memory:
                peak = tracemalloc.get_traced_memory()[1] - base
                tracemalloc.stop()
            out["runs"].append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "full_collections": collections.full - full,
                    "gc_seconds": collections.seconds - gc_seconds,
                    "peak_bytes": peak,
                    "ordered": ordered,
                }
            )
    return out


# --- the parent: rounds of fresh processes ------------------------------------------------


@dataclass
class Measured:
    """The runs of one variant, over the rounds (None: it did not finish in time)."""

    variant: str
    rounds: list[dict[str, Any] | None] = field(default_factory=list)

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.rounds if r is not None]


def measure_once(
    case: str, variant: str, n: int, *, memory: bool = False, limit: float | None = None
) -> dict[str, Any] | None:
    """One fresh process; `None` when it passed `limit` seconds."""
    command = [sys.executable, __file__, "child", case, variant, str(n)]
    if memory:
        command.append("--memory")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=limit, check=False, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    case: str,
    n: int,
    variants: list[str],
    rounds: int,
    *,
    memory: bool = False,
    hand_limit: float = HAND_LIMIT,
) -> dict[str, Measured]:
    """`rounds` rounds, each running every variant once in a fresh process, in turn.

    A hand-written run that passes `hand_limit` is not tried again at this size.
    """
    measured = {v: Measured(v) for v in variants}
    for _ in range(rounds):
        for variant in variants:
            if variant == "hand" and measured[variant].rounds and not measured[variant].finished():
                continue
            limit = hand_limit if variant == "hand" else None
            measured[variant].rounds.append(
                measure_once(case, variant, n, memory=memory, limit=limit)
            )
    return measured


def median_of(measured: Measured, run: int, key: str) -> float | None:
    values = [r["runs"][run][key] for r in measured.finished()]
    return statistics.median(values) if values else None


def ratio_to_floor(
    measured: dict[str, Measured],
    variant: str,
    run: int,
    key: str = "wall",
    floor: str = "floor",
) -> float | None:
    """The median over rounds of `variant / floor`, each ratio within one round."""
    pairs = zip(measured[floor].rounds, measured[variant].rounds, strict=False)
    ratios = [
        mine["runs"][run][key] / base["runs"][run][key]
        for base, mine in pairs
        if base is not None and mine is not None and base["runs"][run][key] > 0
    ]
    return statistics.median(ratios) if ratios else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("child", help="one measurement in this process (prints JSON)")
    run.add_argument("case", choices=["none", "sqlite", "postgres"])
    run.add_argument("variant", choices=VARIANTS)
    run.add_argument("n", type=int)
    run.add_argument("--memory", action="store_true", help="trace allocations (slower)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(child(args.case, args.variant, args.n, args.memory))))


if __name__ == "__main__":
    main()
