"""Whether git would ignore a path under some .gitignore lines, on pathspec's GitIgnoreSpec.

The one matcher for noise injection, the label checks and the evaluation metrics: last
match wins, ``!`` re-includes, a trailing ``/`` matches folders only, a slash anchors the
pattern, ``**`` spans folders and a matched folder ignores everything below it.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pathspec import GitIgnoreSpec


@lru_cache(maxsize=4096)
def _spec(patterns: tuple[str, ...]) -> GitIgnoreSpec:
    return GitIgnoreSpec.from_lines(patterns)


def is_ignored(path: str, patterns: Iterable[str]) -> bool:
    """True when git would ignore the file ``path`` under these .gitignore lines."""
    lines = tuple(p for p in patterns if isinstance(p, str))
    if not lines:
        return False
    return _spec(lines).match_file(path.strip("/"))
