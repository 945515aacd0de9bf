"""Automatic checks on a hunk-level label (``commits[].hunks`` plus ``skipped_hunks``).

The tool's rules, checked before a human looks: every hunk id is in the example's
hunk list, in at most one commit, and in a commit or in ``skipped_hunks`` (the tool's
gitignore exempts nothing); junk injected by gsctune is never committed. Junk that
the repository's existing .gitignore already matches is not in the hunk list at all
(the tool lists untracked files with ``--exclude-standard``), so it cannot be flagged.
A file split across commits is allowed now: ``split_file`` is informational.

Subject, body and identifier checks are the file-level module's own functions, run
from here; its whole-file checks (unknown, dropped, duplicate file) apply to
file-level targets only.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gsctune.domain import checks as file_checks
from gsctune.domain.hunks import Hunk

Finding = file_checks.Finding
# The file-level checks that look at messages only, run unchanged on hunk-level labels.
TEXT_CHECKS = ("subject_format", "subject_length", "type_repeated", "body_line_length", "body_lines",
               "unknown_identifier")
INFORMATIONAL = frozenset({"split_file"})  # shown, never a defect (not an export filter by default)


@dataclass
class HunkCheckInput:
    label: dict
    hunks: Sequence[Hunk]
    junk: frozenset[str]  # ids of hunks of gsctune-injected junk files

    @property
    def commits(self) -> list[dict]:
        return [c for c in (self.label.get("commits") or []) if isinstance(c, dict)]

    @property
    def skipped(self) -> list[str]:
        return [h for h in (self.label.get("skipped_hunks") or []) if isinstance(h, str)]


def _ids(commit: dict) -> list[str]:
    return [h for h in (commit.get("hunks") or []) if isinstance(h, str)]


def check_unknown_hunk(inp: HunkCheckInput) -> Iterator[Finding]:
    known = {h.id for h in inp.hunks}
    for i, c in enumerate(inp.commits):
        for hid in _ids(c):
            if hid not in known:
                yield Finding("unknown_hunk", f"{hid} is not in the example's hunk list", i, hid)
    for hid in inp.skipped:
        if hid not in known:
            yield Finding("unknown_hunk", f"skipped hunk {hid} is not in the example's hunk list", None, hid)


def check_duplicate_hunk(inp: HunkCheckInput) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for i, c in enumerate(inp.commits):
        for hid in _ids(c):
            if hid in first:
                where = "earlier in this commit" if first[hid] == i else f"already in commit {first[hid] + 1}"
                yield Finding("duplicate_hunk", f"{hid} is {where}", i, hid)
            else:
                first[hid] = i
    for hid in dict.fromkeys(inp.skipped):
        if hid in first:
            yield Finding("duplicate_hunk", f"{hid} is in commit {first[hid] + 1} and in skipped_hunks", first[hid], hid)


def check_unassigned_hunk(inp: HunkCheckInput) -> Iterator[Finding]:
    named = {hid for c in inp.commits for hid in _ids(c)} | set(inp.skipped)
    for h in inp.hunks:
        if h.id not in named:
            yield Finding("unassigned_hunk", f"{h.id} is in no commit and not in skipped_hunks", None, h.id)


def check_junk_hunk_committed(inp: HunkCheckInput) -> Iterator[Finding]:
    for i, c in enumerate(inp.commits):
        for hid in _ids(c):
            if hid in inp.junk:
                yield Finding("junk_hunk_committed",
                              f"{hid} is junk: it belongs in skipped_hunks, with a .gitignore pattern", i, hid)


def check_split_file(inp: HunkCheckInput) -> Iterator[Finding]:
    file_of = {h.id: h.file for h in inp.hunks}
    commits_of: dict[str, list[int]] = {}
    for i, c in enumerate(inp.commits):
        for hid in _ids(c):
            if hid in file_of and i not in commits_of.setdefault(file_of[hid], []):
                commits_of[file_of[hid]].append(i)
    for path, where in commits_of.items():
        if len(where) > 1:
            yield Finding("split_file", f"{path} is split across commits "
                          + ", ".join(str(i + 1) for i in where), None, path)


def check_empty_commit(inp: HunkCheckInput) -> Iterator[Finding]:
    for i, c in enumerate(inp.commits):
        if not _ids(c):
            yield Finding("empty_commit", "commit has no hunks", i)


HUNK_CHECKS = (
    ("unknown_hunk", "Hunk not in the hunk list", check_unknown_hunk),
    ("duplicate_hunk", "Hunk in two commits", check_duplicate_hunk),
    ("unassigned_hunk", "Hunk neither committed nor skipped", check_unassigned_hunk),
    ("junk_hunk_committed", "Injected junk hunk inside a commit", check_junk_hunk_committed),
    ("split_file", "File split across commits (informational)", check_split_file),
    ("empty_commit", "Commit without hunks", check_empty_commit),
)
CHECK_TITLES = {name: title for name, title, _ in HUNK_CHECKS} | {
    name: file_checks.CHECK_TITLES[name] for name in TEXT_CHECKS}


def junk_hunks(hunks: Sequence[Hunk], injected_files: Sequence[str]) -> frozenset[str]:
    """Ids of the hunks of injected junk files (those .gitignore hid are not in ``hunks``)."""
    injected = set(injected_files)
    return frozenset(h.id for h in hunks if h.file in injected)


def hunk_findings(label: dict, hunks: Sequence[Hunk], example: dict,
                  config: file_checks.CheckConfig | None = None) -> list[Finding]:
    """Every hunk-level check, then the file-level text checks, on one label.

    ``example`` gives ``diff`` (for the identifier check) and ``injected_files`` (the
    label's own ``injected_files`` win when it has them)."""
    label = label or {}
    injected = label.get("injected_files") or example.get("injected_files") or []
    inp = HunkCheckInput(label, hunks, junk_hunks(hunks, injected))
    found = [f for _, _, run in HUNK_CHECKS for f in run(inp)]
    text_input = file_checks.CheckInput(label=label, changed_files=[], diff=example.get("diff") or "",
                                        config=config or file_checks.CheckConfig())
    found += [f for c in file_checks.CHECKS if c.name in TEXT_CHECKS for f in c.run(text_input)]
    return found
