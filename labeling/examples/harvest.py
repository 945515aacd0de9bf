"""Harvest examples from a local git repository, in the harvested JSONL format.

Only read-only git commands are run. Spans of 1..max_commits consecutive
first-parent commits are chosen at random end points (seeded); a span is skipped
when it holds a merge, a binary change, an empty or oversized diff, non-UTF-8
text, or too many files — the same rules as the shared sample (data/README.md).
"""
from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

MAX_DIFF_CHARS = 60_000
MAX_FILES = 40

# git configuration that would change the diff's shape is pinned to git's defaults.
_GIT = ["git", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.renames=true",
        "-c", "diff.external=", "-c", "core.pager=cat"]

_EXTENSIONS = {
    "py": "python", "pyi": "python", "rs": "rust", "go": "go", "js": "javascript", "mjs": "javascript",
    "cjs": "javascript", "jsx": "javascript", "ts": "typescript", "tsx": "typescript", "rb": "ruby",
    "c": "c", "h": "c", "cc": "cpp", "cpp": "cpp", "cxx": "cpp", "hpp": "cpp", "ex": "elixir", "exs": "elixir",
    "sh": "shell", "bash": "shell", "zsh": "shell", "fish": "shell", "vim": "vimscript", "ps1": "powershell",
    "zig": "zig", "swift": "swift", "java": "java", "kt": "kotlin", "php": "php", "cs": "csharp",
    "lua": "lua", "scala": "scala", "hs": "haskell", "ml": "ocaml", "dart": "dart", "r": "r",
}
_MANIFESTS = {
    "Gemfile": "ruby", "Rakefile": "ruby", "Cargo.toml": "rust", "go.mod": "go", "pyproject.toml": "python",
    "setup.cfg": "python", "requirements.txt": "python", "package.json": "javascript",
}


class HarvestError(RuntimeError):
    """The repository cannot be harvested (not a git repository, no history)."""


def _git(repo: Path, *args: str, binary: bool = False):
    result = subprocess.run([*_GIT, "-C", str(repo), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise HarvestError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode("utf-8", errors="replace")


def languages_of(paths: list[str]) -> list[str]:
    found = set()
    for path in paths:
        name = PurePosixPath(path).name
        if name in _MANIFESTS:
            found.add(_MANIFESTS[name])
        suffix = PurePosixPath(name).suffix.lstrip(".").lower()
        if suffix in _EXTENSIONS:
            found.add(_EXTENSIONS[suffix])
    return sorted(found)


def repo_url_of(repo: Path) -> str:
    """`host/owner/name` from the origin remote, or `local/<folder>` without one."""
    try:
        url = _git(repo, "remote", "get-url", "origin").strip()
    except HarvestError:
        return f"local/{repo.resolve().name}"
    if "://" in url:  # https://host/owner/name, ssh://git@host/owner/name
        url = url.split("://", 1)[1]
        host, _, rest = url.partition("/")
        url = f"{host.rpartition('@')[2]}/{rest}"
    elif re.match(r"^[^/]+:", url):  # scp-like git@host:owner/name
        host, _, rest = url.partition(":")
        url = f"{host.rpartition('@')[2]}/{rest}"
    else:  # a local path
        return f"local/{repo.resolve().name}"
    return url.removesuffix(".git").rstrip("/")


def gitignore_lines(repo: Path, commit: str) -> list[str]:
    """Non-empty, non-comment lines of every .gitignore at commit; nested ones prefixed by their folder."""
    files = [p for p in _git(repo, "ls-tree", "-r", "--name-only", commit).splitlines()
             if PurePosixPath(p).name == ".gitignore"]
    files.sort(key=lambda p: (p.count("/"), p))  # root file first
    lines = []
    for path in files:
        folder = str(PurePosixPath(path).parent)
        for line in _git(repo, "show", f"{commit}:{path}").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            lines.append(line if folder == "." else f"{folder}/{line.lstrip('/')}")
    return lines


def _span_record(repo: Path, repo_url: str, branch: str, base: str, span: list[str]) -> dict | None:
    head = span[-1]
    numstat = _git(repo, "diff", "--numstat", base, head)
    if not numstat.strip() or any(line.startswith("-\t-\t") for line in numstat.splitlines()):
        return None  # empty, or a binary change
    raw = _git(repo, "diff", "--no-color", "--no-ext-diff", base, head, binary=True)
    if not raw or len(raw) > MAX_DIFF_CHARS * 4:
        return None
    try:
        diff = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    changed = _git(repo, "diff", "--name-only", base, head).splitlines()
    if len(diff) > MAX_DIFF_CHARS or not changed or len(changed) > MAX_FILES:
        return None
    commits = []
    for sha in span:
        commits.append({
            "sha": sha,
            "subject": _git(repo, "log", "-1", "--format=%s", sha).strip(),
            "files": _git(repo, "diff-tree", "--no-commit-id", "-r", "--name-only", sha).splitlines(),
        })
    return {
        "repo_url": repo_url, "branch": branch, "base_commit": base, "head_commit": head,
        "n_commits": len(span), "diff": diff, "changed_files": changed, "original_commits": commits,
        "existing_gitignore": gitignore_lines(repo, base), "languages": languages_of(changed),
    }


def harvest(repo: Path, count: int = 100, seed: int = 0, max_commits: int = 5) -> Iterator[dict]:
    """Yield up to ``count`` examples from the first-parent history of HEAD."""
    repo = Path(repo)
    if not (repo / ".git").exists() and _git(repo, "rev-parse", "--is-inside-work-tree").strip() != "true":
        raise HarvestError(f"{repo} is not a git repository")
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    repo_url = repo_url_of(repo)
    # Oldest first; each entry: (sha, number of parents).
    history = []
    for line in reversed(_git(repo, "rev-list", "--first-parent", "--parents", "HEAD").splitlines()):
        sha, *parents = line.split()
        history.append((sha, len(parents)))
    if len(history) < 2:
        raise HarvestError(f"{repo} needs at least two commits on {branch}")
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    produced = 0
    for _ in range(max(count * 20, 50)):
        if produced >= count:
            return
        end = rng.randrange(1, len(history))
        length = min(rng.randint(1, max_commits), end)
        span = history[end - length + 1 : end + 1]
        base = history[end - length][0]
        if any(parents > 1 for _, parents in span) or (base, span[-1][0]) in seen:
            continue
        seen.add((base, span[-1][0]))
        record = _span_record(repo, repo_url, branch, base, [sha for sha, _ in span])
        if record:
            produced += 1
            yield record
