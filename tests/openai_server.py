"""Loopback OpenAI-compatible chat-completions server for tests and benchmarks.

Real HTTP/1.1 (keep-alive) on 127.0.0.1, served by asyncio in a background
thread (or its own process with ``python -m tests.openai_server``), so the
``openai`` client is exercised for real. It can be slow, rate-limit (429 with
Retry-After), fail (5xx), hang past the client's timeout, send a malformed
HTTP body, answer prose instead of JSON, answer the wrong schema, truncate
(finish_reason ``length``) or put the answer only in ``reasoning_content``.
Every 200 reports usage; the server totals what it reported so tests can
compare costs.

Use the ``openai_server`` fixture (import it into a conftest or test module),
or ``LoopbackServer`` directly.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest

from gsctune.domain.prompts import parse_user_turn

BEHAVIOURS = (
    "ok", "429", "500", "503", "hang", "malformed_http", "garbage", "bad_schema", "truncated", "reasoning_only",
)


def default_responder(messages: list[dict]) -> str:
    """A valid proposal: every file of the user turn in one commit."""
    user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    try:
        files, _, _ = parse_user_turn(user)
    except ValueError:
        files = ["unknown.txt"]
    return json.dumps({
        "commits": [{"subject": "chore: update files", "files": files or ["unknown.txt"], "body": "", "issues": []}],
        "gitignore": [],
    })


def count_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class FaultMix:
    """Random faults per request, drawn from a seeded generator."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0  # answers that do not parse (prose) -> repair turn
    rate_hang: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> str:
        r = self._rng.random()
        for rate, behaviour in ((self.rate_429, "429"), (self.rate_5xx, "500"),
                                (self.rate_malformed, "garbage"), (self.rate_hang, "hang")):
            if r < rate:
                return behaviour
            r -= rate
        return "ok"


@dataclass
class ServerStats:
    requests: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    behaviours: collections.Counter = field(default_factory=collections.Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    connections: int = 0
    max_in_flight: int = 0


class LoopbackServer:
    """See module docstring. Configure attributes between tests; ``reset()`` restores defaults."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reset()

    # configuration -------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.latency: float = 0.0
            self.retry_after: float | None = 1.0
            self.hang_seconds: float = 30.0
            self.faults: FaultMix | None = None
            self.script: collections.deque[str] = collections.deque()
            self.responder: Callable[[list[dict]], str] = default_responder
            self.model_name = "loopback-model"
            self.stats = ServerStats()
            self.log: list[dict] = []
            self._in_flight = 0

    def enqueue(self, *behaviours: str) -> None:
        """Force the behaviour of the next requests, in order (before any FaultMix)."""
        for b in behaviours:
            if b not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {b!r}; one of {BEHAVIOURS}")
        with self._lock:
            self.script.extend(behaviours)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # lifecycle -----------------------------------------------------------
    def start(self) -> LoopbackServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                self._loop.create_server(self._protocol, self.host, self.port, backlog=1024))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="loopback-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def serve_forever(self) -> None:
        """Run in the current thread (command-line use)."""
        async def main() -> None:
            server = await asyncio.get_running_loop().create_server(self._protocol, self.host, self.port, backlog=1024)
            self.port = server.sockets[0].getsockname()[1]
            print(f"loopback OpenAI server on {self.base_url}", flush=True)
            async with server:
                await server.serve_forever()
        asyncio.run(main())

    # HTTP ----------------------------------------------------------------
    def _protocol(self) -> _HTTPConnection:
        return _HTTPConnection(self)

    async def _respond(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes | None]:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return 200, {}, json.dumps({"object": "list", "data": [{"id": self.model_name, "object": "model"}]}).encode()
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            return 404, {}, b'{"error": {"message": "not found"}}'
        try:
            request = orjson.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError):
            return 400, {}, b'{"error": {"message": "bad request body"}}'
        with self._lock:
            behaviour = self.script.popleft() if self.script else (self.faults.draw() if self.faults else "ok")
            self.stats.requests += 1
            self.stats.behaviours[behaviour] += 1
            self.log.append({"messages": messages, "behaviour": behaviour, "model": request.get("model"),
                             "time": time.monotonic(), "request": request,
                             "authorization": headers.get("authorization", "")})
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if behaviour == "hang":
                await asyncio.sleep(self.hang_seconds)
                return 200, {}, None
            status, headers, payload = self._answer(behaviour, messages, request)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self.stats.statuses[status] += 1
        return status, headers, payload

    def _answer(self, behaviour: str, messages: list[dict], request: dict) -> tuple[int, dict, bytes]:
        if behaviour == "429":
            headers = {} if self.retry_after is None else {"Retry-After": _fmt(self.retry_after)}
            return 429, headers, b'{"error": {"message": "rate limited", "type": "rate_limit_error"}}'
        if behaviour in ("500", "503"):
            return int(behaviour), {}, b'{"error": {"message": "upstream failure", "type": "server_error"}}'
        if behaviour == "malformed_http":
            return 200, {}, b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess'
        answer = self.responder(messages)
        finish = "stop"
        content: str | None = answer
        reasoning = None
        if behaviour == "garbage":
            content = "Sure! I would split this into a couple of commits: first the refactor, then the feature."
        elif behaviour == "bad_schema":
            content = json.dumps({"commits": [{"subject": "update stuff", "files": "all"}]})
        elif behaviour == "truncated":
            content = answer[: max(1, len(answer) // 2)]
            finish = "length"
        elif behaviour == "reasoning_only":
            reasoning = "Let me look at the files first.\n" + answer
            content = ""
        prompt_tokens = sum(count_tokens(str(m.get("content") or "")) for m in messages)
        completion_tokens = count_tokens((content or "") + (reasoning or ""))
        if finish == "length" and request.get("max_tokens"):
            completion_tokens = int(request["max_tokens"])
        with self._lock:
            self.stats.prompt_tokens += prompt_tokens
            self.stats.completion_tokens += completion_tokens
        message: dict = {"role": "assistant", "content": content}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        payload = {
            "id": f"chatcmpl-{self.stats.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or self.model_name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        return 200, {}, orjson.dumps(payload)


class _HTTPConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (as clients send them).

    A Protocol rather than asyncio streams: parsing the buffered bytes directly costs the
    server about half the CPU per request, which a benchmark at 640 requests/s on two
    cores shares with the client it measures.
    """

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next_request()

    def _next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end == -1:
            return
        try:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            self.transport.close()
            return
        if len(self.buffer) < end + 4 + length:
            return  # the body is still arriving
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        self.busy = True
        asyncio.get_running_loop().create_task(self._serve(method, path, body, headers))

    async def _serve(self, method: str, path: str, body: bytes, headers: dict) -> None:
        try:
            status, extra_headers, payload = await self.server._respond(method, path, body, headers)
        except asyncio.CancelledError:
            self.transport.close()
            raise
        if payload is None or self.transport.is_closing():  # hang: silent, then close
            self.transport.close()
            return
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in extra_headers.items()]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()
            return
        self.busy = False
        self._next_request()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


_shared: LoopbackServer | None = None


@pytest.fixture
def openai_server():
    """A running LoopbackServer, reset for each test (one server per process)."""
    global _shared
    if _shared is None:
        _shared = LoopbackServer().start()
    _shared.reset()
    yield _shared
    _shared.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-5xx", type=float, default=0.0)
    parser.add_argument("--rate-malformed", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    args = parser.parse_args()
    server = LoopbackServer(port=args.port)
    server.latency = args.latency
    server.retry_after = args.retry_after
    if args.rate_429 or args.rate_5xx or args.rate_malformed:
        server.faults = FaultMix(args.rate_429, args.rate_5xx, args.rate_malformed)
    server.serve_forever()


if __name__ == "__main__":
    main()
