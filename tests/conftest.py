"""Shared fixtures."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# A suite started as a background job of a shell without job control (`(make test &)`)
# inherits SIGINT ignored, and Python then installs no handler for it, in pytest or in any
# process it starts: the Ctrl-C tests' jobs could not be interrupted, and Ray's workers
# ignore `ray.cancel` (it interrupts a task with SIGINT). Python's own handler, restored
# here, is reset to the default in each process started from now on, as a fresh shell has.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL server on a free 127.0.0.1 port for the whole session."""
    from postgres import postgres_server

    with postgres_server() as uri:
        yield uri


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for the whole session; its address."""
    import ray

    info = ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        # the tests' modules, for workers to import the functions they are sent
        runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}},
    )
    try:
        yield info.address_info["address"]
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A Dask `LocalCluster` of 2 worker processes on 127.0.0.1, and a client of it."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: the default 8787 may be taken
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# `make test` runs four workers (pytest-xdist, `--dist loadscope --no-loadscope-reorder`),
# each taking a module or a class at a time in the order collected. The longest go first,
# so that none of them starts last: seconds each took on a 2-core machine (--durations=0).
LONGEST_FIRST = [
    "tests/test_clusters.py",  # 60-115 s: Ray and Dask clusters
    "tests/test_adaptive_provider.py::TestACapacityThatChanges",  # 83 s of latency
    "tests/test_adaptive_provider.py::TestManyPlaces",  # 80 s of latency
    "tests/test_calling_contexts.py",  # 74 s: a matrix of child processes
    "tests/test_adaptive_provider.py::TestAFewPlaces",  # 65 s of latency
    "tests/test_cli.py",  # 59 s
    # 97 s: two fleets of 8 processes. Not among the first four, which start beside the Ray
    # cluster's start-up: its 429 share depends on how soon a cut reaches the fleet, and
    # once in CI, started there, it measured 3.3% (quiet or beside two burners: 1.4%).
    "tests/test_fleet.py::TestAFleet",
    "tests/test_fleet.py::TestEveryProcessKind",  # 21 s: a service, CLI runs, langgraph dev
    "tests/test_readme.py",  # 43 s
    "tests/test_crash.py",  # 36 s
    "tests/test_runtime.py",  # 30 s
    "tests/test_adaptive_provider.py",  # 24 s
    "tests/test_dev_server.py",  # 21 s
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for place, prefix in enumerate(LONGEST_FIRST):
            if item.nodeid.startswith(prefix + "::"):
                return place
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
