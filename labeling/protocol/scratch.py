"""A scratch repository that shows the tool every rendering case, so one capture sees them all.

``--dry-run`` still unstages the user's staged changes, so a capture belongs in a
throwaway repository: ``make_scratch_repo`` builds one (a base commit, then unstaged
working-tree changes), ``scratch_cases`` checks, with git itself, which cases it shows.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

CASES = {
    "several_hunks_one_file": "a file split into several hunks",
    "hunk_over_6000_chars": "a hunk over 6,000 characters",
    "lockfile": "a lockfile (package-lock.json)",
    "binary_file": "a binary file",
    "new_file": "a new (untracked) file",
    "empty_new_file": "an empty new file",
    "rename": "a rename (deleted old path, untracked new path)",
    "mode_change": "a mode change (no @@ at all)",
    "removed_dashdash_line": "a removed line starting with --",
    "ten_hunks_in_one_file": "a path with ::10 and ::2 hunks",
}


def _git(repo: Path, *args: str, check: bool = True) -> str:
    cmd = ["git", "-c", "user.name=gsctune scratch", "-c", "user.email=scratch@gsctune.invalid",
           "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=check, capture_output=True, text=True).stdout


def _numbered(prefix: str, n: int) -> str:
    return "".join(f"{prefix} line {i:03d}: the capture repository keeps this text unchanged\n" for i in range(n))


def make_scratch_repo(path: str | Path) -> Path:
    """Create (or refuse to reuse) ``path`` as a git repository with every rendering case unstaged."""
    repo = Path(path).resolve()
    if repo.exists() and any(repo.iterdir()):
        raise ValueError(f"--scratch {repo}: the directory exists and is not empty; give a new path")
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "core.fileMode", "true")
    base = {
        "src/service.py": "".join(f"def step_{i}():\n    return {i}\n\n\n" for i in range(30)),
        "data/table.txt": _numbered("table", 40),
        "package-lock.json": '{\n  "name": "scratch",\n  "lockfileVersion": 3,\n  "packages": {\n    "": {"version": "1.0.0"}\n  }\n}\n',
        "docs/old_name.md": "# Notes moved elsewhere\n\nThis page keeps its text when it is renamed.\n",
        "tools/run.sh": "#!/bin/sh\necho scratch\n",
        "db/schema.sql": "create table t (id int);\n-- drop this comment in the working tree\nselect 1;\n",
        "notes/many.txt": _numbered("many", 12 * 12),
        ".gitignore": "*.log\n",
    }
    for name, text in base.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "assets").mkdir()
    (repo / "assets/logo.bin").write_bytes(bytes(range(256)) * 4)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "chore: start the scratch repository")

    # Working-tree changes, none staged (the tool unstages everything anyway).
    service = (repo / "src/service.py").read_text().splitlines(keepends=True)
    for line_no in (1, 41, 101):
        service[line_no] = service[line_no].replace("return", "return 10 *")
    (repo / "src/service.py").write_text("".join(service))
    (repo / "data/table.txt").write_text(_numbered("table", 40).replace("unchanged", "rewritten at length " + "x" * 160))
    lock = (repo / "package-lock.json").read_text().replace('"1.0.0"', '"1.1.0"')
    (repo / "package-lock.json").write_text(lock)
    (repo / "assets/logo.bin").write_bytes(bytes(reversed(range(256))) * 4)
    (repo / "src/feature.py").write_text('"""A new module the capture shows as untracked."""\n\nENABLED = True\n')
    (repo / "src/__init__.py").write_text("")
    (repo / "docs/old_name.md").rename(repo / "docs/new_name.md")
    (repo / "tools/run.sh").chmod(0o755)
    (repo / "db/schema.sql").write_text("create table t (id int);\nselect 1;\n")
    many = _numbered("many", 12 * 12).splitlines(keepends=True)
    for block in range(12):
        many[block * 12 + 6] = many[block * 12 + 6].replace("unchanged", f"changed in block {block}")
    (repo / "notes/many.txt").write_text("".join(many))
    (repo / "debug.log").write_text("ignored by .gitignore: the tool never lists it\n")
    return repo


def _hunks(diff: str) -> list[str]:
    """Hunk bodies of one file's diff (from each @@ to the next)."""
    parts = re.split(r"^(?=@@ )", diff, flags=re.MULTILINE)
    return parts[1:]


def scratch_cases(path: str | Path) -> dict[str, bool]:
    """Which rendering cases the repository's working tree shows, read from git as the tool reads it."""
    repo = Path(path)
    tracked = [p for p in _git(repo, "diff", "--name-only").splitlines() if p]
    untracked = [p for p in _git(repo, "ls-files", "--others", "--exclude-standard").splitlines() if p]
    diffs = {p: _git(repo, "diff", "-M", "--no-color", "--no-ext-diff", "--", p) for p in tracked}
    hunks = {p: _hunks(d) for p, d in diffs.items()}
    deleted = {p for p, d in diffs.items() if "\ndeleted file mode" in d}
    deleted_texts = {_git(repo, "show", f"HEAD:{p}") for p in deleted}
    untracked_texts = {p: (repo / p).read_bytes() for p in untracked}
    lockfiles = ("package-lock.json", "yarn.lock", "Cargo.lock", "go.sum", "poetry.lock", "pnpm-lock.yaml")
    return {
        "several_hunks_one_file": any(len(h) >= 3 for h in hunks.values()),
        "hunk_over_6000_chars": any(len(x) > 6000 for h in hunks.values() for x in h),
        "lockfile": any(Path(p).name in lockfiles for p in tracked),
        "binary_file": any("Binary files" in d or "GIT binary patch" in d for d in diffs.values()),
        "new_file": any(t for t in untracked_texts.values()),
        "empty_new_file": any(not t for t in untracked_texts.values()),
        "rename": any(t.decode("utf-8", "replace") in deleted_texts for t in untracked_texts.values() if t),
        "mode_change": any("\nold mode " in "\n" + d and not _hunks(d) for d in diffs.values()),
        "removed_dashdash_line": any(line.startswith("--- ") for h in hunks.values() for x in h
                                     for line in x.splitlines()[1:]),
        "ten_hunks_in_one_file": any(len(h) >= 10 for h in hunks.values()),
    }


def tool_command(api_base: str, model: str = "capture") -> str:
    """The exact git-smart-commit command line for a capture."""
    return f"git-smart-commit --api-base {api_base} --model {model} --dry-run --json"
