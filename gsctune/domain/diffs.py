"""The one parser of unified git diffs: per-file sections, their paths, status and counts.

Shared by the importer (paths in a diff), noise handling, the export, the baseline
labeler, the examples browser and the review page, so a diff is parsed one way
everywhere. Pure Python: the HTML it renders marks itself safe through ``__html__``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

# Files above either limit start collapsed in the browser.
COLLAPSE_LINES = 300
COLLAPSE_CHARS = 20_000


def unquote(path: str) -> str:
    """Undo git's C quoting of unusual paths ("a/caf\\303\\251")."""
    if len(path) < 2 or path[0] != '"' or path[-1] != '"':
        return path
    raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _side(path: str) -> str:
    path = unquote(path)
    return path[2:] if path[:2] in ("a/", "b/") else path


def header_value(header: str, key: str) -> str | None:
    """The rest of the first header line that starts with ``key`` (after the first line), or None."""
    at = header.find("\n" + key)
    if at < 0:
        return None
    start = at + 1 + len(key)
    end = header.find("\n", start)
    return header[start : len(header) if end < 0 else end]


def _paths(header: str) -> tuple[str, str]:
    """(old, new) paths of one file section, from its ``diff --git`` line or later header lines."""
    end = header.find("\n")
    rest = header[11 : len(header) if end < 0 else end]  # after "diff --git "
    half = (len(rest) - 5) // 2  # "a/P b/P": the common case, unambiguous even with spaces
    if rest[:2] == "a/" and rest[half + 2 : half + 5] == " b/" and rest[2 : half + 2] == rest[half + 5 :]:
        return rest[2 : half + 2], rest[2 : half + 2]
    old, new = header_value(header, "rename from "), header_value(header, "rename to ")
    if old is not None and new is not None:
        return unquote(old), unquote(new)
    minus, plus = header_value(header, "--- "), header_value(header, "+++ ")
    if minus is not None and plus is not None:
        old = new = None
        if minus != "/dev/null":
            old = _side(minus.rstrip("\t"))
        if plus != "/dev/null":
            new = _side(plus.rstrip("\t"))
        return old or new or "", new or old or ""
    split = rest.rfind(' "b/')
    if split < 0:
        split = rest.rfind(" b/")
    if split > 0:
        return _side(rest[:split]), _side(rest[split + 1 :])
    return rest, rest


class Section(NamedTuple):
    """Where one file's section lies in a diff, and what it says about the file."""

    start: int  # offset of its "diff --git" line
    end: int  # offset just after it
    first: int  # offset of the newline before its first "@@" line; -1 when it has none
    old_path: str
    path: str  # the new-side path (the old one for a deletion)
    status: str  # added | deleted | renamed | modified


def sections(diff: str) -> list[Section]:
    """Every file section of a unified git diff, in order (text before the first is not one).

    Plain substring searches instead of a multiline regex: several times faster on
    diffs of tens of kilobytes, and this is the importer's hot path.
    """
    starts = [0] if diff.startswith("diff --git ") else []
    at = diff.find("\ndiff --git ")
    while at >= 0:
        starts.append(at + 1)
        at = diff.find("\ndiff --git ", at + 1)
    starts.append(len(diff))
    out = []
    for start, end in zip(starts, starts[1:]):
        first = diff.find("\n@@", start, end)
        header = diff[start : end if first < 0 else first + 1]
        old, new = _paths(header)
        status = "modified"
        if "\nnew file mode " in header:
            status = "added"
        elif "\ndeleted file mode " in header:
            status, new = "deleted", old
        elif "\nrename from " in header:
            status = "renamed"
        out.append(Section(start, end, first, old, new, status))
    return out


@dataclass
class FileDiff:
    path: str
    old_path: str
    text: str
    additions: int
    deletions: int
    is_binary: bool
    status: str  # added | deleted | renamed | modified

    @property
    def n_lines(self) -> int:
        return self.text.count("\n") + 1

    @property
    def highlighted(self) -> str:
        # Safe to mark: Pygments HTML-escapes every character of the diff it formats.
        return Html(highlight_diff(self.text))

    @property
    def collapsed(self) -> bool:
        return self.n_lines > COLLAPSE_LINES or len(self.text) > COLLAPSE_CHARS


class Html(str):
    """Text that is already HTML: Django templates print it unescaped (``__html__``)."""

    def __html__(self) -> str:
        return self


def diff_paths(diff: str) -> list[str]:
    """The new-side path of every file in the diff, in order."""
    return [section.path for section in sections(diff)]


def split_diff(diff: str) -> list[FileDiff]:
    """Split a unified git diff into one section per file (text before the first header is dropped)."""
    files = []
    for section in sections(diff):
        text = diff[section.start : section.end]
        head, _, body = text.partition("\n@@")
        additions = deletions = 0
        if body:
            for line in ("@@" + body).splitlines():
                if line.startswith("+") and not line.startswith("+++"):
                    additions += 1
                elif line.startswith("-") and not line.startswith("---"):
                    deletions += 1
        files.append(
            FileDiff(
                path=section.path,
                old_path=section.old_path,
                text=text.rstrip("\n"),
                additions=additions,
                deletions=deletions,
                is_binary="\nBinary files " in head or "\nGIT binary patch" in head,
                status=section.status,
            )
        )
    return files


def remove_files(diff: str, paths: set[str]) -> tuple[str, str]:
    """Split a diff into (sections of other files, sections of ``paths``), text kept verbatim."""
    found = sections(diff)
    if not found:
        return diff, ""
    kept, removed = [diff[: found[0].start]], []
    for section in found:
        (removed if section.path in paths else kept).append(diff[section.start : section.end])
    return "".join(kept), "".join(removed)


_FORMATTER = HtmlFormatter(nowrap=True)
_LEXER = DiffLexer()


@lru_cache(maxsize=256)
def highlight_diff(text: str) -> str:
    """Pygments HTML for one file's diff; Pygments escapes every character of the input."""
    return highlight(text, _LEXER, _FORMATTER)
