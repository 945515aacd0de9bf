"""The rule-based baseline, answering git-smart-commit's protocol with tool calls.

A floor for protocol evaluation and a way to run the loop offline. ``answer`` is a
stateless policy: it reads the hunk list of the first user message (``  PATH::N  …``
lines under the hunk heading), groups the hunks by their files with the file-level
baseline's rule (``gsctune.domain.baseline.group_files``: component directory, tests with
their code, lockfiles with their manifests, docs, CI), counts its own emit_commit
calls so far, and emits the next commit; then ``finalize_commits`` with untracked
junk (editor backups, build output, …) skipped and its .gitignore patterns. On a
finalize-only turn it finalizes at once, skipping whatever is still unassigned.
A request without tools (the tool's summary and query_message side calls) gets a
short digest naming the files it mentions, with any hunk list kept verbatim.
"""
from __future__ import annotations

import posixpath
import re
import time

from gsctune.domain.baseline import AMBIGUOUS_JUNK, LOCK_MANIFESTS, group_files, junk_pattern_for
from gsctune.domain.hunks import TEXTS
from gsctune.domain.protocol import EMIT, TERMINAL, tool_call_message

BASELINE_MODEL = "gsctune-baseline"
SUBJECT_MAX = 72
_LINE = re.compile(r"^  (\S.*?::\d+)  (.*)$")
_COUNTS = re.compile(r"^\(\+(\d+)/-(\d+)\)$")
_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*\.[A-Za-z]\w*")
_ORDER = {"build": 0, "code": 1, "test": 2, "ci": 3, "docs": 4}  # foundational changes first


def parse_hunk_list(text: str, heading: str = TEXTS.hunks_heading) -> list[tuple[str, str]]:
    """(hunk id, tag) of each ``Available hunks:`` line; tags are ``(+A/-D)``, the untracked
    or the binary marker."""
    at = text.find(heading)
    if at < 0:
        return []
    out = []
    for line in text[at + len(heading):].lstrip("\n").split("\n"):
        match = _LINE.match(line)
        if not match:
            break
        out.append((match.group(1), match.group(2).strip()))
    return out


def _path(hunk_id: str) -> str:
    return hunk_id.rsplit("::", 1)[0]


def _type(kind: str, entries: list[tuple[str, str]]) -> str:
    if kind in ("ci", "docs", "test", "build"):
        return kind
    if all(tag == TEXTS.untracked_tag for _, tag in entries):
        return "feat"
    added = deleted = 0
    for _, tag in entries:
        match = _COUNTS.match(tag)
        if match:
            added, deleted = added + int(match.group(1)), deleted + int(match.group(2))
    if deleted > 2 * max(1, added):
        return "refactor"
    return "fix" if added + deleted <= 10 else "feat"


def _subject(ctype: str, scope: str, files: list[str], untracked: set[str]) -> str:
    if len(files) == 1:
        verb = "add" if files[0] in untracked else "update"
        description = f"{verb} {posixpath.basename(files[0])}"
    else:
        description = {"build": "update build configuration", "ci": "update workflows",
                       "docs": "update documentation", "test": "update tests"}.get(ctype, f"update {len(files)} files")
    head = f"{ctype}({scope}): " if scope else f"{ctype}: "
    return (head + description)[: SUBJECT_MAX - 1].rstrip()


def plan(entries: list[tuple[str, str]]) -> tuple[list[dict], list[str], list[str]]:
    """(commits with hunk ids, skipped hunk ids, .gitignore patterns) for a hunk list."""
    by_path: dict[str, list[tuple[str, str]]] = {}
    for hunk_id, tag in entries:
        by_path.setdefault(_path(hunk_id), []).append((hunk_id, tag))
    untracked = {p for p, items in by_path.items() if items[0][1] == TEXTS.untracked_tag}
    skipped: list[str] = []
    gitignore: list[str] = []
    kept: list[str] = []
    for path, items in by_path.items():
        pattern = junk_pattern_for(path)
        if pattern and path in untracked and pattern not in AMBIGUOUS_JUNK:  # only new files are junk
            skipped.extend(hunk_id for hunk_id, _ in items)
            if pattern not in gitignore:
                gitignore.append(pattern)
        else:
            kept.append(path)
    if not kept:  # the tool accepts no finalize without a commit: commit the lot
        skipped, gitignore, kept = [], [], list(by_path)
    commits = []
    for group in sorted(group_files(kept), key=lambda g: (_ORDER[g.kind], g.scope)):
        items = [item for f in group.files for item in by_path[f]]
        ctype = _type(group.kind, items)
        if group.kind in ("ci", "docs"):
            scope = ""
        elif group.kind == "build":
            scope = "deps" if any(posixpath.basename(f) in LOCK_MANIFESTS for f in group.files) else ""
        else:
            scope = re.sub(r"[^a-z0-9_.-]+", "-", group.scope.lower().lstrip(".")).strip("-")[:24]
        commits.append({"subject": _subject(ctype, scope, group.files, untracked),
                        "hunks": [hunk_id for hunk_id, _ in items],
                        "body": "Groups the changes to " + ", ".join(group.files[:5])
                                + (" and more." if len(group.files) > 5 else ".")})
    return commits, skipped, gitignore


def _digest(messages: list[dict]) -> dict:
    """A summary that keeps any hunk list verbatim: a second compaction of the first user
    message summarizes the whole of it, hunk list included."""
    text = "\n".join(str(m.get("content") or "") for m in messages)
    names = list(dict.fromkeys(_PATH.findall(text)))[:5]
    content = ("Mentions " + ", ".join(names) + ".") if names else "No file names in it."
    entries = parse_hunk_list(text)
    if entries:
        content = "\n".join([TEXTS.hunks_heading] + [f"  {i}  {tag}" for i, tag in entries] + [content])
    return {"role": "assistant", "content": content}


def answer(messages: list[dict], tools: list[dict] | None) -> dict:
    """The baseline's next assistant message for a request of the tool's loop."""
    if not tools:
        return _digest(messages)
    first = next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")
    commits, skipped, gitignore = plan(parse_hunk_list(first))
    # Its own emit calls, not the tool's replies: compaction may summarize those away, and
    # the plan never repeats a hunk, so each call was accepted.
    accepted = sum(1 for m in messages if m.get("role") == "assistant" and m.get("tool_calls")
                   and m["tool_calls"][0]["function"]["name"] == EMIT)
    call_id = f"call_{sum(1 for m in messages if m.get('role') == 'assistant') + 1}"
    names = [t["function"]["name"] for t in tools]
    if accepted < len(commits) and EMIT in names and names != [TERMINAL]:
        return tool_call_message(call_id, EMIT, {"commit": commits[accepted]})
    committed = {h for c in commits[:accepted] for h in c["hunks"]}
    every = [h for c in commits for h in c["hunks"]] + skipped
    rest = [h for h in every if h not in committed and h not in skipped]
    return tool_call_message(call_id, TERMINAL, {"gitignore": gitignore, "skipped_hunks": skipped + rest})


async def completion(request: dict) -> dict:
    """A chat.completion response (OpenAI shape) for a request with ``tools``, for servers."""
    return chat_completion(request)


def chat_completion(request: dict) -> dict:
    """``completion`` for threaded servers (``serve_baseline``)."""
    messages = request.get("messages") or []
    message = answer(messages, request.get("tools"))
    prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
    completion_tokens = len(str(message.get("content") or "") + str(message.get("tool_calls") or "")) // 4 + 1
    return {
        "id": f"baseline-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": BASELINE_MODEL,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
