"""ToolSession and the protocol spec against git-smart-commit's behaviour.

Where each rule comes from (fiddlerwoaroof/git-smart-commit, commit in PROTOCOL.md):
- script ``git-smart-commit``, ``GitAnalyzer.classify_changes``: the ``emit_commit`` and
  ``finalize_commits`` closures (reply formats, check order), ``max_turns``, and the
  argument models ``Commit``/``Issue``/``EmitCommitArgs``/``FinalizeCommitsArgs``/
  ``ReadFileArgs``/``GetDiffArgs``/``GetGitLogArgs``/``SearchDiffArgs``/``ListSymbolsArgs``;
- ``steropes/client.py`` ``LLMClient.agentic_loop``: first call only, string
  coercion, nudges and the forced last turn, warnings, "Error calling", "Unknown tool",
  terminal rejection, bonus turn; ``QueryMessageArgs``;
- ``steropes/parsers.py`` ``ResponseParser.extract_tool_call``: string arguments are
  ``json.loads``-ed; ``OpenAIParser.format_tool_result``: ``tool_call_id``.
"""
from __future__ import annotations

import json

import pytest

from gsctune.domain.hunks import example_hunks, render_user_turn
from gsctune.domain.protocol import (
    BUILTIN,
    BUILTIN_SYSTEM_PROMPT,
    TOOL_COMMIT,
    ProtocolSpec,
    ToolSession,
    conversation_for_label,
    max_turns,
    tool_call_message,
)

IDS = ["a.py::1", "a.py::2", "a.py::10", "b.py::1"]


def call(name, arguments, call_id="c1"):
    return tool_call_message(call_id, name, arguments)


def emit(hunks, subject="feat(a): add a", call_id="c1"):
    return call("emit_commit", {"commit": {"subject": subject, "hunks": hunks}}, call_id)


def text(content="thinking about it"):
    return {"role": "assistant", "content": content}


def session(ids=IDS, **options):
    return ToolSession(ids, "Available hunks:\n...", **options)


def reply(added):
    (tool,) = [m for m in added if m["role"] == "tool"]
    return tool["content"]


# ── the spec ─────────────────────────────────────────────────────────────────────

def test_builtin_spec_has_the_tools_shapes_in_gsctunes_words():
    names = [t["function"]["name"] for t in BUILTIN.tools]
    assert names == ["read_file", "get_diff", "get_git_log", "search_diff", "list_symbols", "emit_commit",
                     "query_message", "finalize_commits"]
    params = {t["function"]["name"]: t["function"]["parameters"] for t in BUILTIN.tools}
    commit = params["emit_commit"]["$defs"]["Commit"]
    assert params["emit_commit"]["required"] == ["commit"]
    assert commit["required"] == ["subject", "hunks"]
    assert commit["properties"]["hunks"]["items"] == {"type": "string"}
    assert commit["properties"]["body"]["default"] == "" and commit["properties"]["breaking_change"]["default"] == ""
    assert commit["properties"]["issues"]["items"] == {"$ref": "#/$defs/Issue"}
    assert params["emit_commit"]["$defs"]["Issue"]["required"] == ["message", "path"]
    assert "required" not in params["finalize_commits"]
    assert params["finalize_commits"]["properties"]["skipped_hunks"]["type"] == "array"
    assert params["get_diff"]["properties"]["staged"]["anyOf"] == [{"type": "boolean"}, {"type": "null"}]
    assert params["get_diff"]["properties"]["staged"]["default"] is None
    assert params["get_git_log"]["properties"]["n"] == {**params["get_git_log"]["properties"]["n"],
                                                        "type": "integer", "default": 20}
    assert params["search_diff"]["properties"]["context_lines"]["default"] == 2
    assert params["query_message"]["required"] == ["msg_id", "question"]
    assert BUILTIN.note.startswith("not what the tool sends") and BUILTIN.source == "built-in"
    assert BUILTIN.tool_commit == TOOL_COMMIT and BUILTIN.system_prompt == BUILTIN_SYSTEM_PROMPT


def test_spec_hash_follows_content_and_round_trips():
    other = ProtocolSpec(system_prompt="A prompt the user chose.", tools=BUILTIN.tools, source="chosen")
    assert other.content_hash != BUILTIN.content_hash
    assert ProtocolSpec(system_prompt=BUILTIN.system_prompt, tools=BUILTIN.tools, note="x").content_hash == \
        BUILTIN.content_hash  # provenance is not content
    again = ProtocolSpec.from_dict(json.loads(json.dumps(BUILTIN.to_dict())))
    assert again == BUILTIN and again.content_hash == BUILTIN.to_dict()["content_hash"]


@pytest.mark.parametrize(("n", "turns"), [(0, 20), (4, 20), (5, 22), (12, 24), (74, 48), (75, 50), (400, 50)])
def test_turn_limit(n, turns):
    assert max_turns(n) == turns
    assert session([f"f.py::{i}" for i in range(1, n + 1)]).max_turns == turns


# ── emit_commit ──────────────────────────────────────────────────────────────────

def test_emit_accepted_lists_remaining_hunks_in_string_order():
    s = session()
    added = s.respond(emit(["b.py::1"]))
    assert added == [{"role": "tool", "tool_call_id": "c1", "content":
                      "Commit emitted: 'feat(a): add a'. Remaining unassigned hunks:\n"
                      "- a.py::1\n- a.py::10\n- a.py::2"}]
    assert s.commits == [{"subject": "feat(a): add a", "hunks": ["b.py::1"], "body": "", "breaking_change": "",
                          "issues": []}]
    assert s.messages[-2]["tool_calls"][0]["function"]["name"] == "emit_commit"


def test_emit_unknown_id_lists_valid_ids_and_is_checked_before_duplicates():
    s = session()
    s.respond(emit(["a.py::1"]))
    assert reply(s.respond(emit(["a.py::1", "c.py::1"], call_id="c2"))) == (
        "Error: unknown hunk ID 'c.py::1'.\nValid IDs are:\n- a.py::1\n- a.py::10\n- a.py::2\n- b.py::1")
    assert s.stats["unknown_id"] == 1 and s.stats["duplicate_id"] == 0


def test_emit_duplicate_id_names_it_in_python_quotes():
    s = session()
    s.respond(emit(["a.py::1"]))
    assert reply(s.respond(emit(["a.py::2", "a.py::1"], call_id="c2"))) == (
        "Error: hunk 'a.py::1' was already assigned to a previous commit. Each hunk can only appear in one commit.")
    assert len(s.commits) == 1 and s.stats["duplicate_id"] == 1


def test_arguments_sent_as_strings_are_decoded():
    s = session()
    commit = json.dumps({"subject": "fix: one", "hunks": ["a.py::1"]})
    message = {"role": "assistant", "content": None, "tool_calls": [{"id": "x", "type": "function", "function": {
        "name": "emit_commit", "arguments": json.dumps({"commit": commit})}}]}
    assert reply(s.respond(message)).startswith("Commit emitted: 'fix: one'.")
    literal = "{'subject': 'fix: two', 'hunks': ['a.py::2']}"  # a Python literal: ast.literal_eval
    assert reply(s.respond(call("emit_commit", {"commit": literal}, "y"))).startswith("Commit emitted: 'fix: two'.")


def test_only_the_first_tool_call_is_executed():
    s = session()
    message = emit(["a.py::1"])
    message["tool_calls"].append(emit(["b.py::1"], call_id="c2")["tool_calls"][0])
    added = s.respond(message)
    assert [m["tool_call_id"] for m in added] == ["c1"]
    assert s.emitted == {"a.py::1"}
    assert s.messages[-2] is message  # the assistant message is kept whole, as the tool keeps it


def test_tool_reply_without_a_call_id_has_none():
    s = session()
    message = emit(["a.py::1"])
    del message["tool_calls"][0]["id"]
    assert "tool_call_id" not in s.respond(message)[0]


# ── errors ───────────────────────────────────────────────────────────────────────

def test_unknown_tool_lists_the_tools():
    s = session()
    assert reply(s.respond(call("frobnicate", {}))) == (
        "Unknown tool: 'frobnicate'. Available: ['read_file', 'get_diff', 'get_git_log', 'search_diff', "
        "'list_symbols', 'emit_commit', 'query_message']")
    assert s.stats["unknown_tool"] == 1


def test_bad_arguments_are_reported_with_the_validation_error():
    s = session()
    got = reply(s.respond(call("emit_commit", {"commit": {"hunks": ["a.py::1"]}})))
    assert got.startswith("Error calling emit_commit: 1 validation error for EmitCommitArgs\ncommit.subject\n"
                          "  Field required")
    got = reply(s.respond(call("get_git_log", {"n": "many"}, "c2")))
    assert got.startswith("Error calling get_git_log: 1 validation error for GetGitLogArgs\nn\n")
    assert s.stats["bad_arguments"] == 2 and not s.commits


def test_investigation_calls_go_to_the_hook():
    seen = []
    s = session(investigate=lambda name, args: seen.append((name, args)) or "file text")
    assert reply(s.respond(call("read_file", {"path": "a.py"}))) == "file text"
    assert reply(s.respond(call("get_diff", {"path": "a.py"}, "c2"))) == "file text"
    assert seen == [("read_file", {"path": "a.py"}), ("get_diff", {"path": "a.py", "staged": None})]
    offline = session()
    assert reply(offline.respond(call("list_symbols", {"path": "a.py"}))) == \
        offline.spec.replies.investigation_offline.format(name="list_symbols")
    assert s.stats["investigation"] == 2


def test_long_results_are_summarized_but_emit_replies_never():
    many = [f"m.py::{i}" for i in range(1, 80)]  # an emit reply far over 125 tokens
    s = session(many, investigate=lambda name, args: "x" * 600, summarize=lambda content: "[short]")
    assert reply(s.respond(call("read_file", {"path": "m.py"}))) == "[short]"
    assert reply(s.respond(emit(["m.py::1"], call_id="c2"))).startswith("Commit emitted:")
    s2 = session(investigate=lambda name, args: "x" * 500, summarize=lambda content: "[short]",
                 count_tokens=lambda content: 10)
    assert reply(s2.respond(call("read_file", {"path": "m.py"}))) == "x" * 500


# ── finalize_commits ─────────────────────────────────────────────────────────────

def test_finalize_rejected_when_nothing_was_emitted():
    s = session()
    got = reply(s.respond(call("finalize_commits", {})))
    assert got == "Error: " + s.spec.replies.finalize_nothing + "\n" + \
        s.spec.replies.terminal_rejected.split("\n", 1)[1]
    assert not s.done and s.stats["finalize_rejected"] == 1


def test_finalize_rejected_for_unknown_skipped_ids():
    s = session()
    s.respond(emit(["a.py::1", "a.py::2", "a.py::10"]))
    got = reply(s.respond(call("finalize_commits", {"skipped_hunks": ["b.py::1", "zz::9", "yy::1"]}, "c2")))
    assert got.startswith("Error: ")
    assert "- yy::1\n- zz::9" in got and got.endswith("call finalize_commits again.")
    assert not s.done


def test_finalize_rejected_for_hunks_neither_committed_nor_skipped():
    s = session()
    s.respond(emit(["a.py::1"]))
    got = reply(s.respond(call("finalize_commits", {"gitignore": ["*.log"]}, "c2")))
    assert got.startswith("Error: 3 hunk(s)") and "- a.py::10\n- a.py::2\n- b.py::1" in got
    bad = reply(s.respond(call("finalize_commits", {"skipped_hunks": 5}, "c3")))
    assert bad.startswith("Validation error: 1 validation error for FinalizeCommitsArgs")
    assert not s.done and s.stats["finalize_rejected"] == 2


def test_finalize_accepted_ends_the_loop():
    s = session()
    s.respond(emit(["a.py::1", "a.py::2", "a.py::10"]))
    added = s.respond(call("finalize_commits", {"gitignore": ["*.log"], "skipped_hunks": '["b.py::1"]'}, "c2"))
    assert added == [] and s.done and s.outcome == "finalized"
    assert s.gitignore == ["*.log"] and s.skipped_hunks == ["b.py::1"]
    with pytest.raises(RuntimeError):
        s.respond(text())


# ── nudges, forced finalize, warnings, turn limit ────────────────────────────────

def test_no_tool_call_gets_a_nudge_and_three_force_finalize():
    s = session()
    assert s.request()["tool_choice"] == "auto" and len(s.request()["tools"]) == 8
    for n in range(1, 4):
        added = s.respond(text("  let me think  "))
        assert added == [{"role": "user", "content": added[0]["content"]}] and added[0]["content"]
        assert s.messages[-2] == {"role": "assistant", "content": "let me think"}
        assert s.last_turn is (n == 3)
    request = s.request()
    assert [t["function"]["name"] for t in request["tools"]] == ["finalize_commits"]
    assert request["tool_choice"] == {"type": "function", "function": {"name": "finalize_commits"}}
    s.respond(emit(["a.py::1"]))  # a tool call (even one not offered) resets the streak
    assert not s.last_turn and s.stats["no_tool_call"] == 3


def test_nudges_are_gsctunes_words_and_follow_the_state():
    s = session()
    first = s.respond(text())[0]["content"]
    s.respond(emit(IDS))
    done = s.respond(text())[0]["content"]
    assert "a.py::10" in first and first != done
    assert all(sentence not in first for sentence in ("Please call a tool", "You MUST"))


def test_ollama_requests_carry_no_tool_choice():
    # The tool sends no temperature (its ApiConfig leaves it unset), on /v1 and on native Ollama.
    assert sorted(session().request()) == ["messages", "stream", "tool_choice", "tools"]
    s = session(ollama=True)
    assert "tool_choice" not in s.request()
    assert s.request()["options"] == {"num_ctx": 128_000} and s.request()["stream"] is False
    for _ in range(3):
        s.respond(text())
    assert "tool_choice" not in s.request() and len(s.request()["tools"]) == 1


def test_warnings_follow_tool_replies_from_six_turns_left():
    s = session(investigate=lambda name, args: "ok")  # 4 hunks: 20 turns
    for turn in range(1, 14):
        assert [m["role"] for m in s.respond(call("read_file", {"path": "a.py"}, f"c{turn}"))] == ["tool"]
    added = s.respond(call("read_file", {"path": "a.py"}, "c14"))  # turn 14: 6 left
    assert [m["role"] for m in added] == ["tool", "user"] and "6" in added[1]["content"]
    assert [m["role"] for m in s.respond(text())] == ["user"]  # a nudge, no warning
    s.respond(emit(IDS, call_id="c16"))
    rejected = s.respond(call("finalize_commits", {"skipped_hunks": ["nope::1"]}, "c17"))
    assert [m["role"] for m in rejected] == ["tool"]  # no warning after a rejected finalize
    assert s.respond(call("read_file", {"path": "a.py"}, "c18"))[1]["content"] != added[1]["content"]


def test_running_out_of_turns():
    s = session(investigate=lambda name, args: "ok")
    for turn in range(1, 21):
        assert not s.done
        s.respond(call("read_file", {"path": "a.py"}, f"c{turn}"))
    assert s.done and s.outcome == "turn_limit" and s.stats["responses"] == 20


def test_a_rejection_earns_one_finalize_only_bonus_turn():
    s = session(investigate=lambda name, args: "ok")
    s.respond(call("finalize_commits", {}, "c0"))  # rejected on turn 1
    for turn in range(2, 21):
        s.respond(call("read_file", {"path": "a.py"}, f"c{turn}"))
    assert not s.done and [t["function"]["name"] for t in s.request()["tools"]] == ["finalize_commits"]
    s.respond(call("finalize_commits", {"skipped_hunks": IDS}, "bonus"))
    assert s.outcome == "turn_limit"  # still nothing emitted: the bonus fails too
    s = session(investigate=lambda name, args: "ok")
    s.respond(emit(IDS))
    s.respond(call("finalize_commits", {"skipped_hunks": ["nope::1"]}, "c1"))
    for turn in range(3, 21):
        s.respond(call("read_file", {"path": "a.py"}, f"c{turn}"))
    s.respond(call("finalize_commits", {}, "bonus"))
    assert s.outcome == "finalized"


def test_where_the_tool_itself_fails():
    s = session()
    for _ in range(3):
        s.respond(text())
    s.respond(call("finalize_commits", {}))  # forced last turn, rejected: the tool stops
    assert s.outcome == "crashed"
    broken = session()
    broken.respond({"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "emit_commit", "arguments": "{not json"}}]})
    assert broken.outcome == "crashed" and "unreadable" in broken.reason


# ── the ideal conversation ───────────────────────────────────────────────────────

DIFF = "".join(
    f"diff --git a/{p} b/{p}\nindex 1111111..2222222 100644\n--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-a\n+b\n"
    f"@@ -20 +20 @@\n-c\n+d\n" for p in ("src/app.py", "tests/test_app.py")
) + "diff --git a/notes.tmp b/notes.tmp\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n" \
    "+++ b/notes.tmp\n@@ -0,0 +1 @@\n+scratch\n"


def test_conversation_for_a_hunk_label():
    hunks = example_hunks(DIFF)
    label = {"commits": [{"subject": "feat(app): add b", "hunks": ["src/app.py::1", "tests/test_app.py::1"],
                          "body": "Adds b."},
                         {"subject": "fix(app): use d", "hunks": ["src/app.py::2", "tests/test_app.py::2"],
                          "breaking_change": "", "issues": [{"message": "odd", "path": "src/app.py"}]}],
             "gitignore": ["*.tmp"], "skipped_hunks": ["notes.tmp::1"]}
    conversation = conversation_for_label(hunks, label)
    messages = conversation["messages"]
    assert conversation["tools"] == BUILTIN.tools
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert messages[1]["content"] == render_user_turn(hunks)
    first = messages[2]["tool_calls"][0]
    assert first["function"]["name"] == "emit_commit" and messages[3]["tool_call_id"] == first["id"]
    assert json.loads(first["function"]["arguments"]) == {"commit": {
        "subject": "feat(app): add b", "hunks": ["src/app.py::1", "tests/test_app.py::1"], "body": "Adds b.",
        "breaking_change": "", "issues": []}}
    assert messages[3]["content"] == ("Commit emitted: 'feat(app): add b'. Remaining unassigned hunks:\n"
                                      "- notes.tmp::1\n- src/app.py::2\n- tests/test_app.py::2")
    assert messages[5]["content"].endswith("Remaining unassigned hunks:\n- notes.tmp::1")
    final = messages[6]["tool_calls"][0]["function"]
    assert final["name"] == "finalize_commits"
    assert json.loads(final["arguments"]) == {"gitignore": ["*.tmp"], "skipped_hunks": ["notes.tmp::1"]}


def test_conversation_for_a_file_label_and_for_bad_labels():
    hunks = example_hunks(DIFF)
    file_label = {"commits": [{"subject": "feat(app): add b and d", "files": ["src/app.py", "tests/test_app.py"]}],
                  "gitignore": ["*.tmp"]}
    messages = conversation_for_label(hunks, file_label, arguments_as_dict=True)["messages"]
    assert messages[2]["tool_calls"][0]["function"]["arguments"]["commit"]["hunks"] == [
        "src/app.py::1", "src/app.py::2", "tests/test_app.py::1", "tests/test_app.py::2"]
    assert messages[-1]["tool_calls"][0]["function"]["arguments"]["skipped_hunks"] == ["notes.tmp::1"]
    with pytest.raises(ValueError, match="unknown hunk ID 'src/app.py::3'"):
        conversation_for_label(hunks, {"commits": [{"subject": "x: y", "hunks": ["src/app.py::3"]}]})
    with pytest.raises(ValueError, match="neither|in no commit"):
        conversation_for_label(hunks, {"commits": [{"subject": "x: y", "hunks": ["src/app.py::1"]}]})


TOOL_TEMPLATE = (  # a small tool-aware template written for this test (Qwen3-like layout)
    "{%- if tools %}<|im_start|>system\n{{ messages[0]['content'] }}\n<tools>\n"
    "{%- for tool in tools %}{{ tool | tojson }}\n{%- endfor %}</tools><|im_end|>\n{%- endif %}"
    "{%- for message in messages[1:] %}"
    "{%- if message['role'] == 'assistant' %}<|im_start|>assistant\n{% generation %}{{ message['content'] }}"
    "{%- for tc in message.get('tool_calls', []) %}<tool_call>{\"name\": \"{{ tc.function.name }}\", "
    "\"arguments\": {% if tc.function.arguments is string %}{{ tc.function.arguments }}"
    "{% else %}{{ tc.function.arguments | tojson }}{% endif %}}</tool_call>{%- endfor %}<|im_end|>"
    "{% endgeneration %}\n"
    "{%- elif message['role'] == 'tool' %}<|im_start|>user\n<tool_response>{{ message['content'] }}"
    "</tool_response><|im_end|>\n"
    "{%- else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}"
)


def test_conversation_renders_with_a_chat_template():
    from training.tiny import train_tokenizer

    tokenizer = train_tokenizer(["feat(app): add b", DIFF], vocab_size=400)
    tokenizer.chat_template = TOOL_TEMPLATE
    label = {"commits": [{"subject": "feat(app): add b", "files": ["src/app.py", "tests/test_app.py"]}]}
    conversation = conversation_for_label(example_hunks(DIFF), label)
    rendered = tokenizer.apply_chat_template(conversation["messages"], tools=conversation["tools"], tokenize=False)
    assert '"name": "emit_commit"' in rendered and '"name": "finalize_commits"' in rendered
    assert rendered.index("<tool_call>{\"name\": \"emit_commit\"") < rendered.index("Commit emitted:") < \
        rendered.index("<tool_call>{\"name\": \"finalize_commits\"")
    assert '"skipped_hunks": ["notes.tmp::1"]' in rendered
