"""Tokenize a conversation with the model's own chat template and mark the assistant turns.

TRL's ``assistant_only_loss`` needs ``{% generation %}`` markers in the template
and swaps in a training template it matches by exact string; Qwen3-Coder's is
not among them, so TRL raises. Instead gsctune renders the conversation prefix
by prefix with the template the model ships: an assistant turn starts where the
rendering of the messages before it plus the generation prompt ends, and runs up
to and including the end-of-turn token. Every token inside such a span is
trained on; the system prompt, user turns, tool replies and the generation
prompt itself are not. TRL then gets ``input_ids`` + ``assistant_masks``, which
it folds into labels for any template.
"""

from __future__ import annotations

import json


class MaskError(ValueError):
    """The chat template renders turns in a way the prefix rule cannot split; the message says where."""


def normalize_messages(messages: list[dict]) -> list[dict]:
    """Tool-call arguments as dicts: OpenAI sends JSON strings, Hugging Face templates iterate dict items."""
    out = []
    for msg in messages:
        msg = dict(msg)
        if msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                call = dict(call)
                fn = dict(call.get("function") or {})
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"])
                    except json.JSONDecodeError:
                        pass  # the template prints a string as it is
                call["function"] = fn
                calls.append(call)
            msg["tool_calls"] = calls
        if msg.get("content") is None:
            msg["content"] = ""
        out.append(msg)
    return out


def _render(tokenizer, messages, tools, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                         add_generation_prompt=generation_prompt)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>")


def end_of_turn(tokenizer, text: str) -> str:
    """The token that closes an assistant turn in ``text``: the tokenizer's eos when the template prints it
    (``<|im_end|>`` on Qwen chat models), else a known chat end-of-turn token (a base model's eos is
    ``<|endoftext|>``, which the chat template never prints)."""
    for token in (tokenizer.eos_token, *END_OF_TURN):
        if token and token in text:
            return token
    raise MaskError(f"The chat template prints no end-of-turn token ({tokenizer.eos_token!r} or one of "
                    f"{', '.join(END_OF_TURN)}), so the end of an assistant turn cannot be found.")


def assistant_spans(tokenizer, messages: list[dict], tools: list | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The full rendered text and the character spans of its assistant turns (end-of-turn token included).

    A turn starts where the rendering of the messages before it with the generation prompt stops agreeing
    with the full text (templates such as Qwen3's add empty think tags to a generation prompt, which the
    full text does not have), and ends after the first end-of-turn token from there.
    """
    messages = normalize_messages(messages)
    full = _render(tokenizer, messages, tools, False)
    eot = end_of_turn(tokenizer, full)
    spans = []
    for i, msg in enumerate(messages):
        if msg.get("role") != "assistant":
            continue
        before = _render(tokenizer, messages[:i], tools, False)
        start = _common_prefix(_render(tokenizer, messages[:i], tools, True), full)
        if not full.startswith(before) or start < len(before) or (spans and start < spans[-1][1]):
            raise MaskError(f"message {i + 1} (assistant): the chat template renders the conversation before it "
                            "differently from the whole conversation, so the turn cannot be located.")
        end = full.find(eot, start)
        if end < 0:
            raise MaskError(f"message {i + 1} (assistant): no {eot!r} after the turn in the rendered text.")
        spans.append((start, end + len(eot)))
    return full, spans


def tokenize_conversation(tokenizer, messages: list[dict], tools: list | None = None) -> dict:
    """``{"input_ids", "assistant_masks"}`` for one conversation; a mask bit is 1 inside an assistant turn."""
    text, spans = assistant_spans(tokenizer, messages, tools)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = []
    k = 0
    for start, _end in enc["offset_mapping"]:
        while k < len(spans) and start >= spans[k][1]:
            k += 1
        mask.append(1 if k < len(spans) and spans[k][0] <= start < spans[k][1] else 0)
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}


def load_rows(path) -> list[dict]:
    """The SFT rows of a JSONL file: ``messages`` and optional ``tools`` (a list or its JSON text)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {n}: not JSON ({exc.msg})") from None
            if not isinstance(row.get("messages"), list):
                raise ValueError(f"{path} line {n}: no messages list")
            tools = row.get("tools")
            rows.append({"messages": row["messages"], "tools": json.loads(tools) if isinstance(tools, str) else tools})
    return rows


def tokenized_dataset(tokenizer, path, assistant_only: bool = True):
    """A ``datasets.Dataset`` of pre-tokenized conversations (masks dropped when the loss covers every token).

    Rows are read with ``json`` rather than ``load_dataset``: Arrow would merge the argument dicts of different
    tools into one struct and fill the missing keys with None, which the template would then print.
    """
    from datasets import Dataset

    rows = []
    for n, row in enumerate(load_rows(path), 1):
        try:
            enc = tokenize_conversation(tokenizer, row["messages"], row["tools"])
        except MaskError as exc:
            raise MaskError(f"{path} row {n}: {exc}") from None
        if assistant_only and 1 not in enc["assistant_masks"]:
            raise MaskError(f"{path} row {n}: no assistant turn to train on")
        if not assistant_only:
            enc.pop("assistant_masks")
        rows.append(enc)
    return Dataset.from_list(rows)


def decode_trained(tokenizer, input_ids, labels) -> str:
    """The text the loss covers in one example (labels != -100), for a look at what is trained."""
    return tokenizer.decode([t for t, lab in zip(input_ids, labels) if lab != -100], skip_special_tokens=False)
