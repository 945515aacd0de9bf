"""Export target ``git-smart-commit``: one example and its label as the conversation the tool holds.

A record is ``{"messages": [...], "tools": [...]}``: the system prompt, the first user
message rendered from the example's hunks exactly as the tool renders it
(``tool_view`` + ``render_user_turn``), then per commit (in the label's order) an
assistant message with one ``emit_commit`` call and the tool's reply (remaining hunks,
sorted), then the ``finalize_commits`` call with gitignore and skipped hunks. Every
tool reply comes from ``protocol.ToolSession``, so training and in-loop evaluation
read the same replies. Tool-call arguments are JSON strings (the OpenAI wire format;
one Arrow type for ``datasets``).

Content the student will not see. The tool shows no content for new (untracked)
files, and an LLM summary for hunks over 6,000 characters (gsctune renders those
truncated with a marker). A label that rests on that content must not be learned
as if the student had seen it, so by default (``read_new_files=True``) the export adds,
before the commit that first takes such a hunk, the turn the student would need: an
assistant ``read_file(path)`` call for a new file, answered with the file's content
taken from the harvested diff, or ``get_diff(path)`` for a summarized hunk of a tracked
file, answered with that file's diff (a harvested diff does not have a tracked file's
whole content). Binary files, lockfiles and junk get no such turn (there is nothing
to read, or nothing the grouping rests on). The alternative is the labeling run's
choice: a hunk-level teacher is shown what the tool shows unless the run says
otherwise (``teacher_sees_new_content``), and an export with ``read_new_files=False``
adds read turns only to labels whose maker may have read the content (the label's
``saw_new_content``); the in-loop evaluation compares students trained both ways
(README, "Evaluate a student inside the tool's loop"). An export that keeps
new files' content in the user turn (``show_new_content=True`` hunks passed in) needs
no read turn. Read turns stay short of the tool's turn warnings (from 6 turns left it
appends one after each tool reply): in an example with more new files than that
budget allows, the later ones are not read.

A label the tool would refuse raises ValueError: an unknown or duplicate id, a hunk
left over, more commits than turns, or files the tool never lists (a harvested file
that the repository's .gitignore matches was force-added; the tool's
``--exclude-standard`` hides it). ``with_junk`` is the augmentation: junk hunks from
``noise``'s catalogue, routed to ``skipped_hunks`` and .gitignore.

Not reproducible, and how this export handles it: the tool replaces any tool result
over 125 tokens by a summary the model itself writes (read_file and get_diff replies
included); here the replies are kept in full, as the original the student could ask
for with ``query_message``. Context compaction (which on native Ollama summarizes the
diff away after the first calls) is not applied: each conversation is short.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from gsctune.domain import noise
from gsctune.domain.hunk_proposal import example_hunk_view, to_hunk_label
from gsctune.domain.hunks import HUNK_CHARS, Hunk, is_lockfile, split_diff
from gsctune.domain.protocol import (
    BUILTIN,
    EMIT,
    TERMINAL,
    WARN_AT,
    ProtocolSpec,
    ToolSession,
    max_turns,
    tool_call_message,
)
from gsctune.domain.records import json_bytes

TARGET = "git-smart-commit"


def new_file_content(text: str) -> str | None:
    """A new file's content from its harvested diff section (None for a binary file)."""
    if "\nBinary files " in text or "\nGIT binary patch" in text:
        return None
    at = text.find("\n@@")
    if at < 0:
        return ""  # an empty new file
    start = text.find("\n", at + 1) + 1
    body = text[start:]
    if body.startswith("+") and "\n@@" not in body and "\n\\" not in body and not body.startswith("\\"):
        return body[1:].replace("\n+", "\n")  # one hunk of added lines: the common case
    out: list[str] = []
    for line in body.split("\n"):
        if line.startswith("+"):
            out.append(line[1:] + "\n")
        elif line.startswith("\\") and out:
            out[-1] = out[-1][:-1]  # "\ No newline at end of file"
    return "".join(out)


def _needs_reading(hunk: Hunk, junk: set[str]) -> bool:
    if hunk.kind == "untracked":
        return hunk.file not in junk
    return hunk.kind == "text" and len(hunk.patch) > HUNK_CHARS and not is_lockfile(hunk.path)


def _read_calls(hunks: Sequence[Hunk], label: dict, sections: dict, junk: set[str], budget: int,
                contents: dict[str, str]) -> dict:
    """commit index -> the read_file / get_diff calls to make before it, at most ``budget`` in
    all; ``contents`` gets the content each read_file call will be answered with."""
    by_id = {h.id: h for h in hunks}
    done: set[str] = set()
    calls: dict[int, list[tuple[str, dict]]] = {}
    for n, commit in enumerate(label["commits"]):
        for hid in commit["hunks"]:
            hunk = by_id.get(hid)
            if budget <= 0 or hunk is None or hunk.path in done or hunk.file not in sections \
                    or not _needs_reading(hunk, junk):
                continue
            done.add(hunk.path)
            if hunk.kind == "text":
                calls.setdefault(n, []).append(("get_diff", {"path": hunk.path}))
            else:
                content = new_file_content(sections[hunk.file].text)
                if content is None:
                    continue  # a binary file has nothing to read
                contents[hunk.path] = content
                calls.setdefault(n, []).append(("read_file", {"path": hunk.path}))
            budget -= 1
    return calls


def tool_record(example: dict, label: dict, *, spec: ProtocolSpec = BUILTIN, read_new_files: bool = True,
                hunks: Sequence[Hunk] | None = None) -> dict:
    """The training conversation for one example (its ``diff`` as labeled, junk included)
    and a label at hunk or file level. Raises ValueError where the tool would not accept
    the label (an unknown or duplicate id, a hunk left over, files the tool never lists),
    naming why.

    Read turns stay within the tool's turn budget short of its warnings (it appends a
    warning to each tool reply from 6 turns left): files past that are not read."""
    files = split_diff(example.get("diff") or "")
    hunks = list(hunks) if hunks is not None else example_hunk_view(example, files=files)
    hlabel = to_hunk_label(label, hunks)
    sections = {f.path: f for f in files}
    junk = set(hlabel.get("injected_files") or example.get("injected_files") or ())
    budget = max_turns(len(hunks)) - WARN_AT - len(hlabel["commits"]) - 1
    contents: dict[str, str] = {}
    reads = _read_calls(hunks, hlabel, sections, junk, budget, contents) if read_new_files else {}

    def answer(name: str, args: dict) -> str:
        return contents[args["path"]] if name == "read_file" else sections[args["path"]].text

    session = ToolSession.for_hunks(hunks, spec, investigate=answer)
    calls: list[tuple[str, dict]] = []
    for n, commit in enumerate(hlabel["commits"]):
        calls += reads.get(n, [])
        calls.append((EMIT, {"commit": {
            "subject": commit["subject"], "hunks": list(commit["hunks"]), "body": commit.get("body") or "",
            "breaking_change": commit.get("breaking_change") or "",
            "issues": [{"message": i.get("message", ""), "path": i.get("path") or ""}
                       for i in commit.get("issues") or []]}}))
    calls.append((TERMINAL, {"gitignore": list(hlabel.get("gitignore") or []),
                             "skipped_hunks": list(hlabel.get("skipped_hunks") or [])}))
    for number, (name, arguments) in enumerate(calls, 1):
        if session.done:
            break
        accepted = session.stats["emit_accepted"]
        # The session reads the arguments as a dict (no re-parse); the record stores them as JSON text.
        sent = tool_call_message(f"call_{number}", name, arguments, as_dict=True)
        added = session.respond(sent)
        function = sent["tool_calls"][0]["function"]
        function["arguments"] = _arguments(function["arguments"])
        if name == EMIT and session.stats["emit_accepted"] == accepted:
            reply = next((m["content"] for m in added if m["role"] == "tool"), session.reason)
            raise ValueError(f"{arguments['commit']['subject']!r} is not accepted: {reply}")
    if session.outcome != "finalized":
        last = session.messages[-1]
        raise ValueError("the label does not finish the session: " + (
            session.reason or (last["content"] if last["role"] in ("tool", "user") else session.outcome)))
    return {"messages": session.messages, "tools": spec.tools}


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_arguments = json.JSONEncoder(ensure_ascii=False).encode  # as protocol.tool_call_message writes them


_TOOLS: dict[int, tuple[list, bytes]] = {}  # id -> (the list, kept alive so the id stays its own; its JSON)
_SYSTEM: dict[str, bytes] = {}  # system prompt -> the system message's JSON
_CACHED = 16  # distinct tool lists and system prompts worth caching (a spec's are the same on every row)


def record_bytes(record: dict) -> bytes:
    """``json.dumps(record)`` as one compact UTF-8 JSONL line; the tool list and the system
    message, kilobytes that are the same on every row, are encoded once. Bytes, because the
    export writes them as they are (hundreds of megabytes not decoded and encoded again)."""
    tools, messages = record["tools"], record["messages"]
    cached = _TOOLS.get(id(tools))
    if cached is None or cached[0] is not tools:
        cached = (tools, _dumps(tools).encode())
        if len(_TOOLS) < _CACHED:
            _TOOLS[id(tools)] = cached
    head = messages[0]
    first = _SYSTEM.get(head["content"]) if head.get("role") == "system" and len(head) == 2 else None
    if first is None:
        first = _dumps(head).encode()
        if head.get("role") == "system" and len(head) == 2 and len(_SYSTEM) < _CACHED:
            _SYSTEM[head["content"]] = first
    # Messages hold text alone (tool-call arguments are JSON text already): no float to look for.
    rest = b"," + json_bytes(messages[1:], floats=False)[1:] if len(messages) > 1 else b"]"
    return b'{"messages":[' + first + rest + b',"tools":' + cached[1] + b"}\n"


def record_line(record: dict) -> str:
    """``record_bytes`` as text."""
    return record_bytes(record).decode()


def with_junk(example: dict, label: dict, key: str, seed: int) -> tuple[dict, dict] | None:
    """A noisy copy: junk files from ``noise``'s catalogue appended to the diff, their hunks
    routed to ``skipped_hunks`` and their patterns to .gitignore (the label goes to hunk
    level). None when the catalogue has nothing left to inject."""
    files = list(example.get("changed_files") or [])
    made = noise.make_noise(key, files, seed, probability=1.0,
                            existing_gitignore=example.get("existing_gitignore") or ())
    if not made.injected:
        return None
    noisy = dict(example)
    noisy["changed_files"], noisy["diff"] = noise.apply_noise(files, example.get("diff") or "", made)
    hunks = example_hunk_view(noisy)
    junk = {h.id for h in hunks if h.file in set(made.files)}
    hlabel = to_hunk_label(label, [h for h in hunks if h.id not in junk])
    gitignore = list(hlabel.get("gitignore") or [])
    noisy_label = {**hlabel, "gitignore": gitignore + [p for p in made.gitignore if p not in gitignore],
                   "skipped_hunks": list(hlabel["skipped_hunks"]) + [h.id for h in hunks if h.id in junk],
                   "noise_injected": True,
                   "injected_files": list(label.get("injected_files") or []) + made.files}
    return noisy, noisy_label
