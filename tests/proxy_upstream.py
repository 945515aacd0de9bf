"""A scripted student endpoint for the recording proxy's tests and benchmark.

Stdlib HTTP/1.1 on 127.0.0.1 answering what git-smart-commit asks of Ollama and
llama-server: ``/v1/models``, ``/api/tags``, ``/props``, ``/tokenize``, and chat on
``/v1/chat/completions`` (JSON or server-sent events) and ``/api/chat`` (JSON or
NDJSON). With tools it plays a student that emits the first hunk, then all but the
last, then finalizes skipping what is left; without tools it writes a summary.
``queue`` makes the next chat answers fail ("500", "429") or be unreadable
("garbage"). Every answer's status and bytes are kept in ``sent``, so tests can
compare them with what came through the proxy. Deterministic: no clocks in bodies.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from labeling.protocol.layout import hunk_ids

SUMMARY = "A short summary written by the scripted student."
SUBJECTS = ("feat(core): add the first piece", "fix(core): handle the remaining cases")


def _calls_so_far(messages: list[dict]) -> list[dict]:
    return [c["function"] for m in messages if m.get("role") == "assistant" for c in (m.get("tool_calls") or [])[:1]]


def _args(fn: dict) -> dict:
    raw = fn.get("arguments")
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def next_call(messages: list[dict], tools: list[dict]) -> tuple[str, dict]:
    """The scripted student's next tool call."""
    ids = hunk_ids(next((m["content"] for m in messages if m.get("role") == "user"), ""))
    emitted = [h for fn in _calls_so_far(messages) if fn.get("name") == "emit_commit"
               for h in _args(fn).get("commit", {}).get("hunks", [])]
    offered = [t["function"]["name"] for t in tools]
    remaining = [h for h in ids if h not in emitted]
    n_emits = sum(1 for fn in _calls_so_far(messages) if fn.get("name") == "emit_commit")
    if "emit_commit" in offered and n_emits < 2 and len(remaining) > 1:
        hunks = remaining[:1] if n_emits == 0 else remaining[:-1]
        return "emit_commit", {"commit": {"subject": SUBJECTS[n_emits], "hunks": hunks,
                                          "body": "Scripted body line one.\nScripted body line two.",
                                          "breaking_change": "", "issues": []}}
    return "finalize_commits", {"gitignore": [], "skipped_hunks": remaining}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server: ScriptedUpstream

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.server.sent.append((status, body))  # before the bytes go: a client that has them finds it
        self.wfile.write(body)

    def _stream(self, pieces: list[bytes], ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, piece in enumerate(pieces):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            if n == 0 and self.server.hold_stream is not None:
                self.server.hold_stream.wait(5)
        self.server.sent.append((200, b"".join(pieces)))
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/v1/models":
            return self._send(200, json.dumps({"object": "list", "data": [{"id": "student", "object": "model"}]}).encode())
        if path == "/api/tags":
            return self._send(200, json.dumps({"models": [{"name": "student:latest", "model": "student:latest"}]}).encode())
        if path == "/props":
            return self._send(200, json.dumps({"default_generation_settings": {"n_ctx": 32768}}).encode())
        return self._send(404, b'{"error": "not found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        if path == "/tokenize":
            text = json.loads(body).get("content", "")
            return self._send(200, json.dumps({"tokens": list(range(len(text) // 4))}).encode())
        if path not in ("/v1/chat/completions", "/api/chat"):
            return self._send(404, b'{"error": "not found"}')
        with self.server.lock:
            behaviour = self.server.queue.pop(0) if self.server.queue else "ok"
        if behaviour == "500":
            return self._send(500, b'{"error": {"message": "scripted upstream failure", "type": "server_error"}}')
        if behaviour == "429":
            return self._send(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}', extra={"Retry-After": "0"})
        if behaviour == "garbage":
            return self._send(200, b"<html>not a completion</html>", "text/html")
        try:
            request = json.loads(body)
        except ValueError:
            return self._send(400, b'{"error": {"message": "the body is not JSON"}}')
        messages, tools, stream = request["messages"], request.get("tools") or [], bool(request.get("stream"))
        ollama = path == "/api/chat"
        if tools:
            name, args = next_call(messages, tools)
            call = {"function": {"name": name, "arguments": args if ollama else json.dumps(args)}}
            message = {"role": "assistant", "content": "", "tool_calls": [call if ollama else {"id": f"call_{len(messages)}", "type": "function", **call}]}
        else:
            message = {"role": "assistant", "content": SUMMARY}
        model = request.get("model", "student")
        if ollama:
            return self._ollama(model, message, stream)
        return self._openai(model, message, stream)

    def _openai(self, model: str, message: dict, stream: bool) -> None:
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        if not stream:
            data = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model, "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
            return self._send(200, json.dumps(data).encode())
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model}
        deltas = []
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            args = call["function"]["arguments"]
            half = len(args) // 2
            deltas.append({"role": "assistant", "tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                                "function": {"name": call["function"]["name"], "arguments": args[:half]}}]})
            deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]})
        else:
            words = message["content"].split(" ")
            deltas = [{"role": "assistant", "content": words[0]}] + [{"content": " " + w} for w in words[1:]]
        pieces = [f"data: {json.dumps(base | {'choices': [{'index': 0, 'delta': d, 'finish_reason': None}]})}\n\n".encode() for d in deltas]
        pieces.append(f"data: {json.dumps(base | {'usage': usage, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}\n\n".encode())
        pieces.append(b"data: [DONE]\n\n")
        self._stream(pieces, "text/event-stream")

    def _ollama(self, model: str, message: dict, stream: bool) -> None:
        end = {"model": model, "created_at": "2026-01-01T00:00:00Z", "done": True, "done_reason": "stop",
               "prompt_eval_count": 100, "eval_count": 20}
        if not stream:
            return self._send(200, json.dumps(end | {"message": message}).encode())
        pieces = []
        if message.get("tool_calls"):
            pieces.append(json.dumps({"model": model, "message": message, "done": False}).encode() + b"\n")
        else:
            for word in message["content"].split(" "):
                pieces.append(json.dumps({"model": model, "message": {"role": "assistant", "content": word + " "},
                                          "done": False}).encode() + b"\n")
        pieces.append(json.dumps(end | {"message": {"role": "assistant", "content": ""}}).encode() + b"\n")
        self._stream(pieces, "application/x-ndjson")


class ScriptedUpstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.queue: list[str] = []
        self.sent: list[tuple[int, bytes]] = []
        self.hold_stream: threading.Event | None = None  # set: streams pause after their first piece

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
