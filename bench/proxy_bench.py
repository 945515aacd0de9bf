"""Forwarding overhead of the recording proxy against a loopback upstream (issue 14: <= 5 ms p95).

One run: the scripted student endpoint of the tests (tests/proxy_upstream.py) on
127.0.0.1, the recording proxy in front of it (recording on, as in use: each exchange
is appended to a Recorder; the database is not involved on the request path). For
each kind of request the tool sends, N requests go straight to the upstream and N
through the proxy, interleaved, each over its own kept-alive connection:

* models: ``GET /v1/models``;
* loop turn: ``POST /v1/chat/completions`` with tools and a ~24 KB conversation, JSON answer;
* summary (streamed): ``POST /v1/chat/completions`` with ``stream: true``, server-sent events;
* ollama (streamed): ``POST /api/chat`` with ``stream: true``, NDJSON.

Prints p50 and p95 of both and the overhead (proxy p95 minus direct p95).
Usage: .venv/bin/python bench/proxy_bench.py [--n 300]
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.proxy.forward import RecordingProxy
from evaluation.proxy.sessions import Recorder
from gsctune.domain.hunks import example_hunks
from gsctune.domain.protocol import ToolSession
from tests.proxy_upstream import ScriptedUpstream

TARGET_MS = 5.0


def _diff(files: int = 12) -> str:
    parts = []
    for f in range(files):
        path = f"pkg/module_{f}.py"
        body = "".join(f"+    value_{i} = compute({i}, {f})  # a line of code\n" for i in range(25))
        parts.append(f"diff --git a/{path} b/{path}\nindex 1a2b3c4..5d6e7f8 100644\n--- a/{path}\n+++ b/{path}\n"
                     f"@@ -1,2 +1,27 @@\n def f():\n{body}     return 0\n")
    return "".join(parts)


def requests() -> dict[str, tuple[str, str, bytes | None]]:
    loop = ToolSession.for_hunks(example_hunks(_diff())).request() | {"model": "student"}
    summary = {"model": "student", "stream": True, "messages": [{"role": "user", "content": "Summarize: " + "x" * 2000}]}
    return {
        "models": ("GET", "/v1/models", None),
        "loop turn": ("POST", "/v1/chat/completions", json.dumps(loop).encode()),
        "summary (streamed)": ("POST", "/v1/chat/completions", json.dumps(summary).encode()),
        "ollama (streamed)": ("POST", "/api/chat", json.dumps(summary).encode()),
    }


def _once(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> float:
    start = time.perf_counter()
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300)
    n = parser.parse_args().n
    with ScriptedUpstream() as upstream:
        recorder = Recorder()
        proxy = RecordingProxy(upstream.url, recorder.add)
        proxy.start_background()
        try:
            direct = http.client.HTTPConnection("127.0.0.1", upstream.server_address[1])
            through = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
            print(f"{n} requests of each kind, direct vs through the recording proxy (ms)")
            print(f"{'request':<20} {'direct p50':>10} {'p95':>7} {'proxy p50':>10} {'p95':>7} {'overhead p95':>13}")
            worst = 0.0
            for name, (method, path, body) in requests().items():
                for conn in (direct, through):  # warm up both connections
                    _once(conn, method, path, body)
                a, b = [], []
                for _ in range(n):
                    a.append(_once(direct, method, path, body))
                    b.append(_once(through, method, path, body))
                overhead = p95(b) - p95(a)
                worst = max(worst, overhead)
                print(f"{name:<20} {statistics.median(a):>10.2f} {p95(a):>7.2f} {statistics.median(b):>10.2f} "
                      f"{p95(b):>7.2f} {overhead:>13.2f}")
            print(f"recorded exchanges: {recorder.count}")
            print(f"worst overhead p95: {worst:.2f} ms (target <= {TARGET_MS:.0f} ms): "
                  f"{'OK' if worst <= TARGET_MS else 'OVER'}")
        finally:
            proxy.stop()


if __name__ == "__main__":
    main()
