"""gsctune's own assistant mask: templates without {% generation %} markers, single answers and tool-call turns.

The unit tests decode the masked tokens and compare them with the assistant turns written out by hand in the
template's format; the slow ones train a tiny model on both backends and read back what the trainer's labels
cover (``mask_preview.txt``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_training import unsloth_missing
from training.assistant_mask import MaskError, tokenize_conversation, tokenized_dataset
from training.tiny import CODER_TEMPLATE, build_tiny_model, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "You group hunks into commits and call one tool per answer."
TOOLS = [
    {"type": "function", "function": {"name": "emit_commit", "description": "Record one commit.",
                                      "parameters": {"type": "object", "properties": {"commit": {"type": "object"}}}}},
    {"type": "function", "function": {"name": "finalize_commits", "description": "Finish.",
                                      "parameters": {"type": "object", "properties": {}}}},
]
COMMIT = {"subject": "feat(parser): accept fenced output", "hunks": ["src/parse.py::1"], "body": "Strip fences."}
TOOL_CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Available hunks:\n  src/parse.py::1  (+3/-1)\n  README.md::1  (+1/-0)"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "emit_commit", "arguments": json.dumps({"commit": COMMIT})}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "Commit emitted. Remaining unassigned hunks:\n- README.md::1"},
    {"role": "user", "content": "Keep going."},
    {"role": "assistant", "content": "Docs next.", "tool_calls": [
        {"id": "c2", "type": "function",
         "function": {"name": "finalize_commits", "arguments": {"gitignore": [], "skipped_hunks": ["README.md::1"]}}}]},
]
# The two assistant turns exactly as the Coder-like template prints them, end-of-turn token included.
EXPECTED_TURNS = [
    "\n<tool_call>\n<function=emit_commit>\n<parameter=commit>\n" + json.dumps(COMMIT)
    + "\n</parameter>\n</function>\n</tool_call><|im_end|>",
    "Docs next.\n<tool_call>\n<function=finalize_commits>\n<parameter=gitignore>\n[]\n</parameter>\n"
    '<parameter=skipped_hunks>\n["README.md::1"]\n</parameter>\n</function>\n</tool_call><|im_end|>',
]


@pytest.fixture(scope="module")
def coder_tokenizer():
    texts = [SYSTEM, json.dumps(COMMIT), "<tool_call> <function=emit_commit> <parameter=commit> </parameter>",
             "Available hunks README.md src/parse.py Commit emitted Remaining unassigned"]
    tok = train_tokenizer(texts, vocab_size=600)
    tok.chat_template = CODER_TEMPLATE
    return tok


def trained_runs(tokenizer, enc) -> list[str]:
    """Each contiguous run of masked tokens, decoded."""
    runs, current = [], []
    for tid, bit in zip(enc["input_ids"], enc["assistant_masks"]):
        if bit:
            current.append(tid)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(r) for r in runs]


def test_template_has_no_generation_markers_and_renders_coder_tool_calls(coder_tokenizer):
    from trl.chat_template_utils import has_generation_markers

    assert not has_generation_markers(CODER_TEMPLATE)
    from training.assistant_mask import normalize_messages

    # Arguments arrive as a JSON string (OpenAI style) in the first call: normalized to a dict for the template.
    text = coder_tokenizer.apply_chat_template(normalize_messages(TOOL_CONVERSATION), tools=TOOLS, tokenize=False)
    assert all(turn in text for turn in EXPECTED_TURNS)


def test_single_answer_mask_is_exactly_the_answer(coder_tokenizer):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Available hunks: a.py::1"},
                {"role": "assistant", "content": '{"commits": []}'}]
    enc = tokenize_conversation(coder_tokenizer, messages)
    assert trained_runs(coder_tokenizer, enc) == ['{"commits": []}<|im_end|>']
    rendered = coder_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    assert enc["input_ids"] == rendered["input_ids"]  # the same tokens the template itself gives


def test_tool_call_conversation_mask_is_exactly_the_assistant_turns(coder_tokenizer):
    enc = tokenize_conversation(coder_tokenizer, TOOL_CONVERSATION, TOOLS)
    assert trained_runs(coder_tokenizer, enc) == EXPECTED_TURNS
    untrained = coder_tokenizer.decode([t for t, b in zip(enc["input_ids"], enc["assistant_masks"]) if not b])
    for text in (SYSTEM, "Keep going.", "Remaining unassigned hunks", "<tool_response>", "emit_commit"):
        assert text in untrained  # emit_commit: also named in the system turn's tool list
    assert "<|im_start|>assistant\n" in untrained  # the generation prompt itself is context, not target


def test_real_qwen3_template_from_trl_with_tool_calls(coder_tokenizer):
    """Qwen3's own template (shipped with TRL) prints tool calls as JSON and empty think tags on the last turn."""
    import trl

    tok = train_tokenizer(["hello"], vocab_size=300)
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja").read_text()
    runs = trained_runs(tok, tokenize_conversation(tok, TOOL_CONVERSATION, TOOLS))
    assert runs[0] == ('<tool_call>\n{"name": "emit_commit", "arguments": {"commit": ' + json.dumps(COMMIT)
                       + "}}\n</tool_call><|im_end|>")
    assert runs[1].startswith("<think>\n\n</think>\n\nDocs next.\n<tool_call>\n") and runs[1].endswith("<|im_end|>")
    assert len(runs) == 2


def test_base_model_eos_falls_back_to_the_templates_end_of_turn(coder_tokenizer):
    """A base model's eos (<|endoftext|>) is never printed by the chat template: <|im_end|> closes the turn."""
    tok = train_tokenizer(["hello"], vocab_size=300)
    tok.chat_template, tok.eos_token = CODER_TEMPLATE, "<|endoftext|>"
    enc = tokenize_conversation(tok, TOOL_CONVERSATION, TOOLS)
    assert trained_runs(tok, enc) == EXPECTED_TURNS


def test_dataset_rows_name_the_file_and_row(coder_tokenizer, tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"messages": TOOL_CONVERSATION, "tools": json.dumps(TOOLS)},
            {"messages": [{"role": "user", "content": "no answer"}]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(MaskError, match=r"train.jsonl row 2: no assistant turn"):
        tokenized_dataset(coder_tokenizer, path)
    full = tokenized_dataset(coder_tokenizer, path, assistant_only=False)
    assert full.column_names == ["input_ids"] and len(full) == 2
    path.write_text(json.dumps(rows[0]) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"train.jsonl line 2: not JSON"):
        tokenized_dataset(coder_tokenizer, path)


@pytest.fixture(scope="module")
def coder_setup(tmp_path_factory, coder_tokenizer):
    root = tmp_path_factory.mktemp("coder")
    model = build_tiny_model(root / "model", tokenizer=coder_tokenizer)
    data = root / "export"
    data.mkdir()
    row = json.dumps({"messages": TOOL_CONVERSATION, "tools": TOOLS})
    (data / "train.jsonl").write_text((row + "\n") * 4)
    (data / "val.jsonl").write_text(row + "\n")
    return model, data


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["trl", "unsloth"])
def test_both_backends_train_only_the_assistant_turns(coder_setup, tmp_path, backend):
    if backend == "unsloth" and unsloth_missing():
        pytest.skip(unsloth_missing())
    model, data = coder_setup
    cfg = {"base_model": str(model), "data_dir": str(data), "output_dir": str(tmp_path / "out"), "backend": backend,
           "max_steps": 2, "batch_size": 2, "grad_accum": 1, "max_length": 1024, "optimizer": "adamw_torch",
           "lora_r": 4, "lora_alpha": 8, "eval_steps": 2}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "GSCTUNE_TRAIN_GPUS")}
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(tmp_path / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    assert (out / "mask_preview.txt").read_text() == "".join(EXPECTED_TURNS)
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["cuda_visible_devices"] == "0"
