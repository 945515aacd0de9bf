"""The protocol evaluation loop against the baseline and a scripted OpenAI-compatible server.

The server here is real HTTP on 127.0.0.1 (``tests/openai_server.LoopbackServer`` answers
text only, so it cannot script tool calls): each test scripts the assistant messages a
candidate sends, one kind of mistake at a time, and checks that the episode's counters
and the protocol metrics count it.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gsctune.domain import baseline_protocol
from gsctune.domain.hunks import example_hunks
from gsctune.domain.protocol import max_turns, tool_call_message
from gsctune.domain.protocol_eval import (
    THRESHOLDS,
    EndpointCandidate,
    policy_candidate,
    run_protocol_episode,
)
from gsctune.domain.protocol_metrics import (
    aggregate,
    grouping,
    human_commits,
    kendall_tau,
    score_episode,
)


def _file(path: str, *hunks: str) -> str:
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n" + "".join(hunks)


def _new(path: str, lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n"
            f"+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}")


DIFF = (
    _file("README.md", "@@ -1 +1 @@\n-Old title\n+New title\n")
    + _file("src/app/core.py", "@@ -1,2 +1,2 @@\n-def run():\n+def run(fast=False):\n     pass\n",
            "@@ -40,13 +40,13 @@\n" + "".join(f" SETTING_{n} = configured_value({n})\n" for n in range(12))
            + "-LIMIT = 1\n+LIMIT = 2\n")
    + _file("tests/test_core.py", "@@ -3 +3 @@\n-    run()\n+    run(fast=True)\n")
    + _new("src/app/helpers.py", ["def helper(value):", "    return value * 2"])
    + _new("notes.swp", ["scratch"])
)
HUNKS = example_hunks(DIFF)
IDS = [h.id for h in HUNKS]
REAL = [i for i in IDS if i != "notes.swp::1"]


def emit(hunks, subject="feat(app): add fast runs", call_id="c1"):
    return tool_call_message(call_id, "emit_commit", {"commit": {"subject": subject, "hunks": list(hunks)}})


def finalize(skipped=("notes.swp::1",), gitignore=("*.swp",), call_id="cf"):
    return tool_call_message(call_id, "finalize_commits", {"gitignore": list(gitignore),
                                                          "skipped_hunks": list(skipped)})


def call(name, arguments, call_id="ci"):
    return tool_call_message(call_id, name, arguments)


def text(content="Let me think about the grouping."):
    return {"role": "assistant", "content": content}


# ── a scripted OpenAI-compatible (and native Ollama) server ──────────────────────

class ScriptedServer(ThreadingHTTPServer):
    """Answers tool-loop requests from ``script`` (messages, or a callable of the request
    body) and side requests (no tools) with ``digest(body)``; ``/tokenize`` counts one
    token per ``chars_per_token`` characters when ``tokenize`` is on."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list = []
        self.digest: Callable[[dict], str] = lambda body: "A short digest of the output."
        self.requests: list[dict] = []
        self.side_requests: list[dict] = []
        self.failures: list[int] = []  # statuses to answer next, in order
        self.tokenize = False
        self.tokenize_calls = 0
        self.chars_per_token = 3
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, body: dict) -> dict:
        if not body.get("tools"):
            self.side_requests.append(body)
            return {"role": "assistant", "content": self.digest(body)}
        self.requests.append(body)
        step = self.script.pop(0) if self.script else finalize()
        return step(body) if callable(step) else step


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        server: ScriptedServer = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/tokenize":
            if not server.tokenize:
                self._send(404, {"error": "no tokenizer"})
                return
            server.tokenize_calls += 1
            self._send(200, {"tokens": list(range(len(body["content"]) // server.chars_per_token))})
            return
        if server.failures:
            self._send(server.failures.pop(0), {"error": {"message": "scripted failure"}})
            return
        message = server.answer(body)
        if self.path == "/api/chat":
            self._send(200, {"model": body["model"], "message": message, "done": True})
        else:
            self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.shutdown()
    srv.server_close()


def play(server: ScriptedServer, script: list, backend: str = "v1", diff: str = DIFF, **options):
    server.script = list(script)

    async def go():
        url = server.url + ("/v1" if backend == "v1" else "")
        async with EndpointCandidate(url, "student", backoff=0.0, max_attempts=2) as candidate:
            return await run_protocol_episode(diff, candidate, backend=backend, **options)

    return asyncio.run(go())


def replies(result) -> list[str]:
    return [m["content"] for m in result.transcript if m.get("kind") == "reply"]


# ── the baseline ─────────────────────────────────────────────────────────────────

def test_baseline_finalizes_validly_and_routes_junk():
    result = asyncio.run(run_protocol_episode(DIFF, policy_candidate(baseline_protocol.answer)))
    assert result.outcome == "finalized" and result.finalized
    assert result.skipped_hunks == ["notes.swp::1"] and result.gitignore == ["*.swp"]
    committed = [h for c in result.commits for h in c["hunks"]]
    assert sorted(committed) == sorted(REAL) and len(committed) == len(set(committed))
    counters = result.counters
    assert counters["turns_used"] == len(result.commits) + 1
    assert all(counters[k] == 0 for k in ("no_tool_call", "malformed_arguments", "unknown_id", "duplicate_id",
                                          "finalize_rejected", "unassigned", "investigation"))
    # The test file goes with the code it tests; the new module is in the app's component.
    app = next(c for c in result.commits if "src/app/core.py::1" in c["hunks"])
    assert {"src/app/core.py::2", "tests/test_core.py::1", "src/app/helpers.py::1"} <= set(app["hunks"])
    assert result.commits[-1]["subject"].startswith("docs")  # documentation last, as the rule orders it
    row = score_episode(result, HUNKS, reference={"commits": result.commits}, junk_files=["notes.swp"])
    assert row["finalized"] == 1.0 and row["junk_routed"] == 1.0
    assert row["exact"] == row["pair_f1"] == row["ari"] == row["jaccard"] == row["order_tau"] == 1.0
    assert row["subject_sim"] == 1.0 and row["no_tool_share"] == 0.0


def test_baseline_answers_over_http_like_a_served_model(server):
    server.script = [lambda body: baseline_protocol.answer(body["messages"], body["tools"]) for _ in range(10)]

    async def go():
        async with EndpointCandidate(server.url + "/v1", "gsctune-baseline", backoff=0.0) as candidate:
            return await run_protocol_episode(DIFF, candidate)

    result = asyncio.run(go())
    assert result.outcome == "finalized" and result.counters["unassigned"] == 0
    assert all(r["tool_choice"] == "auto" and len(r["tools"]) == 8 for r in server.requests)
    response = asyncio.run(baseline_protocol.completion(server.requests[0]))
    assert response["choices"][0]["finish_reason"] == "tool_calls"
    assert response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "emit_commit"


def test_baseline_finalizes_at_once_when_only_finalize_is_offered():
    messages = [{"role": "system", "content": "s"},
                {"role": "user", "content": "Available hunks:\n  a.py::1  (+1/-0)\n  b.py::1  (+2/-0)\n\nDiff"}]
    first = baseline_protocol.answer(messages, [{"function": {"name": "emit_commit"}},
                                                {"function": {"name": "finalize_commits"}}])
    assert first["tool_calls"][0]["function"]["name"] == "emit_commit"
    forced = baseline_protocol.answer(messages + [first, {"role": "tool", "content": "Commit emitted: 'x'."}],
                                      [{"function": {"name": "finalize_commits"}}])
    arguments = json.loads(forced["tool_calls"][0]["function"]["arguments"])
    done = set(json.loads(first["tool_calls"][0]["function"]["arguments"])["commit"]["hunks"])
    assert set(arguments["skipped_hunks"]) == {"a.py::1", "b.py::1"} - done


# ── each kind of mistake ─────────────────────────────────────────────────────────

def test_no_tool_call_is_nudged_and_counted(server):
    result = play(server, [text(), emit(REAL), finalize()])
    assert result.outcome == "finalized"
    assert result.counters["no_tool_call"] == 1 and result.counters["turns_used"] == 3
    assert [m["kind"] for m in result.transcript if m["role"] == "user"] == ["first_user", "nudge"]
    assert score_episode(result, HUNKS)["no_tool_share"] == pytest.approx(1 / 3)


def test_three_replies_without_a_tool_call_force_finalize(server):
    result = play(server, [text(), text(), text(), finalize(skipped=IDS)])
    forced = server.requests[3]
    assert [t["function"]["name"] for t in forced["tools"]] == ["finalize_commits"]
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "finalize_commits"}}
    # Nothing emitted: the tool rejects that finalize on its last turn and stops.
    assert result.outcome == "crashed" and result.counters["finalize_rejected"] == 1
    assert result.counters["unassigned"] == len(IDS)
    assert score_episode(result, HUNKS, reference={"commits": [{"subject": "feat: x", "hunks": REAL}]})["pair_f1"] == 0


def test_unknown_id_is_answered_with_the_valid_ids(server):
    result = play(server, [emit(REAL + ["src/app/core.py::9"]), emit(REAL, call_id="c2"), finalize()])
    assert result.counters["unknown_id"] == 1 and result.outcome == "finalized"
    assert replies(result)[0].startswith("Error: unknown hunk ID 'src/app/core.py::9'.\nValid IDs are:\n- README.md::1")
    assert score_episode(result, HUNKS)["unknown_id"] == 1.0


def test_duplicate_id_is_refused(server):
    result = play(server, [emit(["README.md::1"], "docs: retitle"), emit(["README.md::1", "src/app/core.py::1"],
                                                                          call_id="c2"),
                           emit(REAL[1:], call_id="c3"), finalize()])
    assert result.counters["duplicate_id"] == 1 and result.outcome == "finalized"
    assert "'README.md::1' was already assigned" in replies(result)[1]
    assert [c["subject"] for c in result.commits] == ["docs: retitle", "feat(app): add fast runs"]


def test_early_finalize_is_rejected_and_hunks_left_unassigned_are_counted(server):
    result = play(server, [finalize(), emit(REAL[:2], call_id="c2"), finalize(call_id="c3"),
                           emit(REAL[2:], call_id="c4"), finalize(call_id="c5")])
    assert result.counters["finalize_rejected"] == 2 and result.outcome == "finalized"
    assert "src/app/core.py::2" in replies(result)[2]  # the second rejection names what is unassigned
    assert result.counters["unassigned"] == 0
    stuck = play(server, [emit(REAL[:2])] + [finalize(call_id=f"f{i}") for i in range(40)])
    assert stuck.outcome == "crashed"  # still rejected on the forced last turn: the tool stops
    assert stuck.counters["unassigned"] == len(IDS) - 2
    assert score_episode(stuck, HUNKS)["unassigned"] == float(len(IDS) - 2)


def test_running_out_of_turns(server):
    budget = max_turns(len(IDS))
    result = play(server, [call("get_git_log", {"n": 5}, f"g{i}") for i in range(budget)])
    assert result.outcome == "out_of_turns" and result.counters["turns_used"] == budget
    assert result.counters["unassigned"] == len(IDS) and result.counters["investigation"] == budget
    assert len(server.requests) == budget
    assert [t["function"]["name"] for t in server.requests[-1]["tools"]] == ["finalize_commits"]
    warnings = [m for m in result.transcript if m.get("kind") == "warning"]
    assert len(warnings) == 6 and warnings[0]["turn"] == budget - 6  # six turns left to one, after each reply
    assert score_episode(result, HUNKS)["finalized"] == 0.0


def test_malformed_arguments(server):
    bad = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "emit_commit", "arguments": "{\"commit\": {"}}]}
    result = play(server, [bad])
    assert result.outcome == "crashed" and result.counters["malformed_arguments"] == 1  # the tool's parser dies
    invalid = play(server, [call("emit_commit", {"commit": {"hunks": REAL}}), emit(REAL, call_id="c2"), finalize()])
    assert invalid.outcome == "finalized" and invalid.counters["malformed_arguments"] == 1
    assert replies(invalid)[0].startswith("Error calling emit_commit: 1 validation error")
    assert score_episode(invalid, HUNKS)["malformed"] == 1.0


def test_investigation_calls_are_answered_from_the_example_and_recorded(server):
    result = play(server, [
        call("read_file", {"path": "src/app/helpers.py"}, "r1"),
        call("read_file", {"path": "src/app/core.py"}, "r2"),
        call("get_diff", {"path": "tests/test_core.py"}, "r3"),
        call("search_diff", {"pattern": r"fast=\w+", "context_lines": 0}, "r4"),
        call("get_git_log", {}, "r5"),
        call("list_symbols", {"path": "src/app/core.py"}, "r6"),
        emit(REAL), finalize()], git_log=["feat: older", "fix: newest"])
    assert result.outcome == "finalized" and result.counters["investigation"] == 6
    got = replies(result)
    assert got[0] == "def helper(value):\n    return value * 2\n"
    assert "not available" in got[1] and "not available" in got[5]
    assert got[2].startswith("=== unstaged ===\ndiff --git a/tests/test_core.py") and "+    run(fast=True)" in got[2]
    assert "> +def run(fast=False):" in got[3] and "> +    run(fast=True)" in got[3]
    assert got[4] == "fix: newest\nfeat: older"
    assert [(i["tool"], i["answered"]) for i in result.investigations] == [
        ("read_file", "example"), ("read_file", "not_available"), ("get_diff", "example"),
        ("search_diff", "example"), ("get_git_log", "example"), ("list_symbols", "not_available")]
    assert score_episode(result, HUNKS)["investigation"] == 6.0
    without_log = play(server, [call("get_git_log", {}), emit(REAL), finalize()])
    assert "not available" in replies(without_log)[0]


def test_candidate_failures_end_the_episode_as_an_error(server):
    server.failures = [500, 503]
    result = play(server, [emit(REAL)])
    assert result.outcome == "error" and "HTTP 503" in result.reason
    assert result.transcript[-1]["role"] == "error"
    server.failures = [503]
    assert play(server, [emit(REAL), finalize()]).outcome == "finalized"  # one retry suffices


# ── what the tool does to the conversation ───────────────────────────────────────

def test_long_tool_results_are_summarized_by_the_candidate(server):
    server.digest = lambda body: "Digest: core.py and test_core.py change run()."
    result = play(server, [
        call("get_diff", {"path": "src/app/core.py"}, "d1"),
        lambda body: call("query_message", {"msg_id": _summary_id(body), "question": "Which limit?"}, "q1"),
        emit(REAL), finalize()], count_tokens=lambda s: len(s) // 2)
    summaries = [m for m in result.transcript if m["role"] == "summary"]
    assert len(summaries) == 1 and summaries[0]["kind"] == "tool_result"
    header, body = summaries[0]["content"].split("\n", 1)
    assert header.startswith(f"[Summarized — id: '{summaries[0]['msg_id']}'.") and header.endswith("]")
    assert body == "Digest: core.py and test_core.py change run()."
    # The request after it shows the summary, not the diff; the transcript keeps both.
    tool_seen = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_seen[0]["content"] == summaries[0]["content"]
    assert replies(result)[0].startswith("=== unstaged ===\ndiff --git a/src/app/core.py")
    # query_message is answered by the candidate from the stored original.
    question = server.side_requests[1]["messages"][0]["content"]
    assert "LIMIT = 2" in question and "Which limit?" in question
    assert result.investigations[-1]["answered"] == "candidate"
    assert result.counters["summaries"] == 1 and result.counters["side_requests"] == 2
    # emit_commit's reply is never summarized, however long.
    assert replies(result)[2].startswith("Commit emitted:")


def _summary_id(body: dict) -> str:
    content = next(m["content"] for m in body["messages"] if m["role"] == "tool")
    return content.split("'", 2)[1]


def test_summary_levels_escalate_to_truncation(server):
    server.digest = lambda body: "x" * 5000  # never shorter than the original
    result = play(server, [call("get_diff", {"path": "src/app/core.py"}), emit(REAL), finalize()])
    (summary,) = [m for m in result.transcript if m["role"] == "summary"]
    assert summary["level"] == 3 and len(server.side_requests) == 2
    assert summary["content"].split("\n", 1)[1].startswith("=== unstaged ===\ndiff --git a/src/app/core.py")


def _big_diff(files: int = 6, lines: int = 60) -> str:
    return "".join(_file(f"pkg/mod{i}.py", "@@ -1 +1,%d @@\n" % lines
                         + "".join(f"+value_{i}_{n} = compute({n})\n" for n in range(lines))) for i in range(files))


def test_compaction_at_the_soft_threshold_lands_a_turn_later(server):
    diff = _big_diff()
    ids = [h.id for h in example_hunks(diff)]
    context = []
    result = play(server, [call("list_symbols", {"path": "pkg/mod0.py"}, f"l{i}") for i in range(3)]
                  + [lambda body: context.append(body["messages"][1]["content"]) or emit(ids), finalize(skipped=[])],
                  diff=diff, thresholds=(2_000, 100_000))
    assert result.outcome == "finalized" and result.counters["compactions"] >= 1
    first_user = [r["messages"][1]["content"] for r in server.requests]
    assert first_user[0] == first_user[1]  # started after turn 1, swapped in at the next point
    assert first_user[2] != first_user[0] and context[0] == first_user[3]
    kept, summarized = first_user[2].split("[Summarized — id: 'm1'.", 1)
    assert first_user[0].startswith(kept) and first_user[0][len(kept):].startswith("Diff content:")
    assert kept.startswith("Available hunks:\n  pkg/mod0.py::1") and "Diff content:" not in summarized
    (summary,) = [m for m in result.transcript if m["role"] == "summary"]
    assert summary["kind"] == "compaction" and summary["index"] == 1


def test_background_compaction_waits_through_a_reply_without_a_tool_call(server):
    diff = _big_diff()
    ids = [h.id for h in example_hunks(diff)]
    play(server, [call("list_symbols", {"path": "pkg/mod0.py"}), text(), call("list_symbols", {"path": "x"}, "c3"),
                  emit(ids), finalize(skipped=[])], diff=diff, thresholds=(2_000, 100_000))
    first_user = [r["messages"][1]["content"] for r in server.requests]
    assert first_user[0] == first_user[1] == first_user[2]  # a nudge is no between-turn point
    assert "[Summarized — id: 'm1'." in first_user[3]


def test_compaction_past_the_hard_threshold_blocks(server):
    diff = _big_diff()
    ids = [h.id for h in example_hunks(diff)]
    result = play(server, [call("list_symbols", {"path": "pkg/mod0.py"}), emit(ids, call_id="c2"),
                           finalize(skipped=[])], diff=diff, thresholds=(1_000, 2_000))
    first_user = [r["messages"][1]["content"] for r in server.requests]
    assert first_user[0] != first_user[1] and "[Summarized — id: 'm1'." in first_user[1]
    assert result.outcome == "finalized"


def test_native_ollama_thresholds_and_request_shape(server):
    diff = _big_diff(files=12, lines=80)  # well over 5,000 tokens
    ids = [h.id for h in example_hunks(diff)]
    result = play(server, [call("list_symbols", {"path": "pkg/mod0.py"}), emit(ids), finalize(skipped=[])],
                  backend="ollama", diff=diff)
    assert THRESHOLDS["ollama"] == (3_500, 5_000) and result.backend == "ollama"
    assert all("tool_choice" not in r and r["options"]["num_ctx"] == 128_000 for r in server.requests)
    assert "[Summarized — id: 'm1'." in server.requests[1]["messages"][1]["content"]
    assert server.tokenize_calls == 0  # native Ollama: characters / 4, no /tokenize
    v1 = play(server, [call("list_symbols", {"path": "pkg/mod0.py"}), emit(ids), finalize(skipped=[])], diff=diff)
    assert "[Summarized" not in server.requests[-1]["messages"][1]["content"] and v1.counters["compactions"] == 0


def test_tokens_come_from_tokenize_on_v1(server):
    server.tokenize = True
    server.chars_per_token = 100  # few tokens: nothing is long enough to summarize

    async def go():
        async with EndpointCandidate(server.url + "/v1", "student", backoff=0.0) as candidate:
            return await run_protocol_episode(DIFF, candidate, count_tokens=candidate.count_tokens)

    server.script = [call("get_diff", {"path": "src/app/core.py"}), emit(REAL), finalize()]
    result = asyncio.run(go())
    assert server.tokenize_calls > 0 and result.counters["summaries"] == 0
    server.tokenize = False
    server.script = [call("get_diff", {"path": "src/app/core.py"}), emit(REAL), finalize()]
    fallback = asyncio.run(go())
    assert fallback.counters["summaries"] == 1  # characters / 4 once /tokenize fails


def test_the_transcript_has_every_message(server):
    result = play(server, [text(), call("get_diff", {"path": "src/app/core.py"}), emit(REAL[:3], call_id="c3"),
                           emit(REAL[3:], call_id="c4"), finalize()])
    kinds = [m["kind"] for m in result.transcript]
    assert kinds == ["system", "first_user", "text", "nudge", "tool_call", "reply", "tool_result", "tool_call",
                     "reply", "tool_call", "reply", "tool_call"]
    assert sum(m["role"] == "assistant" for m in result.transcript) == result.counters["turns_used"]
    assert json.loads(json.dumps(result.to_dict()))["transcript"][4]["tool_calls"][0]["function"]["name"] == \
        "get_diff"


# ── metrics by hand ──────────────────────────────────────────────────────────────

def test_kendall_tau_by_hand():
    assert kendall_tau([(0, 0), (1, 1), (2, 2)]) == 1.0
    assert kendall_tau([(0, 2), (1, 1), (2, 0)]) == -1.0
    assert kendall_tau([(0, 0), (1, 2), (2, 1)]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert kendall_tau([(0, 0)]) is None


def test_hunk_pairwise_f1_and_order_by_hand():
    pred = [{"subject": "feat(a): x", "hunks": ["a::1", "a::2", "b::1"]}, {"subject": "fix: y", "hunks": ["c::1"]}]
    ref = [{"subject": "fix: y", "hunks": ["b::1", "c::1"]}, {"subject": "feat(a): x", "hunks": ["a::1", "a::2"]}]
    scores = grouping(pred, ref, ["a::1", "a::2", "b::1", "c::1"])
    # pred pairs {a1a2, a1b1, a2b1}, ref pairs {a1a2, b1c1}: P = 1/3, R = 1/2, F1 = 0.4.
    assert scores["pair_f1"] == pytest.approx(0.4) and scores["exact"] == 0.0
    assert scores["jaccard"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert scores["order_tau"] == -1.0  # the matched commits come in the opposite order
    assert scores["type_acc"] == 1.0 and scores["subject_sim"] == 1.0


def test_hallucination_counts_commits_naming_what_the_diff_lacks(server):
    result = play(server, [emit(REAL[:3], "fix(app): repair FrobnicatorService.flush_queue"),
                           emit(REAL[3:], "feat(app): add fast runs", "c2"), finalize()])
    assert score_episode(result, HUNKS, diff=DIFF)["hallucination"] == 0.5
    assert score_episode(result, HUNKS)["hallucination"] is None


def test_human_commits_take_the_last_commit_touching_a_file():
    originals = [{"subject": "feat: a", "files": ["src/app/core.py", "README.md"]},
                 {"subject": "test: b", "files": ["tests/test_core.py"]},
                 {"subject": "fix: c", "files": ["src/app/core.py"]}]
    mapped = human_commits(originals, HUNKS)
    assert [(c["subject"], c["hunks"]) for c in mapped] == [
        ("feat: a", ["README.md::1"]), ("test: b", ["tests/test_core.py::1"]),
        ("fix: c", ["src/app/core.py::1", "src/app/core.py::2"])]


def test_scores_against_both_references_and_the_aggregate(server):
    good = play(server, [emit(["src/app/core.py::1", "src/app/core.py::2", "src/app/helpers.py::1"], "fix: c"),
                         emit(["tests/test_core.py::1"], "test: b", "c2"), emit(["README.md::1"], "feat: a", "c3"),
                         finalize()])
    originals = [{"subject": "feat: a", "files": ["README.md"]},
                 {"subject": "test: b", "files": ["tests/test_core.py"]},
                 {"subject": "fix: c", "files": ["src/app/core.py", "src/app/helpers.py"]}]
    label = {"commits": [{"subject": "fix: c", "files": ["src/app/core.py", "src/app/helpers.py"]},
                         {"subject": "test: b", "files": ["tests/test_core.py"]},
                         {"subject": "feat: a", "files": ["README.md"]}]}
    row = score_episode(good, HUNKS, reference=label, original_commits=originals, junk_files=["notes.swp"],
                        diff=DIFF)
    assert row["exact"] == row["human_exact"] == 1.0 and row["order_tau"] == 1.0
    assert row["hallucination"] == 0.0
    assert row["human_order_tau"] == -1.0 and row["junk_routed"] == 1.0
    bad = play(server, [text(), text(), text(), finalize(skipped=IDS)])
    bad_row = score_episode(bad, HUNKS, reference=label, original_commits=originals, junk_files=["notes.swp"])
    assert bad_row["exact"] == bad_row["pair_f1"] == bad_row["junk_routed"] == 0.0
    assert bad_row["type_acc"] is None and bad_row["no_tool_share"] == 0.75
    report = aggregate([row, bad_row, row, row], n_boot=200)
    assert report["finalized"]["mean"] == 0.75 and report["finalized"]["n"] == 4
    assert 0.0 < report["finalized"]["lo"] < 0.75 < report["finalized"]["hi"] <= 1.0
    assert report["no_tool_share"]["mean"] == pytest.approx(0.75 / 4)
    assert report["type_acc"]["n"] == 3 and report["exact"]["lo"] <= report["exact"]["mean"]


def test_native_ollama_tool_calls_without_ids_or_json_strings(server):
    native = {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "emit_commit", "arguments": {"commit": {"subject": "feat: all", "hunks": REAL}}}}]}
    result = play(server, [native, {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "finalize_commits", "arguments": {"skipped_hunks": ["notes.swp::1"]}}}]}],
        backend="ollama")
    assert result.outcome == "finalized" and result.counters["malformed_arguments"] == 0
    (reply,) = [m for m in result.transcript if m.get("kind") == "reply"]
    assert "tool_call_id" not in reply and reply["content"].startswith("Commit emitted: 'feat: all'.")
