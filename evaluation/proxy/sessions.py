"""Group the proxy's exchanges into the tool's sessions, as they arrive.

A session is keyed by its first system and first user message: every turn of the
tool's loop resends both, so each loop request names its session. Everything else
(summaries and the tool's one-shot calls, which carry no system message; /v1/models,
/props, /tokenize, /api/tags) is a side call of the session in progress; side calls
made before a session's first loop turn (the tool summarizes long hunks while it
builds the user turn) wait for that session. Nothing is dropped: an exchange no
session claims ends up in the last session, or alone in an orphan session.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from .forward import Exchange

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions", "/api/chat")
FINALIZE = "finalize_commits"


def content_text(content) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def first_text(messages: list, role: str) -> str | None:
    return next((content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == role), None)


def session_key(system: str, user: str) -> str:
    return hashlib.sha256(f"{system}\0{user}".encode()).hexdigest()


def route(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/") or "/"


def request_json(exchange: Exchange):
    """The request body as JSON, or None."""
    try:
        return json.loads(exchange.request_body) if exchange.request_body else None
    except (ValueError, UnicodeDecodeError):
        return None


def assistant_message(exchange: Exchange) -> dict | None:
    """The assistant message of a chat answer (plain JSON, server-sent events or NDJSON), or None."""
    if exchange.status != 200:
        return None
    text = exchange.response_body.decode("utf-8", "replace")
    ollama = route(exchange.path) == "/api/chat"
    try:
        if "text/event-stream" in exchange.content_type or text.lstrip().startswith("data:"):
            return _merge_sse(text)
        lines = [line for line in text.splitlines() if line.strip()]
        if ollama and len(lines) > 1:
            return _merge_ndjson(lines)
        data = json.loads(text)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return None
    if ollama:
        message = data.get("message")
    else:
        choices = data.get("choices") or [{}]
        message = choices[0].get("message")
    return message if isinstance(message, dict) else None


def _merge_sse(text: str) -> dict:
    content, calls = [], {}
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        for choice in json.loads(data).get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            for part in delta.get("tool_calls") or []:
                call = calls.setdefault(part.get("index", len(calls)),
                                        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                call["id"] = part.get("id") or call["id"]
                fn = part.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                args = fn.get("arguments")
                if isinstance(args, dict):
                    call["function"]["arguments"] = args
                elif args:
                    call["function"]["arguments"] += args
    message = {"role": "assistant", "content": "".join(content)}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def _merge_ndjson(lines: list[str]) -> dict:
    content, calls = [], []
    for line in lines:
        message = json.loads(line).get("message") or {}
        content.append(message.get("content") or "")
        calls.extend(message.get("tool_calls") or [])
    message = {"role": "assistant", "content": "".join(content)}
    if calls:
        message["tool_calls"] = calls
    return message


def calls_finalize(message: dict | None) -> bool:
    calls = (message or {}).get("tool_calls") or []
    return bool(calls) and (calls[0].get("function") or {}).get("name") == FINALIZE


@dataclass
class Session:
    """The exchanges of one tool session; ``loop`` indexes the tool-loop turns among them."""

    key: str
    system: str = ""
    user: str = ""
    api: str = "openai"  # openai (/v1) or ollama (/api/chat)
    model: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    loop: list[int] = field(default_factory=list)
    reason: str = ""  # set when the grouping itself could not read something
    finalize_sent: bool = False  # the last loop answer calls finalize_commits
    changed: bool = True
    closed: bool = False  # converted or given up: later exchanges start a new session
    record_id: int | None = None  # the RecordedSession row

    @property
    def last_at(self) -> float:
        return self.exchanges[-1].at if self.exchanges else 0.0

    def add(self, exchange: Exchange, loop: bool = False) -> None:
        if loop:
            self.loop.append(len(self.exchanges))
            self.finalize_sent = calls_finalize(assistant_message(exchange))
        self.exchanges.append(exchange)
        self.changed = True


class Recorder:
    """Collects exchanges from the proxy's threads (``add``) and groups them on ``collect``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incoming: list[Exchange] = []
        self.sessions: list[Session] = []
        self._pending: list[Exchange] = []  # side calls waiting for their session's first turn
        self._current: Session | None = None
        self.count = 0

    def add(self, exchange: Exchange) -> None:
        """Called from the proxy's request threads: the only work on the request path."""
        with self._lock:
            self._incoming.append(exchange)
            self.count += 1

    def collect(self, final: bool = False) -> list[Session]:
        """Group what arrived since the last call; ``final`` places waiting side calls too."""
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for exchange in incoming:
            self._place(exchange)
        if final and self._pending:
            target = self._current or self._new_session("")
            if target.key == "":
                target.reason = "requests outside any tool session (no chat request with a system and a user message)"
            for exchange in self._pending:
                target.add(exchange)
            self._pending = []
        return self.sessions

    def _place(self, exchange: Exchange) -> None:
        body = request_json(exchange)
        messages = body.get("messages") if isinstance(body, dict) else None
        is_chat = exchange.method == "POST" and route(exchange.path) in CHAT_PATHS
        system = first_text(messages, "system") if isinstance(messages, list) else None
        user = first_text(messages, "user") if isinstance(messages, list) else None
        if not (is_chat and system is not None and user is not None):
            if is_chat and not isinstance(messages, list):
                exchange.note = exchange.note or "chat request body is not JSON with a messages list"
            current = self._current
            if current is not None and not current.finalize_sent and not current.closed:
                current.add(exchange)
            else:
                self._pending.append(exchange)
            return
        key = session_key(system, user)
        current = self._current if self._current is not None and not self._current.closed else None
        session = current if current is not None and current.key == key else None
        if session is None and current is not None and len(messages) > 2 and current.system == system:
            # A later turn whose first user message the tool has compacted (summarized the diff
            # away): the same conversation, still keyed by the message it started with.
            session = current
        # Only the system and user messages again, after a turn was answered: the tool started over
        # on the same changes. (After a failed first turn it is the tool's retry.)
        restarted = len(messages) <= 2 and session is not None and any(
            session.exchanges[i].status == 200 for i in session.loop)
        if session is None or restarted:
            session = next((s for s in reversed(self.sessions) if s.key == key and not s.closed), None)
            if session is None or restarted:
                session = self._new_session(key)
                session.system, session.user = system, user
        session.api = "ollama" if route(exchange.path) == "/api/chat" else "openai"
        session.model = str(body.get("model") or session.model)
        for waiting in self._pending:
            session.add(waiting)
        self._pending = []
        session.add(exchange, loop=True)
        self._current = session

    def _new_session(self, key: str) -> Session:
        session = Session(key=key)
        self.sessions.append(session)
        return session
