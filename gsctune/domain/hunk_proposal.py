"""Hunk-level labels: the teacher's answer format, its parser, and labels between files and hunks.

git-smart-commit groups hunks (``path::N``), so a teacher can label at that grain too.
Labeling stays plain JSON (provider-agnostic): the teacher answers with what the
student will pass to ``emit_commit`` (once per commit) and ``finalize_commits``::

    {"commits": [{"subject", "hunks": [...], "body", "breaking_change",
                  "issues": [{"message", "path"}]}],
     "gitignore": [...], "skipped_hunks": [...]}

The parser is forgiving about wrapping (it reuses ``gsctune.proposal``'s JSON-candidate
extraction: prose, fences, ``<think>`` blocks) and strict about the schema and the ids:
every id must be in the example's hunk list, and every hunk must be in exactly one
commit or in ``skipped_hunks``. A failure's text names the unknown, duplicate and
missing ids, and is what the repair turn sends back.

The teacher sees the hunk list exactly as the tool renders it (``render_user_turn``):
by default what the tool shows (``show_new_content=False``: a new file without its
content). A labeling run can show it new files' content too (the run's
``teacher_sees_new_content``); the tool-target export then adds the ``read_file`` turn
the student needs to see the same content (see ``tool_export``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from gsctune.domain import noise, prompts, proposal
from gsctune.domain.hunks import (
    TEXTS,
    FileDiff,
    Hunk,
    RenderTexts,
    files_for_hunks,
    hunk_label,
    render_user_turn,
    split_diff,
    tool_view,
)
from gsctune.domain.protocol import BUILTIN_SYSTEM_PROMPT

GRANULARITY = "hunks"  # what a prompt version built from this format asks for (file-level: "files")

HUNK_OUTPUT_FORMAT = """\
Do not call any tool here. Answer with one JSON object and nothing else (no prose, no Markdown \
fences); it holds what you would pass to emit_commit, once per commit, and then to finalize_commits:
{"commits": [{"subject": "type(scope): description", "hunks": ["path::N", ...], \
"body": "text or empty string", "breaking_change": "how callers must adapt, or empty string", \
"issues": [{"message": "text", "path": "path"}]}], \
"gitignore": ["pattern", ...], "skipped_hunks": ["path::N", ...]}
`commits` is in commit order. Copy hunk IDs exactly as the hunk list spells them. Every hunk ID \
appears exactly once: in one commit, or in `skipped_hunks` when it is junk that must not be \
committed (then propose a .gitignore pattern for it). Hunks of one file may go to different commits."""

HUNK_SAMPLE_OUTPUT = """\
{"commits": [{"subject": "refactor(config): extract settings loader", "hunks": \
["src/app/config.py::1", "src/app/config.py::2", "tests/test_config.py::1"], "body": "Move environment \
parsing out of main()\\ninto load_settings() so that it can be tested on its own.", "breaking_change": "", \
"issues": []}, {"subject": "feat(cli): add --verbose flag", "hunks": ["src/app/cli.py::1", "README.md::1"], \
"body": "Print each step when --verbose is given.", "breaking_change": "", "issues": [{"message": \
"print() left in the debug branch", "path": "src/app/cli.py"}]}], "gitignore": [".DS_Store"], \
"skipped_hunks": [".DS_Store::1"]}"""


def hunk_prompt(system_prompt: str = BUILTIN_SYSTEM_PROMPT) -> prompts.PromptSpec:
    """A hunk-level prompt version's texts: a system prompt (a captured protocol's, for the
    student to learn the tool's own conventions) plus gsctune's hunk-level answer format."""
    return prompts.PromptSpec(system_prompt=system_prompt, output_format=HUNK_OUTPUT_FORMAT,
                              sample_output=HUNK_SAMPLE_OUTPUT)


HUNK_PROMPT = hunk_prompt()


# ── the example's hunks, and the teacher's messages ──────────────────────────────

def example_hunk_view(example: dict, *, show_new_content: bool = False, old_content=None,
                      files: Sequence[FileDiff] | None = None) -> list[Hunk]:
    """The hunks the tool would list for an example (its ``diff`` as the labeler saw it,
    junk included); untracked files the repository's .gitignore matches are left out.
    ``files``: the diff already split (``split_diff``), when the caller has it."""
    ignored = list(example.get("existing_gitignore") or [])
    files = split_diff(example.get("diff") or "") if files is None else files
    return tool_view(files, keep_new_content=show_new_content,
                     old_content=old_content, is_ignored=(lambda p: noise.is_ignored(p, ignored)) if ignored else None)


def build_hunk_messages(hunks: Sequence[Hunk], prompt: prompts.PromptSpec = HUNK_PROMPT,
                        texts: RenderTexts = TEXTS) -> list[dict]:
    """System and user turns of a hunk-level labeling request."""
    return [{"role": "system", "content": prompts.system_text(prompt)},
            {"role": "user", "content": render_user_turn(hunks, texts)}]


# ── the answer ───────────────────────────────────────────────────────────────────

_TOP_KEYS = ("commits", "gitignore", "skipped_hunks")
_COMMIT_KEYS = ("subject", "hunks", "body", "breaking_change", "issues")


@dataclass
class HunkCommit:
    subject: str
    hunks: list[str]
    body: str = ""
    breaking_change: str = ""
    issues: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "hunks": list(self.hunks), "body": self.body,
                "breaking_change": self.breaking_change, "issues": [dict(i) for i in self.issues]}


@dataclass
class HunkProposal:
    commits: list[HunkCommit]
    gitignore: list[str] = field(default_factory=list)
    skipped_hunks: list[str] = field(default_factory=list)

    def to_label_dict(self) -> dict:
        return {"commits": [c.to_dict() for c in self.commits], "gitignore": list(self.gitignore),
                "skipped_hunks": list(self.skipped_hunks)}

    def to_json(self) -> str:
        return json.dumps(self.to_label_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: object) -> HunkProposal:
        """Validate the schema (not the ids); raises ``proposal.SchemaError`` naming the bad item."""
        return _proposal_from_obj(data)


def _strings(value: object, where: str, allow_empty: bool) -> list[str]:
    if not isinstance(value, list):
        raise proposal.SchemaError(f"{where}: expected a list of strings, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise proposal.SchemaError(f"{where}[{i}]: expected a non-empty string, got {item!r}")
        out.append(item.strip())
    if not out and not allow_empty:
        raise proposal.SchemaError(f"{where}: must not be empty")
    return out


def _text(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise proposal.SchemaError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value.strip("\n")


def _unknown_keys(obj: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = set(obj) - set(allowed)
    if unknown:
        raise proposal.SchemaError(f"{where}unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}")


def _proposal_from_obj(obj: object) -> HunkProposal:
    if not isinstance(obj, dict):
        raise proposal.SchemaError(f"expected a JSON object, got {type(obj).__name__}")
    _unknown_keys(obj, _TOP_KEYS, "")
    raw = obj.get("commits")
    if not isinstance(raw, list) or not raw:
        raise proposal.SchemaError("commits: expected a non-empty list of commit objects")
    commits = []
    for i, c in enumerate(raw):
        where = f"commits[{i}]"
        if not isinstance(c, dict):
            raise proposal.SchemaError(f"{where}: expected an object, got {type(c).__name__}")
        _unknown_keys(c, _COMMIT_KEYS, f"{where}: ")
        subject = c.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            raise proposal.SchemaError(f"{where}.subject: expected a non-empty string")
        try:
            proposal.parse_subject(subject)
        except proposal.SchemaError as exc:
            raise proposal.SchemaError(f"{where}.{exc}") from None
        issues_raw = c.get("issues") or []
        if not isinstance(issues_raw, list):
            raise proposal.SchemaError(f"{where}.issues: expected a list of {{message, path}} objects")
        issues = []
        for j, issue in enumerate(issues_raw):
            at = f"{where}.issues[{j}]"
            if not isinstance(issue, dict):
                raise proposal.SchemaError(f"{at}: expected an object with message and path")
            _unknown_keys(issue, ("message", "path"), f"{at}: ")
            message = _text(issue, "message", at).strip()
            if not message:
                raise proposal.SchemaError(f"{at}.message: expected a non-empty string")
            issues.append({"message": message, "path": _text(issue, "path", at).strip()})
        commits.append(HunkCommit(subject.strip(), _strings(c.get("hunks"), f"{where}.hunks", False),
                                  _text(c, "body", where), _text(c, "breaking_change", where).strip(), issues))
    return HunkProposal(commits, _strings(obj.get("gitignore", []), "gitignore", True),
                        _strings(obj.get("skipped_hunks", []), "skipped_hunks", True))


@dataclass(frozen=True)
class IdProblems:
    """Where a hunk-level label's ids disagree with the hunk list. ``duplicate`` maps an id
    to every place it occurs ("commit 1", "skipped_hunks"); places are 1-based."""

    unknown: dict[str, list[str]]
    duplicate: dict[str, list[str]]
    missing: list[str]

    def __bool__(self) -> bool:
        return bool(self.unknown or self.duplicate or self.missing)

    def describe(self) -> str:
        lines = []
        if self.unknown:
            lines.append("unknown hunk IDs (not in the hunk list; copy IDs exactly): "
                         + "; ".join(f"{i} in {', '.join(p)}" for i, p in self.unknown.items()))
        if self.duplicate:
            lines.append("hunk IDs used more than once (each hunk goes in exactly one commit or in skipped_hunks): "
                         + "; ".join(f"{i} in {' and '.join(p)}" for i, p in self.duplicate.items()))
        if self.missing:
            lines.append("missing hunk IDs (put each in a commit, or in skipped_hunks if it is junk): "
                         + ", ".join(self.missing))
        return "the hunk IDs do not match the hunk list:\n" + "\n".join(f"- {line}" for line in lines)


def id_problems(label: dict, hunk_ids: Sequence[str]) -> IdProblems:
    """Unknown, duplicate and missing ids of a hunk-level label, in order of appearance
    (missing ones in hunk-list order)."""
    valid = set(hunk_ids)
    places: dict[str, list[str]] = {}
    for n, commit in enumerate(label.get("commits") or [], 1):
        for hid in commit.get("hunks") or []:
            places.setdefault(hid, []).append(f"commit {n}")
    for hid in label.get("skipped_hunks") or []:
        places.setdefault(hid, []).append("skipped_hunks")
    unknown = {hid: list(dict.fromkeys(p)) for hid, p in places.items() if hid not in valid}
    duplicate = {hid: p for hid, p in places.items() if hid in valid and len(p) > 1}
    return IdProblems(unknown, duplicate, [hid for hid in hunk_ids if hid not in places])


@dataclass
class HunkParseResult:
    raw: str
    proposal: HunkProposal | None = None  # schema-valid, even when the ids are wrong
    error: str = ""
    problems: IdProblems | None = None

    @property
    def ok(self) -> bool:
        return self.proposal is not None and not self.error


def parse_hunk_proposal(text: str | None, hunk_ids: Sequence[str]) -> HunkParseResult:
    """Find the answer JSON in a model's text, validate its schema, then its ids."""
    raw = text or ""
    candidates, syntax_error = proposal.json_candidates(raw)
    if not candidates:
        return HunkParseResult(raw, error=syntax_error or "no JSON object found in the answer")
    schema_error = ""
    for obj in reversed(candidates):  # the final answer usually comes last
        try:
            found = _proposal_from_obj(obj)
        except proposal.SchemaError as exc:
            schema_error = schema_error or str(exc)
            continue
        problems = id_problems(found.to_label_dict(), hunk_ids)
        return HunkParseResult(raw, found, problems.describe() if problems else "", problems)
    return HunkParseResult(raw, error=schema_error)


def repair_message(result: HunkParseResult) -> dict:
    """The user turn that sends a failed answer's problems back (the file-level repair wording)."""
    return prompts.build_repair_message(result.error)


# ── labels between files and hunks ───────────────────────────────────────────────

def is_hunk_label(label: dict) -> bool:
    commits = label.get("commits") or []
    return bool(commits) and all("hunks" in c for c in commits)


def to_hunk_label(label: dict, hunks: Sequence[Hunk]) -> dict:
    """A label at hunk level: a file-level one converted exactly (every hunk of a file into
    that file's commit; ``hunks.hunk_label``), a hunk-level one returned with its fields
    filled in. Raises ``LabelConversionError`` for files the example does not have."""
    if not is_hunk_label(label):
        return hunk_label(label, hunks)
    return {**label, "commits": [dict(c) for c in label["commits"]], "gitignore": list(label.get("gitignore") or []),
            "skipped_hunks": list(label.get("skipped_hunks") or [])}


def to_file_label(label: dict, hunks: Sequence[Hunk]) -> dict:
    """A hunk-level label at file level: each commit names the files of its hunks. Exact
    for labels made from file level; a file split across commits is named in each of
    them (which the file-level ``duplicate_file`` check reports). ``skipped_hunks`` goes:
    a file-level label skips a file by naming it in no commit."""
    commits = [{**{k: v for k, v in c.items() if k != "hunks"}, "files": files_for_hunks(c.get("hunks") or [], hunks)}
               for c in label.get("commits") or []]
    return {**{k: v for k, v in label.items() if k not in ("commits", "skipped_hunks")}, "commits": commits,
            "gitignore": list(label.get("gitignore") or [])}


# ── the labeled JSONL format ─────────────────────────────────────────────────────

def labeled_fields(label: dict, hunks: Sequence[Hunk]) -> dict:
    """``commits`` (each with ``files`` and the tool's ``hunks``), ``gitignore`` and
    ``skipped_hunks`` for a labeled-format line, from a label at either level."""
    hl = to_hunk_label(label, hunks)
    fl = to_file_label(hl, hunks)
    commits = [{**c, "files": f["files"], "hunks": list(c["hunks"])} for c, f in zip(hl["commits"], fl["commits"])]
    return {"commits": commits, "gitignore": hl["gitignore"], "skipped_hunks": hl["skipped_hunks"]}


def read_labeled(label: dict, hunks: Sequence[Hunk]) -> tuple[dict | None, list[str]]:
    """A labeled line's ``label`` object at hunk level, or None and errors naming the field
    and the bad ids (the importer adds the line number). ``hunks`` per commit wins when
    present, and ``files`` must then name the files of those hunks; a line with ``files``
    only is converted exactly. Duplicate or missing ids are left to the checks."""
    errors: list[str] = []
    commits = label.get("commits")
    if not isinstance(commits, list) or not commits:
        return None, ["label.commits: expected a non-empty list of commit objects"]
    known = {h.id for h in hunks}
    listed = ", ".join(h.id for h in hunks)
    for i, commit in enumerate(commits):
        where = f"label.commits[{i}]"
        if not isinstance(commit, dict):
            errors.append(f"{where}: expected an object")
            continue
        if "hunks" not in commit:
            if "files" not in commit:
                errors.append(f"{where}: needs hunks or files")
            continue
        ids = commit["hunks"]
        if not isinstance(ids, list) or not all(isinstance(h, str) for h in ids):
            errors.append(f"{where}.hunks: expected a list of hunk ids")
            continue
        bad = [h for h in ids if h not in known]
        if bad:
            errors.append(f"{where}.hunks: unknown hunk id(s) {', '.join(bad)} (the example's hunks: {listed})")
        elif "files" in commit and list(commit["files"] or []) != files_for_hunks(ids, hunks):
            errors.append(f"{where}.files: {commit['files']} are not the files of its hunks "
                          f"({files_for_hunks(ids, hunks)})")
    skipped = label.get("skipped_hunks", [])
    if not isinstance(skipped, list) or not all(isinstance(h, str) for h in skipped):
        errors.append("label.skipped_hunks: expected a list of hunk ids")
    else:
        bad = [h for h in skipped if h not in known]
        if bad:
            errors.append(f"label.skipped_hunks: unknown hunk id(s) {', '.join(bad)} (the example's hunks: {listed})")
    has_hunks = [isinstance(c, dict) and "hunks" in c for c in commits]
    if any(has_hunks) and not all(has_hunks):
        errors.append("label.commits: give hunks for every commit or for none")
    if errors:
        return None, errors
    try:
        return to_hunk_label(label, hunks), []
    except ValueError as exc:  # LabelConversionError: files the example does not have
        return None, [f"label.commits: {exc}"]

