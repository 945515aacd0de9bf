"""Capture against a client shaped like the real tool's run (toolcheck, issue 13 item 2).

Running git-smart-commit itself against ``capture_protocol`` showed this request shape:
``GET /props`` (404), ``GET /v1/models``, one streamed summary request without tools
(a hunk over 6,000 characters), then non-streaming tool-loop requests without a
temperature; after each tool result (emit_commit's excepted) it asks ``POST /tokenize``
for the result's size and, over 125 tokens, streams a summary request and sends the
model the summary in place of the result. The client below reproduces that shape with
gsctune's own texts. With many hunks a rejection listing every uncovered hunk was over
the limit, so the capture recorded the tool's summary instead of the rejection.
"""
from __future__ import annotations

import json

import httpx
import pytest

from labeling.protocol.layout import hunk_ids, user_turn_layout
from labeling.protocol.run import serve_capture
from labeling.protocol.session import SUMMARY_TEXT
from labeling.protocol.store import store_capture
from tests.tool_client import play_loop

SYSTEM = "You group the hunks of a gsctune test into commits, with tool calls only."
TOOLS = [{"type": "function", "function": {"name": name, "description": f"gsctune test tool {name}.",
                                           "parameters": {"type": "object", "properties": props}}}
         for name, props in (("emit_commit", {"commit": {"type": "object"}}),
                             ("finalize_commits", {"gitignore": {"type": "array"}, "skipped_hunks": {"type": "array"}}))]
SUMMARIZE_OVER = 125  # tokens


def user_turn(n: int, appended: str = "") -> str:
    """The tool's layout with gsctune's words; ``appended`` follows the last section after a
    blank line, where the tool puts a critique or the user's own issue patterns."""
    ids = [f"pkg/module{i:03d}/notes.txt::1" for i in range(n)]
    listing = "\n".join(f"  {h}  (+1/-1)" for h in ids)
    sections = "\n\n".join(f"--- {h} ---\n@@ -1 +1 @@\n-old {h}\n+new {h}\n" for h in ids)
    return f"Hunks in this test:\n{listing}\n\nTest diffs:\n{sections}" + (f"\n\n{appended}" if appended else "")


class ToolShapedClient:
    """Sends what the tool sent, in its order, and summarizes long tool results as it does."""

    def __init__(self, api_base: str, n_hunks: int, appended: str = ""):
        self.api_base, self.root, self.n_hunks = api_base, api_base.removesuffix("/v1"), n_hunks
        self.appended = appended
        self.tokenized: list[str] = []

    def _summary(self, http: httpx.Client, text: str) -> str:
        payload = {"model": "capture", "stream": True, "messages": [{"role": "user", "content": f"Shorten:\n{text}"}]}
        parts = []
        with http.stream("POST", f"{self.api_base}/chat/completions", json=payload) as response:
            for line in response.iter_lines():
                line = line.removeprefix("data: ")
                if not line or line == "[DONE]":
                    continue
                parts.append(json.loads(line)["choices"][0]["delta"].get("content", ""))
        return "".join(parts)

    def _tokens(self, http: httpx.Client, text: str) -> int:
        self.tokenized.append(text)
        return len(http.post(f"{self.root}/tokenize", json={"content": text}).json()["tokens"])

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{self.root}/props").status_code == 404
            assert http.get(f"{self.api_base}/models").json()["data"][0]["id"] == "capture"
            self._summary(http, "a hunk too long to show")
            turn = user_turn(self.n_hunks, self.appended)
            ids, done = set(hunk_ids(turn)), set()

            def answer(name: str, args: dict) -> str | None:
                if name == "emit_commit":
                    new = [h for h in args["commit"]["hunks"] if h in ids and h not in done]
                    done.update(new)
                    return f"Taken: {len(new)} hunk(s)." if new else "Not taken: unknown or already taken."
                left = sorted(ids - done - set(args["skipped_hunks"]))
                if not left:
                    return None
                reply = "Not finished; uncovered:\n" + "\n".join(f"- {h}" for h in left) + "\nTry again."
                if self._tokens(http, reply) > SUMMARIZE_OVER:
                    reply = "[Summarized by the test client]\n" + self._summary(http, reply)
                return reply

            play_loop(http, self.api_base, SYSTEM, turn, TOOLS, answer)


def capture(n_hunks: int, appended: str = "") -> tuple[dict, ToolShapedClient]:
    clients = []

    def drive(server):
        clients.append(ToolShapedClient(server.api_base, n_hunks, appended))
        clients[0].run()

    result, finished = serve_capture(port=0, model="capture", timeout_s=10, grace_s=0.2, on_ready=drive)
    assert finished
    return result, clients[0]


@pytest.mark.django_db
@pytest.mark.parametrize("n_hunks", [4, 200])
def test_the_rejection_is_recorded_as_the_tool_writes_it_whatever_the_repository_size(n_hunks):
    result, client = capture(n_hunks)
    rejected = result["replies"]["finalize_rejected"]
    assert SUMMARY_TEXT not in rejected and rejected.startswith("Not finished; uncovered:\n- pkg/module")
    assert rejected.count("\n- ") == 1  # one hunk left uncovered, so the tool has no reason to shorten it
    assert client.tokenized == [rejected]
    version, _, _ = store_capture(result)
    assert version.reply_layouts["finalize_rejected"] == "Not finished; uncovered:\n- {hunk_id}\nTry again."
    assert [r["path"] for r in version.raw_capture][:3] == ["/props", "/v1/models", "/v1/chat/completions"]


@pytest.mark.django_db
def test_captures_of_a_small_and_a_large_repository_have_one_layout():
    small, _ = store_capture(capture(4)[0])[:2]
    large, created, diff = store_capture(capture(200)[0])
    assert not created and large.pk == small.pk and diff == ""


@pytest.mark.django_db
def test_what_the_user_configured_after_the_sections_is_shown_but_is_no_drift():
    plain, _, _ = store_capture(capture(4)[0])
    mine = "Watch for these test patterns:\n- gsctune test: flag debug prints"
    version, created, diff = store_capture(capture(4, appended=mine)[0])
    assert not created and version.pk == plain.pk and diff == ""
    layout = user_turn_layout(capture(4, appended=mine)[0]["first_request"]["user"])
    assert layout["appended"] == mine and layout["body_forms"] == ["{patch}"]
    assert layout["skeleton"].endswith("--- {hunk_id} ---\n{patch}\n\n" + mine)
    assert plain.user_layout["appended"] == ""
