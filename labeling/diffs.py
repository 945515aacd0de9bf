"""Splitting unified git diffs into per-file sections, and rendering them.

Shared by the importer (paths in a diff), noise handling, the examples browser and
the review page, so a diff is parsed one way everywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

_HEADER = re.compile(r"^diff --git (?P<a>\"?a/.*?\"?) (?P<b>\"?b/.*?\"?)$", re.M)

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
        return mark_safe(highlight_diff(self.text))

    @property
    def collapsed(self) -> bool:
        return self.n_lines > COLLAPSE_LINES or len(self.text) > COLLAPSE_CHARS


def diff_paths(diff: str) -> list[str]:
    """The new-side (b/) path of every file in the diff, in order."""
    return [_strip_prefix(m.group("b")) for m in _HEADER.finditer(diff)]


def split_diff(diff: str) -> list[FileDiff]:
    """Split a unified git diff into one section per file (text before the first header is dropped)."""
    headers = list(_HEADER.finditer(diff))
    files = []
    for index, match in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(diff)
        text = diff[match.start() : end]
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
                path=_strip_prefix(match.group("b")),
                old_path=_strip_prefix(match.group("a")),
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
    headers = list(_HEADER.finditer(diff))
    if not headers:
        return diff, ""
    kept, removed = [diff[: headers[0].start()]], []
    for index, match in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(diff)
        (removed if _strip_prefix(match.group("b")) in paths else kept).append(diff[match.start() : end])
    return "".join(kept), "".join(removed)


_FORMATTER = HtmlFormatter(nowrap=True)
_LEXER = DiffLexer()


@lru_cache(maxsize=256)
def highlight_diff(text: str) -> str:
    """Pygments HTML for one file's diff; Pygments escapes every character of the input."""
    return highlight(text, _LEXER, _FORMATTER)
