"""examples/service.py started as its docs start it, and a client of it, for the tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "examples" / "service.py"


def offline_env(**extra: str) -> dict[str, str]:
    """This environment without model or tracing keys: nothing can reach a provider."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_"))
    }
    env.update(LANGSMITH_TRACING="false", LANGGRAPH_PARALLEL_MODEL="simulated")
    env.update(extra)
    return env


class Client:
    """JSON over HTTP to the service; http.client, so no proxy setting can reroute it."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
        try:
            connection.request(method, path, body=data)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()


@contextmanager
def running_service(env: dict[str, str]) -> Iterator[Client]:
    """The service with `env` (DATABASE_URL, SERVICE_TEMPLATE, ...) on a free port."""
    env = {**env, "HOST": "127.0.0.1", "PORT": "0"}
    template = env.get("SERVICE_TEMPLATE", "classify-vote")
    with tempfile.TemporaryFile() as log:  # a file, not a pipe nobody drains
        process = subprocess.Popen(
            [sys.executable, str(SERVICE)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            ready, _, _ = select.select([process.stdout], [], [], 180)  # a loaded machine
            line = process.stdout.readline().decode() if ready else ""
            found = re.fullmatch(rf"serving {template} on http://127\.0\.0\.1:(\d+)\n", line)
            if found is None:
                log.seek(0)
                pytest.fail(f"the service did not start: {line!r} {log.read().decode()[-2000:]}")
            yield Client(int(found[1]))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=120) == 0, "the service did not stop cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            process.stdout.close()
