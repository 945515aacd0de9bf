"""What the review page shows of a label: its files tinted by commit, and its commits as editor rows."""
from __future__ import annotations

import json
from dataclasses import dataclass

from gsctune.domain.checks import CHECK_TITLES as FILE_CHECK_TITLES
from gsctune.domain.commits import CONVENTIONAL_TYPES, body_text, parse_subject
from gsctune.domain.diffs import split_diff
from gsctune.domain.hunk_checks import CHECK_TITLES as HUNK_CHECK_TITLES
from gsctune.domain.hunks import example_hunks

from ..models import Label

CHECK_TITLES = {**FILE_CHECK_TITLES, **HUNK_CHECK_TITLES}

COLOURS = 8  # commit tints in review.css


@dataclass
class ReviewFile:
    """One file of the diff as the review page shows it (the examples browser's template fields)."""

    path: str
    old_path: str
    status: str
    is_binary: bool
    additions: int
    deletions: int
    n_lines: int
    collapsed: bool
    highlighted: str
    css_class: str
    commit: int | None
    junk: bool


def label_commits(label: Label) -> list[dict]:
    return [c for c in label.commits or [] if isinstance(c, dict)]


def file_owners(commits: list[dict]) -> dict[str, int]:
    """The first commit that lists each path (for hunk-level commits, the paths of their hunk ids)."""
    owner: dict[str, int] = {}
    for i, c in enumerate(commits):
        hunk_paths = [h.rsplit("::", 1)[0] for h in c.get("hunks") or [] if isinstance(h, str)]
        for path in list(c.get("files") or []) + hunk_paths:
            owner.setdefault(path, i)
    return owner


def review_files(label: Label, owner: dict[str, int]) -> list[ReviewFile]:
    """The diff the labeler saw, one entry per file, tinted by the commit that owns it."""
    junk = set(label.injected_files or [])
    files = []
    for fd in split_diff(label.diff):
        idx = owner.get(fd.path)
        classes = [f"tint-{idx % COLOURS}" if idx is not None else "tint-none"]
        if fd.path in junk:
            classes.append("junk")
        files.append(ReviewFile(
            path=fd.path, old_path=fd.old_path, status=fd.status, is_binary=fd.is_binary,
            additions=fd.additions, deletions=fd.deletions, n_lines=fd.n_lines, collapsed=fd.collapsed,
            # Pygments escapes every character of the diff, so its HTML is safe to insert.
            highlighted=fd.highlighted,
            css_class=" ".join(classes), commit=idx, junk=fd.path in junk,
        ))
    return files


def titled_findings(label: Label) -> list[dict]:
    return [{**x, "title": CHECK_TITLES.get(x.get("check"), x.get("check"))} for x in label.findings or []]


def commit_rows(commits: list[dict], findings: list[dict]) -> list[dict]:
    """Each commit split into the editor's fields (type, scope, description, breaking, body...)."""
    rows = []
    for i, c in enumerate(commits):
        subject = str(c.get("subject") or "")
        parts = parse_subject(subject) or {"type": "", "scope": "", "desc": subject}
        row = {
            "index": i, "number": i + 1, "tint": f"tint-{i % COLOURS}", "subject": subject,
            "type": parts["type"], "scope": parts["scope"] or "", "description": parts["desc"],
            "breaking": bool(parts.get("bang")),
            # Where the "!" stood, so an unchanged correction keeps the subject exactly.
            "bang_first": bool(parts.get("bang")) and subject.startswith(f"{parts['type']}!"),
            "body": body_text(c), "files": [p for p in c.get("files") or [] if isinstance(p, str)],
            "hunks": [h for h in c.get("hunks") or [] if isinstance(h, str)],
            "issues": [x for x in c.get("issues") or [] if isinstance(x, dict)],
            "findings": [x for x in findings if x.get("commit") == i],
        }
        row["issues_json"] = json.dumps(row["issues"])
        rows.append(row)
    return rows


def editor_types(rows: list[dict]) -> list[str]:
    """The type menu: the conventional types, then any other type the label uses."""
    return list(CONVENTIONAL_TYPES) + sorted({r["type"] for r in rows if r["type"]} - set(CONVENTIONAL_TYPES))


@dataclass
class ReviewHunk:
    """One hunk of the group editor: its tool id, file, text (autoescaped by the template) and owner."""

    id: str
    file: str
    text: str
    junk: bool
    commit: int | None


def hunk_owners(commits: list[dict], hunks) -> dict[str, int]:
    """The commit of each hunk: a hunk-level label's ``hunks``, else every hunk of the commit's files."""
    owner: dict[str, int] = {}
    by_file: dict[str, list[str]] = {}
    for h in hunks:
        by_file.setdefault(h.file, []).append(h.id)
    for i, c in enumerate(commits):
        ids = c.get("hunks") if isinstance(c.get("hunks"), list) else [
            hid for path in c.get("files") or [] for hid in by_file.get(path, [])]
        for hid in ids:
            owner.setdefault(str(hid), i)
    return owner


def hunk_editor(label: Label, commits: list[dict], rows: list[dict]) -> tuple[list[ReviewHunk], str]:
    """The group editor's hunks and its starting state as JSON (commits with hunk ids, skipped ids).

    The JSON goes into an autoescaped data attribute: no <script> element carries label text."""
    hunks = example_hunks(label.diff)
    junk = set(label.injected_files or [])
    owner = hunk_owners(commits, hunks)
    shown = [ReviewHunk(id=h.id, file=h.file, junk=h.file in junk, commit=owner.get(h.id),
                        text=h.body or h.header or f"({h.kind}: no text shown to the tool)") for h in hunks]
    stored_skip = label.skipped_hunks or (label.usage or {}).get("skipped_hunks") or []  # usage: proxy sessions
    state = {
        "hunks": [{"id": h.id, "file": h.file, "junk": h.junk} for h in shown],
        "commits": [{k: r[k] for k in ("type", "scope", "description", "breaking", "bang_first", "body", "issues")}
                    | {"hunks": [h.id for h in shown if h.commit == r["index"]]} for r in rows],
        "skipped": [h.id for h in shown if h.commit is None and h.id in set(stored_skip)],
        # A label that already names hunks is corrected in this editor (the file editor would drop them).
        "hunk_level": any(isinstance(c.get("hunks"), list) for c in commits),
    }
    return shown, json.dumps(state)
