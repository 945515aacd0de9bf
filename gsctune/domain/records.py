"""The harvested JSONL record: its fields and the key that names an example."""
from __future__ import annotations

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
