"""How the tool *reads* git, against gsctune's rendering of the harvested diff (toolcheck).

Running the real git-smart-commit on a scratch repository showed two things a harvested
diff does not: the tool takes git's output in Python text mode (universal newlines, so a
CRLF file's patch reaches the model without '\\r', and a lone '\\r' breaks the line), and
it lists paths as ``git -c core.quotePath=false`` prints them: a path with a double
quote, a backslash or a control character stays C-quoted, so an untracked one gets the
quoted id and a tracked one vanishes (its ``git diff -- "<quoted>"`` matches nothing).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gsctune.domain.hunks import (
    Hunk,
    example_hunks,
    render_user_turn,
    split_file,
    tool_path,
)

_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
HARVEST_GIT = ["-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.renames=true"]
TOOL_GIT = ["-c", "core.quotePath=false"]


def git(repo: Path, *args: str, text: bool = True):
    """git's stdout; ``text=True`` reads it the way the tool does (Python text mode)."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=text,
                          env=_ENV).stdout


def write(repo: Path, name: str, data: bytes) -> None:
    (repo / name).write_bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    repo = tmp_path_factory.mktemp("reading") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "T")
    git(repo, "config", "core.autocrlf", "false")
    write(repo, "windows.txt", b"first\r\nsecond\r\nthird\r\n")
    write(repo, "moved_crlf_old.txt", b"one\r\ntwo\r\nthree\r\nfour\r\n")
    write(repo, "lone_cr.txt", b"top\nmiddle\nbottom\n")
    write(repo, 'say "hi".txt', b"quoted name\n")
    write(repo, "back\\slash.txt", b"backslash name\n")
    write(repo, "gone\ttab.txt", b"tab name, deleted\n")
    write(repo, "plain.txt", b"plain\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()

    write(repo, "windows.txt", b"first\r\nSECOND\r\nthird\r\n")
    (repo / "moved_crlf_old.txt").unlink()
    write(repo, "moved_crlf_new.txt", b"one\r\ntwo\r\nthree\r\nFOUR\r\n")
    write(repo, "lone_cr.txt", b"top\nmiddle edited\r--- not a header\rtail\nbottom\n")
    write(repo, 'say "hi".txt', b"quoted name, edited\n")
    write(repo, "back\\slash.txt", b"backslash name, edited\n")
    (repo / "gone\ttab.txt").unlink()
    write(repo, "plain.txt", b"plain, edited\n")
    write(repo, "new\ttab.txt", b"an untracked file with a tab\n")
    write(repo, 'new "quoted".txt', b"an untracked file with quotes\n")
    write(repo, "new_plain.txt", b"an ordinary untracked file\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    head = git(repo, "rev-parse", "HEAD").strip()
    harvested = git(repo, *HARVEST_GIT, "diff", "--no-color", "--no-ext-diff", base, head, text=False).decode()

    # The tool's view of the same working tree: everything unstaged, git read in text mode.
    git(repo, "reset", "-q", base)
    tool: list[Hunk] = []
    for path in git(repo, *TOOL_GIT, "diff", "--name-only", "--no-ext-diff").splitlines():
        diff = git(repo, *TOOL_GIT, "diff", "-M", "--no-color", "--no-ext-diff", "--", path)
        if diff.strip():
            tool.extend(split_file(diff, path))
    for path in git(repo, *TOOL_GIT, "ls-files", "--others", "--exclude-standard").splitlines():
        tool.append(Hunk(f"{path}::1", path, 1, "", "", "untracked", path, ""))

    def old_content(path: str) -> bytes:
        return git(repo, "show", f"{base}:{path}", text=False)

    return {"harvested": harvested, "tool": tool, "old_content": old_content}


def ours(scratch) -> list[Hunk]:
    return example_hunks(scratch["harvested"], old_content=scratch["old_content"])


def test_the_harvested_rendering_is_what_the_tool_reads(scratch):
    mine = ours(scratch)
    assert [h.id for h in mine] == [h.id for h in scratch["tool"]]
    assert [(h.patch, h.added, h.deleted) for h in mine] == [(h.patch, h.added, h.deleted) for h in scratch["tool"]]
    assert render_user_turn(mine) == render_user_turn(scratch["tool"])


def test_crlf_patches_lose_their_carriage_returns(scratch):
    hunks = {h.id: h for h in ours(scratch)}
    assert "\r" not in render_user_turn(list(hunks.values()))
    assert hunks["windows.txt::1"].patch.endswith(" first\n-second\n+SECOND\n third\n")
    assert hunks["moved_crlf_old.txt::1"].patch.endswith("-one\n-two\n-three\n-four\n")  # the rename's old side
    # A lone '\r' ends a line for the tool: "--- not a header" becomes a header line.
    lone = hunks["lone_cr.txt::1"]
    assert lone.patch.endswith("+middle edited\n") and (lone.added, lone.deleted) == (1, 1)


def test_paths_git_still_quotes(scratch):
    ids = [h.id for h in ours(scratch)]
    # Tracked: the tool never shows them (its per-file diff of the quoted name is empty).
    assert not [i for i in ids if "say" in i or "slash" in i or "gone" in i]
    assert "plain.txt::1" in ids
    # Untracked: listed under the quoted name, in ls-files order (by the raw path).
    assert ids[-3:] == ['"new\\ttab.txt"::1', '"new \\"quoted\\".txt"::1', "new_plain.txt::1"]


def test_tool_path_quotes_like_git():
    assert tool_path("café/ü.txt") == "café/ü.txt"
    assert tool_path("with space.txt") == "with space.txt"
    assert tool_path('a"b\\c\td\x01\x7f.txt') == '"a\\"b\\\\c\\td\\001\\177.txt"'
