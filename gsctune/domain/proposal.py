"""Commit-proposal schema and parser shared by labeling and evaluation.

Models answer with the JSON object ``{"commits": [...], "gitignore": [...]}``
wrapped in whatever they like: prose, Markdown fences, ``<think>`` blocks,
leading reasoning. The parser is forgiving about that wrapping and strict
about the schema, so a parse failure always names what is wrong (the text a
repair turn sends back to the model).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from gsctune.domain.commits import parse_subject as subject_parts

_THINK_RE = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)```", re.DOTALL)
_TOP_KEYS = {"commits", "gitignore"}
_COMMIT_KEYS = {"subject", "files", "body", "issues"}
_ISSUE_KEYS = {"message", "path"}


class SchemaError(ValueError):
    """The JSON was found but does not fit the proposal schema."""


@dataclass(frozen=True)
class Issue:
    message: str
    path: str = ""

    def to_dict(self) -> dict:
        return {"message": self.message, "path": self.path}


@dataclass
class Commit:
    type: str
    scope: str
    description: str
    files: list[str]
    body: str = ""
    issues: list[Issue] = field(default_factory=list)
    breaking: bool = False
    bang_before_scope: bool = False  # the subject was written "type!(scope): ..."

    @property
    def subject(self) -> str:
        scope = f"({self.scope})" if self.scope else ""
        bang = "!" if self.breaking else ""
        if self.bang_before_scope and self.breaking:
            return f"{self.type}{bang}{scope}: {self.description}"
        return f"{self.type}{scope}{bang}: {self.description}"

    def to_dict(self) -> dict:
        return {
            "subject": self.subject,
            "files": list(self.files),
            "body": self.body,
            "issues": [i.to_dict() for i in self.issues],
        }


@dataclass
class Proposal:
    commits: list[Commit]
    gitignore: list[str] = field(default_factory=list)

    def to_label_dict(self) -> dict:
        """The DESIGN.md label shape (no model/usage: those belong to the label)."""
        return {"commits": [c.to_dict() for c in self.commits], "gitignore": list(self.gitignore)}

    def to_json(self) -> str:
        """Compact JSON, the assistant content of an SFT example."""
        return json.dumps(self.to_label_dict(), ensure_ascii=False, separators=(",", ":"))

    @property
    def files(self) -> list[str]:
        return [f for c in self.commits for f in c.files]

    @classmethod
    def from_dict(cls, data: object) -> Proposal:
        """Validate a decoded JSON value; raises SchemaError naming the bad item."""
        return _proposal_from_obj(data)


@dataclass
class ParseResult:
    raw: str
    proposal: Proposal | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.proposal is not None


def parse_subject(subject: str) -> tuple[str, str, str, bool]:
    """Type, scope, description and breaking flag of a subject; raises SchemaError if it is not one."""
    parts = subject_parts(subject.strip())
    if parts is None:
        raise SchemaError(f"subject {subject!r} is not of the form 'type(scope): description'")
    return parts["type"], (parts["scope"] or "").strip(), parts["desc"].strip(), bool(parts["bang"])


def parse_proposal(text: str | None) -> ParseResult:
    """Find the proposal JSON in a model answer and validate it."""
    raw = text or ""
    candidates, syntax_error = json_candidates(raw)
    if not candidates:
        if syntax_error:
            return ParseResult(raw, error=syntax_error)
        return ParseResult(raw, error="no JSON object found in the answer")
    schema_error = ""
    # The final answer usually comes last (after drafts in reasoning): try from the end.
    for obj in reversed(candidates):
        try:
            return ParseResult(raw, proposal=_proposal_from_obj(obj))
        except SchemaError as exc:
            schema_error = schema_error or str(exc)
    return ParseResult(raw, error=schema_error)


def _strip_think(text: str) -> str:
    text = _THINK_RE.sub("", text)
    # An unclosed <think> ends with the text; a dangling </think> closes reasoning
    # whose opening tag the server swallowed.
    closing = text.lower().rfind("</think>")
    if closing != -1:
        text = text[closing + len("</think>"):]
    return text


def json_candidates(text: str) -> tuple[list[object], str]:
    """Decoded JSON objects that look like proposals, in text order, plus the
    first syntax error (for the message when nothing decodes)."""
    stripped = _strip_think(text)
    sources = [m.group(1) for m in _FENCE_RE.finditer(stripped)] + [stripped]
    if stripped != text:
        sources.append(text)  # the proposal may sit inside the reasoning only
    decoder = json.JSONDecoder()
    found: list[object] = []
    first_error = ""
    for src in sources:
        pos = src.find("{")
        while pos != -1:
            try:
                obj, end = decoder.raw_decode(src, pos)
            except json.JSONDecodeError as exc:
                if not first_error and '"commits"' in src[pos:pos + 200]:
                    first_error = _describe_syntax_error(src, pos, exc)
                pos = src.find("{", pos + 1)
                continue
            if isinstance(obj, dict) and "commits" in obj:
                found.append(obj)
                pos = src.find("{", end)
            else:
                pos = src.find("{", pos + 1)
        if found:
            return found, ""
    return found, first_error


def _describe_syntax_error(src: str, start: int, exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(src.rstrip()) or exc.msg.startswith("Unterminated"):
        return "the JSON object ends before it is closed (truncated answer?)"
    return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg.removesuffix(' at')}"


def _require_str_list(value: object, where: str, *, allow_empty: bool) -> list[str]:
    if not isinstance(value, list):
        raise SchemaError(f"{where}: expected a list of strings, got {type(value).__name__}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise SchemaError(f"{where}[{i}]: expected a non-empty string, got {item!r}")
        out.append(item.strip())
    if not out and not allow_empty:
        raise SchemaError(f"{where}: must not be empty")
    return out


def _proposal_from_obj(obj: object) -> Proposal:
    if not isinstance(obj, dict):
        raise SchemaError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - _TOP_KEYS
    if unknown:
        raise SchemaError(f"unknown top-level key(s): {', '.join(sorted(unknown))}; only commits and gitignore")
    commits_raw = obj.get("commits")
    if not isinstance(commits_raw, list) or not commits_raw:
        raise SchemaError("commits: expected a non-empty list of commit objects")
    commits = [_commit_from_obj(c, f"commits[{i}]") for i, c in enumerate(commits_raw)]
    gitignore = _require_str_list(obj.get("gitignore", []), "gitignore", allow_empty=True)
    return Proposal(commits=commits, gitignore=gitignore)


def _commit_from_obj(obj: object, where: str) -> Commit:
    if not isinstance(obj, dict):
        raise SchemaError(f"{where}: expected an object, got {type(obj).__name__}")
    unknown = set(obj) - _COMMIT_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: subject, files, body, issues")
    subject = obj.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise SchemaError(f"{where}.subject: expected a non-empty string")
    try:
        ctype, scope, description, breaking = parse_subject(subject)
    except SchemaError as exc:
        raise SchemaError(f"{where}.{exc}") from None
    files = _require_str_list(obj.get("files"), f"{where}.files", allow_empty=False)
    body = obj.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise SchemaError(f"{where}.body: expected a string, got {type(body).__name__}")
    issues_raw = obj.get("issues", [])
    if issues_raw is None:
        issues_raw = []
    if not isinstance(issues_raw, list):
        raise SchemaError(f"{where}.issues: expected a list of {{message, path}} objects")
    issues = [_issue_from_obj(it, f"{where}.issues[{j}]") for j, it in enumerate(issues_raw)]
    return Commit(type=ctype, scope=scope, description=description, files=files,
                  body=body.strip("\n"), issues=issues, breaking=breaking,
                  bang_before_scope=breaking and subject.strip().startswith(f"{ctype}!"))


def _issue_from_obj(obj: object, where: str) -> Issue:
    if not isinstance(obj, dict):
        raise SchemaError(f"{where}: expected an object with message and path")
    unknown = set(obj) - _ISSUE_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: message, path")
    message = obj.get("message")
    if not isinstance(message, str) or not message.strip():
        raise SchemaError(f"{where}.message: expected a non-empty string")
    path = obj.get("path") or ""
    if not isinstance(path, str):
        raise SchemaError(f"{where}.path: expected a string or null")
    return Issue(message=message.strip(), path=path.strip())
