"""The commit conventions: one list of types and one subject grammar.

The proposal parser, the label checks, the review editor and the evaluation metrics read
subjects with :func:`parse_subject`. The grammar accepts a type in any case (the checks
then flag a type outside :data:`CONVENTIONAL_TYPES`, which are lower case) and the
breaking ``!`` before or after the scope (``feat!(api):`` and ``feat(api)!:``), not both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CONVENTIONAL_TYPES = (
    "feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert",
)

# Words a description may not repeat for its type ("fix(x): fix crash").
TYPE_WORDS = {
    "feat": {"feat", "feature", "features"},
    "fix": {"fix", "fixes", "fixed", "fixing"},
    "docs": {"docs", "doc", "documentation"},
    "style": {"style", "styles"},
    "refactor": {"refactor", "refactors", "refactored", "refactoring"},
    "perf": {"perf", "performance"},
    "test": {"test", "tests"},
    "build": {"build"},
    "ci": {"ci"},
    "chore": {"chore", "chores"},
    "revert": {"revert", "reverts", "reverted"},
}

SUBJECT_RE = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)"
    r"(?P<bang_first>!)?"
    r"(?:\((?P<scope>[^()\s][^()\r\n]*)\))?"
    r"(?P<bang>!)?"
    r": (?P<desc>\S.*)$"
)


@dataclass(frozen=True)
class CommitRules:
    """Thresholds of the conventions, shared by the label checks, the quality gate and eval metrics.

    Django reads them from ``settings.REVIEW_CHECKS`` (``CHECK_*`` environment variables,
    see ``gsctune.rules.commit_rules``); the defaults are the conventions the teacher is asked for.
    """

    max_subject: int = 72
    max_body_line: int = 80
    body_min_lines: int = 1
    body_max_lines: int = 10
    require_scope: bool = False
    types: tuple[str, ...] = CONVENTIONAL_TYPES


def parse_subject(subject: str) -> dict | None:
    """Split ``type(scope)!: description`` into type, scope, bang and desc; None when not in that form."""
    m = SUBJECT_RE.match(subject or "")
    if not m or (m["bang_first"] and m["bang"]):
        return None
    parts = m.groupdict()
    parts["bang"] = parts.pop("bang_first") or parts["bang"]
    return parts


def body_text(commit: dict) -> str:
    """A commit's body as text (a list of lines is joined)."""
    body = commit.get("body") or ""
    if isinstance(body, list):
        body = "\n".join(str(line) for line in body)
    return str(body)
