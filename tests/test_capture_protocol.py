"""Capturing git-smart-commit's protocol: endpoint answers, scripted session, stored versions, drift guard, page.

A client written for these tests plays the tool: it asks for the model list, llama-server's
/props and /tokenize, streams a summary request without tools, then runs a tool loop with
non-streaming chat completions and answers each call with a tool message, the way the
tool's client does. All prompt, tool and reply texts here are gsctune's own inventions.
"""
from __future__ import annotations

import io
import json
import subprocess
import threading
import time

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from gsctune.jobs import execute_job
from labeling.models import CaptureJob, ProtocolVersion
from labeling.protocol.layout import hunk_ids, reply_layout, user_turn_layout
from labeling.protocol.run import serve_capture
from labeling.protocol.scratch import CASES, make_scratch_repo, scratch_cases
from labeling.protocol.session import SUMMARY_TEXT, UNKNOWN_ID, CaptureSession
from labeling.protocol.store import CaptureIncomplete, store_capture

SYSTEM = "You sort working-tree hunks into commits for the gsctune test suite.\nAnswer only with tool calls."


def _spec(name: str, text: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": text, "parameters": {
        "type": "object", "properties": properties, "required": required, "title": f"{name}_args"}}}


TOOLS = [
    _spec("read_file", "Show a file of the test repository.", {"path": {"type": "string"}}, ["path"]),
    _spec("emit_commit", "Propose one commit of the test.", {"commit": {"type": "object"}}, ["commit"]),
    _spec("finalize_commits", "End the test session.", {
        "gitignore": {"type": "array", "items": {"type": "string"}, "default": []},
        "skipped_hunks": {"type": "array", "items": {"type": "string"}, "default": []}}, []),
]


def render_user_turn(hunks: list[tuple[str, str, str]], summary: str) -> str:
    """A first message in the tool's layout (hunk list, then sections), with invented headers.

    ``hunks`` are (id, kind, patch) with kind "diff", "big" (shown as the model's summary),
    "untracked" or "binary".
    """
    lines = ["Hunks waiting for a commit:"]
    for hunk_id, kind, patch in hunks:
        stat = {"untracked": "(untracked in the test)", "binary": "[binary in the test]"}.get(kind)
        if stat is None:
            added = patch.count("\n+") - patch.count("\n+++")
            deleted = patch.count("\n-") - patch.count("\n---")
            stat = f"(+{added}/-{deleted})"
        lines.append(f"  {hunk_id}  {stat}")
    sections = []
    for hunk_id, kind, patch in hunks:
        body = {"untracked": "(untracked in the test: no diff)", "binary": "[binary in the test]",
                "big": f"[long hunk, summarized] {summary}"}.get(kind, patch)
        sections.append(f"--- {hunk_id} ---\n{body}")
    return "\n".join(lines) + "\n\nThe hunks:\n" + "\n\n".join(sections)


def patch(path: str, n: int, lines: int = 1) -> str:
    body = "".join(f"-old {n}.{i}\n+new {n}.{i}\n" for i in range(lines))
    return f"diff --git a/{path} b/{path}\nindex 1..2 100644\n--- a/{path}\n+++ b/{path}\n@@ -{n},{lines} +{n},{lines} @@\n{body}"


def repo_hunks(seed: int) -> list[tuple[str, str, str]]:
    """A repository's hunks: different ids and patches per seed, the same rendering cases."""
    hunks = [(f"src/mod{seed}.py::{i}", "diff", patch(f"src/mod{seed}.py", i + seed)) for i in range(1, 4)]
    hunks.append((f"notes/long{seed}.txt::1", "big", ""))
    hunks.append((f"img/pic{seed}.bin::1", "binary", ""))
    hunks.append((f"new_{seed}.py::1", "untracked", ""))
    return hunks


def _git(repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def scratch_hunks(repo) -> list[tuple[str, str, str]]:
    """The scratch repository's hunks as PROTOCOL.md describes the tool's split (a simplified stand-in)."""
    hunks = []
    for path in _git(repo, "diff", "--name-only").split():
        diff = _git(repo, "diff", "-M", "--no-color", "--no-ext-diff", "--", path)
        if "Binary files" in diff:
            hunks.append((f"{path}::1", "binary", ""))
            continue
        lines = diff.splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line.startswith("@@")] or [len(lines)]
        header = "".join(lines[:starts[0]])
        bodies = ["".join(lines[a:b]) for a, b in zip(starts, [*starts[1:], len(lines)])] or [""]
        for n, body in enumerate(bodies, 1):
            kind = "big" if len(header + body) > 6000 else "diff"
            hunks.append((f"{path}::{n}", kind, (header + body).rstrip("\n")))
    hunks += [(f"{p}::1", "untracked", "") for p in _git(repo, "ls-files", "--others", "--exclude-standard").split()]
    return hunks


class FakeTool:
    """Plays git-smart-commit's side against an OpenAI-compatible base URL (requests as the tool shapes them)."""

    def __init__(self, api_base: str, model: str = "capture", system: str = SYSTEM, tools=TOOLS, seed: int = 0,
                 repo=None):
        self.api_base, self.model, self.system, self.tools, self.seed = api_base, model, system, tools, seed
        self.repo = repo
        self.root = api_base.removesuffix("/v1")
        self.answers: dict[str, object] = {}

    def run(self) -> list[dict]:
        with httpx.Client(timeout=10) as http:
            models = http.get(f"{self.api_base}/models")
            self.answers["models"] = (models.status_code, models.json())
            props = http.get(f"{self.root}/props")
            self.answers["props"] = props.status_code
            tok = http.post(f"{self.root}/tokenize", json={"content": "count these twenty-eight chars"})
            self.answers["tokenize"] = (tok.status_code, tok.json())
            summary = self._stream_summary(http)
            self.answers["summary"] = summary
            hunks = scratch_hunks(self.repo) if self.repo else repo_hunks(self.seed)
            return self._loop(http, render_user_turn(hunks, summary))

    def _stream_summary(self, http: httpx.Client) -> str:
        payload = {"model": self.model, "stream": True, "temperature": 0.2,
                   "messages": [{"role": "user", "content": "Shorten this test hunk:\n+a\n+b"}]}
        chunks = []
        with http.stream("POST", f"{self.api_base}/chat/completions", json=payload) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line:
                    continue
                line = line.removeprefix("data: ")
                if line.strip() == "[DONE]":
                    break
                choice = json.loads(line)["choices"][0]
                chunks.append(choice.get("delta", {}).get("content", ""))
                if choice.get("finish_reason") is not None:
                    break
        return "".join(chunks)

    def _loop(self, http: httpx.Client, user_turn: str) -> list[dict]:
        ids = hunk_ids(user_turn)
        assigned: set[str] = set()
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": user_turn}]
        for _ in range(12):
            payload = {"model": self.model, "messages": messages, "stream": False, "temperature": 0.2,
                       "tools": self.tools, "tool_choice": "auto"}
            data = http.post(f"{self.api_base}/chat/completions", json=payload).raise_for_status().json()
            message = data["choices"][0]["message"]
            call = message["tool_calls"][0]
            messages.append(message)
            args = json.loads(call["function"]["arguments"])
            if call["function"]["name"] == "emit_commit":
                commit = args["commit"]
                bad = [h for h in commit["hunks"] if h not in ids]
                dup = [h for h in commit["hunks"] if h in assigned]
                if bad:
                    reply = f"Refused: {bad[0]!r} is no hunk here.\nKnown:\n" + "\n".join(f"- {h}" for h in sorted(ids))
                elif dup:
                    reply = f"Refused: {dup[0]!r} belongs to an earlier commit."
                else:
                    assigned.update(commit["hunks"])
                    left = sorted(set(ids) - assigned)
                    reply = f"Accepted commit '{commit['subject']}'. Still unassigned:\n" + "\n".join(f"- {h}" for h in left)
            else:
                missing = sorted(set(ids) - assigned - set(args.get("skipped_hunks", [])))
                if not missing and assigned:
                    return messages
                reply = "Refused: not covered: " + ", ".join(missing) + "\nFix it and finalize again."
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": reply})
        raise AssertionError("the capture never finalized")


def capture(seed: int = 0, system: str = SYSTEM, tools=TOOLS, model: str = "capture") -> tuple[dict, FakeTool]:
    """One capture session driven by the fake tool (it runs to its end inside ``on_ready``)."""
    tools_used = []

    def drive(server):
        tools_used.append(FakeTool(server.api_base, model=model, system=system, tools=tools, seed=seed))
        tools_used[0].run()

    result, finished = serve_capture(port=0, model=model, timeout_s=5, grace_s=0.2, on_ready=drive)
    assert finished
    return result, tools_used[0]


# ---------------------------------------------------------------- the endpoint


def test_endpoint_answers_what_the_tool_asks_before_the_loop():
    result, tool = capture(model="my-capture")
    status, models = tool.answers["models"]
    assert status == 200 and models["data"][0]["id"] == "my-capture"
    assert tool.answers["props"] == 404
    status, tokens = tool.answers["tokenize"]
    assert status == 200 and isinstance(tokens["tokens"], list) and len(tokens["tokens"]) == 2  # 30 chars / 16
    assert tool.answers["summary"] == SUMMARY_TEXT
    paths = [(r["method"], r["path"], r["status"]) for r in result["requests"]]
    assert paths[:4] == [("GET", "/v1/models", 200), ("GET", "/props", 404), ("POST", "/tokenize", 200),
                         ("POST", "/v1/chat/completions", 200)]
    assert result["requests"][3]["note"] == "summary request"
    assert [r.get("note") for r in result["requests"][4:]] == [
        "emit_accepted", "emit_unknown_id", "emit_duplicate_id", "finalize_rejected", "finalize_accepted"]


def test_unexpected_requests_get_an_answer_and_a_log_line():
    session = CaptureSession()
    status, _, body = session.handle("GET", "/api/tags", b"")
    assert status == 404 and "does not serve GET /api/tags" in json.loads(body)["error"]["message"]
    status, _, _ = session.handle("POST", "/v1/chat/completions", b"{not json")
    assert status == 400
    status, _, body = session.handle("POST", "/v1/chat/completions", b'{"tools": [{}], "messages": ["not a message"]}')
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"]
    assert [e["note"] for e in session.log][:2] == ["unexpected request", "bad chat body"]
    assert session.log[2]["note"].startswith("capture error: AttributeError")
    assert session.result()["first_request"] is None


def test_streamed_tool_request_gets_the_call_as_server_sent_events():
    session = CaptureSession()
    user = render_user_turn(repo_hunks(0), "s")
    body = json.dumps({"stream": True, "tools": TOOLS, "messages": [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]}).encode()
    status, ctype, out = session.handle("POST", "/v1/chat/completions", body)
    events = [json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data: {")]
    assert status == 200 and ctype == "text/event-stream" and out.decode().rstrip().endswith("data: [DONE]")
    call = events[0]["choices"][0]["delta"]["tool_calls"][0]
    assert call["function"]["name"] == "emit_commit"
    assert json.loads(call["function"]["arguments"])["commit"]["hunks"] == hunk_ids(user)[:3]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_one_shot_tool_request_is_answered_but_not_taken_for_the_loop():
    session = CaptureSession()
    body = json.dumps({"tools": TOOLS[1:2], "messages": [{"role": "user", "content": "a one-shot question"}]})
    status, _, out = session.handle("POST", "/v1/chat/completions", body.encode())
    assert status == 200 and json.loads(out)["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "emit_commit"
    assert session.first_request is None and session.log[-1]["note"] == "tool request without a system message"


def test_forced_finalize_on_the_last_turn_is_answered_with_a_valid_finalize():
    session = CaptureSession()
    user = render_user_turn(repo_hunks(0), "s")
    body = json.dumps({"tools": TOOLS[2:], "tool_choice": {"type": "function", "function": {"name": "finalize_commits"}},
                       "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]})
    _, _, out = session.handle("POST", "/v1/chat/completions", body.encode())
    call = json.loads(out)["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "finalize_commits"
    assert json.loads(call["arguments"])["skipped_hunks"] == sorted(hunk_ids(user))


# ---------------------------------------------------------------- what is stored


@pytest.mark.django_db
def test_capture_is_stored_as_a_protocol_version():
    result, _ = capture()
    version, created, diff = store_capture(result, tool_commit="abc1234")
    assert created and diff == ""
    assert version.system_prompt == SYSTEM and version.tools == TOOLS
    assert version.user_turn == render_user_turn(repo_hunks(0), SUMMARY_TEXT)
    assert version.tool_name == "git-smart-commit" and version.tool_commit == "abc1234"
    assert version.source == "captured" and version.captured_at and len(version.content_hash) == 64
    layout = version.user_layout
    assert layout["hunk_list_header"] == "Hunks waiting for a commit:"
    assert layout["diff_header"] == "The hunks:" and layout["section_header"] == "--- {hunk_id} ---"
    assert layout["hunk_line_forms"] == ["  {hunk_id}  (+{n}/-{n})", "  {hunk_id}  (untracked in the test)",
                                         "  {hunk_id}  [binary in the test]"]
    assert layout["body_forms"] == ["(untracked in the test: no diff)", "[binary in the test]",
                                    "[long hunk, summarized] {llm_summary}", "{patch}"]
    assert layout["n_hunks"] == 6
    assert layout["skeleton"] == (
        "Hunks waiting for a commit:\n  {hunk_id}  (+{n}/-{n})\n  {hunk_id}  [binary in the test]\n"
        "  {hunk_id}  (untracked in the test)\n\nThe hunks:\n--- {hunk_id} ---\n{patch}\n\n"
        "--- {hunk_id} ---\n[long hunk, summarized] {llm_summary}\n\n--- {hunk_id} ---\n[binary in the test]\n\n"
        "--- {hunk_id} ---\n(untracked in the test: no diff)")
    replies = version.replies
    assert replies["emit_accepted"].startswith("Accepted commit 'chore(capture): ")
    assert replies["emit_accepted"].endswith("- img/pic0.bin::1\n- new_0.py::1\n- notes/long0.txt::1")
    assert UNKNOWN_ID in replies["emit_unknown_id"]
    assert replies["emit_duplicate_id"] == "Refused: 'src/mod0.py::1' belongs to an earlier commit."
    assert replies["finalize_rejected"].startswith("Refused: not covered: img/pic0.bin::1")
    assert replies["finalize_accepted"] == ""
    assert version.reply_layouts["emit_accepted"] == "Accepted commit '{subject}'. Still unassigned:\n- {hunk_id}"
    # The scripted rejection leaves exactly one hunk uncovered (keeps the tool's reply short).
    assert replies["finalize_rejected"] == "Refused: not covered: img/pic0.bin::1\nFix it and finalize again."
    assert version.reply_layouts["finalize_rejected"] == "Refused: not covered: {hunk_id}\nFix it and finalize again."
    assert version.reply_layouts["emit_duplicate_id"] == "Refused: '{hunk_id}' belongs to an earlier commit."
    assert [r["path"] for r in version.raw_capture][:3] == ["/v1/models", "/props", "/tokenize"]
    spec = version.to_spec_dict()
    assert spec["content_hash"] == version.content_hash and spec["tools"] == TOOLS


@pytest.mark.django_db
def test_a_stored_version_never_changes():
    version, _, _ = store_capture(capture()[0])
    version.system_prompt = "edited"
    with pytest.raises(Exception, match="never changes"):
        version.save()
    version.refresh_from_db()
    assert version.system_prompt == SYSTEM


@pytest.mark.django_db
def test_drift_guard_same_protocol_same_version_changed_protocol_new_version():
    first, created, _ = store_capture(capture(seed=0)[0])
    # Another repository (other ids, paths, patches), the same tool: the same version.
    again, created_again, diff = store_capture(capture(seed=5)[0])
    assert created and not created_again and again.pk == first.pk and diff == ""
    changed_system = SYSTEM.replace("Answer only with tool calls.", "Answer with one tool call per turn.")
    changed_tools = [*TOOLS[:2], _spec("finalize_commits", "End the test session.", {
        "skipped_hunks": {"type": "array", "items": {"type": "string"}}}, ["skipped_hunks"])]
    second, created, diff = store_capture(capture(system=changed_system, tools=changed_tools)[0])
    assert created and second.pk != first.pk and second.drift_from_id == first.pk
    assert second.drift_diff == diff
    assert f"--- system prompt (#{first.pk})" in diff and "+++ system prompt (this capture)" in diff
    assert "\n-Answer only with tool calls.\n+Answer with one tool call per turn.\n" in diff
    assert f"--- tools (#{first.pk})" in diff and '"gitignore"' in diff
    assert "user-turn layout" not in diff
    assert ProtocolVersion.objects.count() == 2
    third, created, diff = store_capture(capture(system=changed_system, tools=changed_tools, seed=2)[0])
    assert not created and third.pk == second.pk and diff == ""


@pytest.mark.django_db
def test_a_session_without_a_tools_request_stores_nothing():
    session = CaptureSession()
    session.handle("GET", "/v1/models", b"")
    with pytest.raises(CaptureIncomplete, match="never sent a chat completion with tools"):
        store_capture(session.result())
    assert not ProtocolVersion.objects.exists()


def test_layout_takes_out_the_repositorys_values():
    a = user_turn_layout(render_user_turn(repo_hunks(1), "one summary"), ["one summary"])
    b = user_turn_layout(render_user_turn(repo_hunks(7), "another"), ["another"])
    keys = ("hunk_list_header", "hunk_line_forms", "diff_header", "section_header", "body_forms")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    summarized = reply_layout(f"[short form r3]\n{SUMMARY_TEXT}", ["a.py::1"], summary=SUMMARY_TEXT)
    assert summarized == "[short form r{n}]\n{llm_summary}"
    # ::10 must not be read as ::1 followed by a 0.
    many = render_user_turn([(f"a.py::{i}", "diff", patch("a.py", i)) for i in range(1, 12)], "")
    assert hunk_ids(many)[9] == "a.py::10"
    assert user_turn_layout(many)["hunk_line_forms"] == ["  {hunk_id}  (+{n}/-{n})"]


# ---------------------------------------------------------------- the scratch repository


def test_scratch_repository_shows_every_rendering_case(tmp_path):
    repo = make_scratch_repo(tmp_path / "scratch")
    cases = scratch_cases(repo)
    assert set(cases) == set(CASES) and all(cases.values()), cases
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True).stdout
    assert staged == ""
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=repo,
                               capture_output=True, text=True).stdout.split()
    assert "debug.log" not in untracked and "docs/new_name.md" in untracked


def test_scratch_cases_are_checked_not_assumed(tmp_path):
    repo = make_scratch_repo(tmp_path / "scratch")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "stash", "-u", "-q"],
                   cwd=repo, check=True)
    assert not any(scratch_cases(repo).values())


def test_scratch_refuses_a_directory_in_use(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="exists and is not empty"):
        call_command("capture_protocol", scratch=str(tmp_path / "used"), port=0, timeout=0.1, stdout=io.StringIO())


# ---------------------------------------------------------------- the command


class _Watched(io.StringIO):
    """Command output that a second thread can wait on."""

    def __init__(self):
        super().__init__()
        self.changed = threading.Event()

    def write(self, s):
        n = super().write(s)
        self.changed.set()
        return n


def _api_base(out: _Watched, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for word in out.getvalue().split():
            if word.startswith("http://127.0.0.1:") and word.endswith("/v1"):
                return word
        out.changed.wait(0.1)
        out.changed.clear()
    raise AssertionError(out.getvalue())


@pytest.mark.django_db
def test_command_prints_the_tool_command_waits_and_stores(tmp_path):
    out = _Watched()
    errors = []

    def drive():
        try:
            # The scratch repository exists once the command has printed the endpoint.
            FakeTool(_api_base(out), repo=tmp_path / "s").run()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=drive)
    thread.start()
    call_command("capture_protocol", port=0, scratch=str(tmp_path / "s"), tool_commit="c2f41fb", timeout=20,
                 grace=0.2, stdout=out)
    thread.join(10)
    text = out.getvalue()
    assert not errors, errors
    repo = tmp_path / "s"
    assert f"cd {repo} && git-smart-commit --api-base http://127.0.0.1:" in text
    assert "/v1 --model capture --dry-run --json" in text and "still unstages" in text
    assert all(f"[x] {label}" in text for label in CASES.values())
    version = ProtocolVersion.objects.get()
    assert version.tool_commit == "c2f41fb" and version.system_prompt == SYSTEM
    ids = hunk_ids(version.user_turn)
    assert {"notes/many.txt::2", "notes/many.txt::10", "tools/run.sh::1", "docs/new_name.md::1", "src/__init__.py::1",
            "assets/logo.bin::1", "package-lock.json::1", "docs/old_name.md::1"} <= set(ids)
    assert version.user_layout["n_hunks"] == len(ids) == 24
    assert set(version.user_layout["body_forms"]) == {
        "{patch}", "[binary in the test]", "(untracked in the test: no diff)", "[long hunk, summarized] {llm_summary}"}
    assert version.replies["finalize_accepted"] == "" and version.replies["emit_accepted"].startswith("Accepted")
    assert f"Stored new git-smart-commit protocol #{version.pk}" in text
    assert "tools (3): read_file, emit_commit, finalize_commits" in text
    assert "GET /props -> 404" in text and reverse("protocol-detail", args=[version.pk]) in text


@pytest.mark.django_db
def test_command_without_a_session_says_nothing_was_captured():
    with pytest.raises(CommandError, match="never sent a chat completion with tools"):
        call_command("capture_protocol", port=0, timeout=0.2, stdout=io.StringIO())
    assert not ProtocolVersion.objects.exists()


# ---------------------------------------------------------------- the page


@pytest.mark.django_db
def test_pages_need_login(client):
    version, _, _ = store_capture(capture()[0])
    for url in (reverse("protocol-list"), reverse("protocol-detail", args=[version.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_pages_show_the_capture_escaped_with_the_drift(client, reviewer_user):
    hostile = SYSTEM + "\n<script>alert('prompt')</script>"
    first, _, _ = store_capture(capture()[0])
    second, _, _ = store_capture(capture(system=hostile)[0])
    client.force_login(reviewer_user)
    listing = client.get(reverse("protocol-list")).content.decode()
    assert f"#{second.pk} git-smart-commit" in listing and f"differs from #{first.pk}" in listing
    assert "--model capture --dry-run --json" in listing and "still unstages" in listing
    page = client.get(reverse("protocol-detail", args=[second.pk])).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt;" in page
    assert '<span class="add">+&lt;script&gt;' in page
    assert "emit_commit" in page and "Hunks waiting for a commit:" in page and "--- {hunk_id} ---" in page
    assert "no reply: the tool accepted it and ended its loop" in page
    assert page.index(">emit_accepted<") < page.index(">emit_unknown_id<") < page.index(">finalize_accepted<")
    assert client.get(reverse("protocol-detail", args=[first.pk])).status_code == 200
    assert client.get(reverse("protocol-detail", args=[987654])).status_code == 404


# ---------------------------------------------------------------- a capture started from the page


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_job_with_tool(job) -> None:
    """What the worker does with the queued job, while the fake tool runs in the scratch repository it made."""
    errors = []

    def drive():
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"{job.api_base}/models", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            job.refresh_from_db(fields=["scratch_path"])
            FakeTool(job.api_base, repo=job.scratch_path or None).run()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=drive)
    thread.start()
    execute_job(job.job_label, job.pk)
    thread.join(10)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_staff_start_a_capture_that_the_worker_serves_and_stores(client, staff_user, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    client.force_login(staff_user)
    port = _free_port()
    response = client.post(reverse("protocol-capture-new"), {
        "port": port, "model_name": "capture", "tool_commit": "c2f41fb", "timeout_s": 30, "make_scratch": "on"})
    job = CaptureJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.state == "queued" and job.created_by == staff_user
    page = client.get(job.get_absolute_url()).content.decode()
    assert f"git-smart-commit --api-base http://127.0.0.1:{port}/v1 --model capture --dry-run --json" in page
    _run_job_with_tool(job)
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    version = job.protocol_version
    assert version and job.new_version and version.tool_commit == "c2f41fb" and version.system_prompt == SYSTEM
    assert job.scratch_path.startswith(str(tmp_path)) and all(scratch_cases(job.scratch_path).values())
    assert "notes/many.txt::10" in hunk_ids(version.user_turn)
    assert job.status_message == f"Stored new version #{version.pk}." and job.progress_done == 10
    status = client.get(job.status_url()).content.decode()
    assert f'href="{version.get_absolute_url()}"' in status and "(new)" in status
    listing = client.get(reverse("protocol-list")).content.decode()
    assert job.get_absolute_url() in listing and "Start capture" in listing


@pytest.mark.django_db(transaction=True)
def test_a_capture_without_the_tool_fails_with_the_reason(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    job = CaptureJob.objects.create(port=_free_port(), timeout_s=1, make_scratch=False)
    execute_job(job.job_label, job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "never sent a chat completion with tools" in job.error_reason
    assert job.protocol_version is None and not ProtocolVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_busy_port_is_refused_by_the_form_and_by_the_worker(client, staff_user):
    client.force_login(staff_user)
    busy = CaptureJob.objects.create(port=9123)
    response = client.post(reverse("protocol-capture-new"), {"port": 9123, "model_name": "capture", "timeout_s": 30})
    assert response.status_code == 400 and CaptureJob.objects.count() == 1
    assert f"{busy} is still waiting on this port" in response.content.decode()
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        job = CaptureJob.objects.create(port=holder.getsockname()[1], timeout_s=5, make_scratch=False)
        execute_job(job.job_label, job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "cannot be used" in job.error_reason and "choose another port" in job.error_reason


@pytest.mark.django_db
def test_only_staff_start_a_capture(client, reviewer_user):
    client.force_login(reviewer_user)
    response = client.post(reverse("protocol-capture-new"), {"port": 9000, "model_name": "capture", "timeout_s": 30})
    assert response.status_code == 403 and "Only staff can start a capture." in response.content.decode()
    assert not CaptureJob.objects.exists()
    listing = client.get(reverse("protocol-list")).content.decode()
    assert "Start capture" not in listing and "Only staff can start a capture here" in listing


def test_a_reply_followed_by_a_warning_is_still_recorded_and_flat_schemas_get_flat_arguments():
    session = CaptureSession()
    flat = [_spec("emit_commit", "Flat test commit.", {"subject": {"type": "string"},
                                                       "hunks": {"type": "array"}}, ["subject", "hunks"]), TOOLS[2]]
    user = render_user_turn(repo_hunks(0), "s")
    messages = [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]}, {"role": "user", "content": user}]
    _, _, out = session.handle("POST", "/v1/chat/completions", json.dumps({"tools": flat, "messages": messages}).encode())
    message = json.loads(out)["choices"][0]["message"]
    args = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert args["hunks"] == hunk_ids(user)[:3] and "commit" not in args
    assert session.first_request["system"] == SYSTEM
    messages += [message, {"role": "tool", "tool_call_id": "call_1", "content": "taken (test)"},
                 {"role": "user", "content": "a test warning after the reply"}]
    _, _, out = session.handle("POST", "/v1/chat/completions", json.dumps({"tools": flat, "messages": messages}).encode())
    assert session.replies == {"emit_accepted": "taken (test)"}
    second = json.loads(json.loads(out)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert second["hunks"] == [UNKNOWN_ID]
