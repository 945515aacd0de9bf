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


def _orjson(value, floats: bool = True) -> bytes | None:
    """orjson's encoding where it equals the json module's, else None. What orjson refuses
    (a lone surrogate, a non-str key, an int over 64 bits, a subclass) and any float take
    the stdlib path; ``floats=False`` skips looking for floats in a value built without any."""
    if floats and _has_float(value):
        return None
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def json_text(value) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` byte for byte; through
    orjson where that is exact (five times faster on diff-sized strings: exports write
    hundreds of megabytes)."""
    data = _orjson(value)
    return _stdlib_line(value) if data is None else data.decode()


def json_bytes(value, floats: bool = True) -> bytes:
    """``json_text(value)`` as UTF-8, without a round trip through str on orjson's path.
    ``floats=False``: the caller built ``value`` from text, lists and dicts alone."""
    data = _orjson(value, floats)
    return _stdlib_line(value).encode() if data is None else data
