"""The harvested JSONL record: its fields, the key that names an example, and its JSONL line."""
from __future__ import annotations

import json

import orjson

# The harvested JSONL format, key order as written by harvesters (DESIGN.md).
HARVEST_FIELDS = (
    "repo_url",
    "branch",
    "base_commit",
    "head_commit",
    "n_commits",
    "diff",
    "changed_files",
    "original_commits",
    "existing_gitignore",
    "languages",
)


def example_key(repo_url: str, base_commit: str, head_commit: str) -> str:
    """``repo@base..head``: one example per span of commits."""
    return f"{repo_url}@{base_commit}..{head_commit}"


def record_key(record: dict) -> str:
    """The example key of a harvested or labeled record."""
    return example_key(record["repo_url"], record["base_commit"], record["head_commit"])


_stdlib_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _has_float(value) -> bool:
    """Whether a float sits anywhere in ``value`` (orjson writes 1e-05 as 0.00001 and NaN as null)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is dict:
            extend(v.values())
        elif t is list or t is tuple:
            extend(v)
        elif t is float:
            return True
    return False


def json_text(value) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` byte for byte; through
    orjson where that is exact (five times faster on diff-sized strings: exports write
    hundreds of megabytes). What orjson refuses (a lone surrogate, a non-str key, an int
    over 64 bits, a subclass) takes the stdlib path, and so does any float."""
    if not _has_float(value):
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return _stdlib_line(value)
