"""The capture endpoint: an OpenAI-compatible server that plays a short scripted session against the tool.

git-smart-commit, pointed at ``http://127.0.0.1:PORT/v1``, asks for ``GET /v1/models``,
llama-server's ``GET /props`` and ``POST /tokenize`` (at the server root), streams
summary requests without tools, then runs its tool loop with non-streaming chat
completions. The first request with tools is recorded (system prompt, tools, user
turn); gsctune then answers as a model would, one move per request:

1. ``emit_commit`` with the first half of the listed hunks (the accepted reply),
2. ``emit_commit`` with an id that is not listed (the unknown-id reply),
3. ``emit_commit`` with an id already emitted (the already-assigned reply),
4. ``finalize_commits`` that leaves one hunk neither committed nor skipped (the rejection;
   one, so that the tool does not summarize a long rejection before sending it),
5. ``finalize_commits`` that skips the rest: the tool accepts it and ends its loop.

Each tool message that comes back is recorded against the move that caused it.
Anything else gets a sensible answer and a line in the log, never an error page.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .layout import hunk_ids

EMIT = "emit_commit"
FINALIZE = "finalize_commits"
UNKNOWN_ID = "gsctune-capture/not-in-the-list.txt::1"
TOKEN_CHARS = 16  # characters per token that /tokenize reports
SUMMARY_TEXT = "gsctune capture: placeholder summary of the content above."
SUBJECT = "chore(capture): record the protocol of the running tool"
BODY = ("gsctune plays a scripted session to record how the tool\n"
        "lists hunks and how it answers each move. These commits are\n"
        "never made: the tool runs with --dry-run.\n"
        "Every hunk not emitted here is skipped at the end.")
# The scripted moves, in order; each reply the tool sends is stored under the move's name.
MOVES = ("emit_accepted", "emit_unknown_id", "emit_duplicate_id", "finalize_rejected", "finalize_accepted")


@dataclass
class CaptureSession:
    """What one capture has seen and answered so far (shared by the server's threads)."""

    model: str = "capture"
    log: list[dict] = field(default_factory=list)
    first_request: dict | None = None
    replies: dict[str, str] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)
    finalized_at: float | None = None
    last_request_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request; records it in the log."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        payload = None
        if body:
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                payload = None
        with self.lock:
            self.last_request_at = time.monotonic()
            entry = {"method": method, "path": path, "body": payload if payload is not None else body[:2000].decode("utf-8", "replace")}
            self.log.append(entry)
            try:
                status, ctype, out, note = self._route(method, path, payload)
            except Exception as exc:  # never fail the tool's session: answer, and keep the reason in the log
                note = f"capture error: {exc!r}"
                if path.endswith("/chat/completions"):
                    message = {"role": "assistant", "content": "The capture server could not read this request."}
                    status, ctype, out = _completion(message, "stop", self.model, False)
                else:
                    status, ctype, out = 500, "application/json", _json({"error": {"message": note}})
            entry["status"] = status
            if note:
                entry["note"] = note
        return status, ctype, out

    def _route(self, method: str, path: str, payload) -> tuple[int, str, bytes, str]:
        if method == "GET" and path in ("/v1/models", "/models"):
            data = {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "gsctune"}]}
            return 200, "application/json", _json(data), ""
        if path == "/props":
            return 404, "application/json", _json({"error": {"code": 404, "message": "no /props on the capture server"}}), ""
        if method == "POST" and path == "/tokenize":
            # Few tokens per character on purpose: the tool then keeps its replies under its
            # summarize threshold, so the capture records them verbatim.
            text = payload.get("content", "") if isinstance(payload, dict) else ""
            n = -(-len(text) // TOKEN_CHARS) if isinstance(text, str) else 0
            return 200, "application/json", _json({"tokens": list(range(n))}), ""
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
                return 400, "application/json", _json({"error": {"message": "body must be JSON with messages"}}), "bad chat body"
            return self._chat(payload)
        return 404, "application/json", _json({"error": {"message": f"the capture server does not serve {method} {path}"}}), "unexpected request"

    # ------------------------------------------------------------------ chat

    def _chat(self, payload: dict) -> tuple[int, str, bytes, str]:
        stream = bool(payload.get("stream"))
        tools = payload.get("tools") or []
        if not tools:
            self.summaries.append(SUMMARY_TEXT)
            return (*_completion({"role": "assistant", "content": SUMMARY_TEXT}, "stop", self.model, stream), "summary request")
        messages = payload["messages"]
        has_system = any(m.get("role") == "system" for m in messages)
        if not has_system:  # a one-shot forced call, not the tool loop: answer it, record nothing
            name = tools[0].get("function", {}).get("name", "")
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}
            message = {"role": "assistant", "content": "", "tool_calls": [call]}
            return (*_completion(message, "tool_calls", self.model, stream), "tool request without a system message")
        if self.first_request is None:
            self.first_request = {
                "system": _first_text(messages, "system"),
                "user": _first_text(messages, "user"),
                "tools": tools,
                "tool_choice": payload.get("tool_choice"),
            }
        is_first = self._same_conversation(messages)
        calls = [c for m in messages if m.get("role") == "assistant" for c in (m.get("tool_calls") or [])[:1]]
        sent = _moves_sent(calls)
        reply = _reply_to_last_call(messages)
        if is_first and reply is not None and sent:
            answered = sent[-1] if sent[-1] != "finalize_accepted" else "finalize_accepted_was_rejected"
            self.replies.setdefault(answered, reply)
        name, args, move = _next_move(messages, tools, payload.get("tool_choice"), calls, sent)
        if is_first:
            self.finalized_at = time.monotonic() if move == "finalize_accepted" else None
        call = {"id": f"call_{len(calls) + 1}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)}}
        message = {"role": "assistant", "content": "", "tool_calls": [call]}
        return (*_completion(message, "tool_calls", self.model, stream), move if is_first else f"{move} (another conversation)")

    def _same_conversation(self, messages: list[dict]) -> bool:
        first = self.first_request or {}
        return _first_text(messages, "system") == first.get("system") and _first_text(messages, "user") == first.get("user")

    # ------------------------------------------------------------------ results

    def finished(self, grace_s: float) -> bool:
        """The valid finalize went out and the tool sent nothing more for ``grace_s`` seconds."""
        with self.lock:
            return (self.finalized_at is not None and self.last_request_at is not None
                    and time.monotonic() - self.last_request_at >= grace_s)

    def result(self) -> dict:
        """Everything the capture recorded, for store.store_capture."""
        with self.lock:
            replies = dict(self.replies)
            if self.finalized_at is not None:
                replies["finalize_accepted"] = ""  # accepted: the tool ends its loop without a tool message
            return {"first_request": self.first_request, "replies": replies, "summaries": list(self.summaries),
                    "requests": list(self.log), "finalized": self.finalized_at is not None}


def _text(content) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _first_text(messages: list[dict], role: str) -> str:
    return next((_text(m.get("content")) for m in messages if m.get("role") == role), "")


def _reply_to_last_call(messages: list[dict]) -> str | None:
    """The tool message that answers the last assistant tool call (warnings or nudges may follow it)."""
    last_call = max((i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("tool_calls")),
                    default=None)
    if last_call is None:
        return None
    return next((_text(m.get("content")) for m in messages[last_call + 1:] if m.get("role") == "tool"), None)


def _moves_sent(calls: list[dict]) -> list[str]:
    """Which scripted move each earlier call was, read from the call itself (the server keeps no turn state)."""
    sent: list[str] = []
    for call in calls:
        fn = call.get("function", {})
        if fn.get("name") == EMIT:
            hunks = _emitted_hunks(fn)
            if hunks == [UNKNOWN_ID]:
                sent.append("emit_unknown_id")
            else:
                sent.append("emit_duplicate_id" if "emit_accepted" in sent else "emit_accepted")
        elif fn.get("name") == FINALIZE:
            sent.append("finalize_accepted" if "finalize_rejected" in sent else "finalize_rejected")
        else:
            sent.append("other")
    return sent


def _next_move(messages, tools, tool_choice, calls, sent) -> tuple[str, dict, str]:
    """The tool name, arguments and move name for this turn of the script."""
    offered = [t.get("function", {}).get("name") for t in tools]
    forced = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) else None
    ids = hunk_ids(_first_text(messages, "user"))
    first_emit = next((c for c, move in zip(calls, sent) if move == "emit_accepted"), None)
    emitted = _emitted_hunks(first_emit["function"]) if first_emit else []
    remaining = [h for h in ids if h not in emitted]
    only_finalize = forced == FINALIZE or (FINALIZE in offered and EMIT not in offered)
    todo = [m for m in MOVES if m not in sent and not (m == "emit_duplicate_id" and not emitted)]
    move = "finalize_accepted" if only_finalize or not todo else todo[0]
    if move == "emit_accepted":
        return EMIT, _emit_args(tools, ids[: max(1, (len(ids) + 1) // 2)]), move
    if move == "emit_unknown_id":
        return EMIT, _emit_args(tools, [UNKNOWN_ID]), move
    if move == "emit_duplicate_id":
        return EMIT, _emit_args(tools, emitted[:1]), move
    if move == "finalize_rejected":
        # One hunk left uncovered: the rejection stays short whatever the repository's size,
        # so the tool sends it as it is (it summarizes tool results over 125 tokens).
        skipped = sorted(remaining)[1:] if remaining else [UNKNOWN_ID]
        return FINALIZE, {"gitignore": [], "skipped_hunks": skipped}, move
    return FINALIZE, {"gitignore": [], "skipped_hunks": sorted(remaining)}, "finalize_accepted"


def _args(fn: dict) -> dict:
    raw = fn.get("arguments") or {}
    try:
        return json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        return {}


def _emitted_hunks(fn: dict) -> list[str]:
    args = _args(fn)
    commit = args.get("commit") if isinstance(args.get("commit"), dict) else args
    hunks = commit.get("hunks", [])
    return hunks if isinstance(hunks, list) else []


def _emit_args(tools: list[dict], hunks: list[str]) -> dict:
    """emit_commit's arguments: nested under ``commit`` as PROTOCOL.md says, or flat if the tool's schema is flat."""
    spec = next((t.get("function", {}) for t in tools if t.get("function", {}).get("name") == EMIT), {})
    properties = (spec.get("parameters") or {}).get("properties") or {}
    if "commit" not in properties and "hunks" in properties:
        return _commit(hunks)
    return {"commit": _commit(hunks)}


def _commit(hunks: list[str]) -> dict:
    return {"subject": SUBJECT, "hunks": hunks, "body": BODY, "breaking_change": "", "issues": []}


def _json(data) -> bytes:
    return json.dumps(data).encode()


def _completion(message: dict, finish: str, model: str, stream: bool) -> tuple[int, str, bytes]:
    """A chat completion in the OpenAI shape, or the same as server-sent events when streamed."""
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    base = {"id": "chatcmpl-capture", "created": int(time.time()), "model": model}
    if not stream:
        data = {**base, "object": "chat.completion", "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
        return 200, "application/json", _json(data)
    delta = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    chunks = [
        {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "object": "chat.completion.chunk", "usage": usage,
         "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
    ]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return 200, "text/event-stream", text.encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, ctype, out = self.server.session.handle(method, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        if self.server.on_request:
            self.server.on_request(self.server.session.log[-1])

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def log_message(self, *args) -> None:
        """Requests are logged in the session, not on stderr."""


class CaptureServer(ThreadingHTTPServer):
    """The capture endpoint on 127.0.0.1; ``session`` holds what it recorded."""

    daemon_threads = True

    def __init__(self, port: int = 0, model: str = "capture", on_request=None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.session = CaptureSession(model=model)
        self.on_request = on_request

    @property
    def root_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base(self) -> str:
        return f"{self.root_url}/v1"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="capture-server", daemon=True)
        thread.start()
        return thread

