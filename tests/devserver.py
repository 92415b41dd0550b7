"""Start `langgraph dev` on a free 127.0.0.1 port for a test, and stop it afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".langgraph_api"
"""Where `langgraph dev` keeps its in-memory runs between restarts; a stale one from another
version makes the next `make dev` log "Failed to load file", so tests leave none behind."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_server(timeout: float = 90.0, **settings: str) -> Iterator[str]:
    """`langgraph dev` serving this repository's langgraph.json; yields its URL.

    `settings` are more environment variables for the server (they win).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LANGSMITH_", "LANGCHAIN_"))
    }
    env.update(
        LANGSMITH_TRACING="false",
        LANGGRAPH_PARALLEL_MODEL="simulated",
        PYTHONUNBUFFERED="1",
        # else the CLI posts anonymous usage data to the internet on each start
        LANGGRAPH_CLI_NO_ANALYTICS="1",
    )
    env.update(settings)
    had_state = STATE.exists()
    try:
        yield from _serve(env, timeout)
    finally:
        if not had_state:
            shutil.rmtree(STATE, ignore_errors=True)
            assert not STATE.exists(), f"langgraph dev left {STATE} in the checkout"


def _serve(env: dict[str, str], timeout: float) -> Iterator[str]:
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
            # without it this langgraph dev runs one job at a time, whatever its help says
            "--n-jobs-per-worker",
            "50",
        ]
        # A log file, not a pipe: nobody reads a pipe while tests run, and once its buffer
        # is full the server blocks on its next log line.
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if process.poll() is not None:
                        log.seek(0)
                        last_error = log.read().decode(errors="replace")[-2000:]
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
    raise RuntimeError(f"could not start langgraph dev: {last_error}")


def listening_on(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (Linux: /proc/net/tcp, tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:  # LISTEN
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add(address)
    return found
