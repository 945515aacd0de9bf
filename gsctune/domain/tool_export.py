"""One example and its label as a ``git-smart-commit`` training conversation (target ``git-smart-commit``).

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
to read, or nothing the grouping rests on). The alternative is a labeling option:
label with the teacher shown only what the tool shows
(``hunk_proposal.example_hunk_view(show_new_content=False)``) and export with
``read_new_files=False``; the in-loop evaluation compares both.

Not reproducible, and how this export handles it: the tool replaces any tool result
over 125 tokens by a summary the model itself writes (read_file and get_diff replies
included); here the replies are kept in full, as the original the student could ask
for with ``query_message``. Context compaction (which on native Ollama summarizes the
diff away after the first calls) is not applied: each conversation is short.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from gsctune import noise
from gsctune.domain.hunk_proposal import example_hunk_view, to_hunk_label
from gsctune.domain.hunks import HUNK_CHARS, Hunk, is_lockfile, render_user_turn, split_diff
from gsctune.domain.protocol import BUILTIN, EMIT, TERMINAL, ProtocolSpec, ToolSession, tool_call_message

TARGET = "git-smart-commit"


def new_file_content(text: str) -> str | None:
    """A new file's content from its harvested diff section (None for a binary file)."""
    if "\nBinary files " in text or "\nGIT binary patch" in text:
        return None
    out: list[str] = []
    in_hunk = False
    for line in text.split("\n"):
        if line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            out.append(line[1:] + "\n")
        elif in_hunk and line.startswith("\\") and out:
            out[-1] = out[-1][:-1]  # "\ No newline at end of file"
    return "".join(out)


def _needs_reading(hunk: Hunk, junk: set[str]) -> bool:
    if hunk.file in junk or is_lockfile(hunk.path):
        return False
    return hunk.kind == "untracked" or (hunk.kind == "text" and len(hunk.patch) > HUNK_CHARS)


def tool_record(example: dict, label: dict, *, spec: ProtocolSpec = BUILTIN, read_new_files: bool = True,
                hunks: Sequence[Hunk] | None = None) -> dict:
    """The training conversation for one example (its ``diff`` as labeled, junk included)
    and a label at hunk or file level. Raises ValueError where the tool would not accept
    the label (an unknown or duplicate id, a hunk left over), naming why."""
    hunks = list(hunks) if hunks is not None else example_hunk_view(example)
    hlabel = to_hunk_label(label, hunks)
    sections = {f.path: f for f in split_diff(example.get("diff") or "")}
    junk = set(hlabel.get("injected_files") or example.get("injected_files") or ())

    def answer(name: str, args: dict) -> str:
        section = sections[args["path"]]
        return new_file_content(section.text) if name == "read_file" else section.text

    session = ToolSession.for_hunks(hunks, spec, investigate=answer)
    by_id = {h.id: h for h in hunks}
    read: set[str] = set()
    calls: list[tuple[str, dict]] = []
    for commit in hlabel["commits"]:
        for hid in commit["hunks"]:
            hunk = by_id.get(hid)
            if read_new_files and hunk is not None and hunk.path not in read and _needs_reading(hunk, junk) \
                    and hunk.file in sections:
                read.add(hunk.path)
                if hunk.kind == "untracked" and new_file_content(sections[hunk.file].text) is not None:
                    calls.append(("read_file", {"path": hunk.path}))
                elif hunk.kind == "text":
                    calls.append(("get_diff", {"path": hunk.path}))
        calls.append((EMIT, {"commit": {
            "subject": commit["subject"], "hunks": list(commit["hunks"]), "body": commit.get("body") or "",
            "breaking_change": commit.get("breaking_change") or "",
            "issues": [{"message": i.get("message", ""), "path": i.get("path") or ""} for i in commit.get("issues") or []]}}))
    calls.append((TERMINAL, {"gitignore": list(hlabel.get("gitignore") or []),
                             "skipped_hunks": list(hlabel.get("skipped_hunks") or [])}))
    for number, (name, arguments) in enumerate(calls, 1):
        if session.done:
            break
        accepted = session.stats["emit_accepted"]
        added = session.respond(tool_call_message(f"call_{number}", name, arguments))
        if name == EMIT and session.stats["emit_accepted"] == accepted:
            reply = next((m["content"] for m in added if m["role"] == "tool"), session.reason)
            raise ValueError(f"{arguments['commit']['subject']!r} is not accepted: {reply}")
    if session.outcome != "finalized":
        last = session.messages[-1]
        raise ValueError("the label does not finish the session: "
                         + (last["content"] if last["role"] in ("tool", "user") else session.reason))
    return {"messages": session.messages, "tools": spec.tools}


def record_line(record: dict) -> str:
    """One JSONL line (compact, UTF-8 kept)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


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
