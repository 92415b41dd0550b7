"""A local OpenAI-compatible server for testing graphs against the real `openai` client.

`FakeOpenAIServer` speaks `/v1/chat/completions` (JSON and server-sent-event streaming,
tool calls, `json_schema` structured output) on 127.0.0.1, adds latency, counts the
requests in flight, and can be told to answer 429, 500 or hang, for all requests or those
whose messages contain a given text. It uses only the standard library.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from langgraph_parallel.models._schema import SchemaFiller

MARKER = "[fake server]"
"""What every text the server writes starts with."""

Step = Literal["ok", "hang"] | int
"""What the server does with one request: answer (`"ok"`), never answer (`"hang"`), or
answer with that HTTP error status (e.g. `429`, `500`)."""


@dataclass
class _Rule:
    contains: str
    steps: deque[Step]


@dataclass
class Request:
    """One request the server received."""

    body: dict[str, Any]
    text: str
    answer: Step
    started: float
    ended: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the connections of a wider fan-out, which
    # the client then retries a second later: a latency the graph did not cause.
    request_queue_size = 1024


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1, started on a free port.

    Args:
        latency: Seconds each answered request takes.
        port: The port; 0 (default) picks a free one.

    Example:
        ```python
        from langchain_openai import ChatOpenAI
        from langgraph_parallel.testing import FakeOpenAIServer

        with FakeOpenAIServer(latency=0.01) as server:
            server.when("slow down", 429)
            model = ChatOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
            assert model.invoke("hello").content.startswith("[fake server]")
            assert server.count == 1 and server.host == "127.0.0.1"
        ```
    """

    def __init__(self, *, latency: float = 0.05, port: int = 0) -> None:
        self.latency = latency
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[Request] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server = _Listener(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        """The address the server listens on (always loopback)."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The `base_url` for `ChatOpenAI` or `OPENAI_BASE_URL`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def count(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    def when(self, contains: str, *steps: Step) -> None:
        """Requests whose messages contain `contains` take `steps` in turn, then answer."""
        with self._lock:
            self._rules.append(_Rule(contains, deque(steps)))

    def requests_for(self, contains: str) -> list[Request]:
        """The requests whose messages contain `contains`."""
        return [r for r in self.requests if contains in r.text]

    def reset_counts(self) -> None:
        """Forget the requests seen so far and the peak."""
        with self._lock:
            self.requests.clear()
            self.peak_in_flight = self.in_flight

    def close(self) -> None:
        """Stop the server; hanging requests are released and their connections closed."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _begin(self, body: dict[str, Any], headers: dict[str, str]) -> Request:
        text = json.dumps(body.get("messages", []))
        with self._lock:
            answer: Step = "ok"
            for rule in self._rules:
                if rule.contains in text and rule.steps:
                    answer = rule.steps.popleft()
                    break
            request = Request(body, text, answer, time.perf_counter(), headers=headers)
            self.requests.append(request)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return request

    def _end(self, request: Request) -> None:
        with self._lock:
            self.in_flight -= 1
            request.ended = time.perf_counter()


def _completion(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    tools = body.get("tools") or []
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if tools and body.get("tool_choice") not in (None, "none", "auto"):
        function = tools[0]["function"]
        arguments = SchemaFiller(function.get("parameters", {}), rng, marker=MARKER).fill()
        message["tool_calls"] = [
            {
                "id": f"call_{rng.randrange(10**9)}",
                "type": "function",
                "function": {"name": function["name"], "arguments": json.dumps(arguments)},
            }
        ]
    elif schema is not None:
        message["content"] = json.dumps(SchemaFiller(schema, rng, marker=MARKER).fill())
    else:
        last = (body.get("messages") or [{}])[-1].get("content", "")
        message["content"] = f"{MARKER} reply to: {str(last)[:60]}"
    words = len(json.dumps(body.get("messages", [])).split())
    return {
        "id": f"chatcmpl-{rng.randrange(10**9)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words, "completion_tokens": 12, "total_tokens": words + 12},
    }


def _error_body(request: Request) -> dict[str, str]:
    status = int(request.answer)
    if status == 401:  # like OpenAI's own, which echoes (part of) the key it was given
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        return {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return {"message": f"fake {status}", "type": kind}


def _stream_chunks(completion: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = {k: completion[k] for k in ("id", "created", "model")} | {
        "object": "chat.completion.chunk"
    }
    message = completion["choices"][0]["message"]
    if message.get("tool_calls"):
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "tool_calls": [{"index": 0, **message["tool_calls"][0]}]}
        ]
    else:
        words = (message["content"] or "").split(" ")
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": w if i == 0 else f" {w}"} for i, w in enumerate(words)
        ]
    for delta in deltas:
        yield base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield base | {"choices": [], "usage": completion["usage"]}


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = server._begin(body, headers)
            try:
                if not self.path.endswith("/chat/completions"):
                    self._json(
                        404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
                    )
                    return
                if request.answer == "hang":
                    server._closing.wait()
                    self.close_connection = True
                    return
                time.sleep(server.latency)
                if isinstance(request.answer, int):
                    self._json(request.answer, {"error": _error_body(request)})
                    return
                completion = _completion(body, random.Random(request.text))
                if body.get("stream"):
                    self._sse(completion)
                else:
                    self._json(200, completion)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True
            finally:
                server._end(request)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")  # no pooled client socket outlives a test
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _sse(self, completion: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in _stream_chunks(completion):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    return Handler


__all__ = ["FakeOpenAIServer", "Request", "Step"]
