"""The same orchestrator on threads, processes, Ray and Dask; each engine in a fresh process.

Two cases, each against the engine's own API doing the same work (the floor of that engine):

- `cpu`: 16 items, each a pure-Python loop (the GIL held throughout) of a fixed number of
  iterations, calibrated by the parent to about 0.25 s on one core; each returns
  `{"i": i, "v": <the loop's result>}`, checked against the values the parent computed
  when it ran the 16 items sequentially.
- `trivial`: 1,000 items returning `{"i": i, "v": f"done-{i}"}`: what each item costs the
  engine and the package beyond the work.

The package: `create_orchestrator_graph(plan, worker, synthesizer, executor=...)` run with
`invoke`, its results checked (N records, plan order, each value). The engine's own API:
`ThreadPoolExecutor.map`, `ProcessPoolExecutor.map` (spawned workers, as the package's
pool), `ray.get([f.remote(x) for x in xs])`, `client.gather(client.map(f, xs, pure=False))`.

The child starts its engine the way its docs say, one worker per CPU, and reports that
start and its first tasks (2 per worker, each sleeping 0.05 s, through the engine's API:
they start every worker) apart; then the package's first run of each case, unmeasured (it
sends the worker code and imports the package on every worker; the engine's API runs once
unmeasured too), then the measured rounds.
A round runs each variant once, in turn: the engine's API, then the package, for each case.
It prints one line of JSON:

    python benchmarks/engines.py ENGINE CASE --iterations N --expected '[...]' [--rounds R]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ["thread", "process", "ray", "dask"]
CASES = ["cpu", "trivial", "both"]
CPU_ITEMS = 16
ITEM_SECONDS = 0.25
TRIVIAL_ITEMS = 1_000


# --- the work (defined here, in `__main__` of the child: cloudpickle sends it by value) ---


def crunch(seed: int, iterations: int) -> int:
    """A fixed amount of pure-Python CPU work: a linear congruential generator."""
    x = seed
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def cpu_item(i: int, iterations: int) -> dict[str, Any]:
    return {"i": i, "v": crunch(i, iterations)}


def trivial_item(i: int) -> dict[str, Any]:
    return {"i": i, "v": f"done-{i}"}


def pause(i: int) -> int:
    """Holds a worker for a moment, so that a batch of them starts every worker."""
    time.sleep(0.05)
    return i


def calibrate(seconds: float = ITEM_SECONDS) -> int:
    """Iterations of `crunch` that take about `seconds` on one core: the fastest of 5 samples."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        crunch(0, 100_000)
        samples.append((time.perf_counter() - started) / 100_000)
    return max(1, round(seconds / min(samples)))


def sequential(iterations: int, n: int = CPU_ITEMS) -> tuple[float, list[int]]:
    """The CPU case run one item after another in this process: seconds, and the values."""
    started = time.perf_counter()
    values = [cpu_item(i, iterations)["v"] for i in range(n)]
    return time.perf_counter() - started, values


# --- the engines ---------------------------------------------------------------------


class Engine:
    """An engine, started; `executor` for the package, `map` for the engine's own API."""

    executor: Any = "thread"

    def map(self, fn: Callable[..., Any], items: Iterable[int], **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Threads(Engine):
    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor()

    def map(self, fn: Callable[..., Any], items: Iterable[int], **kwargs: Any) -> list[Any]:
        return list(self.pool.map(functools.partial(fn, **kwargs), items))

    def close(self) -> None:
        self.pool.shutdown()


class Processes(Threads):
    executor = "process"

    def __init__(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # as the package's own pool: one worker per CPU, spawned
        self.pool = ProcessPoolExecutor(  # type: ignore[assignment]
            os.cpu_count(), mp_context=multiprocessing.get_context("spawn")
        )


class Ray(Engine):
    def __init__(self) -> None:
        import ray

        from langgraph_parallel.executors import RayExecutor

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        self.ray = ray
        self.executor = RayExecutor()
        self.tasks: dict[Callable[..., Any], Any] = {}

    def map(self, fn: Callable[..., Any], items: Iterable[int], **kwargs: Any) -> list[Any]:
        task = self.tasks.get(fn) or self.tasks.setdefault(fn, self.ray.remote(fn))
        return list(self.ray.get([task.remote(x, **kwargs) for x in items]))

    def close(self) -> None:
        self.ray.shutdown()


class Dask(Engine):
    def __init__(self) -> None:
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=os.cpu_count(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        self.client = Client(self.cluster)
        self.executor = self.client.get_executor()

    def map(self, fn: Callable[..., Any], items: Iterable[int], **kwargs: Any) -> list[Any]:
        return list(self.client.gather(self.client.map(fn, list(items), pure=False, **kwargs)))

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


STARTS: dict[str, Callable[[], Engine]] = {
    "thread": Threads,
    "process": Processes,
    "ray": Ray,
    "dask": Dask,
}


# --- the cases -----------------------------------------------------------------------


def check(values: list[Any], expected: list[Any]) -> None:
    """N values, in plan order, each right. Raises when wrong."""
    if len(values) != len(expected):
        raise AssertionError(f"{len(values)} results for {len(expected)} items")
    for i, (value, want) in enumerate(zip(values, expected, strict=True)):
        if value != {"i": i, "v": want}:
            raise AssertionError(f"item {i}: {value!r:.80}, expected v={want!r}")


def graph(worker: Callable[[int], Any], executor: Any) -> Any:
    from langgraph_parallel import create_orchestrator_graph

    def plan(state: dict[str, Any]) -> list[int]:
        return list(range(state["input"]))

    def synthesize(state: dict[str, Any]) -> dict[str, Any]:
        return {"done": sum(r["status"] == "ok" for r in state["results"])}

    return create_orchestrator_graph(plan, worker, synthesize, executor=executor).compile()


def variants(
    engine: Engine, case: str, iterations: int, expected: list[int]
) -> dict[str, Callable[[int], None]]:
    """What one run of each variant does, given its number of items; each checks its result."""
    runs: dict[str, Callable[[int], None]] = {}
    cases = ["cpu", "trivial"] if case == "both" else [case]
    for name in cases:
        if name == "cpu":
            fn, kwargs = cpu_item, {"iterations": iterations}
            want: Callable[[int], list[Any]] = lambda n: expected[:n]  # noqa: E731
        else:
            fn, kwargs = trivial_item, {}
            want = lambda n: [f"done-{i}" for i in range(n)]  # noqa: E731
        compiled = graph(functools.partial(fn, **kwargs), engine.executor)

        def api(n: int, fn: Any = fn, kwargs: Any = kwargs, want: Any = want) -> None:
            check(engine.map(fn, range(n), **kwargs), want(n))

        def package(n: int, compiled: Any = compiled, want: Any = want) -> None:
            state = compiled.invoke({"input": n})
            records = state["results"]
            if [r["index"] for r in records] != list(range(n)):
                raise AssertionError("records are not in plan order")
            if state["output"] != {"done": n}:
                raise AssertionError(f"synthesizer saw {state['output']!r}")
            check([r["value"] for r in records], want(n))

        runs[f"{name}-api"], runs[f"{name}-package"] = api, package
    return runs


def child(engine_name: str, case: str, iterations: int, expected: list[int], rounds: int) -> Any:
    import langgraph_parallel  # noqa: F401  (imports first: they are not the run's cost)

    cpus = os.cpu_count() or 1
    sizes = {"cpu": CPU_ITEMS, "trivial": TRIVIAL_ITEMS}
    out: dict[str, Any] = {"engine": engine_name, "case": case, "cpus": cpus}
    started = time.perf_counter()
    engine = STARTS[engine_name]()
    out["start"] = time.perf_counter() - started
    started = time.perf_counter()
    engine.map(pause, range(2 * cpus))  # every worker up, the first tasks done
    out["first_tasks"] = time.perf_counter() - started
    try:
        runs = variants(engine, case, iterations, expected)
        times: dict[str, list[float]] = {name: [] for name in runs}
        first: dict[str, float] = {}
        # round 0, unmeasured: each variant's first run (the package's is reported), so
        # neither the engine's API nor the package pays for registering a function later
        for round_ in range(rounds + 1):
            for name, run in runs.items():
                gc.collect()
                started = time.perf_counter()
                run(sizes[name.split("-")[0]])
                wall = time.perf_counter() - started
                if round_ == 0:
                    first[name] = wall
                else:
                    times[name].append(wall)
        out["first_run"], out["walls"] = first, times
    finally:
        engine.close()
    return out


# --- the parent ----------------------------------------------------------------------


def measure(engine: str, iterations: int, expected: list[int], rounds: int) -> dict[str, Any]:
    """Both cases on `engine`, in one fresh process: what `child` reported."""
    command = [sys.executable, __file__, engine, "both", "--iterations", str(iterations)]
    command += ["--expected", json.dumps(expected), "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"engines.py {engine} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--iterations", type=int, help="of the CPU loop (default: calibrated)")
    parser.add_argument("--expected", help="the CPU items' values, a JSON list (default: run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    iterations = args.iterations or calibrate()
    expected = json.loads(args.expected) if args.expected else sequential(iterations)[1]
    result = child(args.engine, args.case, iterations, expected, args.rounds)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
