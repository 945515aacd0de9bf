"""Hunks: an example's diff split and rendered the way git-smart-commit shows it to its model.

The tool (fiddlerwoaroof/git-smart-commit at the commit named in PROTOCOL.md) groups
hunks, not files. It unstages everything, diffs each changed file on its own, splits
that diff at every ``@@`` line (script ``git-smart-commit``: ``split_hunks``,
``GitAnalyzer.collect_hunks``) and lists every untracked file as one hunk without
content. A harvested diff (``git diff base head``) shows the same change as a
committed range: new files with their content and renames as renames, so
``tool_view`` re-renders those as the working tree the tool would see, and
``render_user_turn`` writes the first user message as ``build_hunk_context`` does.

Speed matters (every example of an export is split): the common case works on
substring offsets; only a file whose text would trip the tool's line-based parser
(a line inside a hunk starting ``--- ``/``+++ ``, or Python's extra line breaks
such as form feeds) takes the exact line-by-line path.
"""
from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from gsctune.domain.diffs import header_value, sections, unquote

HUNK_CHARS = 6_000  # the tool summarizes hunks whose patch is longer (DIFF_CHARS_PER_FILE)
TOTAL_CHARS = 120_000  # the tool stops adding diff sections past this (DIFF_TOTAL_CHARS)
UNTRACKED_COST, BINARY_COST = 50, 30  # what the tool counts toward TOTAL_CHARS for these

# Basenames the tool shows as a stat line instead of their diff (SKIP_SUMMARIZATION_PATTERNS).
LOCKFILE_PATTERNS = (
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "uv.lock",
    "Gemfile.lock", "composer.lock", "Pipfile.lock", "go.sum", "flake.lock",
    "*.min.js", "*.min.css", "*.bundle.js", "*.tfstate", "*.tfstate.backup",
)
# Line starts the tool's parser takes for file-header lines, wherever they occur.
_HEADER_STARTS = ("diff --git", "index ", "--- ", "+++ ")
# Characters str.splitlines() also breaks at: a fragment after one may start a "line".
_ODD_BREAKS_ASCII = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_ODD_BREAKS_OTHER = ("\x85", "\u2028", "\u2029")


@dataclass(slots=True)
class Hunk:
    """One hunk as the tool addresses it (``id`` = ``path::index``).

    ``header + body`` is this hunk's share of the file's diff text; ``patch`` is what
    the tool holds for it (the header lines carried in front of the ``@@`` section;
    empty for binary and untracked files). ``file`` is the harvested file the hunk
    came from: a rename's deletion hunk belongs to the renamed (new) path, which is
    what file-level labels name. ``kind``: text, meta (a diff without ``@@``),
    binary, untracked, new (a new file whose content is kept on purpose) or
    rename-source (a renamed file's deletion whose old content is unknown).
    ``patch``, ``added`` and ``deleted`` are worked out on first use (most callers
    need only ids): the quirk that makes ``patch`` differ from ``header + body`` needs
    the file's other hunks, which ``siblings`` holds.
    """

    id: str
    path: str
    index: int
    header: str
    body: str
    kind: str
    file: str
    tool_patch: str | None = None  # the tool's patch, once known
    counts: tuple[int, int] | None = None
    siblings: list[Hunk] | None = field(default=None, repr=False, compare=False)

    @property
    def patch(self) -> str:
        if self.tool_patch is None:
            _resolve_patches(self.siblings or [self])
        return self.tool_patch

    def _count(self) -> tuple[int, int]:
        if self.counts is None:
            self.counts = (0, 0) if self.kind in ("binary", "untracked", "rename-source") else _counts(self.patch)
        return self.counts

    @property
    def added(self) -> int:
        return self._count()[0]

    @property
    def deleted(self) -> int:
        return self._count()[1]


@dataclass(slots=True)
class FileDiff:
    """One file's section of a multi-file diff, split into the tool's hunks."""

    path: str  # new-side path (the old path of a deletion)
    old_path: str
    status: str  # modified | added | deleted | renamed
    header: str  # every line before the first @@ (the whole text when there is none)
    hunks: list[Hunk]

    @property
    def text(self) -> str:
        """The file's section of the diff (rebuilt: the header and the hunks' raw text)."""
        return self.header + "".join(h.body for h in self.hunks)

    @property
    def binary(self) -> bool:
        return bool(self.hunks) and self.hunks[0].kind == "binary"


def _counts(text: str) -> tuple[int, int]:
    """The tool's +A/-D: '\\n+' minus '\\n+++' (and likewise '-'), so '++x'/'--x' lines are not counted."""
    return text.count("\n+") - text.count("\n+++"), text.count("\n-") - text.count("\n---")


def _is_binary(text: str) -> bool:
    """The tool's test: a ``Binary files … differ`` or ``GIT binary patch`` line anywhere."""
    if "GIT binary patch" in text:
        for line in text.splitlines():
            if line.startswith("GIT binary patch"):
                return True
    if "Binary files " in text:
        for line in text.splitlines():
            if line.startswith("Binary files ") and line.endswith(" differ"):
                return True
    return False


def _odd_breaks(text: str) -> bool:
    """True if str.splitlines() would break this text somewhere other than at '\n'."""
    if any(ch in text for ch in _ODD_BREAKS_ASCII):
        return True
    return not text.isascii() and any(ch in text for ch in _ODD_BREAKS_OTHER)


def _line_parse(text: str) -> tuple[list[int], list[str]]:
    """The tool's line-by-line reading: offsets of the @@ lines and each hunk's patch.

    A header-like line inside a hunk ends that hunk; it and every line up to the next
    @@ join the header lines that later hunks carry in front.
    """
    header: list[str] = []
    current: list[str] = []
    patches: list[str] = []
    starts: list[int] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("@@"):
            if current:
                patches.append("".join(current))
            current = header + [line]
            starts.append(offset)
        elif line.startswith(_HEADER_STARTS):
            header.append(line)
            if current:
                patches.append("".join(current))
                current = []
        elif current:
            current.append(line)
        else:
            header.append(line)
        offset += len(line)
    if current:
        patches.append("".join(current))
    return starts, patches


def _split_lines(text: str, path: str, file: str) -> list[Hunk]:
    """Hunks cut where the tool's splitlines() would cut (text with odd line breaks)."""
    starts, patches = _line_parse(text)
    if not starts:
        return [_single(text, path, file)]
    head = text[: starts[0]]
    bounds = starts + [len(text)]
    return [Hunk(f"{path}::{i + 1}", path, i + 1, head, text[bounds[i] : bounds[i + 1]], "text", file, patch)
            for i, patch in enumerate(patches)]


def _resolve_patches(hunks: list[Hunk]) -> None:
    """Fill in the tool's patch of every hunk of one file (cut at '\\n' only: no odd breaks),
    and the +A/-D of text hunks whose patch is their header and body.

    A body without '\\n--' or '\\n++' (most) has no header-like line and no '---'/'+++' to
    subtract, so two presence checks and two counts replace the four counts over the whole
    patch; the header, the same for every hunk of the file, is counted once."""
    flagged = [("\n--" in h.body, "\n++" in h.body) for h in hunks]
    if any((m and "\n--- " in h.body) or (p and "\n+++ " in h.body) for h, (m, p) in zip(hunks, flagged)):
        _, patches = _line_parse(hunks[0].header + "".join(h.body for h in hunks))
        for hunk, patch in zip(hunks, patches, strict=True):
            hunk.tool_patch = patch
        return
    head: dict[int, tuple[int, int]] = {}  # id(header) -> its counts
    for hunk, (minus, plus) in zip(hunks, flagged):
        hunk.tool_patch = hunk.header + hunk.body
        if hunk.kind != "text" or hunk.counts is not None:
            continue
        added, deleted = head.get(id(hunk.header)) or head.setdefault(id(hunk.header), _counts(hunk.header))
        body = hunk.body  # starts with "@@": no '\\n+' or '\\n-' spans the header's end
        added += body.count("\n+") - (body.count("\n+++") if plus else 0)
        deleted += body.count("\n-") - (body.count("\n---") if minus else 0)
        hunk.counts = (added, deleted)


def _single(text: str, path: str, file: str) -> Hunk:
    if _is_binary(text):
        return Hunk(f"{path}::1", path, 1, text, "", "binary", file, "")
    return Hunk(f"{path}::1", path, 1, text, "", "meta", file)


def split_file(text: str, path: str, file: str | None = None) -> list[Hunk]:
    """Split one file's diff (as ``git diff -- PATH`` prints it) into the tool's hunks."""
    first = text.find("\n@@")
    header = text if first < 0 else text[: first + 1]
    return _split_range(text, 0, len(text), first, header, path, path if file is None else file, None)


def _split_range(diff: str, start: int, end: int, first: int, header: str, path: str, file: str,
                 plain: bool | None) -> list[Hunk]:
    """``split_file`` on ``diff[start:end]`` without copying it (``first``: its first "\\n@@").

    ``plain`` is True when the caller knows the range has no line break other than
    '\\n' (where the tool's splitlines() would cut too), None when it must be checked.
    """
    if first < 0 or (("Binary files " in header or "GIT binary patch" in header) and _is_binary(header)):
        return [_single(diff[start:end], path, file)]
    if not plain and _odd_breaks(diff[start:end]):
        return _split_lines(diff[start:end], path, file)
    first += 1
    hunks = []
    index = 1
    while True:
        nxt = diff.find("\n@@", first, end)
        if nxt < 0:
            hunks.append(Hunk(f"{path}::{index}", path, index, header, diff[first:end], "text", file, None, None, hunks))
            return hunks
        hunks.append(Hunk(f"{path}::{index}", path, index, header, diff[first : nxt + 1], "text", file, None, None,
                          hunks))
        first = nxt + 1
        index += 1


def split_diff(diff: str) -> list[FileDiff]:
    """Split a multi-file unified diff into files (``diffs.sections``, the one parser) and hunks."""
    plain = not _odd_breaks(diff) or None
    found = sections(diff)
    files = []
    for i, section in enumerate(found):
        start, end, first, new = section.start, section.end, section.first, section.path
        header = diff[start : end if first < 0 else first + 1]
        if section.status == "added" and files and files[-1].status == "deleted" and files[-1].path == new:
            # A type change (symlink <-> file) is two sections for one path; the tool's
            # `git diff -- PATH` prints both, so they are one file whose hunks number on.
            text = diff[found[i - 1].start : end]
            hunks = _split_lines(text, new, new)
            files[-1] = FileDiff(new, new, "modified", hunks[0].header if hunks[0].kind == "text" else text, hunks)
            continue
        hunks = _split_range(diff, start, end, first, header, new, new, plain)
        if hunks[0].kind == "text":
            header = hunks[0].header  # the line parser may cut it elsewhere
        files.append(FileDiff(new, section.old_path, section.status, header, hunks))
    return files


_LOCKFILE_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in LOCKFILE_PATTERNS))


def is_lockfile(path: str) -> bool:
    """Machine-written files the tool shows as a stat line (matched on the basename, one compiled pattern)."""
    return _LOCKFILE_RE.match(path.rsplit("/", 1)[-1]) is not None


# ── the working tree the tool would see ──────────────────────────────────────────

def _abbrev(files: Iterable[FileDiff]) -> int:
    """Length git abbreviates blob ids to in this diff (7 when no index line shows it)."""
    for f in files:
        value = header_value(f.header, "index ")
        if value:
            return len(value.split("..", 1)[0])
    return 7


def deletion_diff(path: str, content: bytes | str, mode: str = "100644", abbrev: int = 7) -> str:
    """``git diff`` of a tracked file deleted from the working tree (a rename's old side, once unstaged)."""
    data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()[:abbrev]
    head = f"diff --git a/{path} b/{path}\ndeleted file mode {mode}\nindex {blob}..{'0' * abbrev}\n"
    if not data:
        return head
    if b"\0" in data[:8000]:  # git's binary heuristic
        return head + f"Binary files a/{path} and /dev/null differ\n"
    lines = data.decode("utf-8", "replace").split("\n")
    last_newline = lines[-1] == ""
    if last_newline:
        lines.pop()
    count = "" if len(lines) == 1 else f",{len(lines)}"
    body = "".join(f"-{line}\n" for line in lines)
    if not last_newline:
        body += "\\ No newline at end of file\n"
    return head + f"--- a/{path}\n+++ /dev/null\n@@ -1{count} +0,0 @@\n" + body


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_STILL_QUOTED = re.compile(r'[\x00-\x1f"\\\x7f]')  # what git quotes even with core.quotePath=false


def _unquote_token(match: re.Match) -> str:
    path = unquote(match.group(0))
    return match.group(0) if _STILL_QUOTED.search(path) else path


_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
              '"': '\\"', "\\": "\\\\"}


def tool_path(path: str) -> str:
    """A path as the tool's git lists it (``--name-only``, ``ls-files``; core.quotePath=false):
    C-quoted only when it has a double quote, a backslash or a control character."""
    if not _STILL_QUOTED.search(path):
        return path
    return '"' + "".join(_C_ESCAPES.get(ch) or (f"\\{ord(ch):03o}" if _STILL_QUOTED.match(ch) else ch)
                         for ch in path) + '"'


def _universal_newlines(text: str) -> str:
    """What the tool reads: it takes git's output in Python text mode, where '\r\n' and a
    lone '\r' both become '\n' (a CRLF file's patch reaches the model without its '\r')."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _as_tool_prints(f: FileDiff) -> FileDiff:
    """The section as the tool reads it: paths quoted only for non-ASCII are not quoted
    (the tool runs git with core.quotePath=false; harvests keep git's default), and line
    ends go through Python's universal newlines."""
    crlf = not f.binary and ("\r" in f.header or any("\r" in h.body for h in f.hunks))
    if '"' not in f.header and not crlf:
        return f
    header = _QUOTED.sub(_unquote_token, f.header)
    if header == f.header and not crlf:
        return f
    text = header + f.text[len(f.header):]
    hunks = split_file(_universal_newlines(text) if crlf else text, f.path)
    return FileDiff(f.path, f.old_path, f.status, hunks[0].header if hunks[0].kind == "text" else text, hunks)


def _untracked(f: FileDiff, keep_content: bool) -> Hunk:
    """One untracked file's hunk; its id and path as the tool's ``git ls-files`` prints them."""
    path = tool_path(f.path)
    if keep_content:
        return Hunk(f"{path}::1", path, 1, f.header, f.text[len(f.header):], "new", f.path)
    return Hunk(f"{path}::1", path, 1, "", "", "untracked", f.path, "")


def _rename_source(f: FileDiff, old_content: Callable[[str], bytes | str | None] | None, abbrev: int) -> list[Hunk]:
    mode = header_value(f.header, "old mode ")
    index = header_value(f.header, "index ")
    if mode is None:
        mode = index.split(" ")[1] if index and " " in index else "100644"
    content = old_content(f.old_path) if old_content else None
    if content is not None:
        return split_file(_universal_newlines(deletion_diff(f.old_path, content, mode, abbrev)), f.old_path, f.path)
    blob = index.split("..", 1)[0] if index else "?" * abbrev
    header = (f"diff --git a/{f.old_path} b/{f.old_path}\ndeleted file mode {mode}\n"
              f"index {blob}..{'0' * len(blob)}\n--- a/{f.old_path}\n+++ /dev/null\n")
    return [Hunk(f"{f.old_path}::1", f.old_path, 1, header, "", "rename-source", f.path)]


def tool_view(
    files: Sequence[FileDiff],
    *,
    keep_new_content: bool = False,
    old_content: Callable[[str], bytes | str | None] | None = None,
    is_ignored: Callable[[str], bool] | None = None,
) -> list[Hunk]:
    """The hunk list the tool builds for the working tree equivalent to a harvested diff.

    Tracked files first (sorted by path, as ``git diff --name-only`` lists them), then
    untracked ones (sorted, as ``git ls-files --others`` lists them). New files become
    untracked (no content unless ``keep_new_content``); a rename becomes the deletion of
    its old path plus an untracked new path. The deletion's content is not in a
    harvested diff: ``old_content(old_path)`` supplies it (e.g. ``git show base:PATH``),
    else a ``rename-source`` hunk stands in. ``is_ignored(path)`` drops untracked files
    the repository's .gitignore matches, as ``--exclude-standard`` does.
    """
    tracked: list[tuple[str, list[Hunk]]] = []
    untracked: list[Hunk] = []
    abbrev = 0
    for section in files:
        f = _as_tool_prints(section)
        if f.status in ("added", "renamed"):
            if f.status == "renamed" and tool_path(f.old_path) == f.old_path:
                abbrev = abbrev or _abbrev(files)
                tracked.append((f.old_path, _rename_source(f, old_content, abbrev)))
            if not (is_ignored and is_ignored(f.path)):
                untracked.append(_untracked(f, keep_new_content))
        elif tool_path(f.path) == f.path:
            tracked.append((f.path, f.hunks))
        # else: git lists the path quoted and the tool's `git diff -- "<quoted>"` matches
        # nothing, so the tool never shows this tracked file.
    tracked.sort(key=lambda item: item[0])
    untracked.sort(key=lambda hunk: hunk.file)  # ls-files order: the raw path, not its quoted form
    return [h for _, hunks in tracked for h in hunks] + untracked


# ── the first user message ───────────────────────────────────────────────────────

@dataclass(frozen=True)
class RenderTexts:
    """The words of the first user message. Headings and markers PROTOCOL.md spells out
    are the tool's formats; the others are gsctune's own wording (a captured protocol
    version may replace them)."""

    hunks_heading: str = "Available hunks:"
    diff_heading: str = "Diff content:"
    untracked_tag: str = "(new untracked file)"
    binary_tag: str = "[binary file]"
    untracked_body: str = "(new untracked file — no diff)"
    binary_body: str = "[binary file]"
    # gsctune's words from here on.
    lockfile_body: str = "[generated or lock file, diff not shown] +{added}/-{deleted} lines"
    truncated_body: str = "{head}\n[hunk truncated by gsctune at {limit:,} of {size:,} characters]"
    unknown_old_body: str = "[deleted by a rename; the old content is not in the harvested diff]"
    omitted: str = "\n... (remaining hunks omitted, over {limit:,} characters)"


TEXTS = RenderTexts()


def hunk_line(hunk: Hunk, texts: RenderTexts = TEXTS) -> str:
    """One ``Available hunks:`` line."""
    if hunk.kind in ("untracked", "new"):
        return f"  {hunk.id}  {texts.untracked_tag}"
    if hunk.kind == "binary":
        return f"  {hunk.id}  {texts.binary_tag}"
    return f"  {hunk.id}  (+{hunk.added}/-{hunk.deleted})"


def _section(hunk: Hunk, texts: RenderTexts) -> tuple[str, int]:
    """A hunk's ``Diff content:`` text and what it counts toward the total cap."""
    if hunk.kind == "untracked":
        return texts.untracked_body, UNTRACKED_COST
    if hunk.kind == "binary":
        return texts.binary_body, BINARY_COST
    if hunk.kind == "rename-source":
        text = hunk.header + texts.unknown_old_body
        return text, len(text)
    if is_lockfile(hunk.path):
        text = texts.lockfile_body.format(added=hunk.added, deleted=hunk.deleted)
        return text, len(text)
    patch = hunk.patch
    if len(patch) <= HUNK_CHARS:
        return patch, len(patch)
    # The tool has an LLM summarize it: not reproducible, so truncated with a visible marker.
    text = texts.truncated_body.format(head=patch[:HUNK_CHARS], limit=HUNK_CHARS, size=len(patch))
    return text, len(text)


def render_user_turn(hunks: Sequence[Hunk], texts: RenderTexts = TEXTS, extras: str = "") -> str:
    """The first user message: the hunk list, a blank line, then ``Diff content:`` sections.

    ``extras`` (a critique, project issue patterns) is appended after the diff content,
    where the tool appends them.
    """
    listing = texts.hunks_heading + "\n" + "\n".join(hunk_line(h, texts) for h in hunks)
    parts = []
    total = 0
    for hunk in hunks:
        text, cost = _section(hunk, texts)
        parts.append(f"--- {hunk.id} ---\n{text}")
        total += cost
        if total >= TOTAL_CHARS:
            parts.append(texts.omitted.format(limit=TOTAL_CHARS))
            break
    return listing + "\n\n" + texts.diff_heading + "\n" + "\n\n".join(parts) + extras


def example_hunks(diff: str, **options) -> list[Hunk]:
    """An example's hunks as the tool would list them (``tool_view`` options pass through)."""
    return tool_view(split_diff(diff), **options)


# ── labels between files and hunks ───────────────────────────────────────────────

class LabelConversionError(ValueError):
    """A label names files or hunks the example does not have."""


def files_for_hunks(hunk_ids: Iterable[str], hunks: Sequence[Hunk]) -> list[str]:
    """The harvested files the hunks belong to, in order of first mention."""
    file_of = {h.id: h.file for h in hunks}
    unknown = [hid for hid in hunk_ids if hid not in file_of]
    if unknown:
        raise LabelConversionError(f"unknown hunk ids: {', '.join(unknown)}")
    return list(dict.fromkeys(file_of[hid] for hid in hunk_ids))


def hunk_label(label: dict, hunks: Sequence[Hunk]) -> dict:
    """A file-level label (``commits[].files``) at hunk level: every hunk of a file goes
    into that file's commit, hunks of files no commit names become ``skipped_hunks``."""
    by_file: dict[str, list[str]] = {}
    for h in hunks:
        by_file.setdefault(h.file, []).append(h.id)
    unknown = [f for c in label.get("commits", []) for f in c.get("files", []) if f not in by_file]
    if unknown:
        raise LabelConversionError(f"files not in the example's diff: {', '.join(unknown)}")
    used: set[str] = set()
    commits = []
    for commit in label.get("commits", []):
        ids = [hid for f in commit.get("files", []) for hid in by_file[f] if hid not in used]
        used.update(ids)
        commits.append({**commit, "hunks": ids})
    return {
        **{k: v for k, v in label.items() if k != "commits"},
        "commits": commits,
        "gitignore": list(label.get("gitignore", [])),
        "skipped_hunks": [h.id for h in hunks if h.id not in used],
    }
