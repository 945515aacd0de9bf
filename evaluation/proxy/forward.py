"""The forwarding half of the recording proxy: bytes in, bytes out, one record per exchange.

Every request goes to the upstream as it came (method, path, query, headers less the
hop-by-hop ones, body); the upstream's status, headers and body come back unchanged.
A body the upstream streams (no Content-Length: server-sent events on ``/v1``, NDJSON
on native Ollama's ``/api/chat``) is passed on piece by piece as it arrives, so the
tool sees tokens as the model writes them. Recording is one append under a lock;
all parsing happens later, away from the request path.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus the
# framing ones this side sets itself.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "content-length", "host",
})
PIECE = 65536


@dataclass(slots=True)
class Exchange:
    """One request and its answer as the proxy passed them on."""

    at: float  # wall-clock time the request arrived
    method: str
    path: str
    request_body: bytes
    status: int
    content_type: str
    response_body: bytes
    ms: float  # from the request's arrival to the answer's last byte
    streamed: bool = False
    note: str = ""


@dataclass(frozen=True)
class Upstream:
    """Where requests go: scheme, host, port and a path prefix (a trailing ``/v1`` dropped,
    since the tool's paths carry it already)."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Upstream:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream: expected an http(s) URL such as http://127.0.0.1:11434, got {url!r}")
        prefix = parts.path.rstrip("/").removesuffix("/v1")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, prefix)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=timeout)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server: RecordingProxy

    def setup(self) -> None:
        super().setup()
        self._upstream_conn: http.client.HTTPConnection | None = None  # one per client connection, kept alive

    def finish(self) -> None:
        if self._upstream_conn is not None:
            self._upstream_conn.close()
        super().finish()

    def _send_upstream(self, method: str, body: bytes) -> http.client.HTTPResponse:
        """The upstream's response; a kept-alive connection the upstream closed meanwhile is retried once."""
        upstream = self.server.upstream
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"{upstream.host}:{upstream.port}"
        if body or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            fresh = self._upstream_conn is None
            if fresh:
                self._upstream_conn = upstream.connect(self.server.timeout_s)
            try:
                self._upstream_conn.request(method, upstream.prefix + self.path, body=body, headers=headers)
                return self._upstream_conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._upstream_conn.close()
                self._upstream_conn = None
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _forward(self, method: str) -> None:
        started, at = time.perf_counter(), time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = self._send_upstream(method, body)
        except OSError as exc:  # the upstream is down: the proxy's own answer, said as such
            out = json.dumps({"error": {"message": f"gsctune proxy: upstream {self.server.upstream.url} "
                                                   f"did not answer: {exc}", "type": "upstream_unreachable"}}).encode()
            self.send_response_only(502)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self._record(at, started, method, body, 502, "application/json", out, False, "upstream unreachable")
            self.wfile.write(out)
            return
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        ctype = response.getheader("Content-Type", "")
        declared = response.getheader("Content-Length")
        if declared is not None and response.getheader("Transfer-Encoding") is None:
            out = response.read()
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            # Recorded before the last bytes go out: once the client has its answer, the record exists.
            self._record(at, started, method, body, response.status, ctype, out, False, "")
            self.wfile.write(out)
        else:  # streamed: pass each piece on as it arrives, chunked
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            pieces = []
            while piece := response.read1(PIECE):
                pieces.append(piece)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self._record(at, started, method, body, response.status, ctype, b"".join(pieces), True, "")
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        if response.will_close:
            self._upstream_conn.close()
            self._upstream_conn = None

    def _record(self, at, started, method, body, status, ctype, out, streamed, note) -> None:
        ms = (time.perf_counter() - started) * 1000
        self.server.on_exchange(Exchange(at, method, self.path, body, status, ctype, out, ms, streamed, note))

    def do_GET(self):
        self._forward("GET")

    def do_POST(self):
        self._forward("POST")

    def do_PUT(self):
        self._forward("PUT")

    def do_DELETE(self):
        self._forward("DELETE")

    def log_message(self, *args) -> None:
        """Exchanges are recorded, not printed."""


class RecordingProxy(ThreadingHTTPServer):
    """The proxy on ``host:port`` (port 0: any free one); ``on_exchange`` gets each finished exchange."""

    daemon_threads = True

    def __init__(self, upstream: str, on_exchange: Callable[[Exchange], None], port: int = 0,
                 host: str = "127.0.0.1", timeout_s: float = 600.0) -> None:
        self.upstream = Upstream.parse(upstream)
        self.on_exchange = on_exchange
        self.timeout_s = timeout_s
        super().__init__((host, port), _ProxyHandler)

    @property
    def root_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="recording-proxy", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
