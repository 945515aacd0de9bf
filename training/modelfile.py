"""The Ollama Modelfile for a merged model: the training system prompt, one system block, tool calls.

Ollama hands a request's system message to the template twice, as ``.System``
and inside ``.Messages``; the template prints it from ``.System`` once and skips
system messages in the loop. Qwen3-Coder prints tool calls as XML
(``<tool_call><function=…><parameter=…>``), which a Go template cannot parse
back: for it the Modelfile names Ollama's built-in ``RENDERER`` and ``PARSER``
``qwen3-coder``, as Ollama's own qwen3-coder model does (``TEMPLATE {{ .Prompt }}``
is then unused). Other Qwen chat models (Qwen2.5, Qwen3) get a ChatML template
with JSON tool calls; the tool list's head and tail text come from the model's
own chat template, so Ollama prompts it as in training. No think tags are added:
a Qwen3 thinking model writes its own.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

QWEN3_CODER = "qwen3-coder"
_SENTINEL = "GSCTUNE_SENTINEL"

# ChatML with tools; {head} and {tail} surround the tool list inside the system block.
CHATML_TEMPLATE = (
    "{{- if or .System .Tools }}<|im_start|>system\n"
    "{{ if .System }}{{ .System }}{{ end }}"
    "{{- if .Tools }}{head}{{ range .Tools }}\n{\"type\": \"function\", \"function\": {{ .Function }}}{{ end }}{tail}"
    "{{ end }}<|im_end|>\n"
    "{{ end }}"
    "{{- range .Messages }}"
    "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n"
    "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n"
    "{{ if .Content }}{{ .Content }}{{ if .ToolCalls }}\n{{ end }}{{ end }}"
    "{{- range .ToolCalls }}<tool_call>\n"
    "{\"name\": \"{{ .Function.Name }}\", \"arguments\": {{ .Function.Arguments }}}\n</tool_call>{{ end }}<|im_end|>\n"
    "{{ else if eq .Role \"tool\" }}<|im_start|>user\n<tool_response>\n{{ .Content }}\n</tool_response><|im_end|>\n"
    "{{ end }}"
    "{{- end }}<|im_start|>assistant\n"
)
# When the model's template cannot be probed (no tokenizer at hand), a plain head and tail.
DEFAULT_TOOLS_HEAD = "\n\n# Tools\n\nFunctions you may call, one JSON object per line:\n<tools>"
DEFAULT_TOOLS_TAIL = ("\n</tools>\n\nTo call one, answer with a JSON object of its name and arguments inside "
                      "<tool_call></tool_call> tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                      "<args-json-object>}\n</tool_call>")


def family(base_model: str, chat_template: str | None) -> str:
    """``qwen3-coder`` (XML tool calls, Ollama's built-in renderer) or ``chatml`` (JSON tool calls)."""
    if "<function=" in (chat_template or "") or "qwen3-coder" in base_model.lower():
        return QWEN3_CODER
    return "chatml"


def tools_head_tail(tokenizer) -> tuple[str, str]:
    """The text the model's own template prints before and after the tool list of the system turn.

    Rendered with a sentinel system prompt and one sentinel tool; falls back to a plain wording when the
    template prints tools some other way.
    """
    tool = {"type": "function", "function": {"name": _SENTINEL, "description": "", "parameters": {}}}
    try:
        text = tokenizer.apply_chat_template([{"role": "system", "content": _SENTINEL + "S"},
                                              {"role": "user", "content": "u"}], tools=[tool], tokenize=False)
    except Exception:  # noqa: BLE001 - any template error means: use the plain wording
        return DEFAULT_TOOLS_HEAD, DEFAULT_TOOLS_TAIL
    start, name = text.find(_SENTINEL + "S"), text.find(f'"{_SENTINEL}"')
    if start < 0 or name < 0:
        return DEFAULT_TOOLS_HEAD, DEFAULT_TOOLS_TAIL
    line_start, line_end = text.rfind("\n", 0, name), text.find("\n", name)
    end = text.find("<|im_end|>", line_end)
    if line_start < start or line_end < 0 or end < 0:
        return DEFAULT_TOOLS_HEAD, DEFAULT_TOOLS_TAIL
    return text[start + len(_SENTINEL) + 1:line_start], text[line_end:end]


def training_system_prompt(data_dir: str | Path | None) -> str | None:
    """The system prompt the model was trained with: the most common first system message of train.jsonl."""
    path = Path(data_dir) / "train.jsonl" if data_dir else None
    if path is None or not path.exists():
        return None
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            messages = json.loads(line).get("messages") or []
            if messages and messages[0].get("role") == "system":
                counts[messages[0].get("content") or ""] += 1
    return counts.most_common(1)[0][0] if counts else None


def _quote(text: str) -> str:
    """A Modelfile argument in triple quotes (the only form that keeps newlines)."""
    if '"""' in text:
        raise ValueError('The system prompt contains """, which a Modelfile cannot quote.')
    return f'"""{text}"""'


def modelfile_text(gguf_name: str, system: str | None, kind: str, tools_head: str = DEFAULT_TOOLS_HEAD,
                   tools_tail: str = DEFAULT_TOOLS_TAIL, temperature: float = 0.2, num_ctx: int = 8192) -> str:
    lines = [f"FROM ./{gguf_name}"]
    if kind == QWEN3_CODER:
        lines += ["TEMPLATE {{ .Prompt }}", f"RENDERER {QWEN3_CODER}", f"PARSER {QWEN3_CODER}"]
    else:
        template = CHATML_TEMPLATE.replace("{head}", tools_head).replace("{tail}", tools_tail)
        lines.append(f"TEMPLATE {_quote(template)}")
    if system:
        lines.append(f"SYSTEM {_quote(system)}")
    lines += [f"PARAMETER temperature {temperature}", f"PARAMETER num_ctx {num_ctx}",
              'PARAMETER stop "<|im_start|>"', 'PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|endoftext|>"']
    return "\n".join(lines) + "\n"


def write_modelfile(gguf_file: str | Path, out_file: str | Path, model_dir: str | Path, base_model: str,
                    system: str | None, **params) -> Path:
    """Write the Modelfile next to the GGUF, reading the chat template from the merged model folder."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    kind = family(base_model, tokenizer.chat_template)
    head, tail = tools_head_tail(tokenizer) if kind != QWEN3_CODER else (DEFAULT_TOOLS_HEAD, DEFAULT_TOOLS_TAIL)
    out = Path(out_file)
    out.write_text(modelfile_text(Path(gguf_file).name, system, kind, head, tail, **params), encoding="utf-8")
    return out
