"""`make bench`: every scenario side by side, written to docs/benchmarks.md and a plot.

For each scenario: the floor (the same work with plain asyncio or concurrent.futures), the
hand-written LangGraph equivalent, and this package. Each figure is the median of 5 rounds;
a round runs every variant once, in turn, so all variants see the same machine noise. The
realistic cases (orchestrator, workers, checkpointers, static fan-out, memory) run each
measurement in a fresh process (`realistic.py`); the others run here, each variant from a
collected heap (`gc.collect()` first). Ratios are to the floor of the same round.
Benchmarks are not tests: nothing here fails a build.

    python benchmarks/run.py [--quick] [--only STEP ...]
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
import time
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
import engines as scale_out  # noqa: E402
import fleet  # noqa: E402
import realistic  # noqa: E402
from work import ROUND_SIZE, round_seconds, rounds_for, spin, spin_state  # noqa: E402

from langgraph_parallel import (  # noqa: E402
    create_fanout_graph,
    create_orchestrator_graph,
    create_voting_graph,
)
from langgraph_parallel.engine.bridge import process_pool  # noqa: E402
from langgraph_parallel.nodes import Hedge, hedged  # noqa: E402

ROUNDS = 5


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


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s"


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x"


def row(label: str, value: float, floor: float) -> list[str]:
    """A table row: the variant, its wall time and its ratio to the floor."""
    return [label, fmt(value), ratio(value, floor)]


# --- scenarios -------------------------------------------------------------------------


def cell(measured: dict[str, realistic.Measured], variant: str, run: int, floor: str) -> str:
    """`wall (ratio)` for one variant and run (0 cold, 1 warm); `-` when it never finished."""
    wall = realistic.median_of(measured[variant], run, "wall")
    if wall is None:
        return f"not done in {realistic.HAND_LIMIT:.0f} s"
    if variant == floor:
        return fmt(wall)
    value = realistic.ratio_to_floor(measured, variant, run, floor=floor)
    return f"{fmt(wall)} ({value:.2f}x)"


def cost(measured: realistic.Measured) -> str:
    """CPU seconds and full collections (cold / warm)."""
    if not measured.finished():
        return "-"
    cpu = [realistic.median_of(measured, run, "cpu") or 0.0 for run in (0, 1)]
    full = [realistic.median_of(measured, run, "full_collections") or 0 for run in (0, 1)]
    gc_time = [realistic.median_of(measured, run, "gc_seconds") or 0.0 for run in (0, 1)]
    return (
        f"{cpu[0]:.3f} / {cpu[1]:.3f} s CPU; {full[0]:.0f} / {full[1]:.0f} full GCs "
        f"({gc_time[0] * 1000:.0f} / {gc_time[1] * 1000:.0f} ms)"
    )


def order(measured: realistic.Measured) -> str:
    runs = [run["ordered"] for r in measured.finished() for run in r["runs"]]
    if not runs:
        return "-"
    return "plan order" if all(runs) else f"completion order ({sum(runs)}/{len(runs)} in order)"


LABELS = {
    "floor": "floor (`asyncio.gather`)",
    "package": "langgraph-parallel",
    "package-frozen": "langgraph-parallel, `gc.freeze()` after imports (opt-in)",
    "hand": "hand-written `Send` (LangGraph docs)",
    "runnable": "langgraph-parallel, Runnable worker",
    "llm-floor": "floor: `model.ainvoke` gathered",
    "llm": "langgraph-parallel, `llm_node` worker",
    "fanout-floor": "floor (`asyncio.gather`)",
    "fanout": "langgraph-parallel `create_fanout_graph`",
    "fanout-hand": "hand-written: nodes from START into an aggregator",
}
COLUMNS = ["variant", "cold wall (x floor)", "warm wall (x floor)", "cost, cold / warm", "order"]


def rows_for(measured: dict[str, realistic.Measured], floor: str = "floor") -> list[list[str]]:
    return [
        [LABELS[v], cell(measured, v, 0, floor), cell(measured, v, 1, floor), cost(m), order(m)]
        for v, m in measured.items()
    ]


def ratio_targets(
    measured: dict[str, realistic.Measured],
    name: str,
    limit: float,
    targets: list[Target],
    variant: str = "package",
    floor: str = "floor",
) -> None:
    """One target per run (cold, warm): `variant` within `limit` of the floor."""
    for run, when in ((0, "cold"), (1, "warm")):
        value = realistic.ratio_to_floor(measured, variant, run, floor=floor)
        assert value is not None
        targets.append(
            Target(f"{name}, {when}", f"<= {limit}x floor", f"{value:.2f}x", value <= limit)
        )


def orchestrator(
    sizes: list[int], report: list[Scenario], targets: list[Target], rounds: int
) -> dict[int, dict[str, realistic.Measured]]:
    limits = {1_000: 1.2, 10_000: 1.3, 100_000: 1.4}
    results: dict[int, dict[str, realistic.Measured]] = {}
    hand_failed = False
    for n in sizes:
        variants = ["floor", "package"] + (["package-frozen"] if n >= 10_000 else [])
        variants += [] if hand_failed else ["hand"]
        measured = realistic.measure("none", n, variants, rounds)
        hand_failed = hand_failed or ("hand" in measured and not measured["hand"].finished())
        results[n] = measured
        scenario = Scenario(
            f"Orchestrator, {n:,} work items",
            f"Each item waits {realistic.L} s and returns a small dict; the worker takes a "
            "`config`; the synthesizer reads every record. Each figure: the median of "
            f"{rounds} fresh processes; ratios to the floor of the same round. Cold: the first "
            "run in the process; warm: the second.",
            COLUMNS,
            rows_for(measured),
        )
        if hand_failed and "hand" not in measured:
            scenario.rows.append([LABELS["hand"], "not run: it passed 300 s at a smaller N"])
        report.append(scenario)
        if n in limits:
            ratio_targets(measured, f"orchestrator, {n:,} items", limits[n], targets)
    return results


def workers(n: int, report: list[Scenario], targets: list[Target], rounds: int) -> None:
    """Reported, not targeted: the issue sets no goal for other kinds of worker."""
    measured = realistic.measure("none", n, ["floor", "package", "runnable"], rounds)
    llm = realistic.measure("none", n, ["llm-floor", "llm"], rounds)
    report.append(
        Scenario(
            f"Workers as users write them, {n:,} items",
            "The same orchestrator with an `async def (item, config)` worker, the same "
            "function as a `RunnableLambda`, and an `llm_node` on the simulated model with "
            "zero latency (its floor: the same `model.ainvoke` calls gathered, so the "
            "model's own CPU is in both).",
            COLUMNS,
            rows_for(measured) + rows_for(llm, floor="llm-floor")[1:],
        )
    )


def checkpointers(n: int, report: list[Scenario], targets: list[Target], rounds: int) -> None:
    for case, title, limit in (("sqlite", "SQLite", 1.3), ("postgres", "PostgreSQL", 1.5)):
        measured = realistic.measure(case, n, ["floor", "package", "hand"], rounds)
        server = (
            "`AsyncSqliteSaver` on a temporary file"
            if case == "sqlite"
            else "`AsyncPostgresSaver` on the PostgreSQL server the tests use (local, "
            "started for the run)"
        )
        report.append(
            Scenario(
                f"{title} checkpointer, {n:,} items",
                f"Both graphs on {server}, a new thread per run; the floor has no checkpointer.",
                COLUMNS,
                rows_for(measured),
            )
        )
        ratio_targets(measured, f"{title} checkpointer, {n:,} items", limit, targets)


def static_fanout(n: int, report: list[Scenario], targets: list[Target], rounds: int) -> None:
    variants = ["fanout-floor", "fanout", "fanout-hand"]
    measured = realistic.measure("none", n, variants, rounds)
    memory = realistic.measure("none", n, variants, max(1, rounds // 2), memory=True)
    rows = rows_for(measured, floor="fanout-floor")
    for row_, variant in zip(rows, variants, strict=True):
        peak = realistic.median_of(memory[variant], 1, "peak_bytes") or 0.0
        row_.append(f"{peak / n / 1024:.1f} KB")
    report.append(
        Scenario(
            f"Static fan-out, {n} branches",
            f"{n} named branches, each waiting {realistic.L} s and returning a small dict, "
            "into an aggregator. Memory: peak traced (tracemalloc) per branch, warm run.",
            [*COLUMNS, "memory per branch"],
            rows,
        )
    )
    for run, when in ((0, "cold"), (1, "warm")):
        mine = realistic.ratio_to_floor(measured, "fanout", run, floor="fanout-floor") or 0.0
        theirs = realistic.ratio_to_floor(measured, "fanout-hand", run, floor="fanout-floor")
        targets.append(
            Target(
                f"static fan-out, {n} branches, {when}",
                "no slower than by hand",
                f"{mine:.2f}x against {theirs or 0.0:.2f}x by hand",
                mine <= (theirs or 0.0),
            )
        )
    mine_kb, hand_kb = (
        (realistic.median_of(memory[v], 1, "peak_bytes") or 0.0) / n / 1024
        for v in ("fanout", "fanout-hand")
    )
    targets.append(
        Target(
            f"static fan-out, {n} branches, memory",
            "no larger than by hand",
            f"{mine_kb:.1f} KB against {hand_kb:.1f} KB per branch",
            mine_kb <= hand_kb,
        )
    )


def memory(
    sizes: list[int], report: list[Scenario], targets: list[Target]
) -> dict[str, dict[int, float]]:
    """Peak traced memory per item (warm run) at each size; the target at the largest."""
    peaks: dict[str, dict[int, float]] = {"floor": {}, "package": {}, "hand": {}}
    rows = []
    for n in sizes:
        variants = ["floor", "package"] + (["hand"] if n <= 10_000 else [])
        measured = realistic.measure("none", n, variants, 1, memory=True, hand_limit=120)
        for variant, m in measured.items():
            peak = realistic.median_of(m, 1, "peak_bytes")
            if peak is not None:
                peaks[variant][n] = peak
        floor, mine = peaks["floor"][n], peaks["package"][n]
        hand = peaks["hand"].get(n)
        rows.append(
            [
                f"{n:,}",
                f"{floor / n:,.0f}",
                f"{mine / n:,.0f} ({(mine - floor) / n:+,.0f})",
                "-" if hand is None else f"{hand / n:,.0f} ({(hand - floor) / n:+,.0f})",
            ]
        )
    report.append(
        Scenario(
            "Memory per item",
            "Peak traced memory (tracemalloc) of a warm run, per work item, in bytes; in "
            "brackets, beyond the floor.",
            ["N", "floor", "langgraph-parallel", "hand-written `Send`"],
            rows,
        )
    )
    n = sizes[-1]
    own = (peaks["package"][n] - peaks["floor"][n]) / n
    targets.append(
        Target(
            f"memory per item at {n:,}",
            "<= 1 KB beyond the floor",
            f"{own / 1024:.2f} KB beyond the floor's {peaks['floor'][n] / n / 1024:.2f} KB",
            own <= 1024,
        )
    )
    return peaks


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


ENGINES = {
    "thread": "threads (default)",
    "process": '`executor="process"`',
    "ray": "Ray, `RayExecutor()`",
    "dask": "Dask, `client.get_executor()`",
}


def engines(report: list[Scenario], targets: list[Target], rounds: int) -> None:
    """The same orchestrator on each engine, against that engine's own API; reported only.

    Each engine runs in a fresh process (`engines.py`). The sequential time is measured
    here, before each engine's process and once after the last; the ideal is the median of
    those over the cores (one sample alone moves by 10% or more on a shared machine).
    """
    cpus = os.cpu_count() or 1
    items, trivial = scale_out.CPU_ITEMS, scale_out.TRIVIAL_ITEMS
    iterations = scale_out.calibrate()
    sequentials: list[float] = []
    measured: dict[str, dict[str, Any]] = {}
    for engine in ENGINES:
        seconds, expected = scale_out.sequential(iterations)
        sequentials.append(seconds)
        measured[engine] = scale_out.measure(engine, iterations, expected, rounds)
    sequentials.append(scale_out.sequential(iterations)[0])
    sequential = median(sequentials)
    ideal = sequential / cpus
    rows = []
    for engine, label in ENGINES.items():
        out = measured[engine]
        walls, first = out["walls"], out["first_run"]
        package, api = median(walls["cpu-package"]), median(walls["cpu-api"])
        own = median([p / a for p, a in zip(walls["cpu-package"], walls["cpu-api"], strict=True)])
        per_item = [median(walls[f"trivial-{v}"]) / trivial * 1000 for v in ("package", "api")]
        rows.append(
            [
                label,
                fmt(package),
                ratio(package, ideal),
                f"{own:.2f}x",
                f"{fmt(api)} ({ratio(api, ideal)})",
                f"{per_item[0]:.2f} ms",
                f"{per_item[1]:.3f} ms",
                f"{out['start']:.2f} s + {out['first_tasks']:.2f} s",
                f"{first['cpu-package']:.2f} / {first['trivial-package']:.2f} s",
            ]
        )
    rows.append(
        [f"sequential, one core (median of {len(sequentials)})", fmt(sequential)]
        + [f"{cpus:.2f}x"]
        + ["-"] * 6
    )
    report.append(
        Scenario(
            "Engines: threads, processes, Ray, Dask",
            f"The orchestrator (`create_orchestrator_graph(..., executor=...)`, `invoke`) on "
            f"each engine, one worker per CPU ({cpus}), each engine in a fresh process; "
            f"against the same work on the engine's own API (`ThreadPoolExecutor.map`, "
            "`ProcessPoolExecutor.map`, `ray.get([f.remote(x) ...])`, "
            "`client.gather(client.map(f, xs, pure=False))`). CPU: "
            f"{items} items, each a pure-Python loop of about {scale_out.ITEM_SECONDS} s on one "
            f"core (GIL held); ideal = sequential time / {cpus} cores, the sequential time the "
            "median of runs in the parent before each engine's process and after the last. "
            "Trivial: "
            f'{trivial:,} items returning `{{"i": i, "v": "done-i"}}`: wall / {trivial:,}, per '
            "item. Every result is checked (N records, plan order, each value). Medians of "
            f"{rounds} rounds, after the package's first run of each case (the last column: "
            "it sends the worker code and imports the package on each worker). Start-up: the "
            "engine's start (`ray.init`, `LocalCluster` + `Client`, the pool) + its first "
            "tasks (2 per worker, each sleeping 0.05 s: every worker up). Threads hold the "
            "GIL: about the sequential time, not the ideal.",
            [
                "engine",
                f"{items} CPU items, package",
                "x ideal",
                "x engine API",
                "engine API (x ideal)",
                f"{trivial:,} trivial, per item: package",
                "engine API",
                "start-up + first tasks",
                "package's first run: CPU / trivial",
            ],
            rows,
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
        f"- Speed: one `burn` round (`benchmarks/work.py`, `sum(range({ROUND_SIZE:,}))`) took "
        f"{round_seconds() * 1e6:.0f} us on one core, the fastest of 5 samples. Compare runs "
        "on different days by it: the package's overhead is CPU, so its ratios to a floor "
        "that is mostly waiting grow on a slower machine.",
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


def gains_table(walls: dict[int, dict[str, realistic.Measured]]) -> list[str]:
    """The orchestrator against hand-written LangGraph at each size: warm wall, and the gain."""
    rows = []
    for n, measured in sorted(walls.items()):
        mine = realistic.median_of(measured["package"], 1, "wall")
        hand = realistic.median_of(measured["hand"], 1, "wall") if "hand" in measured else None
        floor = realistic.median_of(measured["floor"], 1, "wall")
        if mine is None or floor is None:
            continue
        limit = f"{realistic.HAND_LIMIT:.0f} s"
        if hand is None:
            theirs = f"not done in {limit}" if "hand" in measured else f"not run (over {limit})"
            gain = "finishes"
        else:
            theirs, times = f"{hand:.3f} s", hand / mine
            gain = (
                f"{times:.1f}x faster"
                if times >= 1.05
                else f"{1 / times:.2f}x slower"
                if times <= 1 / 1.05
                else "within 5%"
            )
        rows.append([f"{n:,}", f"{floor:.3f} s", theirs, f"{mine:.3f} s", gain])
    return table(["work items", "floor", "hand-written `Send`", "langgraph-parallel", "gain"], rows)


def plot(
    walls: dict[int, dict[str, realistic.Measured]],
    peaks: dict[str, dict[int, float]],
    path: Path,
) -> None:
    """Wall time and memory against N, for the floor, the package and by hand."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = {"floor": "k--", "package": "o-", "hand": "s-"}
    names = {"floor": "floor (asyncio.gather)", "package": "langgraph-parallel"}
    names["hand"] = "hand-written Send"
    for variant, style in styles.items():
        points = {
            n: wall
            for n, measured in walls.items()
            if variant in measured
            and (wall := realistic.median_of(measured[variant], 1, "wall")) is not None
        }
        if points:
            sizes = sorted(points)
            left.plot(sizes, [points[n] for n in sizes], style, label=names[variant])
        memory = peaks.get(variant, {})
        if memory:
            sizes = sorted(memory)
            right.plot(sizes, [memory[n] / 2**20 for n in sizes], style, label=names[variant])
    left.set_ylabel("wall time, warm run (s)")
    left.set_title(f"Wall time (each item waits {realistic.L} s)")
    right.set_ylabel("peak traced memory (MiB)")
    right.set_title("Memory")
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("work items")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    if walls:
        stopped = [n for n, m in walls.items() if "hand" in m and not m["hand"].finished()]
        if stopped:
            left.annotate(
                f"by hand: not done in {realistic.HAND_LIMIT:.0f} s at {min(stopped):,}",
                xy=(0.02, 0.95),
                xycoords="axes fraction",
                fontsize=8,
                va="top",
            )
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write(
    report: list[Scenario],
    targets: list[Target],
    walls: dict[int, dict[str, realistic.Measured]],
    peaks: dict[str, dict[int, float]],
) -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    plot(walls, peaks, docs / "benchmarks.png")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        *machine(),
        "",
        "Each figure is the median of several rounds. A round runs every variant once, in turn,",
        "so all variants share the machine's noise; ratios are to the floor measured in the",
        "same round. The floor is the same work done with plain asyncio or concurrent.futures,",
        "the fastest the machine allows. The realistic cases (orchestrator, workers,",
        "checkpointers, static fan-out, memory) run each measurement in a fresh process",
        "(`benchmarks/realistic.py`) and check every result: N results, plan order, each value.",
        "Where the time goes, and what was cut: [performance.md](performance.md).",
        "",
        "## Against hand-written LangGraph",
        "",
        *gains_table(walls),
        "",
        "## Targets",
        "",
        *targets_table(targets),
        "",
        "![Wall time and memory against the number of work items, log-log](benchmarks.png)",
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
    block = "\n".join(["<!-- bench:start -->", *gains_table(walls), "<!-- bench:end -->"])
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


async def fleet_of_processes(report: list[Scenario], targets: list[Target]) -> None:
    rows = fleet.main()  # also writes its table in docs/adaptive.md and docs/fleet.png
    report.append(
        Scenario(
            "Adaptive limit shared by a fleet",
            (fleet.__doc__ or "").split("\n\n", 1)[1].replace("\n", " ").strip()
            + "\n\n![8 processes, one shared limit](fleet.png)",
            ["processes", "limit", "share of K in flight", "429s", "wall"],
            rows,
        )
    )
    shared = next(row for row in rows if row[0] == "8" and "shared" in row[1])
    share, rejected = float(shared[2]), float(shared[3].rstrip("%")) / 100
    targets.append(
        Target(
            "8 processes sharing one adaptive limit (Redis), K = 16",
            ">= 0.85 of K in flight, < 3% 429s",
            f"{share:.2f} of K, {rejected:.1%} 429s",
            share >= 0.85 and rejected < 0.03,
        )
    )


async def main(quick: bool, only: list[str] | None = None) -> None:
    global ROUNDS
    if quick:
        ROUNDS = 2
    report: list[Scenario] = []
    targets: list[Target] = []
    sizes = [10, 100, 1_000, 10_000] if quick else [10, 100, 1_000, 10_000, 100_000]
    walls: dict[int, dict[str, realistic.Measured]] = {}
    peaks: dict[str, dict[int, float]] = {}

    async def scale() -> None:
        walls.update(orchestrator(sizes, report, targets, ROUNDS))

    async def memory_curve() -> None:
        peaks.update(memory(sizes, report, targets))

    async def fresh(step: Callable[..., None], *args: Any) -> None:
        step(*args, report, targets, ROUNDS)

    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("orchestrator at scale", scale),
        ("workers", lambda: fresh(workers, 1_000)),
        ("checkpointers", lambda: fresh(checkpointers, 1_000)),
        ("static fan-out", lambda: fresh(static_fanout, 50)),
        ("memory", memory_curve),
        ("sync work", lambda: sync_work(report, targets)),
        ("CPU-bound", lambda: cpu_bound(report, targets)),
        ("engines", lambda: fresh(engines)),
        ("hedging", lambda: hedging(report, targets)),
        ("early vote", lambda: early_vote(report, targets)),
        ("first result", lambda: first_result(report, targets)),
        ("adaptive concurrency", lambda: adaptive_concurrency(report, targets)),
        ("fleet", lambda: fleet_of_processes(report, targets)),
    ]
    if only:
        unknown = set(only) - {name for name, _ in steps}
        if unknown:
            raise SystemExit(f"no such step: {', '.join(sorted(unknown))}")
        steps = [(name, step) for name, step in steps if name in only]
    for name, step in steps:
        started = time.perf_counter()
        await step()
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    if only:  # a partial report: printed, nothing written (but the fleet step's own table)
        for scenario in report:
            print(f"\n## {scenario.title}\n\n{scenario.what}\n")
            print("\n".join(table(scenario.columns, scenario.rows)))
        if targets:
            print("\n" + "\n".join(targets_table(targets)))
        return
    import_cost(report, targets)
    write(report, targets, walls, peaks)
    print("\n".join(targets_table(targets)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="STEP",
        help="run only this step (e.g. engines; repeatable): its tables are printed, "
        "nothing is written (the fleet step still writes its table in docs/adaptive.md)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.only))
