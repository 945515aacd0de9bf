"""A finished session as gsctune data: the diff the tool showed and the proposal it accepted.

The diff is rebuilt from the first user message's ``Diff content:`` sections (each
hunk's patch carries its file's header lines in front), and checked: split again
the way the tool splits, it must give exactly the hunk ids the tool listed, or the
session is not converted (its hunk ids would point at the wrong code). The
proposal comes from replaying the student's answers through ``ToolSession``, which
applies the tool's rules (unknown and duplicate ids, rejected finalize, turn limit).
"""
from __future__ import annotations

import re

from gsctune.domain.hunks import example_hunks, files_for_hunks
from gsctune.domain.protocol import ToolSession
from labeling.protocol.layout import hunk_ids

from .sessions import Session, assistant_message


class NotConvertible(ValueError):
    """The session cannot be read as the tool's protocol; the message says why."""


class Unfinished(NotConvertible):
    """The session reads fine but never reached an accepted finalize_commits."""


DIFF_HEADING = re.compile(r"^Diff content:\s*$", re.MULTILINE)


def _sections(user_turn: str, ids: list[str]) -> dict[str, str]:
    """Hunk id -> the section text after its ``--- id ---`` line (up to the next section)."""
    heading = DIFF_HEADING.search(user_turn)
    if heading is None:
        raise NotConvertible("the first user message has no 'Diff content:' part")
    lines = user_turn[heading.end():].split("\n")
    known = set(ids)
    starts = [(i, line[4:-4]) for i, line in enumerate(lines)
              if line.startswith("--- ") and line.endswith(" ---") and line[4:-4] in known]
    out = {}
    for n, (start, hunk_id) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        text = "\n".join(lines[start + 1:end])
        # Sections are separated by one blank line; the patch itself ends with a newline.
        out.setdefault(hunk_id, text[:-1] if n + 1 < len(starts) and text.endswith("\n") else text)
    return out


def _kinds(user_turn: str) -> dict[str, str]:
    """Hunk id -> untracked / binary / text, from the hunk list's line forms."""
    kinds = {}
    for line in user_turn.splitlines():
        match = re.match(r"^  (\S(?:.*?\S)?::\d+)  (\S.*)$", line)
        if match:
            rest = match[2]
            kinds.setdefault(match[1], "text" if re.fullmatch(r"\(\+\d+/-\d+\)", rest)
                             else "binary" if "binary" in rest.lower() else "untracked")
    return kinds


def rebuild_diff(user_turn: str) -> tuple[str, list[str]]:
    """(diff, hunk ids) of the first user message; NotConvertible names what is missing."""
    ids = hunk_ids(user_turn)
    if not ids:
        raise NotConvertible("the first user message lists no hunks ('  PATH::N  …' lines)")
    sections, kinds = _sections(user_turn, ids), _kinds(user_turn)
    files: dict[str, list[str]] = {}
    for hunk_id in ids:
        files.setdefault(hunk_id.rsplit("::", 1)[0], []).append(hunk_id)
    tracked, untracked = [], []
    for path, file_ids in files.items():
        kind = kinds.get(file_ids[0], "text")
        if kind == "untracked":  # the tool shows no content: an empty new file stands in
            untracked.append(f"diff --git a/{path} b/{path}\nnew file mode 100644\n")
            continue
        if kind == "binary":
            tracked.append(f"diff --git a/{path} b/{path}\nBinary files a/{path} and b/{path} differ\n")
            continue
        parts = []
        for n, hunk_id in enumerate(file_ids):
            patch = sections.get(hunk_id)
            if patch is None or not patch.startswith(("diff --git", "@@")):
                shown = "is not in the message" if patch is None else "is shown as a summary, not a patch"
                raise NotConvertible(f"hunk {hunk_id}: its diff {shown}, so the diff cannot be rebuilt")
            at = patch.find("\n@@") + 1 if not patch.startswith("@@") else 0
            parts.append(patch if n == 0 else patch[at:] if at else patch)
        tracked.append("".join(p if p.endswith("\n") else p + "\n" for p in parts))
    diff = "".join(tracked + untracked)
    rebuilt = [h.id for h in example_hunks(diff)]
    if sorted(rebuilt) != sorted(ids):
        missing, extra = sorted(set(ids) - set(rebuilt)), sorted(set(rebuilt) - set(ids))
        raise NotConvertible(f"the rebuilt diff does not split into the listed hunks (missing {missing[:5]}, "
                             f"extra {extra[:5]})")
    return diff, ids


def replay(session: Session, ids: list[str]) -> ToolSession:
    """The tool's side replayed over the student's answers, in the order they came."""
    tool = ToolSession(ids, session.user, ollama=session.api == "ollama")
    for turn, index in enumerate(session.loop, 1):
        if tool.done:
            break
        exchange = session.exchanges[index]
        if exchange.status != 200:
            continue  # an upstream error: the tool retried, and a later turn answers
        message = assistant_message(exchange)
        if message is None:
            raise NotConvertible(f"loop request {turn} ({exchange.path}): the answer is not a chat completion "
                                 f"the proxy can read")
        tool.respond(message)
    return tool


def proposal(session: Session) -> dict:
    """``{"diff", "hunk_ids", "commits", "gitignore", "skipped_hunks", "files", "turns"}`` of a
    finished session; NotConvertible when it is not one."""
    diff, ids = rebuild_diff(session.user)
    tool = replay(session, ids)
    if tool.outcome != "finalized":
        raise Unfinished(f"no accepted finalize_commits: {tool.reason or 'the session has not ended'}")
    hunks = example_hunks(diff)
    commits = []
    for commit in tool.commits:
        out = {"subject": commit["subject"], "files": files_for_hunks(commit["hunks"], hunks),
               "body": commit.get("body", ""), "issues": commit.get("issues", []), "hunks": list(commit["hunks"])}
        commits.append(out)
    return {"diff": diff, "hunk_ids": ids, "commits": commits, "gitignore": tool.gitignore,
            "skipped_hunks": tool.skipped_hunks, "files": list(dict.fromkeys(h.file for h in hunks)),
            "turns": tool.stats["responses"]}
