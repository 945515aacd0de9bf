"""Automatic checks on a label, run before a human looks at it.

Pure Python over plain data so the labeling pipeline, the review queue and the
evaluation metrics (``unknown_identifiers``) all share one definition. Each
check is a small named function returning findings; ``run_checks`` runs all.

The label is the plain dict ``{"commits": [{"subject", "files", "body",
"issues"}], "gitignore": [...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from gsctune.domain.commits import TYPE_WORDS, CommitRules, body_text, parse_subject
from gsctune.domain.gitignore import is_ignored

# File extensions that make a dotted token a file name rather than an attribute path.
FILE_EXTENSIONS = frozenset(
    "py pyi js mjs cjs ts tsx jsx go rs rb ex exs c h cc cpp hpp sh bash zsh fish vim ps1 zig swift "
    "md rst txt toml yml yaml json lock cfg ini html htm css scss xml svg png jpg gif mod sum in "
    "log tmp bak swp pyc o so dll exe env".split()
)

# CamelCase words that are product names, not identifiers from the code.
DEFAULT_IGNORED_WORDS = frozenset(
    w.lower()
    for w in (
        "GitHub GitLab JavaScript TypeScript PostgreSQL MySQL SQLite macOS iOS OAuth PyPI NumPy "
        "OpenAI YouTube WebSocket WebSockets PowerShell LaTeX e.g i.e etc.".split()
    )
)


@dataclass(frozen=True)
class Finding:
    """One problem a check found; ``commit`` is a 0-based index into the label's commits."""

    check: str
    message: str
    commit: int | None = None
    path: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CheckConfig(CommitRules):
    """The commit rules plus how closely a word must match the diff to count as known."""

    fuzzy_cutoff: float = 90.0
    ignored_words: frozenset[str] = DEFAULT_IGNORED_WORDS


@dataclass
class CheckInput:
    """Everything a check may look at."""

    label: dict
    changed_files: list[str]
    diff: str = ""
    injected_files: list[str] = field(default_factory=list)
    existing_gitignore: list[str] = field(default_factory=list)
    config: CheckConfig = field(default_factory=CheckConfig)

    @property
    def commits(self) -> list[dict]:
        return [c for c in (self.label.get("commits") or []) if isinstance(c, dict)]

    @property
    def gitignore(self) -> list[str]:
        return [p for p in (self.label.get("gitignore") or []) if isinstance(p, str)]


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[CheckInput], Iterable[Finding]]


CHECKS: list[Check] = []


def check(name: str, title: str):
    """Register a check under a stable name (stored in findings and used as a filter)."""

    def register(fn):
        CHECKS.append(Check(name, title, fn))
        return fn

    return register


# --------------------------------------------------------------------------- identifiers

_WORD = re.compile(r"[A-Za-z0-9_]+")
_DIFF_TOKEN = re.compile(r"[\w./-]+")
# Candidate tokens in prose: words optionally joined by dots or slashes (paths, attribute chains).
_TEXT_TOKEN = re.compile(r"(?<![\w./-])[A-Za-z_][\w-]*(?:[./][A-Za-z0-9_][\w-]*)*")
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2,}[a-z]")


@dataclass(frozen=True)
class _DiffIndex:
    words: frozenset[str]  # lower-cased
    word_list: tuple[str, ...]
    chains: frozenset[str]  # lower-cased dotted names and paths, plus every path basename
    chain_list: tuple[str, ...]


@lru_cache(maxsize=256)
def _diff_index(diff: str) -> _DiffIndex:
    """Tokenize a diff once; cached because evaluation asks about the same diff many times."""
    low = diff.lower()
    words = set(_WORD.findall(low))
    chains: set[str] = set()
    for token in set(_DIFF_TOKEN.findall(low)):
        if "." not in token and "/" not in token:
            continue
        token = token.strip("./-")
        if not token:
            continue
        chains.add(token)
        if "/" in token:
            segs = token.split("/")
            for k in range(1, len(segs)):
                chains.add("/".join(segs[k:]))
    return _DiffIndex(frozenset(words), tuple(sorted(words)), frozenset(chains), tuple(sorted(chains)))


def _is_identifier(token: str) -> bool:
    if "." in token or "/" in token:
        return True
    if "_" in token.strip("_") and any(c.isalpha() for c in token):
        return True  # snake_case, SCREAMING_CASE
    return bool(_CAMEL.search(token))


def _is_file_name(token: str) -> bool:
    return "/" in token or token.rsplit(".", 1)[-1].lower() in FILE_EXTENSIONS


def _near(token: str, choices: tuple[str, ...], cutoff: float) -> bool:
    return process.extractOne(token, choices, scorer=fuzz.ratio, score_cutoff=cutoff) is not None


def unknown_identifiers(
    text: str, diff: str, cutoff: float = 90.0, ignored: frozenset[str] = DEFAULT_IGNORED_WORDS
) -> list[str]:
    """Identifiers in ``text`` that occur nowhere in ``diff`` (hallucination signal).

    Identifiers are CamelCase, snake_case, dotted names and file names; plain
    words are not checked. A near-spelling in the diff (rapidfuzz ratio >=
    ``cutoff``, case-insensitive) counts as present. A dotted name also counts
    as present when each of its parts does (``Client.send`` from ``class
    Client`` and ``def send``); a file name must occur as a path or basename.
    Returns unique identifiers in order of appearance.
    """
    if not text:
        return []
    idx = _diff_index(diff or "")
    unknown: list[str] = []
    seen: set[str] = set()
    for token in _TEXT_TOKEN.findall(text):
        token = token.strip("-")
        low = token.lower()
        if low in seen or low in ignored or not _is_identifier(token):
            continue
        seen.add(low)
        if "." in low or "/" in low:
            if low in idx.chains or _near(low, idx.chain_list, cutoff):
                continue
            if not _is_file_name(token):
                parts = [p for p in re.split(r"[./]", low) if p]
                if all(p in idx.words or _near(p, idx.word_list, cutoff) for p in parts):
                    continue
        elif low in idx.words or _near(low, idx.word_list, cutoff):
            continue
        unknown.append(token)
    return unknown


# --------------------------------------------------------------------------- helpers

def _files(commit: dict) -> list[str]:
    return [f for f in (commit.get("files") or []) if isinstance(f, str)]


# --------------------------------------------------------------------------- checks


@check("unknown_file", "File not in the change")
def check_unknown_file(inp: CheckInput) -> Iterator[Finding]:
    present = set(inp.changed_files) | set(inp.injected_files)
    for i, c in enumerate(inp.commits):
        for path in _files(c):
            if path not in present:
                yield Finding("unknown_file", f"{path} is not a changed file", i, path)


@check("dropped_file", "Changed file in no commit and not ignored")
def check_dropped_file(inp: CheckInput) -> Iterator[Finding]:
    committed = {p for c in inp.commits for p in _files(c)}
    patterns = list(inp.existing_gitignore) + inp.gitignore
    for path in list(inp.changed_files) + [p for p in inp.injected_files if p not in inp.changed_files]:
        if path not in committed and not is_ignored(path, patterns):
            yield Finding("dropped_file", f"{path} is in no commit and not covered by .gitignore", None, path)


@check("duplicate_file", "File in two commits")
def check_duplicate_file(inp: CheckInput) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for i, c in enumerate(inp.commits):
        for path in dict.fromkeys(_files(c)):
            if path in first:
                yield Finding("duplicate_file", f"{path} is already in commit {first[path] + 1}", i, path)
            else:
                first[path] = i


@check("junk_committed", "Injected junk inside a commit")
def check_junk_committed(inp: CheckInput) -> Iterator[Finding]:
    junk = set(inp.injected_files)
    for i, c in enumerate(inp.commits):
        for path in _files(c):
            if path in junk:
                yield Finding("junk_committed", f"{path} is junk and belongs in .gitignore", i, path)


@check("subject_format", "Subject not type(scope): description")
def check_subject_format(inp: CheckInput) -> Iterator[Finding]:
    cfg = inp.config
    for i, c in enumerate(inp.commits):
        subject = str(c.get("subject") or "")
        parts = parse_subject(subject)
        if parts is None:
            yield Finding("subject_format", "subject is not in type(scope): description form", i)
        elif parts["type"] not in cfg.types:
            yield Finding("subject_format", f"unknown commit type {parts['type']!r}", i)
        elif cfg.require_scope and not parts["scope"]:
            yield Finding("subject_format", "subject has no scope", i)


@check("subject_length", "Subject too long")
def check_subject_length(inp: CheckInput) -> Iterator[Finding]:
    limit = inp.config.max_subject
    for i, c in enumerate(inp.commits):
        n = len(str(c.get("subject") or ""))
        if n > limit:
            yield Finding("subject_length", f"subject has {n} characters (max {limit})", i)


@check("type_repeated", "Type repeated in description")
def check_type_repeated(inp: CheckInput) -> Iterator[Finding]:
    for i, c in enumerate(inp.commits):
        parts = parse_subject(str(c.get("subject") or ""))
        if not parts:
            continue
        words = {w.lower() for w in _WORD.findall(parts["desc"])}
        repeated = words & TYPE_WORDS.get(parts["type"], {parts["type"]})
        if repeated:
            yield Finding("type_repeated", f"description repeats the type ({', '.join(sorted(repeated))})", i)


@check("body_line_length", "Body line too long")
def check_body_line_length(inp: CheckInput) -> Iterator[Finding]:
    limit = inp.config.max_body_line
    for i, c in enumerate(inp.commits):
        for n, line in enumerate(body_text(c).splitlines(), 1):
            if len(line) > limit:
                yield Finding("body_line_length", f"body line {n} has {len(line)} characters (max {limit})", i)


@check("body_lines", "Body length out of range")
def check_body_lines(inp: CheckInput) -> Iterator[Finding]:
    lo, hi = inp.config.body_min_lines, inp.config.body_max_lines
    for i, c in enumerate(inp.commits):
        n = sum(1 for line in body_text(c).splitlines() if line.strip())
        if not lo <= n <= hi:
            yield Finding("body_lines", f"body has {n} lines (expected {lo}-{hi})", i)


@check("unknown_identifier", "Identifier not in the diff")
def check_unknown_identifier(inp: CheckInput) -> Iterator[Finding]:
    cfg = inp.config
    for i, c in enumerate(inp.commits):
        text = str(c.get("subject") or "") + "\n" + body_text(c)
        names = unknown_identifiers(text, inp.diff, cfg.fuzzy_cutoff, cfg.ignored_words)
        if names:
            yield Finding("unknown_identifier", "not in the diff: " + ", ".join(names), i)


@check("empty_commit", "Commit without files")
def check_empty_commit(inp: CheckInput) -> Iterator[Finding]:
    for i, c in enumerate(inp.commits):
        if not _files(c):
            yield Finding("empty_commit", "commit has no files", i)


CHECK_TITLES = {c.name: c.title for c in CHECKS}


def run_checks(
    label: dict,
    changed_files: list[str],
    diff: str = "",
    injected_files: list[str] | None = None,
    existing_gitignore: list[str] | None = None,
    config: CheckConfig | None = None,
) -> list[Finding]:
    """Run every check on one label and return all findings in check order."""
    inp = CheckInput(
        label=label or {},
        changed_files=list(changed_files or []),
        diff=diff or "",
        injected_files=list(injected_files or []),
        existing_gitignore=list(existing_gitignore or []),
        config=config or CheckConfig(),
    )
    return [finding for c in CHECKS for finding in c.run(inp)]
