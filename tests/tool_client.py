"""The tool's side of a capture, for tests: the loop git-smart-commit runs against the capture
endpoint, with the replies a test writes itself (never the tool's text)."""
from __future__ import annotations

import json
from collections.abc import Callable

import httpx

# (tool name, arguments) -> the tool message to send back, or None once the tool would stop.
Answer = Callable[[str, dict], "str | None"]


def play_loop(http: httpx.Client, api_base: str, system: str, turn: str, tools: list[dict], answer: Answer,
              max_requests: int = 10) -> list[dict]:
    """Chat completions with tools, non-streaming and tool_choice auto as the tool sends them,
    each first tool call answered by ``answer``; the conversation once it returns None."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": turn}]
    for _ in range(max_requests):
        body = {"model": "capture", "messages": messages, "stream": False, "tools": tools, "tool_choice": "auto"}
        message = http.post(f"{api_base}/chat/completions", json=body).json()["choices"][0]["message"]
        messages.append(message)
        call = message["tool_calls"][0]
        reply = answer(call["function"]["name"], json.loads(call["function"]["arguments"]))
        if reply is None:
            return messages
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": reply})
    raise AssertionError("the capture never finalized")


def tool_like_answer(ids: set[str], accepted, unknown, duplicate, rejection) -> Answer:
    """Answers emit_commit and finalize_commits the way the tool decides (unknown id first,
    then an id already taken; finalize only once every hunk is committed or skipped), in
    the words the four reply functions write."""
    done: set[str] = set()

    def answer(name: str, args: dict) -> str | None:
        if name == "emit_commit":
            hunks = args["commit"]["hunks"]
            bad, dup = [h for h in hunks if h not in ids], [h for h in hunks if h in done]
            if bad:
                return unknown(bad[0], ids)
            if dup:
                return duplicate(dup[0])
            done.update(hunks)
            return accepted(args["commit"]["subject"], ids - done)
        missing = ids - done - set(args["skipped_hunks"])
        return rejection(missing) if missing else None

    return answer
