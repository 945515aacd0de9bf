"""The dogfooding proxy (issue 14, item 4): forwarding, recording, conversion, review and export."""
from __future__ import annotations

import http.client
import json
import threading

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import RecordedSession
from evaluation.proxy.run import start_proxy
from evaluation.proxy.store import flush
from gsctune.domain.hunks import example_hunks
from gsctune.domain.protocol import ToolSession
from labeling.export.services import build_records
from labeling.models import Label, ReviewItem
from labeling.review.services import QueueFilter, queue_items, record_verdict
from tests.proxy_upstream import SUMMARY, ScriptedUpstream

DIFF_A = """\
diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,3 +1,4 @@
 import os
+import sys
 
 def main():
@@ -10,2 +11,3 @@ def main():
     run()
+    report()
     return 0
diff --git a/README.md b/README.md
index 3333333..4444444 100644
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 # App
+Usage notes.
diff --git a/notes/todo.txt b/notes/todo.txt
new file mode 100644
index 0000000..5555555
--- /dev/null
+++ b/notes/todo.txt
@@ -0,0 +1 @@
+remember the milk
"""

DIFF_B = """\
diff --git a/lib/util.go b/lib/util.go
index aaaaaaa..bbbbbbb 100644
--- a/lib/util.go
+++ b/lib/util.go
@@ -4,2 +4,3 @@ package lib
 func A() {}
+func B() {}
 func C() {}
diff --git a/go.mod b/go.mod
index ccccccc..ddddddd 100644
--- a/go.mod
+++ b/go.mod
@@ -1 +1 @@
-module old
+module example.com/new
"""


class ToolShapedClient:
    """Sends what git-smart-commit sends, in its order, over one kept-alive connection;
    the tool's side of the loop is gsctune's ToolSession. Keeps every (status, body) it got."""

    def __init__(self, root: str) -> None:
        host, port = root.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.got: list[tuple[int, bytes]] = []

    def send(self, method: str, path: str, body: dict | bytes | None = None) -> tuple[int, bytes]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        out = response.read()
        self.got.append((response.status, out))
        return response.status, out

    def chat(self, path: str, body: dict) -> dict:
        """Like the tool: retry on 429 and 5xx, then read the answer."""
        for _ in range(4):
            status, out = self.send("POST", path, body)
            if status not in (429, 500, 502, 503):
                return json.loads(out)
        raise AssertionError("upstream kept failing")

    def run(self, diff: str, ollama: bool, compact: bool = False) -> ToolSession:
        chat = "/api/chat" if ollama else "/v1/chat/completions"
        if ollama:
            self.send("GET", "/api/tags")
        else:
            self.send("GET", "/v1/models")
            self.send("GET", "/props")
            self.send("POST", "/tokenize", {"content": "how many tokens is this"})
        # A summary request (no tools, no system message), streamed as the tool streams them.
        summary = {"model": "student", "stream": True, "messages": [{"role": "user", "content": "Summarize: x"}]}
        status, _ = self.send("POST", chat, summary)
        assert status == 200
        tool = ToolSession.for_hunks(example_hunks(diff), ollama=ollama)
        while not tool.done:
            body = tool.request() | {"model": "student"}
            if compact and len(body["messages"]) > 2:  # as the tool does on native Ollama's small context
                user = body["messages"][1]["content"]
                compacted = "[Summarized, id r1]\n" + user.split("Diff content:")[0]
                body["messages"][1] = {"role": "user", "content": compacted}
            answer = self.chat(chat, body)
            message = answer["message"] if ollama else answer["choices"][0]["message"]
            tool.respond(message)
        return tool


@pytest.fixture
def upstream():
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture
def proxy(upstream):
    server, recorder = start_proxy(upstream.url + "/v1")
    yield server, recorder
    server.stop()


@pytest.mark.django_db
def test_two_tool_sessions_become_production_labels_in_the_review_queue(upstream, proxy, staff_user):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    upstream.queue = ["ok", "500", "429"]  # the summary passes; the first loop turn fails twice, then works
    first = client.run(DIFF_A, ollama=False)
    second = client.run(DIFF_B, ollama=True)
    assert first.outcome == second.outcome == "finalized"

    # Forwarded unchanged: every status and body the client got is what the upstream sent.
    assert client.got == upstream.sent
    assert [s for s, _ in client.got].count(500) == 1 and [s for s, _ in client.got].count(429) == 1

    rows = flush(recorder, server.upstream.url, repo_name="acme/app", final=True)
    assert sorted(r.state for r in rows) == ["converted", "converted"]
    by_api = {r.api: r for r in RecordedSession.objects.all()}
    assert set(by_api) == {"openai", "ollama"}
    a = by_api["openai"]
    # Side calls are kept with the session: models, props, tokenize, the summary, the failures.
    assert [q["path"] for q in a.requests][:4] == ["/v1/models", "/props", "/tokenize", "/v1/chat/completions"]
    assert [r["status"] for r in a.responses].count(500) == 1
    assert SUMMARY.split()[0] in a.responses[3]["body"]  # the streamed summary, stored as its event text

    label = a.label
    assert label.source == Label.Source.PRODUCTION and label.example.repo_url == "acme/app"
    # The diff rebuilt from the user turn shows the tool the same hunks with the same patches
    # (the new file reached the model as untracked, without content).
    rebuilt, original = example_hunks(label.example.diff), example_hunks(DIFF_A)
    assert [(h.id, h.kind, h.patch) for h in rebuilt] == [(h.id, h.kind, h.patch) for h in original]
    assert [c["hunks"] for c in label.commits] == [["README.md::1"], ["src/app.py::1", "src/app.py::2"]]
    assert [c["files"] for c in label.commits] == [["README.md"], ["src/app.py"]]
    assert label.usage["skipped_hunks"] == ["notes/todo.txt::1"]
    assert a.proposal["hunk_ids"] == [h.id for h in example_hunks(DIFF_A)]
    b = by_api["ollama"].label
    assert [c["hunks"] for c in b.commits] == [["go.mod::1"]] and b.usage["skipped_hunks"] == ["lib/util.go::1"]
    assert b.example.repo_url == "acme/app" and b.usage["prompt_tokens"] > 0

    queued = list(queue_items(QueueFilter(), user=staff_user))
    assert {item.label_id for item in queued} == {a.label_id, b.pk}
    assert ReviewItem.objects.filter(label__source=Label.Source.PRODUCTION).count() == 2


@pytest.mark.django_db
def test_the_same_diff_recorded_again_adds_a_label_to_the_same_example(upstream, proxy):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    client.run(DIFF_B, ollama=False)
    client.run(DIFF_B, ollama=False)
    rows = flush(recorder, server.upstream.url, final=True)
    assert [r.state for r in rows] == ["converted", "converted"]
    assert rows[0].example_id == rows[1].example_id and rows[0].label_id != rows[1].label_id
    assert rows[0].example.key.startswith("recorded:") and rows[0].key == rows[1].key


def _raw_stream(root: str, path: str, body: dict) -> http.client.HTTPResponse:
    host, port = root.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return conn.getresponse()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_streams_pass_through_piece_by_piece(upstream, proxy, path):
    server, _ = proxy
    upstream.hold_stream = threading.Event()  # the upstream sends one piece, then waits
    body = {"model": "student", "stream": True, "messages": [{"role": "user", "content": "Summarize: y"}]}
    response = _raw_stream(server.root_url, path, body)
    first = response.read1(65536)
    assert first and not upstream.sent  # the first piece arrived while the upstream is still writing
    upstream.hold_stream.set()
    rest = response.read()
    assert upstream.sent == [(200, first + rest)]
    assert response.getheader("Content-Type") == ("text/event-stream" if path.startswith("/v1") else "application/x-ndjson")


@pytest.mark.django_db
def test_unparseable_sessions_are_stored_raw_with_the_reason(upstream, proxy):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    tool = ToolSession.for_hunks(example_hunks(DIFF_B))
    upstream.queue = ["garbage"]
    status, out = client.send("POST", "/v1/chat/completions", tool.request() | {"model": "student"})
    assert (status, out) == (200, b"<html>not a completion</html>")
    status, _ = client.send("POST", "/v1/chat/completions", b"{not json")
    assert status == 400  # the upstream's own error, passed through
    rows = flush(recorder, server.upstream.url, final=True)
    assert [r.state for r in rows] == ["unparseable"]
    row = rows[0]
    assert "not a chat completion" in row.reason
    assert row.requests[1]["body"] == "{not json" and row.responses[0]["body"] == "<html>not a completion</html>"
    assert row.label is None and not Label.objects.exists()


@pytest.mark.django_db
def test_requests_outside_any_session_are_kept_as_an_orphan(upstream, proxy):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    client.send("GET", "/v1/models")
    client.send("POST", "/v1/chat/completions", b"{not json")
    rows = flush(recorder, server.upstream.url, final=True)
    assert [(r.state, r.key) for r in rows] == [("unparseable", "")]
    assert "outside any tool session" in rows[0].reason and len(rows[0].requests) == 2


@pytest.mark.django_db
def test_an_unfinished_session_is_stored_with_its_reason(upstream, proxy):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    tool = ToolSession.for_hunks(example_hunks(DIFF_A))
    tool.respond(client.chat("/v1/chat/completions", tool.request() | {"model": "student"}) ["choices"][0]["message"])
    rows = flush(recorder, server.upstream.url, final=True)
    assert [r.state for r in rows] == ["unfinished"] and "no accepted finalize_commits" in rows[0].reason


def test_an_unreachable_upstream_is_a_502_that_says_so():
    server, _ = start_proxy("http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        client = ToolShapedClient(server.root_url)
        status, out = client.send("GET", "/v1/models")
    finally:
        server.stop()
    assert status == 502 and b"did not answer" in out


@pytest.mark.django_db
def test_production_labels_stay_out_of_exports_until_reviewed(upstream, proxy, staff_user):
    server, recorder = proxy
    ToolShapedClient(server.root_url).run(DIFF_B, ollama=False)
    (row,) = flush(recorder, server.upstream.url, final=True)
    assert row.label_id not in {r["label"]["id"] for r in build_records()}
    assert row.label_id not in {r["label"]["id"] for r in build_records(light=True)}
    record_verdict(staff_user, row.label_id, "accept")
    (record,) = [r for r in build_records() if r["label"]["id"] == row.label_id]
    assert record["verdict"] == "accepted"


def test_the_command_rejects_a_bad_upstream():
    with pytest.raises(CommandError, match="upstream"):
        call_command("record_sessions", upstream="ftp://nowhere")


@pytest.mark.django_db
def test_staff_see_the_command_and_what_was_recorded(upstream, proxy, staff_client, client, reviewer_user):
    server, recorder = proxy
    shaped = ToolShapedClient(server.root_url)
    ToolShapedClient(server.root_url).run(DIFF_B, ollama=False)
    upstream.queue = ["garbage"]
    shaped.send("POST", "/v1/chat/completions", ToolSession.for_hunks(example_hunks(DIFF_A)).request() | {"model": "m"})
    converted, raw = flush(recorder, server.upstream.url, repo_name="acme/app", final=True)
    page = staff_client.get("/evaluation/recorded/").content.decode()
    assert "manage.py record_sessions --upstream" in page and "--api-base http://127.0.0.1:8767/v1" in page
    assert f"example {converted.example_id}" in page and "not a chat completion" in page
    detail = staff_client.get(f"/evaluation/recorded/{raw.pk}/").content.decode()
    assert "&lt;html&gt;not a completion&lt;/html&gt;" in detail and "<html>not a completion" not in detail
    assert "feat(core): add the first piece" in staff_client.get(f"/evaluation/recorded/{converted.pk}/").content.decode()
    review = staff_client.get(f"/review/{converted.label_id}/")
    assert review.status_code == 200 and "feat(core): add the first piece" in review.content.decode()
    client.force_login(reviewer_user)
    assert client.get("/evaluation/recorded/").status_code == 403


@pytest.mark.django_db
def test_a_session_is_converted_once_the_tool_has_been_quiet(upstream, proxy):
    server, recorder = proxy
    ToolShapedClient(server.root_url).run(DIFF_B, ollama=False)
    (row,) = flush(recorder, server.upstream.url, grace_s=3600)
    assert row.state == "recording" and len(row.requests) == 6  # kept at once, converted later
    last = recorder.sessions[0].last_at
    (row,) = flush(recorder, server.upstream.url, grace_s=5, now=last + 5)
    assert row.state == "converted" and row.label.source == Label.Source.PRODUCTION


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_the_command_records_a_session_end_to_end(upstream):
    import io

    port, out = _free_port(), io.StringIO()
    command = threading.Thread(target=call_command, args=("record_sessions",), kwargs={
        "upstream": upstream.url + "/v1", "port": port, "repo_name": "acme/cli", "grace": 0.2, "duration": 4,
        "stdout": out})
    command.start()
    for _ in range(50):  # until the proxy listens
        try:
            ToolShapedClient(f"http://127.0.0.1:{port}").send("GET", "/v1/models")
            break
        except ConnectionRefusedError:
            threading.Event().wait(0.05)
    ToolShapedClient(f"http://127.0.0.1:{port}").run(DIFF_B, ollama=True)
    command.join(10)
    assert not command.is_alive()
    text = out.getvalue()
    assert f"--api-base http://127.0.0.1:{port}/v1" in text and "converted (example" in text
    row = RecordedSession.objects.get(state="converted")
    assert row.repo_name == "acme/cli" and row.api == "ollama" and row.label.example.repo_url == "acme/cli"


@pytest.mark.django_db
def test_a_compacted_first_message_stays_in_its_session(upstream, proxy):
    server, recorder = proxy
    client = ToolShapedClient(server.root_url)
    assert client.run(DIFF_A, ollama=True, compact=True).outcome == "finalized"
    (row,) = flush(recorder, server.upstream.url, final=True)
    assert row.state == "converted" and len(row.label.commits) == 2
    rebuilt = example_hunks(row.example.diff)  # from the first, uncompacted message
    assert [h.patch for h in rebuilt] == [h.patch for h in example_hunks(DIFF_A)]
