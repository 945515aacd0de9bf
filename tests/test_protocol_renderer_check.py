"""The built-in renderer checked against a capture (issue 13 item 2): findings, page, command, manifest.

A client written for these tests plays the tool over the capture endpoint, in the request
order the real tool uses (``/props``, ``/v1/models``, a streamed summary, the tool loop).
Its reply formats are the ones PROTOCOL.md spells out, written out here rather than taken
from gsctune's renderer, so the check compares two independent renderings; its sentences
(the finalize rejection) are gsctune's own inventions shaped like the tool's.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse

from gsctune.domain.protocol import Replies, ToolSession
from labeling.export.services import resolve_protocol
from labeling.protocol.check import CAPTURED_WORDING, GSCTUNE_WORDING, MISMATCH, NOT_CHECKED, OK, check_version
from labeling.protocol.run import serve_capture
from labeling.protocol.session import SUBJECT
from labeling.protocol.store import capture_summary, protocol_from_capture, store_capture
from tests.conftest import browser_login
from tests.test_capture_protocol import _api_base, _Watched
from tests.tool_client import play_loop, tool_like_answer

SYSTEM = "You group the hunks of a gsctune renderer test into commits, with tool calls only."
TOOLS = [{"type": "function", "function": {"name": name, "description": f"gsctune renderer test tool {name}.",
                                           "parameters": {"type": "object", "properties": props}}}
         for name, props in (("emit_commit", {"commit": {"type": "object"}}),
                             ("finalize_commits", {"gitignore": {"type": "array"}, "skipped_hunks": {"type": "array"}}))]


def patch(path: str, start: int) -> str:
    return (f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -{start},2 +{start},2 @@\n-old {start}\n+new {start}\n same")


HUNKS = [("src/app.py::1", "diff", patch("src/app.py", 1)), ("src/app.py::2", "diff", patch("src/app.py", 40)),
         ("src/util.py::1", "diff", patch("src/util.py", 3)), ("notes/long.txt::1", "big", ""),
         ("img/logo.png::1", "binary", ""), ("new_module.py::1", "untracked", "")]


def user_turn(summary: str, heading: str = "Available hunks:") -> str:
    """The first message in the layout PROTOCOL.md gives; the long hunk is shown as the model's summary."""
    tags = {"binary": "[binary file]", "untracked": "(new untracked file)"}
    listing = [f"  {h}  {tags.get(kind) or '(+1/-1)'}" for h, kind, _ in HUNKS]
    bodies = {"binary": "[binary file]", "untracked": "(new untracked file — no diff)",
              "big": f"[test client: long hunk shortened] {summary}"}
    sections = [f"--- {h} ---\n{bodies.get(kind, text)}" for h, kind, text in HUNKS]
    return heading + "\n" + "\n".join(listing) + "\n\nDiff content:\n" + "\n\n".join(sections)


def rows(ids) -> str:
    return "\n".join(f"- {h}" for h in sorted(ids))


def accepted(subject: str, left) -> str:
    return f"Commit emitted: '{subject}'. Remaining unassigned hunks:\n{rows(left)}"


def unknown(hunk: str, ids) -> str:
    return f"Error: unknown hunk ID '{hunk}'.\nValid IDs are:\n{rows(ids)}"


def duplicate(hunk: str) -> str:
    return f"Error: hunk {hunk!r} was already assigned to a previous commit. Each hunk can only appear in one commit."


def rejection(missing) -> str:
    """The test tool's sentence for a finalize that leaves hunks uncovered (gsctune's words, the tool's form)."""
    return (f"Error: the renderer test still has {len(missing)} hunk(s) in no commit and not skipped:\n{rows(missing)}\n"
            "Each needs a commit or a place in skipped_hunks.\n"
            "Mend the arguments and send finalize_commits again (renderer test).")


class ToolLikeClient:
    """The tool's side of a capture session; ``replies`` overrides one reply function by move."""

    def __init__(self, api_base: str, heading: str = "Available hunks:", **replies):
        self.api_base, self.root, self.heading = api_base, api_base.removesuffix("/v1"), heading
        self.reply = {"accepted": accepted, "unknown": unknown, "duplicate": duplicate, "rejection": rejection,
                      **replies}

    def _summary(self, http: httpx.Client) -> str:
        payload = {"model": "capture", "stream": True, "messages": [{"role": "user", "content": "Shorten: a long hunk"}]}
        parts = []
        with http.stream("POST", f"{self.api_base}/chat/completions", json=payload) as response:
            for line in response.iter_lines():
                line = line.removeprefix("data: ")
                if line and line != "[DONE]":
                    parts.append(json.loads(line)["choices"][0]["delta"].get("content", ""))
        return "".join(parts)

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            http.get(f"{self.root}/props")
            http.get(f"{self.api_base}/models")
            turn = user_turn(self._summary(http), self.heading)
            r = self.reply
            play_loop(http, self.api_base, SYSTEM, turn, TOOLS, tool_like_answer(
                {h for h, _, _ in HUNKS}, r["accepted"], r["unknown"], r["duplicate"], r["rejection"]))


def capture(**client_options) -> dict:
    def drive(server):
        ToolLikeClient(server.api_base, **client_options).run()

    result, finished = serve_capture(port=0, model="capture", timeout_s=10, grace_s=0.2, on_ready=drive)
    assert finished
    return result


def by_part(check) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in check.findings:
        found.setdefault(f.part, []).append(f)
    return found


# One character off in each exact reply format: another quote, another bullet.
OFF_BY_ONE = {
    "accepted": lambda subject, left: accepted(subject, left).replace(f"'{subject}'", f'"{subject}"'),
    "unknown": lambda hunk, ids: unknown(hunk, ids).replace("\n- ", "\n* "),
}


# ---------------------------------------------------------------- the findings


@pytest.mark.django_db
def test_a_capture_whose_replies_match_has_no_mismatch():
    version, _, _ = store_capture(capture())
    check = version.renderer_check()
    assert check.mismatches == [] and check.status == OK
    assert check.headline.startswith("renderer matches the capture (") and "not checked" in check.headline
    parts = by_part(check)
    for move in ("emit_accepted", "emit_unknown_id", "emit_duplicate_id", "finalize_accepted"):
        assert [f.status for f in parts[f"reply to {move}"]] == [OK], move
    assert [f.status for f in parts["reply to finalize_rejected (form)"]] == [OK, OK, OK]
    assert [f.status for f in parts["user turn: changed text"]] == [OK]
    assert [f.status for f in parts["user turn: binary file"]] == [OK]
    assert [f.status for f in parts["user turn: untracked file"]] == [OK]
    # The tool summarizes hunks over 6,000 characters with the model: not reproducible, not a mismatch.
    assert parts["user turn: hunk over 6,000 characters (section)"][0].status == "differs by design"
    [lockfile] = parts["user turn: lockfile"]
    assert lockfile.status == NOT_CHECKED and "shows no hunk of this case (lockfile)" in lockfile.message
    assert resolve_protocol(str(version.pk))[1]["renderer_check"] == "ok"


@pytest.mark.django_db
@pytest.mark.parametrize("reply, move, built_in, captured", [
    ("accepted", "emit_accepted", f"Commit emitted: '{SUBJECT}'.", f'Commit emitted: "{SUBJECT}".'),
    ("unknown", "emit_unknown_id", "- img/logo.png::1", "* img/logo.png::1"),
])
def test_an_emit_reply_one_character_off_is_a_mismatch_naming_the_move_and_both_texts(reply, move, built_in,
                                                                                      captured):
    version, _, _ = store_capture(capture(**{reply: OFF_BY_ONE[reply]}))
    check = version.renderer_check()
    [finding] = check.mismatches
    assert finding.part == f"reply to {move}" and check.status == MISMATCH
    assert check.headline == "1 mismatch between gsctune's built-in renderer and the capture"
    assert built_in in finding.message and captured in finding.message
    assert built_in in finding.expected and captured in finding.captured
    assert resolve_protocol(str(version.pk))[1]["renderer_check"] == "mismatch"


@pytest.mark.django_db
def test_the_user_turn_is_compared_form_by_form():
    # Wording that cannot be read as gsctune's fields (a two-line heading, a tag naming its
    # file) stays gsctune's, so the capture differs from what exports render: a mismatch.
    data = protocol_from_capture(capture(heading="Hunks of the\nrenderer test:"))
    data["user_turn"] = data["user_turn"].replace("  new_module.py::1  (new untracked file)",
                                                  "  new_module.py::1  (new_module.py is untracked)")
    parts = by_part(check_version({**data, "user_layout": None}))
    [header] = parts["user turn: hunk list header"]
    assert header.status == MISMATCH and header.expected == "Available hunks:"
    assert header.captured == "Hunks of the\nrenderer test:"
    [line] = parts["user turn: untracked file (hunk line)"]
    assert line.status == MISMATCH and "new_module.py::1" in line.message
    assert line.expected == "  {hunk_id}  (new untracked file)" and line.captured == "  {hunk_id}  ({path} is untracked)"
    [headings] = parts["user turn wording: headings"]
    assert headings.status == GSCTUNE_WORDING and "not one line" in headings.message
    [untracked] = parts["user turn wording: untracked file"]
    assert untracked.status == GSCTUNE_WORDING and "new_module.py::1 names its file" in untracked.message


# ---------------------------------------------------------------- the tool's finalize wording


@pytest.mark.django_db
def test_the_derived_finalize_template_renders_the_tools_sentence_for_other_ids():
    version, _, _ = store_capture(capture())
    spec = version.to_spec()
    assert spec.replies.finalize_unassigned != Replies().finalize_unassigned
    [wording] = by_part(version.renderer_check())["finalize rejection wording"]
    assert wording.status == CAPTURED_WORDING
    ids = ["z/last.py::1", "a/first.py::10", "a/first.py::2", "m/mid.py::1"]
    session = ToolSession(ids, "a test message", spec)
    emit = {"commit": {"subject": "test: take one hunk", "hunks": ["m/mid.py::1"]}}
    session.respond({"role": "assistant", "tool_calls": [{"id": "c1", "function": {
        "name": "emit_commit", "arguments": json.dumps(emit)}}]})
    [reply] = session.respond({"role": "assistant", "tool_calls": [{"id": "c2", "function": {
        "name": "finalize_commits", "arguments": json.dumps({"skipped_hunks": ["z/last.py::1"]})}}]})
    assert reply["content"] == rejection(["a/first.py::10", "a/first.py::2"])
    # The rest of the spec is the captured one; the hash covers the captured wording.
    assert spec.system_prompt == SYSTEM and spec.content_hash != replace(spec, replies=Replies()).content_hash


@pytest.mark.django_db
def test_an_ambiguous_rejection_keeps_gsctunes_wording_and_says_why():
    def inline(missing):
        return f"Error: left out by the renderer test: {', '.join(sorted(missing))}\nSend finalize_commits again."

    version, _, _ = store_capture(capture(rejection=inline))
    assert version.to_spec().replies == Replies()
    [wording] = by_part(version.renderer_check())["finalize rejection wording"]
    assert wording.status == GSCTUNE_WORDING and "does not read unambiguously" in wording.message
    assert "as a '- " in wording.message
    # Its form is still what the built-in claims: the prefix, the instruction, the refused hunk.
    assert [f.status for f in by_part(version.renderer_check())["reply to finalize_rejected (form)"]] == [OK, OK, OK]


# ---------------------------------------------------------------- where it is reported


@pytest.mark.django_db
def test_the_page_shows_the_verdict_and_both_texts(client, reviewer_user):
    good, _, _ = store_capture(capture())
    bad, _, _ = store_capture(capture(accepted=OFF_BY_ONE["accepted"]))
    client.force_login(reviewer_user)
    page = client.get(reverse("protocol-detail", args=[good.pk])).content.decode()
    assert "renderer matches the capture (" in page and "mismatch between" not in page
    page = client.get(reverse("protocol-detail", args=[bad.pk])).content.decode()
    assert "1 mismatch between gsctune&#x27;s built-in renderer and the capture" in page
    assert "reply to emit_accepted" in page and '<span class="badge failed">mismatch</span>' in page
    assert f"Commit emitted: &#x27;{SUBJECT}&#x27;." in page and f"Commit emitted: &quot;{SUBJECT}&quot;." in page
    # Mismatches come first in the table.
    assert page.index("badge failed") < page.index("badge succeeded")


@pytest.mark.django_db
def test_captured_text_is_escaped_on_the_page(client, reviewer_user):
    def hostile(subject, left):
        return accepted(subject, left).replace("Commit emitted", "<script>alert('emit')</script> emitted")

    version, _, _ = store_capture(capture(accepted=hostile, heading="<b onmouseover=alert(1)>Hunks</b>:"))
    client.force_login(reviewer_user)
    page = client.get(reverse("protocol-detail", args=[version.pk])).content.decode()
    assert "<script>alert" not in page and "<b onmouseover" not in page
    assert "&lt;script&gt;alert(&#x27;emit&#x27;)&lt;/script&gt; emitted" in page
    assert "&lt;b onmouseover=alert(1)&gt;Hunks&lt;/b&gt;:" in page
    # The heading is the tool's wording now (used, not a mismatch): still shown escaped.
    assert "1 mismatch between" in page and "user turn wording: headings" in page


@pytest.mark.django_db
def test_the_command_prints_the_verdict_and_each_mismatch(tmp_path):
    out = _Watched()
    errors = []

    def drive():
        try:
            ToolLikeClient(_api_base(out), accepted=OFF_BY_ONE["accepted"]).run()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=drive)
    thread.start()
    call_command("capture_protocol", port=0, timeout=20, grace=0.2, stdout=out)
    thread.join(10)
    assert not errors, errors
    text = out.getvalue()
    assert "  renderer check: 1 mismatch between gsctune's built-in renderer and the capture" in text
    line = next(line for line in text.splitlines() if line.startswith("    mismatch: reply to emit_accepted: "))
    assert f"Commit emitted: '{SUBJECT}'." in line and f'Commit emitted: "{SUBJECT}".' in line
    assert "    not checked: user turn: lockfile: " in text


@pytest.mark.django_db
def test_a_matching_capture_says_so_in_the_summary():
    version, _, _ = store_capture(capture())
    summary = capture_summary(version)
    assert "  renderer check: renderer matches the capture (" in summary
    assert "    mismatch:" not in summary and f"    {CAPTURED_WORDING}: finalize rejection wording: " in summary



@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                    reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)")
def test_the_verdict_is_the_first_thing_on_the_page_in_a_browser(page, live_server, reviewer_user):
    version, _, _ = store_capture(capture(accepted=OFF_BY_ONE["accepted"]))
    browser_login(page, live_server, "reviewer", "pw-reviewer-123")
    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    verdict = page.locator("#renderer-verdict")
    assert verdict.is_visible() and verdict.inner_text().startswith("1 mismatch between")
    first_row = page.locator("#renderer-check tbody tr").first
    assert first_row.inner_text().startswith("reply to emit_accepted\tmismatch")
    # The check comes before the drift, the prompt and the rest of the capture.
    assert page.locator("section.card h2").first.inner_text() == "Renderer check"
    folder = os.environ.get("GSCTUNE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / "protocol-renderer-mismatch.png"), full_page=True)
