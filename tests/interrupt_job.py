"""A sync run for the Ctrl-C test (tests/test_runtime.py) to interrupt, then to resume.

    python interrupt_job.py (run|resume) (invoke|stream|batch) CHECKPOINT MARKS [by-thread]

Three branches on a SQLite checkpointer (the file CHECKPOINT): `quick` returns at once,
`slow0` and `slow1` wait ten minutes (`run`) or return at once (`resume`). Every side effect
is a line appended to the file MARKS: `start NAME`, `cancelled NAME`, `done NAME`. On Ctrl-C
the job prints a JSON line with the notes the KeyboardInterrupt carries; `resume` prints the
records' statuses.
With `by-thread`, the job sends itself the SIGINT once both slow branches have started,
aimed at one of its other threads: a signal sent to a process may be taken by any thread.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_parallel import create_fanout_graph


def mark(path: str, line: str) -> None:
    with open(path, "a") as marks:
        marks.write(line + "\n")
        marks.flush()
        os.fsync(marks.fileno())


def build(marks: str, slow: bool) -> Any:
    def branch(name: str) -> Any:
        async def run(state: Any) -> str:
            mark(marks, f"start {name}")
            try:
                if slow and name != "quick":
                    await asyncio.sleep(600)
            except asyncio.CancelledError:
                mark(marks, f"cancelled {name}")
                raise
            mark(marks, f"done {name}")
            return name

        return run

    return create_fanout_graph(
        {name: branch(name) for name in ("quick", "slow0", "slow1")},
        lambda state: sorted(r["value"] for r in state["results"]),
    )


def interrupt_from_another_thread(marks: str) -> None:
    """Once both slow branches have started, SIGINT aimed at a thread that is not the main."""

    def send() -> None:
        while True:
            started = Path(marks).read_text().splitlines() if os.path.exists(marks) else []
            if {"start slow0", "start slow1"} <= set(started):
                break
            time.sleep(0.01)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()


def main(mode: str, call: str, checkpoints: str, marks: str, how: str = "") -> None:
    if how == "by-thread":
        interrupt_from_another_thread(marks)
    with SqliteSaver.from_conn_string(checkpoints) as saver:
        graph = build(marks, slow=mode == "run").compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "interrupted"}}
        if mode == "resume":
            state = graph.invoke(None, config)
            print(json.dumps({"output": state["output"]}))
            return
        started = time.perf_counter()
        try:
            if call == "invoke":
                graph.invoke({"input": None}, config)
            elif call == "stream":
                for _ in graph.stream({"input": None}, config, stream_mode="updates"):
                    pass
            else:
                graph.batch([{"input": None}], config)
        except KeyboardInterrupt as interrupted:
            seconds = time.perf_counter() - started
            notes = getattr(interrupted, "__notes__", [])
            report = {"interrupted": True, "notes": notes, "seconds": seconds}
            print(json.dumps(report), flush=True)  # before the process exits, whatever then


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test's view of a hang
    main(*sys.argv[1:6])
