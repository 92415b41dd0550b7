"""A small HTTP service that runs one template, one PostgreSQL thread per request id.

    DATABASE_URL=postgresql://user:password@localhost:5432/app python examples/service.py

    POST /runs/<request_id>  body: the template's input (JSON)
        a new id: runs the template on thread <request_id> and answers its output;
        an id whose run was cut off (a restart, a failure): resumes it from its last
        checkpoint, the body ignored; an id already done: answers its output, running nothing.
    GET /runs/<request_id>   where that run stands: "done" with its output, or "unfinished".

Settings, from the environment: DATABASE_URL (required), SERVICE_TEMPLATE (default
classify-vote), SERVICE_MAX_CONCURRENCY (the template's model calls at once: a number, or
`auto` to find the provider's capacity; with LANGGRAPH_PARALLEL_LIMITS_URL set, `auto` is one
limit for every process of the service, docs/adaptive.md), HOST (default 127.0.0.1), PORT
(default 8080; 0 picks a free one). The model
is the package's usual choice: OPENAI_API_KEY, OPENAI_MODEL, LANGGRAPH_PARALLEL_MODEL, or the
offline simulated model when none is set (docs/models.md). Standard library and the
package's `postgres` extra only; see docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from http import HTTPStatus
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from langgraph_parallel.errors import InvalidInputError
from langgraph_parallel.templates import TEMPLATES

ROUTE = re.compile(r"/runs/([\w.-]{1,128})")
MAX_BODY = 1_000_000


class Service:
    """The template's graph on a PostgreSQL checkpointer; one thread per request id."""

    def __init__(self, graph: Any, saver: AsyncPostgresSaver) -> None:
        self.graph = graph
        self.saver = saver
        self.running: set[str] = set()

    async def run(self, request_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """POST /runs/<request_id>: start, resume or replay the run of that id."""
        if request_id in self.running:  # one run per thread at a time, in this process
            return 409, {"request_id": request_id, "error": "this request id is running"}
        self.running.add(request_id)
        try:
            return await self._run(request_id, body)
        finally:
            self.running.discard(request_id)

    async def _run(self, request_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
        config = {"configurable": {"thread_id": request_id}}
        snapshot = await self.graph.aget_state(config)
        if snapshot.values and not snapshot.next:  # done: nothing runs again
            return 200, self.answer(request_id, snapshot.values, resumed=False)
        resumed = bool(snapshot.next)
        run_with = None  # resuming: continue from the last checkpoint
        if not resumed:
            try:
                run_with = json.loads(body)
            except ValueError as error:
                return 400, {"request_id": request_id, "error": f"the body is not JSON: {error}"}
            if not isinstance(run_with, dict):
                return 400, {"request_id": request_id, "error": "the body must be a JSON object"}
        try:
            values = await self.graph.ainvoke(run_with, config)
        except InvalidInputError as error:
            await self.saver.adelete_thread(request_id)  # the id is free for a corrected input
            return 400, {"request_id": request_id, "error": str(error)}
        except Exception as error:  # the thread keeps what finished: POST again to resume
            return 500, {
                "request_id": request_id,
                "status": "unfinished",
                "error": f"{type(error).__name__}: {error}",
            }
        return 200, self.answer(request_id, values, resumed=resumed)

    async def state(self, request_id: str) -> tuple[int, dict[str, Any]]:
        """GET /runs/<request_id>: where that run stands."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": request_id}})
        if not snapshot.values:
            return 404, {"request_id": request_id, "error": "no run with this request id"}
        if snapshot.next:
            return 200, {"request_id": request_id, "status": "unfinished", "output": None}
        return 200, self.answer(request_id, snapshot.values, resumed=False)

    @staticmethod
    def answer(request_id: str, values: dict[str, Any], *, resumed: bool) -> dict[str, Any]:
        """The reply for a finished run."""
        return {
            "request_id": request_id,
            "status": "done",
            "resumed": resumed,
            "output": values.get("output"),
        }

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP/1.1 request per connection."""
        try:
            method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            route = ROUTE.fullmatch(target.split("?", 1)[0])
            if length > MAX_BODY:
                status, payload = 413, {"error": f"the body is over {MAX_BODY} bytes"}
            elif route is None:
                status, payload = 404, {"error": "use /runs/<request_id>"}
            elif method == "POST":
                status, payload = await self.run(route[1], await reader.readexactly(length))
            elif method == "GET":
                status, payload = await self.state(route[1])
            else:
                status, payload = 405, {"error": "use GET or POST"}
        except (ValueError, asyncio.IncompleteReadError):
            status, payload = 400, {"error": "not an HTTP request this service understands"}
        except Exception as error:  # e.g. the database is unreachable
            status, payload = 500, {"error": f"{type(error).__name__}: {error}"}
        data = json.dumps(payload, default=str).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        try:
            await writer.drain()
        except ConnectionError:
            pass  # the client has gone
        finally:
            writer.close()


async def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL, e.g. postgresql://user:password@localhost:5432/app")
    name = os.environ.get("SERVICE_TEMPLATE", "classify-vote")
    if name not in TEMPLATES:
        sys.exit(f"SERVICE_TEMPLATE={name!r}: use one of {', '.join(TEMPLATES)}")
    template = TEMPLATES[name]
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))
    cap = os.environ.get("SERVICE_MAX_CONCURRENCY", "")
    if cap and cap != "auto" and not cap.isdigit():
        sys.exit(f"SERVICE_MAX_CONCURRENCY={cap!r}: use a whole number or auto")
    limit = {"max_concurrency": cap if cap == "auto" else int(cap)} if cap else {}
    # Each connection of the pool set up as AsyncPostgresSaver.from_conn_string sets its own.
    options = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        url, kwargs=options, open=False
    )
    async with pool:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()  # creates or migrates the checkpoint tables; safe to repeat
        graph = template.build(**limit).builder.compile(checkpointer=saver, name=template.name)
        service = Service(graph, saver)
        server = await asyncio.start_server(service.handle, host, port)
        bound = server.sockets[0].getsockname()[1]
        print(f"serving {template.name} on http://{host}:{bound}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        async with server:
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
