"""The Ollama Modelfile: training system prompt once, tools, JSON or XML tool calls, no empty think tags.

Go templates cannot run here: tests/gotemplate.py evaluates the subset the template uses (and raises on
anything else), with the data Ollama passes: ``.System``, ``.Tools`` and ``.Messages``, the system message
included in ``.Messages`` as Ollama does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.gotemplate import render
from training import modelfile as M
from training.tiny import CODER_TEMPLATE, build_tiny_model, train_tokenizer

SYSTEM = "You split a working tree into commits.\nCall exactly one tool per answer."
TOOLS = [{"type": "function", "function": {
    "name": "emit_commit", "description": "Record one commit.",
    "parameters": {"type": "object", "properties": {"commit": {"type": "object"}}}}}]
ARGS = {"commit": {"subject": "fix(cli): exit non-zero on error", "hunks": ["cli.py::1"]}}
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Available hunks:\n  cli.py::1  (+2/-1)"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "emit_commit",
                                                                                            "arguments": ARGS}}]},
    {"role": "tool", "content": "Commit emitted: 'fix(cli): exit non-zero on error'."},
    {"role": "user", "content": "Finish now."},
]


def ollama_data(messages: list[dict], tools: list[dict]) -> dict:
    """What Ollama hands a template: Go field names, the system text both as .System and in .Messages."""
    msgs = [{"Role": m["role"], "Content": m.get("content") or "", "Thinking": "",
             "ToolCalls": [{"Function": {"Name": c["function"]["name"], "Arguments": c["function"]["arguments"]}}
                           for c in m.get("tool_calls") or []]} for m in messages]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    # A tool's fields in Go are Type and Function; printing .Function gives its JSON (lowercase keys).
    return {"System": system, "Tools": [{"Type": t["type"], "Function": t["function"]} for t in tools],
            "Messages": msgs}


def directive(text: str, name: str) -> str | None:
    m = re.search(rf'^{name} """(.*?)"""$', text, re.S | re.M) or re.search(rf"^{name} (.+)$", text, re.M)
    return m.group(1) if m else None


def canonical_json_lines(text: str) -> str:
    """Tool and tool-call JSON re-serialised: Python's tojson and Go print the same objects with other spacing."""
    out = []
    for line in text.split("\n"):
        try:
            out.append(json.dumps(json.loads(line), sort_keys=True))
        except ValueError:
            out.append(line)
    return "\n".join(out)


@pytest.fixture(scope="module")
def qwen3_model(tmp_path_factory):
    """A tiny model whose tokenizer carries Qwen3's own chat template (as shipped with TRL)."""
    import trl

    tok = train_tokenizer([SYSTEM], vocab_size=300)
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja").read_text()
    return build_tiny_model(tmp_path_factory.mktemp("q3") / "m", tokenizer=tok), tok


def test_chatml_template_prints_the_system_once_with_tools_as_in_training(qwen3_model, tmp_path):
    model_dir, tok = qwen3_model
    path = M.write_modelfile(tmp_path / "m.gguf", tmp_path / "Modelfile", model_dir, "Qwen/Qwen3-8B", SYSTEM)
    text = path.read_text()
    assert text.startswith("FROM ./m.gguf\n") and "RENDERER" not in text
    assert directive(text, "SYSTEM") == SYSTEM and text.count(SYSTEM) == 1
    prompt = render(directive(text, "TEMPLATE"), ollama_data(CONVERSATION, TOOLS))
    assert prompt.count(SYSTEM) == 1
    assert "<think>" not in prompt and prompt.endswith("<|im_start|>assistant\n")
    # The prompt Ollama builds is the one the model saw in training, tool JSON spacing aside.
    expected = tok.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert canonical_json_lines(prompt) == canonical_json_lines(expected)


def test_chatml_template_without_tools_or_system(qwen3_model, tmp_path):
    model_dir, tok = qwen3_model
    template = directive(M.write_modelfile(tmp_path / "m.gguf", tmp_path / "Modelfile", model_dir, "x", None)
                         .read_text(), "TEMPLATE")
    messages = [{"role": "user", "content": "hello"}]
    prompt = render(template, ollama_data(messages, []))
    assert prompt == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"


def test_qwen3_coder_uses_ollamas_renderer_and_parser(tmp_path):
    tok = train_tokenizer([SYSTEM], vocab_size=300)
    tok.chat_template = CODER_TEMPLATE
    model_dir = build_tiny_model(tmp_path / "coder", tokenizer=tok)
    text = M.write_modelfile(tmp_path / "m.gguf", tmp_path / "Modelfile", model_dir, str(model_dir), SYSTEM).read_text()
    lines = text.splitlines()
    assert "TEMPLATE {{ .Prompt }}" in lines and "RENDERER qwen3-coder" in lines and "PARSER qwen3-coder" in lines
    assert text.count(SYSTEM) == 1 and 'PARAMETER stop "<|im_end|>"' in lines
    assert M.family("Qwen/Qwen3-Coder-30B-A3B-Instruct", None) == M.QWEN3_CODER
    assert M.family("Qwen/Qwen3-8B", "{{ messages }}") == "chatml"


def test_training_system_prompt_is_the_most_common_one(tmp_path):
    rows = [[{"role": "system", "content": "old"}], [{"role": "system", "content": SYSTEM}],
            [{"role": "system", "content": SYSTEM}], [{"role": "user", "content": "no system"}]]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"messages": r}) + "\n" for r in rows))
    assert M.training_system_prompt(tmp_path) == SYSTEM
    assert M.training_system_prompt(tmp_path / "missing") is None
    with pytest.raises(ValueError, match='contains """'):
        M.modelfile_text("m.gguf", 'say """hi"""', "chatml")


def test_evaluator_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="unknown function"):
        render("{{ printf \"%s\" .System }}", {"System": "s"})
    with pytest.raises(ValueError, match="missing"):
        render("{{ if .System }}x", {"System": "s"})
    assert render("a {{- if .X }} yes {{- else }} no {{- end }} b", {"X": ""}) == "a no b"
