"""The git-smart-commit target: one example and label as the conversation the tool would hold."""
from __future__ import annotations

import copy
import json

import pytest

from gsctune.domain.hunk_checks import hunk_findings
from gsctune.domain.hunk_proposal import example_hunk_view
from gsctune.domain.hunks import HUNK_CHARS, render_user_turn
from gsctune.domain.protocol import BUILTIN, conversation_for_label
from gsctune.domain.tool_export import (
    new_file_content,
    record_line,
    tool_record,
    with_junk,
)
from tests.hunk_data import DIFF, EXAMPLE, FILE_LABEL, HUNK_LABEL


def call(call_id, name, arguments):
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def reply(call_id, content):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def test_exported_conversation_is_the_expected_one():
    record = tool_record(EXAMPLE, HUNK_LABEL)
    first, second = HUNK_LABEL["commits"]
    assert record == {"tools": BUILTIN.tools, "messages": [
        {"role": "system", "content": BUILTIN.system_prompt},
        {"role": "user", "content": render_user_turn(example_hunk_view(EXAMPLE))},
        call("call_1", "emit_commit", {"commit": first}),
        reply("call_1", "Commit emitted: 'feat(app): return b'. Remaining unassigned hunks:\n"
                        "- debug.log::1\n- docs/new.md::1\n- src/app.py::2"),
        # docs/new.md is untracked for the tool (no content shown): the student reads it first.
        call("call_2", "read_file", {"path": "docs/new.md"}),
        reply("call_2", "# New\nhello\n"),
        call("call_3", "emit_commit", {"commit": second}),
        reply("call_3", "Commit emitted: 'docs: describe d'. Remaining unassigned hunks:\n- debug.log::1"),
        call("call_4", "finalize_commits", {"gitignore": ["*.log"], "skipped_hunks": ["debug.log::1"]}),
    ]}
    user = record["messages"][1]["content"]
    assert "  docs/new.md::1  (new untracked file)" in user and "cache.pyc" not in user


def test_without_read_turns_it_is_the_protocols_ideal_conversation():
    record = tool_record(EXAMPLE, HUNK_LABEL, read_new_files=False)
    assert record == conversation_for_label(example_hunk_view(EXAMPLE), HUNK_LABEL)
    assert [m["role"] for m in record["messages"]] == ["system", "user"] + ["assistant", "tool"] * 2 + ["assistant"]


def test_a_file_level_label_exports_with_every_hunk_of_a_file_in_its_commit():
    messages = tool_record(EXAMPLE, FILE_LABEL)["messages"]
    emitted = [json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in messages
               if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == "emit_commit"]
    assert [e["commit"]["hunks"] for e in emitted] == [
        ["src/app.py::1", "src/app.py::2", "tests/test_app.py::1"], ["docs/new.md::1"]]
    assert json.loads(messages[-1]["tool_calls"][0]["function"]["arguments"])["skipped_hunks"] == ["debug.log::1"]


def test_a_hunk_the_tool_would_summarize_gets_a_get_diff_turn():
    big = "".join(f"+line {i}\n" for i in range(HUNK_CHARS // 8))
    section = ("diff --git a/big.txt b/big.txt\nindex 1111111..2222222 100644\n--- a/big.txt\n+++ b/big.txt\n"
               f"@@ -1 +1,{HUNK_CHARS // 8} @@\n{big}")
    example = {"diff": section + DIFF, "existing_gitignore": ["*.pyc"], "injected_files": ["debug.log"]}
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"][0]["hunks"].insert(0, "big.txt::1")
    messages = tool_record(example, label)["messages"]
    assert messages[2] == call("call_1", "get_diff", {"path": "big.txt"})
    assert messages[3] == reply("call_1", section)
    assert "[hunk truncated by gsctune" in messages[1]["content"]


def test_labels_the_tool_would_refuse_are_named():
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"][1]["hunks"].append("src/app.py::1")
    with pytest.raises(ValueError, match="'docs: describe d' is not accepted: Error: hunk 'src/app.py::1' was already"):
        tool_record(EXAMPLE, label)
    label = copy.deepcopy(HUNK_LABEL)
    label["skipped_hunks"] = []
    with pytest.raises(ValueError, match=r"(?s)does not finish the session: .*- debug.log::1"):
        tool_record(EXAMPLE, label)


def test_new_file_content_from_the_harvested_diff():
    assert new_file_content("diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n"
                            "+a\n+b\n\\ No newline at end of file\n") == "a\nb"
    assert new_file_content("diff --git a/x b/x\nnew file mode 100644\nBinary files /dev/null and b/x differ\n") is None


BASE = {"diff": DIFF[:DIFF.index("diff --git a/debug.log")] + DIFF[DIFF.index("diff --git a/docs/new.md"):],
        "existing_gitignore": ["*.pyc"], "changed_files": ["src/app.py", "tests/test_app.py", "cache.pyc",
                                                           "docs/new.md"]}


def test_augmentation_routes_junk_hunks_to_skipped_and_gitignore():
    noisy, label = with_junk(BASE, FILE_LABEL | {"gitignore": []}, "example-1", seed=3)
    junk = label["injected_files"]
    assert junk and label["noise_injected"] and noisy["diff"].startswith(BASE["diff"])
    hunks = example_hunk_view(noisy)
    junk_ids = [h.id for h in hunks if h.file in junk]
    assert junk_ids and set(junk_ids) <= set(label["skipped_hunks"])
    assert label["gitignore"]  # one catalogue pattern per junk file
    assert not [f for f in hunk_findings(label, hunks, noisy) if f.check in ("junk_hunk_committed", "unassigned_hunk")]
    messages = tool_record(noisy, label)["messages"]
    final = json.loads(messages[-1]["tool_calls"][0]["function"]["arguments"])
    assert final == {"gitignore": label["gitignore"], "skipped_hunks": label["skipped_hunks"]}
    assert not [m for m in messages if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == "read_file"
                and json.loads(m["tool_calls"][0]["function"]["arguments"])["path"] in junk]


# A small template in the layout of Qwen3's tool calling (written for this test; no generation markers:
# training finds the assistant turns itself).
QWEN3_STYLE = (
    "{%- if tools %}<|im_start|>system\n{{ messages[0].content }}\n\n# Tools\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools><|im_end|>\n"
    "{%- else %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{%- endif %}"
    "{%- for message in messages[1:] %}"
    "{%- if message.role == 'user' %}<|im_start|>user\n{{ message.content }}<|im_end|>\n"
    "{%- elif message.role == 'assistant' %}<|im_start|>assistant\n{{ message.content }}"
    "{%- if message.tool_calls %}{%- for tc in message.tool_calls %}<tool_call>\n{\"name\": \"{{ tc.function.name }}\", "
    "\"arguments\": {% if tc.function.arguments is string %}{{ tc.function.arguments }}"
    "{% else %}{{ tc.function.arguments | tojson }}{% endif %}}\n</tool_call>{%- endfor %}{%- endif %}<|im_end|>\n"
    "{%- elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response>"
    "<|im_end|>\n{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_record_loads_with_datasets_and_renders_with_a_tool_template(tmp_path):
    import datasets

    from training.tiny import train_tokenizer

    path = tmp_path / "train.jsonl"
    records = [tool_record(EXAMPLE, HUNK_LABEL), tool_record(EXAMPLE, FILE_LABEL)]
    path.write_text("".join(record_line(r) for r in records), encoding="utf-8")
    rows = datasets.load_dataset("json", data_files=str(path), split="train")
    assert len(rows) == 2
    tokenizer = train_tokenizer(["feat(app): return b", DIFF], vocab_size=400)
    tokenizer.chat_template = QWEN3_STYLE
    row = rows[0]
    rendered = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    expected = tokenizer.apply_chat_template(records[0]["messages"], tools=records[0]["tools"], tokenize=False)
    assert rendered == expected
    order = [rendered.index(s) for s in (
        "Available hunks:", '<tool_call>\n{"name": "emit_commit", "arguments": {"commit": {"subject": "feat(app): r',
        '<tool_call>\n{"name": "read_file"', "<tool_response>\n# New\nhello\n",
        '<tool_call>\n{"name": "finalize_commits"')]
    assert order == sorted(order)


def test_training_masks_exactly_the_assistant_tool_calls():
    from training.assistant_mask import normalize_messages, tokenize_conversation
    from training.tiny import train_tokenizer

    record = tool_record(EXAMPLE, HUNK_LABEL)
    tokenizer = train_tokenizer(["feat(app): return b", DIFF, record_line(record)], vocab_size=600)
    tokenizer.chat_template = QWEN3_STYLE
    encoded = tokenize_conversation(tokenizer, record["messages"], record["tools"])
    text = tokenizer.apply_chat_template(normalize_messages(record["messages"]), tools=record["tools"],
                                         tokenize=False)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert len(offsets) == len(encoded["assistant_masks"])
    masked = "".join(text[a:b] for (a, b), bit in zip(offsets, encoded["assistant_masks"]) if bit)
    calls = [m["tool_calls"][0]["function"] for m in record["messages"] if m["role"] == "assistant"]
    assert [c["name"] for c in calls] == ["emit_commit", "read_file", "emit_commit", "finalize_commits"]
    assert masked == "".join(
        f'<tool_call>\n{{"name": "{c["name"]}", "arguments": {json.dumps(json.loads(c["arguments"]))}}}\n'
        "</tool_call><|im_end|>" for c in calls)


def test_record_line_is_json_dumps():
    record = tool_record(EXAMPLE, HUNK_LABEL)
    for _ in range(2):  # the second time from the cache
        line = record_line(record)
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    copied = json.loads(line)  # another tool list object, not the cached one
    assert record_line(copied) == line


def test_read_turns_stop_short_of_the_tools_turn_warnings():
    names = [f"docs/page{i:02d}.md" for i in range(30)]
    diff = "".join(f"diff --git a/{p} b/{p}\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n"
                   f"+++ b/{p}\n@@ -0,0 +1 @@\n+page {p}\n" for p in names)
    label = {"commits": [{"subject": "docs: add the pages", "files": names, "body": "Thirty pages."}]}
    messages = tool_record({"diff": diff}, label)["messages"]
    reads = [m for m in messages if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == "read_file"]
    # 30 hunks: 32 turns; 6 kept free of warnings, one emit and one finalize leave 24 reads.
    assert len(reads) == 24
    assert [m["role"] for m in messages[2:]] == ["assistant", "tool"] * 25 + ["assistant"]  # no warning turns


def test_new_file_content_kept_in_the_user_turn_needs_no_read():
    hunks = example_hunk_view(EXAMPLE, show_new_content=True)
    messages = tool_record(EXAMPLE, HUNK_LABEL, hunks=hunks)["messages"]
    assert "+# New\n+hello\n" in messages[1]["content"]
    assert not [m for m in messages if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == "read_file"]
