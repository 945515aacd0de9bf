"""A training run's adapter as a protocol candidate: transformers + PEFT, the base model's chat template.

So a gpu worker can evaluate a fresh adapter inside git-smart-commit's loop before any
GGUF exists. The template renders the tools; tool calls are read back in the Hermes /
Qwen form the templates teach (``<tool_call>{"name": …, "arguments": …}</tool_call>``).
"""
from __future__ import annotations

import asyncio
import json
import re

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def parse_tool_calls(text: str) -> dict:
    """The assistant message a generated text stands for; a call whose JSON does not read is
    kept with its text as the arguments, so the loop counts it as malformed."""
    calls = []
    for n, block in enumerate(_CALL.findall(text), start=1):
        try:
            data = json.loads(block)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            arguments = data.get("arguments", {})
            encoded = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            calls.append({"id": f"call_{n}", "type": "function", "function": {"name": data["name"], "arguments": encoded}})
        else:
            calls.append({"id": f"call_{n}", "type": "function", "function": {"name": "?", "arguments": block}})
    message = {"role": "assistant", "content": _CALL.sub("", text).strip() if calls else text}
    if calls:
        message["tool_calls"] = calls
    return message


def _for_template(messages: list[dict]) -> list[dict]:
    """Tool-call arguments as objects: chat templates serialize them themselves."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                arguments = c["function"].get("arguments")
                try:
                    arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
                except ValueError:
                    pass
                calls.append({**c, "function": {**c["function"], "arguments": arguments}})
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


class AdapterCandidate:
    """``async (request body) -> assistant message`` generating greedily with base model + adapter."""

    def __init__(self, base_model_path: str, adapter_path: str, max_tokens: int) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(adapter_path)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        base = AutoModelForCausalLM.from_pretrained(base_model_path, dtype=dtype)
        self.model = PeftModel.from_pretrained(base, adapter_path).to(self.device).eval()
        self.max_tokens = max_tokens
        self.lock = asyncio.Lock()  # one generation at a time on the one model

    def _generate(self, body: dict) -> str:
        ids = self.tokenizer.apply_chat_template(_for_template(body["messages"]), tools=body.get("tools") or None,
                                                 add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = {k: v.to(self.device) for k, v in ids.items()}
        with self.torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=self.max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    async def __call__(self, body: dict) -> dict:
        async with self.lock:
            text = await asyncio.to_thread(self._generate, body)
        return parse_tool_calls(text)

    async def __aenter__(self) -> AdapterCandidate:
        return self

    async def __aexit__(self, *exc) -> None:
        return None
