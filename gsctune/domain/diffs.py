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


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths ("a/caf\\303\\251")."""
    if path.startswith('"') and path.endswith('"'):
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        try:
            return raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return raw
    return path


def _strip_prefix(path: str) -> str:
    if path[0] == '"':
        path = _unquote(path)
    return path[2:] if path[:2] in ("a/", "b/") else path


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


class _Header(NamedTuple):
    start: int  # offset of the "diff --git" line in the diff
    old_path: str
    path: str


def _headers(diff: str) -> list[_Header]:
    """The `diff --git a/OLD b/NEW` header of every file section, in order.

    Plain substring searches instead of a multiline regex: several times faster on
    diffs of tens of kilobytes, and this is the importer's hot path.
    """
    starts = [0] if diff.startswith("diff --git ") else []
    position = diff.find("\ndiff --git ")
    while position >= 0:
        starts.append(position + 1)
        position = diff.find("\ndiff --git ", position + 1)
    headers = []
    for start in starts:
        end = diff.find("\n", start)
        line = diff[start + 11 : len(diff) if end < 0 else end]
        split = line.rfind(' "b/')
        if split < 0:
            split = line.rfind(" b/")
        if split > 0 and line[0] in '"a':
            headers.append(_Header(start, _strip_prefix(line[:split]), _strip_prefix(line[split + 1 :])))
    return headers


def diff_paths(diff: str) -> list[str]:
    """The new-side (b/) path of every file in the diff, in order."""
    return [header.path for header in _headers(diff)]


def split_diff(diff: str) -> list[FileDiff]:
    """Split a unified git diff into one section per file (text before the first header is dropped)."""
    headers = _headers(diff)
    files = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start if index + 1 < len(headers) else len(diff)
        text = diff[header.start : end]
        head, _, body = text.partition("\n@@")
        status = "modified"
        if "\nnew file mode" in head:
            status = "added"
        elif "\ndeleted file mode" in head:
            status = "deleted"
        elif "\nrename from " in head:
            status = "renamed"
        additions = deletions = 0
        if body:
            for line in ("@@" + body).splitlines():
                if line.startswith("+") and not line.startswith("+++"):
                    additions += 1
                elif line.startswith("-") and not line.startswith("---"):
                    deletions += 1
        files.append(
            FileDiff(
                path=header.path,
                old_path=header.old_path,
                text=text.rstrip("\n"),
                additions=additions,
                deletions=deletions,
                is_binary="\nBinary files " in head or "\nGIT binary patch" in head,
                status=status,
            )
        )
    return files


def remove_files(diff: str, paths: set[str]) -> tuple[str, str]:
    """Split a diff into (sections of other files, sections of ``paths``), text kept verbatim."""
    headers = _headers(diff)
    if not headers:
        return diff, ""
    kept, removed = [diff[: headers[0].start]], []
    for index, header in enumerate(headers):
        end = headers[index + 1].start if index + 1 < len(headers) else len(diff)
        (removed if header.path in paths else kept).append(diff[header.start : end])
    return "".join(kept), "".join(removed)


_FORMATTER = HtmlFormatter(nowrap=True)
_LEXER = DiffLexer()


@lru_cache(maxsize=256)
def highlight_diff(text: str) -> str:
    """Pygments HTML for one file's diff; Pygments escapes every character of the input."""
    return highlight(text, _LEXER, _FORMATTER)
