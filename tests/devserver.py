"""Start `langgraph dev` on a free 127.0.0.1 port for a test, and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_server(timeout: float = 90.0) -> Iterator[str]:
    """`langgraph dev` serving this repository's langgraph.json; yields its URL."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LANGSMITH_", "LANGCHAIN_"))
    }
    env.update(
        LANGSMITH_TRACING="false", LANGGRAPH_PARALLEL_MODEL="simulated", PYTHONUNBUFFERED="1"
    )
    last_error = ""
    for _ in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        command = [
            str(Path(sys.executable).parent / "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    last_error = (
                        process.stdout.read().decode(errors="replace")[-2000:]
                        if process.stdout
                        else ""
                    )
                    break
                try:
                    with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                        if response.status == 200:
                            yield url
                            return
                except OSError:
                    time.sleep(0.5)
            else:
                last_error = f"langgraph dev did not answer on {url} within {timeout:.0f}s"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            if process.stdout:
                process.stdout.close()
    raise RuntimeError(f"could not start langgraph dev: {last_error}")
