"""`make bench`: every scenario side by side, written to docs/benchmarks.md and a plot.

For each scenario: the floor (the same work with plain asyncio or concurrent.futures), the
hand-written LangGraph equivalent, sequential, and this package. Each figure is the median
of 5 rounds; a round runs every variant once, in turn, each from a collected heap
(`gc.collect()` first), so all variants see the same machine noise. Ratios are to the floor
of the same run. Benchmarks are not tests: nothing here fails a build.

    python benchmarks/run.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

import adaptive  # noqa: E402
import baselines  # noqa: E402
from work import rounds_for, spin, spin_state  # noqa: E402

from langgraph_parallel import (  # noqa: E402
    create_fanout_graph,
    create_orchestrator_graph,
    create_voting_graph,
)
from langgraph_parallel._bridge import process_pool  # noqa: E402
from langgraph_parallel.nodes import Hedge, hedged  # noqa: E402

ROUNDS = 5
L = 0.1  # seconds each async unit of work sleeps


@dataclass
class Scenario:
    """One table of the report."""

    title: str
    what: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Target:
    """One target from the performance issue, with what was measured."""

    name: str
    goal: str
    measured: str
    met: bool


def median(values: list[float]) -> float:
    return statistics.median(values)


async def rounds(
    variants: dict[str, Callable[[], Awaitable[Any]]], runs: int = ROUNDS
) -> dict[str, float]:
    """Median seconds of each variant over `runs` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, run in variants.items():
            gc.collect()
            started = time.perf_counter()
            await run()
            times[name].append(time.perf_counter() - started)
    return {name: median(values) for name, values in times.items()}


async def sleep_work(item: Any) -> Any:
    await asyncio.sleep(L)
    return item


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s"


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x"


def row(label: str, value: float, floor: float) -> list[str]:
    """A table row: the variant, its wall time and its ratio to the floor."""
    return [label, fmt(value), ratio(value, floor)]


# --- scenarios -------------------------------------------------------------------------


async def fanout_scaling(
    sizes: list[int], report: list[Scenario], targets: list[Target]
) -> dict[str, dict[int, float]]:
    package = create_orchestrator_graph(
        lambda s: list(range(s["input"])),
        sleep_work,
        lambda s: len(s["results"]),
        max_items=100_000,
    ).compile()
    hand = baselines.send_fanout(sleep_work)
    curves: dict[str, dict[int, float]] = {
        "floor": {},
        "langgraph-parallel": {},
        "hand-written Send": {},
        "sequential": {},
    }
    scenario = Scenario(
        "Fan-out at scale",
        f"N async work items, each sleeping {L} s: `create_orchestrator_graph` against "
        "`asyncio.gather` (the floor) and a hand-written `Send` fan-out.",
        ["N", "floor", "langgraph-parallel", "hand-written Send", "sequential"],
    )
    for n in sizes:
        result = await rounds(
            {
                "floor": lambda n=n: asyncio.gather(*(sleep_work(i) for i in range(n))),
                "package": lambda n=n: package.ainvoke({"input": n}),
                "hand": lambda n=n: hand.ainvoke({"items": list(range(n))}),
            }
        )
        floor = result["floor"]
        sequential = n * L  # computed: running them one by one takes N x L
        if n <= 10:
            sequential = (await rounds({"seq": lambda n=n: _sequential(n)}, runs=ROUNDS))["seq"]
        curves["floor"][n] = floor
        curves["langgraph-parallel"][n] = result["package"]
        curves["hand-written Send"][n] = result["hand"]
        curves["sequential"][n] = sequential
        scenario.rows.append(
            [
                f"{n:,}",
                fmt(floor),
                f"{fmt(result['package'])} ({ratio(result['package'], floor)})",
                f"{fmt(result['hand'])} ({ratio(result['hand'], floor)})",
                f"{fmt(sequential)}{'' if n <= 10 else ' (computed)'}",
            ]
        )
        for size, limit in ((1000, 1.3), (10000, 1.5)):
            if n == size:
                value = result["package"] / floor
                targets.append(
                    Target(
                        f"fan-out, {size:,} items",
                        f"<= {limit}x floor",
                        f"{value:.2f}x",
                        value <= limit,
                    )
                )
    report.append(scenario)
    return curves


async def _sequential(n: int) -> None:
    for i in range(n):
        await sleep_work(i)


async def memory(n: int, report: list[Scenario], targets: list[Target]) -> None:
    package = create_orchestrator_graph(
        lambda s: list(range(s["input"])),
        sleep_work,
        lambda s: len(s["results"]),
        max_items=100_000,
    ).compile()
    hand = baselines.send_fanout(sleep_work)
    await package.ainvoke({"input": 100})

    async def peak(run: Callable[[], Awaitable[Any]]) -> float:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        await run()
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top - base

    floor = median(
        [
            await peak(lambda: asyncio.gather(*(sleep_work(i) for i in range(n))))
            for _ in range(ROUNDS)
        ]
    )
    mine = median([await peak(lambda: package.ainvoke({"input": n})) for _ in range(ROUNDS)])
    small = n // 10
    theirs = median(
        [await peak(lambda: hand.ainvoke({"items": list(range(small))})) for _ in range(ROUNDS)]
    )
    report.append(
        Scenario(
            "Memory per item",
            f"Peak traced memory (tracemalloc) during a run, per work item; {n:,} items "
            f"({small:,} for the hand-written graph, which is slow at {n:,}).",
            ["variant", "bytes per item", "beyond the floor"],
            [
                ["floor (`asyncio.gather`)", f"{floor / n:,.0f}", "-"],
                ["langgraph-parallel", f"{mine / n:,.0f}", f"{(mine - floor) / n:,.0f}"],
                [
                    "hand-written Send",
                    f"{theirs / small:,.0f}",
                    f"{theirs / small - floor / n:,.0f}",
                ],
            ],
        )
    )
    own = (mine - floor) / n
    targets.append(
        Target(
            f"memory per item at {n:,}",
            "<= 2 KB",
            f"{own / 1024:.2f} KB beyond the floor's {floor / n / 1024:.2f} KB "
            f"({mine / n / 1024:.2f} KB in all)",
            own <= 2048,
        )
    )


async def sqlite(n: int, report: list[Scenario], targets: list[Target]) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    with tempfile.TemporaryDirectory() as folder:
        async with AsyncSqliteSaver.from_conn_string(str(Path(folder) / "bench.sqlite")) as saver:
            package = create_orchestrator_graph(
                lambda s: list(range(s["input"])),
                sleep_work,
                lambda s: len(s["results"]),
                max_items=100_000,
            ).compile(checkpointer=saver)
            hand = baselines.send_fanout(sleep_work, checkpointer=saver)
            threads = iter(range(1_000_000))

            def config() -> dict[str, Any]:
                return {"configurable": {"thread_id": str(next(threads))}}

            result = await rounds(
                {
                    "floor": lambda: asyncio.gather(*(sleep_work(i) for i in range(n))),
                    "package": lambda: package.ainvoke({"input": n}, config()),
                    "hand": lambda: hand.ainvoke({"items": list(range(n))}, config()),
                }
            )
    floor = result["floor"]
    report.append(
        Scenario(
            "Fan-out with a SQLite checkpointer",
            f"{n:,} items of {L} s, both graphs on `AsyncSqliteSaver`, a new thread per run.",
            ["variant", "wall", "ratio to floor"],
            [
                row("floor (`asyncio.gather`, no checkpointer)", floor, floor),
                row("langgraph-parallel + AsyncSqliteSaver", result["package"], floor),
                row("hand-written Send + AsyncSqliteSaver", result["hand"], floor),
            ],
        )
    )
    value = result["package"] / floor
    targets.append(
        Target(f"SQLite checkpointer, {n:,} items", "<= 1.5x floor", f"{value:.2f}x", value <= 1.5)
    )


async def sync_work(report: list[Scenario], targets: list[Target]) -> None:
    count, seconds = 100, 0.1

    def sleeper(state: Any) -> int:
        time.sleep(seconds)
        return 1

    package = create_fanout_graph(
        {f"b{i}": sleeper for i in range(count)}, lambda s: None
    ).compile()
    hand = baselines.sync_nodes(count, seconds)
    pool = ThreadPoolExecutor(count)

    async def floor() -> None:
        await asyncio.gather(
            *(
                asyncio.get_running_loop().run_in_executor(pool, time.sleep, seconds)
                for _ in range(count)
            )
        )

    def in_thread(call: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
        return lambda: asyncio.to_thread(call)

    result = await rounds(
        {
            "floor": floor,
            "package invoke": in_thread(lambda: package.invoke({"input": None})),
            "package ainvoke": lambda: package.ainvoke({"input": None}),
            "hand invoke": in_thread(lambda: hand.invoke({})),
            # as LangGraph documents it: the sync pool sized by the config's max_concurrency
            "hand invoke sized": in_thread(lambda: hand.invoke({}, {"max_concurrency": count + 4})),
            "hand ainvoke": lambda: hand.ainvoke({}),
        }
    )
    pool.shutdown()
    rows = [["floor (100 threads)", fmt(result["floor"]), f"{result['floor'] / seconds:.2f}x"]]
    for key, label in (
        ("package invoke", "langgraph-parallel, `invoke`"),
        ("package ainvoke", "langgraph-parallel, `ainvoke`"),
        ("hand invoke", "hand-written sync nodes, `invoke` (default pool)"),
        ("hand invoke sized", "hand-written sync nodes, `invoke`, `max_concurrency=104`"),
        ("hand ainvoke", "hand-written sync nodes, `ainvoke`"),
    ):
        rows.append([label, fmt(result[key]), f"{result[key] / seconds:.2f}x"])
    rows.append(["sequential", f"{fmt(count * seconds)} (computed)", f"{count:.0f}x"])
    report.append(
        Scenario(
            "Sync work",
            f"{count} sync branches each sleeping {seconds} s (blocking I/O).",
            ["variant", "wall", f"ratio to {seconds} s"],
            rows,
        )
    )
    for mode in ("invoke", "ainvoke"):
        value = result[f"package {mode}"] / seconds
        targets.append(
            Target(
                f"100 sync branches, `{mode}`", "<= 1.5x of 0.1 s", f"{value:.2f}x", value <= 1.5
            )
        )


async def cpu_bound(report: list[Scenario], targets: list[Target]) -> None:
    seconds = 1.0
    work = rounds_for(seconds)  # a fixed amount of CPU work, ~1 s on one core
    in_processes = create_fanout_graph(
        {"a": spin_state, "b": spin_state}, lambda s: None, executor="process"
    ).compile()
    in_threads = create_fanout_graph({"a": spin_state, "b": spin_state}, lambda s: None).compile()
    hand = baselines.cpu_nodes(2, spin, work)
    list(process_pool().map(spin, [1] * 4))  # the pool is reused across runs: start it first
    floor_pool = ProcessPoolExecutor(2)
    list(floor_pool.map(spin, [1] * 2))

    async def floor() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(floor_pool, spin, work) for _ in range(2)))

    async def sequential() -> None:
        spin(work)
        spin(work)

    result = await rounds(
        {
            "floor": floor,
            "processes": lambda: in_processes.ainvoke({"input": work}),
            "threads": lambda: in_threads.ainvoke({"input": work}),
            "hand": lambda: asyncio.to_thread(hand.invoke, {}),
            "sequential": sequential,
        }
    )
    floor_pool.shutdown()
    floor_time = result["floor"]
    report.append(
        Scenario(
            "CPU-bound branches",
            f"2 branches each doing about {seconds} s of CPU work (a fixed amount, measured "
            f"on one core), on a machine with {os.cpu_count()} cores.",
            ["variant", "wall", "ratio to floor"],
            [
                row("floor (`ProcessPoolExecutor`, 2 workers)", floor_time, floor_time),
                row('langgraph-parallel, `executor="process"`', result["processes"], floor_time),
                row("langgraph-parallel, threads (default)", result["threads"], floor_time),
                row("hand-written sync nodes", result["hand"], floor_time),
                row("sequential", result["sequential"], floor_time),
            ],
        )
    )
    value = result["processes"]
    targets.append(
        Target(
            "2 CPU-bound branches of 1 s",
            "about 1 s, not 2",
            f"{value:.2f} s (threads: {result['threads']:.2f} s)",
            value <= 1.3 * floor_time,
        )
    )


async def hedging(report: list[Scenario], targets: list[Target]) -> None:
    count, fast, slow, p_slow = 100, 0.1, 2.0, 0.05
    seeds = iter(range(10_000))
    rng = random.Random(0)

    async def call(item: Any) -> Any:
        await asyncio.sleep(slow if rng.random() < p_slow else fast)
        return item

    hedges: list[Hedge] = []

    def plan(state: Any) -> list[int]:
        return list(range(count))

    plain = create_orchestrator_graph(plan, call, lambda s: None).compile()
    hand = baselines.send_fanout(call)

    async def hedged_run() -> None:
        hedge = Hedge(after=0.15)
        hedges.append(hedge)
        graph = create_orchestrator_graph(plan, hedged(call, hedge), lambda s: None).compile()
        await graph.ainvoke({"input": None})

    def seeded(run: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def with_seed() -> Any:
            rng.seed(next(seeds))
            return await run()

        return with_seed

    result = await rounds(
        {
            "floor": seeded(lambda: asyncio.gather(*(call(i) for i in range(count)))),
            "hand": seeded(lambda: hand.ainvoke({"items": list(range(count))})),
            "plain": seeded(lambda: plain.ainvoke({"input": None})),
            "hedged": seeded(hedged_run),
        }
    )
    extra = median([h.extra_calls for h in hedges])
    report.append(
        Scenario(
            "Hedged calls",
            f"{count} calls at once; every attempt takes {slow} s with probability {p_slow:.0%}, "
            f"else {fast} s. Hedged: a backup call after 0.15 s, first to finish wins.",
            ["variant", "median wall", "extra calls"],
            [
                ["floor (`asyncio.gather`, unhedged)", fmt(result["floor"]), "0%"],
                ["hand-written Send, unhedged", fmt(result["hand"]), "0%"],
                ["langgraph-parallel, unhedged", fmt(result["plain"]), "0%"],
                ["langgraph-parallel, `hedged(after=0.15)`", fmt(result["hedged"]), f"{extra:.0%}"],
            ],
        )
    )
    targets.append(
        Target(
            "hedged 100-way fan-out with 5% stragglers",
            "<= 0.4 s median, <= 10% extra calls",
            f"{result['hedged']:.3f} s, {extra:.1%} extra (unhedged {result['plain']:.2f} s)",
            result["hedged"] <= 0.4 and extra <= 0.10,
        )
    )


async def early_vote(report: list[Scenario], targets: list[Target]) -> None:
    latencies, answers = [0.1, 0.1, 0.1, 1.0, 1.0], ["yes", "yes", "yes", "no", "no"]
    completed: list[int] = []

    async def ballot(i: int) -> str:
        await asyncio.sleep(latencies[i])
        completed.append(i)
        return answers[i]

    async def voter(state: Any, config: RunnableConfig) -> str:
        return await ballot(config["metadata"]["lgp_index"])

    early = create_voting_graph(voter, n=5, early_stop=True).compile()
    full = create_voting_graph(voter, n=5).compile()
    hand = baselines.send_vote(ballot, 5)

    async def floor() -> None:  # stop as soon as a majority agrees
        tasks = [asyncio.ensure_future(ballot(i)) for i in range(5)]
        seen: dict[str, int] = {}
        for finished in asyncio.as_completed(tasks):
            answer = await finished
            seen[answer] = seen.get(answer, 0) + 1
            if seen[answer] >= 3:
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    calls: list[int] = []

    async def early_run() -> None:
        completed.clear()
        await early.ainvoke({"input": None})
        calls.append(len(completed))

    result = await rounds(
        {
            "floor": floor,
            "early": early_run,
            "full": lambda: full.ainvoke({"input": None}),
            "hand": lambda: hand.ainvoke({}),
        }
    )
    report.append(
        Scenario(
            "Votes that stop early",
            "5 voters with latencies 0.1, 0.1, 0.1, 1, 1 s; the first three agree.",
            ["variant", "wall", "completed calls"],
            [
                ["floor (`asyncio.as_completed`, stop at a majority)", fmt(result["floor"]), "3"],
                [
                    "langgraph-parallel, `early_stop=True`",
                    fmt(result["early"]),
                    f"{median([float(c) for c in calls]):.0f}",
                ],
                ["langgraph-parallel, every voter", fmt(result["full"]), "5"],
                ["hand-written Send vote", fmt(result["hand"]), "5"],
                ["sequential", f"{fmt(sum(latencies))} (computed)", "5"],
            ],
        )
    )
    targets.append(
        Target(
            "early-stop vote",
            "about 0.1 s, 3 completed calls",
            f"{result['early']:.3f} s, {median([float(c) for c in calls]):.0f} calls",
            result["early"] <= 0.2 and median([float(c) for c in calls]) == 3,
        )
    )


def _recording_sleeper(
    delays: list[float], ended: dict[int, float]
) -> Callable[[int], Awaitable[int]]:
    async def unit(i: int) -> int:
        await asyncio.sleep(delays[i])
        ended[i] = time.perf_counter()
        return i

    return unit


async def first_result(report: list[Scenario], targets: list[Target]) -> None:
    n = 200
    package_gaps, hand_gaps, floor_gaps = [], [], []
    for run in range(ROUNDS):
        rng = random.Random(run)
        delays = [rng.uniform(0.1, 0.2) for _ in range(n)]
        delays[rng.randrange(n)] = 0.05
        ended: dict[int, float] = {}
        unit = _recording_sleeper(delays, ended)
        graph = create_orchestrator_graph(lambda s: list(range(n)), unit, lambda s: None).compile()
        first = None
        gc.collect()
        async for mode, data in graph.astream({"input": None}, stream_mode=["custom", "updates"]):
            if first is None and mode == "custom" and data.get("event") == "finish":
                first = time.perf_counter()
        assert first is not None
        package_gaps.append(first - min(ended.values()))

        ended.clear()
        hand = baselines.send_fanout(unit)
        first = None
        gc.collect()
        async for chunk in hand.astream({"items": list(range(n))}, stream_mode="updates"):
            if first is None and "worker" in chunk:
                first = time.perf_counter()
        assert first is not None
        hand_gaps.append(first - min(ended.values()))

        ended.clear()
        gc.collect()
        for finished in asyncio.as_completed([unit(i) for i in range(n)]):
            await finished
            floor_gaps.append(time.perf_counter() - min(ended.values()))
            break
    ms = 1000
    report.append(
        Scenario(
            "First result",
            f"{n} branches (0.1 to 0.2 s, one of 0.05 s): how long after the fastest branch "
            "ends its result reaches the caller.",
            ["variant", "delay"],
            [
                ["floor (`asyncio.as_completed`)", f"{median(floor_gaps) * ms:.1f} ms"],
                [
                    "langgraph-parallel, custom stream (record per branch)",
                    f"{median(package_gaps) * ms:.1f} ms",
                ],
                ["hand-written Send, `updates` stream", f"{median(hand_gaps) * ms:.1f} ms"],
            ],
        )
    )
    value = median(package_gaps) * ms
    targets.append(
        Target(
            "first result, 200 branches",
            "<= 20 ms after the fastest",
            f"{value:.1f} ms",
            value <= 20,
        )
    )


def import_cost(report: list[Scenario], targets: list[Target]) -> None:
    code = (
        "import time; t = time.perf_counter(); import langgraph.graph; "
        "a = time.perf_counter() - t; t = time.perf_counter(); import langgraph_parallel; "
        "b = time.perf_counter() - t; print(a, b)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True
    )  # write bytecode
    base, extra = [], []
    for _ in range(ROUNDS):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        a, b = map(float, out.stdout.split())
        base.append(a)
        extra.append(b)
    report.append(
        Scenario(
            "Import cost",
            "A fresh interpreter imports `langgraph.graph`, then `langgraph_parallel` "
            "(bytecode cached).",
            ["import", "time"],
            [
                ["`langgraph.graph`", f"{median(base) * 1000:.0f} ms"],
                ["then `langgraph_parallel`", f"+{median(extra) * 1000:.0f} ms"],
            ],
        )
    )
    value = median(extra) * 1000
    targets.append(
        Target("import cost", "<= 100 ms over langgraph.graph", f"+{value:.0f} ms", value <= 100)
    )


# --- report --------------------------------------------------------------------------------


def machine() -> list[str]:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("langgraph", "langchain-core", "langgraph-parallel")
    )
    return [
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {versions}",
    ]


def table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def targets_table(targets: list[Target]) -> list[str]:
    return table(
        ["target", "goal", "measured", "met"],
        [[t.name, t.goal, t.measured, "yes" if t.met else "**no**"] for t in targets],
    )


def plot(curves: dict[str, dict[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = {
        "floor": "k--",
        "langgraph-parallel": "o-",
        "hand-written Send": "s-",
        "sequential": ":",
    }
    for name, points in curves.items():
        sizes = sorted(points)
        axes.plot(sizes, [points[n] for n in sizes], styles.get(name, "-"), label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("work items (each sleeps 0.1 s)")
    axes.set_ylabel("wall time (s)")
    axes.set_title("Fan-out wall time against size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write(
    report: list[Scenario], targets: list[Target], curves: dict[str, dict[int, float]]
) -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    plot(curves, docs / "benchmarks.png")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        *machine(),
        "",
        "Each figure is the median of 5 rounds. A round runs every variant once, in turn, each",
        "after `gc.collect()`, so all variants share the machine's noise; ratios are to the",
        "floor measured in the same run. The floor is the same work done with plain asyncio or",
        "concurrent.futures, the fastest the machine allows.",
        "",
        "## Targets",
        "",
        *targets_table(targets),
        "",
        "![Fan-out wall time against size, log-log](benchmarks.png)",
        "",
    ]
    for scenario in report:
        lines += [
            f"## {scenario.title}",
            "",
            scenario.what,
            "",
            *table(scenario.columns, scenario.rows),
            "",
        ]
    (docs / "benchmarks.md").write_text("\n".join(lines))
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = "\n".join(["<!-- bench:start -->", *targets_table(targets), "<!-- bench:end -->"])
    readme.write_text(re.sub(r"<!-- bench:start -->.*?<!-- bench:end -->", block, text, flags=re.S))
    (docs / "benchmarks.json").write_text(
        json.dumps([t.__dict__ for t in targets], indent=2) + "\n"
    )


async def adaptive_concurrency(report: list[Scenario], targets: list[Target]) -> None:
    capacity = 16
    rows = await adaptive.utilisation(capacity)
    what = (
        f"A provider with a hard capacity K = {capacity} (429 with `retry-after-ms` beyond it) "
        f"and 0.25 s per answer; {40 * capacity} items of an orchestrator of `llm_node` "
        "workers on a real `ChatOpenAI`. Share of K = the server's mean requests in flight "
        "over the steady part of the run. "
        + " ".join(await adaptive.follow(ROOT / "docs" / "adaptive.png"))
        + "\n\n![The limit against the provider's capacity](adaptive.png)"
    )
    report.append(
        Scenario(
            "Adaptive concurrency",
            what,
            ["variant", "share of K in flight", "429s", "items ok", "wall"],
            rows,
        )
    )
    share, rejected = float(rows[0][1]), float(rows[0][2].rstrip("%")) / 100
    targets.append(
        Target(
            'adaptive limit, K = 16 (`max_concurrency="auto"`)',
            ">= 0.9 of K in flight, <= 10% 429s",
            f"{share:.2f} of K, {rejected:.1%} 429s",
            share >= 0.9 and rejected <= 0.10,
        )
    )


async def main(quick: bool) -> None:
    global ROUNDS
    if quick:
        ROUNDS = 2
    report: list[Scenario] = []
    targets: list[Target] = []
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            "fan-out at scale",
            lambda: fanout_scaling(
                [10, 100, 1000] if quick else [10, 100, 1000, 10000], report, targets
            ),
        ),
        ("memory", lambda: memory(1000 if quick else 10000, report, targets)),
        ("SQLite", lambda: sqlite(1000, report, targets)),
        ("sync work", lambda: sync_work(report, targets)),
        ("CPU-bound", lambda: cpu_bound(report, targets)),
        ("hedging", lambda: hedging(report, targets)),
        ("early vote", lambda: early_vote(report, targets)),
        ("first result", lambda: first_result(report, targets)),
        ("adaptive concurrency", lambda: adaptive_concurrency(report, targets)),
    ]
    curves: dict[str, dict[int, float]] = {}
    for name, step in steps:
        started = time.perf_counter()
        value = await step()
        if isinstance(value, dict):
            curves = value
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    import_cost(report, targets)
    write(report, targets, curves)
    print("\n".join(targets_table(targets)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (a smoke run)")
    asyncio.run(main(parser.parse_args().quick))
