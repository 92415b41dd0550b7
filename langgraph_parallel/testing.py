"""A local OpenAI-compatible server for testing graphs against the real `openai` client.

`FakeOpenAIServer` speaks `/v1/chat/completions` (JSON and server-sent-event streaming,
tool calls, `json_schema` structured output) and Anthropic's `/v1/messages` (JSON) on
127.0.0.1, adds latency, counts the requests in flight, and can be told to answer 429, 500
or hang, for all requests or those whose messages contain a given text.

It can also play a server or a model that is poor at structured output (`structured`): one
that ignores `response_format` and tools, as many local servers do, one that wraps its JSON
in a code fence and a sentence, and one whose first JSON answer is invalid.

It can also model a provider's limits, to test an adaptive concurrency limit against: a
hard `capacity` (requests served at once) and a token bucket (`rate` requests per second,
`burst` at most). A request over the limit is answered at once with a 429 that carries
`retry-after-ms` and `retry-after` headers, as OpenAI's are. It measures what a limiter
needs: the status of every response (`Request.status`, `counts`), the requests in flight
over time (`in_flight_series()`) and their time-weighted mean (`mean_in_flight()`, from
`time_weighted_mean`). It uses only the standard library.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from langgraph_parallel.models.schema import SchemaFiller

MARKER = "[fake server]"
"""What every text the server writes carries (its replies and the values it fills in)."""

Structured = Literal["native", "ignored", "fenced", "invalid_once"]
"""How `FakeOpenAIServer` answers requests for structured output (its `structured`)."""

Step = Literal["ok", "hang"] | int
"""What the server does with one request: answer (`"ok"`), never answer (`"hang"`), or
answer with that HTTP error status (e.g. `429`, `500`)."""


@dataclass
class _Rule:
    contains: str
    steps: deque[Step]


@dataclass
class Request:
    """One request the server received.

    `answer` is the step taken (a rule's, else `"ok"`, or `429` when the provider model
    turned the request away); `status` is the HTTP status actually sent (`None` while
    being served, or for a hang). `started` and `ended` are `time.perf_counter()` times.
    """

    body: dict[str, Any]
    text: str
    answer: Step
    started: float
    ended: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the connections of a wider fan-out, which
    # the client then retries a second later: a latency the graph did not cause.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes a kept-alive connection is not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1, started on a free port.

    Rules registered with `when` decide a request's answer first; a request they answer
    `"ok"` then goes through the provider model (`capacity`, `rate`), which either admits
    it (served for `latency` seconds) or answers 429 at once. `capacity`, `rate`, `burst`,
    `retry_after` and `latency` can be changed while the server runs.

    Measured, on the `time.perf_counter()` clock: `requests` (every request, with its
    `status`), `counts` (responses sent per status), `open_connections`, `in_flight` and
    `peak_in_flight`
    (requests being served: admitted and not yet answered, hangs included, 429s answered at
    once not), `in_flight_series()` and `mean_in_flight()`.

    Args:
        latency: Seconds each answered request takes.
        port: The port; 0 (default) picks a free one.
        capacity: Requests served at once; one arriving when `capacity` are in flight is
            answered 429 at once. `None` (default): unlimited. Lowering it lets the
            running requests finish and turns new ones away until fewer are in flight.
        rate: Token-bucket mode: requests admitted per second, on average. A request
            takes a token or is answered 429 at once, `retry-after-ms` being the time to
            the next token. `None` (default): unlimited.
        burst: The bucket's size (at least 1): requests admitted at once after a pause.
            The bucket starts full.
        retry_after: Seconds the 429 of a full `capacity` tells the client to wait;
            `None` (default): `latency`.
        keep_alive: Keep connections open between answers, as every real provider does
            (the default). `False` closes each connection after its answer: that hides
            every bug of a client whose pooled connections are used from the wrong event
            loop, so use it only to measure what a new connection per request costs.
            `close()` closes the connections still open.
        structured: How it answers a request for structured output. `"native"` (default):
            it honours `response_format` (`json_schema`) and forced tool calls, answering
            schema-valid values. `"ignored"`: it ignores both, as many local servers do, and
            answers text; like an instruction-following model, it answers a prompt that
            gives a JSON schema (after `JSON schema:`) with bare JSON for it. `"fenced"`:
            as `"native"`, but its JSON comes inside a ```json fence with a sentence around
            it. `"invalid_once"`: as `"native"`, but the first answer of a conversation is
            cut-off JSON (or a tool call with cut-off arguments); once the conversation has
            an answer of its own in it (the client sent it back to correct), it answers
            valid JSON. Can be changed while the server runs.

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

    Example:
        Two requests at once against `capacity=1`: the second is turned away.

        ```python
        import threading
        import time

        import openai
        from langgraph_parallel.testing import FakeOpenAIServer

        with FakeOpenAIServer(latency=1.0, capacity=1) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

            def ask() -> None:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )

            first = threading.Thread(target=ask)
            first.start()
            while not server.requests:  # then the first one is being served, for 1 s
                time.sleep(0.01)
            try:
                ask()
            except openai.RateLimitError as error:
                assert error.response.headers["retry-after-ms"] == "1000"
            first.join()
            assert server.counts == {200: 1, 429: 1} and server.peak_in_flight == 1
        ```
    """

    def __init__(
        self,
        *,
        latency: float = 0.05,
        port: int = 0,
        capacity: int | None = None,
        rate: float | None = None,
        burst: float = 1.0,
        retry_after: float | None = None,
        keep_alive: bool = True,
        structured: Structured = "native",
    ) -> None:
        self.latency = latency
        self.structured = structured
        self.keep_alive = keep_alive
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[Request] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._counts: dict[int, int] = {}
        self._series: list[tuple[float, int]] = [(time.perf_counter(), 0)]
        self._capacity: int | None = None
        self._rate: float | None = None
        self._burst = 1.0
        self._tokens = 1.0
        self._refilled = time.perf_counter()
        self._retry_after: float | None = None
        self.capacity = capacity
        self.burst = burst
        self.rate = rate
        self.retry_after = retry_after
        self._connections: set[socket.socket] = set()
        self._server = _Listener(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def capacity(self) -> int | None:
        """Requests served at once (`None`: unlimited); settable while running."""
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"capacity must be None or >= 0, got {value}")
        with self._lock:
            self._capacity = value

    @property
    def rate(self) -> float | None:
        """Token-bucket requests per second (`None`: unlimited); settable while running.

        Turning it on fills the bucket; changing it keeps the tokens gathered so far.
        """
        return self._rate

    @rate.setter
    def rate(self, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"rate must be None or > 0, got {value}")
        with self._lock:
            now = time.perf_counter()
            if self._rate is None:
                self._tokens = self._burst
            else:
                self._refill(now)
            self._refilled = now
            self._rate = value

    @property
    def burst(self) -> float:
        """The token bucket's size; settable while running."""
        return self._burst

    @burst.setter
    def burst(self, value: float) -> None:
        if not value >= 1:
            raise ValueError(f"burst must be >= 1, got {value}")
        with self._lock:
            self._refill(time.perf_counter())
            self._burst = value
            self._tokens = min(self._tokens, value)

    @property
    def retry_after(self) -> float | None:
        """Seconds a full `capacity`'s 429 asks the client to wait (`None`: `latency`)."""
        return self._retry_after

    @retry_after.setter
    def retry_after(self, value: float | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"retry_after must be None or >= 0, got {value}")
        with self._lock:
            self._retry_after = value

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

    @property
    def open_connections(self) -> int:
        """How many client connections are open now (kept alive, or serving a request)."""
        with self._lock:
            return len(self._connections)

    def when(self, contains: str, *steps: Step) -> None:
        """Requests whose messages contain `contains` take `steps` in turn, then answer."""
        with self._lock:
            self._rules.append(_Rule(contains, deque(steps)))

    @property
    def counts(self) -> dict[int, int]:
        """How many responses were sent, by HTTP status (a copy)."""
        with self._lock:
            return dict(self._counts)

    def requests_for(self, contains: str) -> list[Request]:
        """The requests whose messages contain `contains`."""
        return [r for r in self.requests if contains in r.text]

    def in_flight_series(self) -> list[tuple[float, int]]:
        """`(time, in_flight)` at every change of `in_flight`, oldest first.

        It starts with the value when the server started or `reset_counts` was called.
        """
        with self._lock:
            return list(self._series)

    def mean_in_flight(self, start: float | None = None, end: float | None = None) -> float:
        """The time-weighted mean of `in_flight` over `[start, end]`.

        Args:
            start: A `time.perf_counter()` time; default: the series' first point.
            end: Likewise; default: now.
        """
        series = self.in_flight_series()
        return time_weighted_mean(
            series,
            series[0][0] if start is None else start,
            time.perf_counter() if end is None else end,
        )

    def reset_counts(self) -> None:
        """Forget the requests seen so far, the counts, the series and the peak."""
        with self._lock:
            self.requests.clear()
            self._counts.clear()
            self._series = [(time.perf_counter(), self.in_flight)]
            self.peak_in_flight = self.in_flight

    def close(self) -> None:
        """Stop the server; hanging requests are released, open connections closed."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # a kept-alive client sees the end as a real one would
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def __enter__(self) -> FakeOpenAIServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _begin(
        self, body: dict[str, Any], headers: dict[str, str], *, chat: bool = True
    ) -> tuple[Request, int | None]:
        """Record a request; admit it (in flight) or return the 429's retry delay in ms."""
        text = json.dumps(body.get("messages", []))
        with self._lock:
            now = time.perf_counter()
            answer: Step = "ok"
            for rule in self._rules:
                if rule.contains in text and rule.steps:
                    answer = rule.steps.popleft()
                    break
            retry_ms = self._admit(now) if answer == "ok" and chat else None
            taken: Step = 429 if retry_ms is not None else answer
            request = Request(body, text, taken, now, headers=headers)
            self.requests.append(request)
            if retry_ms is not None:  # answered at once: never in flight
                request.ended = now
            else:
                self._move(now, +1)
        return request, retry_ms

    def _admit(self, now: float) -> int | None:
        """Under the lock: take a token and return None, or the retry delay in ms."""
        waits: list[int] = []
        if self._capacity is not None and self.in_flight >= self._capacity:
            retry = self.latency if self._retry_after is None else self._retry_after
            waits.append(round(retry * 1000))
        if self._rate is not None:
            self._refill(now)
            if self._tokens < 1:
                waits.append(max(1, math.ceil((1 - self._tokens) / self._rate * 1000)))
            elif not waits:
                self._tokens -= 1
        return max(waits) if waits else None

    def _refill(self, now: float) -> None:
        if self._rate is not None:
            gained = (now - self._refilled) * self._rate
            self._tokens = min(self._burst, self._tokens + gained)
        self._refilled = now

    def _move(self, now: float, change: int) -> None:
        self.in_flight += change
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._series.append((now, self.in_flight))

    def _answer(self, request: Request, status: int) -> None:
        """Just before the response is written: record it; the request leaves flight."""
        with self._lock:
            request.status = status
            self._counts[status] = self._counts.get(status, 0) + 1
            if request.ended is None:
                request.ended = time.perf_counter()
                self._move(request.ended, -1)

    def _end(self, request: Request) -> None:
        with self._lock:
            if request.ended is None:  # a hang, or the client gave up before the answer
                request.ended = time.perf_counter()
                self._move(request.ended, -1)


def time_weighted_mean(series: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """The mean over `[start, end]` of the step function given by `series`.

    Args:
        series: `(time, value)` points in time order; each value holds until the next
            point (the last one forever). Before the first point the value is 0.
        start: Where the interval begins.
        end: Where it ends (`>= start`); if equal, the value at that instant.
    """
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")

    def value_at(t: float) -> float:
        current = 0.0
        for when, value in series:
            if when > t:
                break
            current = value
        return current

    if end == start:
        return value_at(start)
    area = 0.0
    for i, (when, value) in enumerate(series):
        until = series[i + 1][0] if i + 1 < len(series) else end
        low, high = max(when, start), min(until, end)
        if high > low:
            area += value * (high - low)
    return area / (end - start)


def _completion(body: dict[str, Any], rng: random.Random, structured: Structured) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    messages = body.get("messages") or []
    tools = [] if structured == "ignored" else body.get("tools") or []
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if structured == "ignored":
        schema = _schema_in_prompt(messages)
    # A conversation with an answer of its own in it was sent back to be corrected.
    broken = structured == "invalid_once" and not any(
        m.get("role") == "assistant" for m in messages
    )
    if tools and body.get("tool_choice") not in (None, "none", "auto"):
        function = tools[0]["function"]
        arguments = json.dumps(
            SchemaFiller(function.get("parameters", {}), rng, marker=MARKER).fill()
        )
        message["tool_calls"] = [
            {
                "id": f"call_{rng.randrange(10**9)}",
                "type": "function",
                "function": {
                    "name": function["name"],
                    "arguments": arguments[: len(arguments) // 2] if broken else arguments,
                },
            }
        ]
    elif schema is not None:
        value = json.dumps(SchemaFiller(schema, rng, marker=MARKER).fill())
        if broken:
            value = value[: len(value) // 2]
        elif structured == "fenced":
            value = f"Sure! Here is the JSON:\n```json\n{value}\n```\nLet me know if you need more."
        message["content"] = value
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


_SCHEMA_IN_PROMPT = "JSON schema:"


def _schema_in_prompt(messages: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON schema a prompt gives after `JSON schema:`, if any (the last one)."""
    for message in reversed(messages):
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        at = text.rfind(_SCHEMA_IN_PROMPT)
        if at >= 0:
            start = text.find("{", at)
            try:
                schema = json.JSONDecoder().raw_decode(text, start)[0] if start >= 0 else None
            except ValueError:
                return None
            return schema if isinstance(schema, dict) else None
    return None


def _anthropic_message(completion: dict[str, Any]) -> dict[str, Any]:
    """A completion as Anthropic's Messages API answers it (not streamed)."""
    message = completion["choices"][0]["message"]
    content: list[dict[str, Any]] = [
        {
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": json.loads(call["function"]["arguments"]),
        }
        for call in message.get("tool_calls") or ()
    ] or [{"type": "text", "text": message["content"] or ""}]
    usage = completion["usage"]
    return {
        "id": completion["id"].replace("chatcmpl", "msg"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": content,
        "stop_reason": "tool_use" if message.get("tool_calls") else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
        },
    }


def _error_body(request: Request) -> dict[str, str]:
    status = int(request.answer)
    if status == 401:  # like OpenAI's own, which echoes (part of) the key it was given
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        return {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return {"message": f"fake {status}", "type": kind}


def _seconds(ms: int) -> str:
    """A `retry-after` value: seconds, fractional if need be (`"0.5"`, `"2"`)."""
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


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
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK, which added milliseconds to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def setup(self) -> None:
            super().setup()
            server._opened(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                server._closed(self.connection)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            anthropic = self.path.endswith("/v1/messages")  # Anthropic's Messages API
            chat = self.path.endswith("/chat/completions") or anthropic
            request, retry_ms = server._begin(body, headers, chat=chat)
            try:
                if not chat:
                    error = {"message": f"no route {self.path}", "type": "not_found"}
                    self._json(request, 404, {"error": error})
                    return
                if retry_ms is not None:
                    self._json(
                        request,
                        429,
                        {"error": {"message": "fake capacity", "type": "rate_limit_exceeded"}},
                        {"retry-after-ms": str(retry_ms), "retry-after": _seconds(retry_ms)},
                    )
                    return
                if request.answer == "hang":
                    server._closing.wait()
                    self.close_connection = True
                    return
                time.sleep(server.latency)
                if isinstance(request.answer, int):
                    self._json(request, request.answer, {"error": _error_body(request)})
                    return
                completion = _completion(body, random.Random(request.text), server.structured)
                if anthropic:
                    self._json(request, 200, _anthropic_message(completion))
                elif body.get("stream"):
                    self._sse(request, completion)
                else:
                    self._json(request, 200, completion)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True
            finally:
                server._end(request)

        def _json(
            self,
            request: Request,
            status: int,
            payload: dict[str, Any],
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(payload).encode()
            server._answer(request, status)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if not server.keep_alive:
                self.send_header("Connection", "close")  # no pooled client socket outlives a test
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = not server.keep_alive

        def _sse(self, request: Request, completion: dict[str, Any]) -> None:
            server._answer(request, 200)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            if server.keep_alive:  # chunked, as real servers stream: the connection stays
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            events = [f"data: {json.dumps(chunk)}\n\n" for chunk in _stream_chunks(completion)]
            for event in [*events, "data: [DONE]\n\n"]:
                self._send_event(event.encode())
            if server.keep_alive:
                self.wfile.write(b"0\r\n\r\n")
            self.close_connection = not server.keep_alive

        def _send_event(self, data: bytes) -> None:
            if server.keep_alive:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            self.wfile.write(data)
            self.wfile.flush()

    return Handler


__all__ = ["MARKER", "FakeOpenAIServer", "Request", "Step", "Structured", "time_weighted_mean"]
