"""gsctune.domain.hunks against git itself: a scratch repository with every rendering case.

Each test builds a repository, takes the diff the harvester takes (``git diff base head``)
and the tool's own view of the equivalent working tree (everything unstaged, one
``git diff -M -- PATH`` per file, ``git ls-files --others --exclude-standard``), and
asserts that gsctune's rendering of the harvested diff is what the tool would show.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gsctune.domain.hunks import (
    HUNK_CHARS,
    TEXTS,
    TOTAL_CHARS,
    Hunk,
    LabelConversionError,
    example_hunks,
    files_for_hunks,
    hunk_label,
    render_user_turn,
    split_diff,
    split_file,
    tool_view,
)

SHARED_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "harvest-public.jsonl"
_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
# The harvester's pinned options (labeling/examples/harvest.py) and the tool's (git-smart-commit `_git`).
HARVEST_GIT = ["-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.renames=true"]
TOOL_GIT = ["-c", "core.quotePath=false"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=_ENV).stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def lines(n: int, prefix: str) -> str:
    return "".join(f"{prefix} line {i}\n" for i in range(n))


def build_repo(root: Path) -> tuple[Path, str, str]:
    """base: the files before; head: one commit that touches each of them in its own way."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "T")
    files = {
        ".gitignore": "*.log\n",
        "multi.py": lines(60, "multi"),
        "big.txt": lines(10, "big"),
        "package-lock.json": '{\n  "lockfileVersion": 3,\n  "name": "x"\n}\n',
        "script.sh": "echo hi\n",
        "pure_old.py": lines(5, "pure"),
        "moved_old.py": lines(30, "moved"),
        "dashes.txt": "a\n-- remove me\nb\n" + lines(20, "filler") + "c\n",
        "s.py": lines(120, "s"),
        "gone.txt": "bye\n",
        "café.txt": "un\ndeux\n",
    }
    for name, text in files.items():
        (repo / name).write_text(text)
    (repo / "image.bin").write_bytes(b"\x00\x01binary\x00" * 20)
    (repo / "link").symlink_to("multi.py")
    base = commit_all(repo, "base")

    text = (repo / "multi.py").read_text().splitlines(keepends=True)
    for i in (2, 30, 57):
        text[i] = f"changed multi {i}\n"
    (repo / "multi.py").write_text("".join(text))
    (repo / "big.txt").write_text(lines(10, "big") + "".join(f"+ added {i:04d} " + "x" * 30 + "\n" for i in range(200)))
    (repo / "package-lock.json").write_text('{\n  "lockfileVersion": 3,\n  "name": "y",\n  "deps": {}\n}\n')
    (repo / "image.bin").write_bytes(b"\x00\x02binary\x00" * 21)
    (repo / "script.sh").chmod(0o755)
    git(repo, "mv", "pure_old.py", "pure_new.py")
    moved = (repo / "moved_old.py").read_text().replace("moved line 15", "moved line fifteen")
    (repo / "moved_old.py").unlink()
    (repo / "moved_new.py").write_text(moved)
    (repo / "dashes.txt").write_text("a\nb\n" + lines(20, "filler") + "++ added\nC\n")
    s_lines = (repo / "s.py").read_text().splitlines(keepends=True)
    for i in range(5, 120, 10):  # twelve far-apart edits: s.py::1 .. s.py::12
        s_lines[i] = f"edited {i}\n"
    (repo / "s.py").write_text("".join(s_lines))
    (repo / "gone.txt").unlink()
    (repo / "café.txt").write_text("un\ntrois\n")  # quoted by the harvester's git, not by the tool's
    (repo / "link").unlink()
    (repo / "link").write_text("now a regular file\n")  # a type change: two diff sections, one path
    (repo / "added.py").write_text("def added():\n    return 1\n")
    (repo / "empty.txt").write_text("")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# Guide\n")
    (repo / "debug.log").write_text("junk the .gitignore matches\n")
    head = commit_all(repo, "head")
    return repo, base, head


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    repo, base, head = build_repo(tmp_path_factory.mktemp("hunks"))
    harvested = git(repo, *HARVEST_GIT, "diff", "--no-color", "--no-ext-diff", base, head)
    # The working tree the tool sees: head's files, base in HEAD and the index (all unstaged).
    git(repo, "reset", "-q", base)
    tool_hunks: list[Hunk] = []
    tool_diffs: list[str] = []
    for path in git(repo, *TOOL_GIT, "diff", "--name-only", "--no-ext-diff").splitlines():
        diff = git(repo, *TOOL_GIT, "diff", "-M", "--no-color", "--no-ext-diff", "--", path)
        if diff.strip():
            tool_hunks.extend(split_file(diff, path))
            tool_diffs.append(diff)
    for path in git(repo, *TOOL_GIT, "ls-files", "--others", "--exclude-standard").splitlines():
        tool_hunks.append(Hunk(f"{path}::1", path, 1, "", "", "untracked", path, ""))

    def old_content(path: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), "show", f"{base}:{path}"], check=True,
                              capture_output=True, env=_ENV).stdout

    return {"repo": repo, "base": base, "harvested": harvested, "tool": tool_hunks, "tool_diffs": tool_diffs,
            "old_content": old_content}


def ignored(path: str) -> bool:
    return path.endswith(".log")  # the scratch repository's .gitignore


def ours(scratch, **options) -> list[Hunk]:
    return example_hunks(scratch["harvested"], is_ignored=ignored, **options)


def test_rendering_of_the_harvested_diff_is_what_the_tool_shows(scratch):
    mine = ours(scratch, old_content=scratch["old_content"])
    assert [h.id for h in mine] == [h.id for h in scratch["tool"]]
    assert [(h.kind, h.patch, h.added, h.deleted) for h in mine] == [
        (h.kind, h.patch, h.added, h.deleted) for h in scratch["tool"]]
    assert render_user_turn(mine) == render_user_turn(scratch["tool"])


def test_every_case_is_in_the_list_the_tool_would_send(scratch):
    ids = [h.id for h in ours(scratch, old_content=scratch["old_content"])]
    tracked = ["big.txt::1", "café.txt::1", "dashes.txt::1", "dashes.txt::2", "gone.txt::1", "image.bin::1",
               "link::1", "link::2", "moved_old.py::1", "multi.py::1", "multi.py::2", "multi.py::3", "package-lock.json::1",
               "pure_old.py::1"] + [f"s.py::{i}" for i in range(1, 13)] + ["script.sh::1"]
    untracked = ["added.py::1", "docs/guide.md::1", "empty.txt::1", "moved_new.py::1", "pure_new.py::1"]
    assert ids == tracked + untracked  # debug.log: matched by .gitignore, so not listed at all
    s_ids = sorted(i for i in ids if i.startswith("s.py::"))
    assert s_ids[:5] == ["s.py::1", "s.py::10", "s.py::11", "s.py::12", "s.py::2"]  # plain string order


def test_user_turn_layout(scratch):
    hunks = ours(scratch, old_content=scratch["old_content"])
    turn = render_user_turn(hunks)
    listing, diff = turn.split("\n\nDiff content:\n", 1)
    rows = listing.split("\n")
    assert rows[0] == "Available hunks:"
    assert "  multi.py::2  (+1/-1)" in rows
    assert "  image.bin::1  [binary file]" in rows
    assert "  empty.txt::1  (new untracked file)" in rows
    assert "  script.sh::1  (+0/-0)" in rows  # a mode change: one hunk without @@
    assert "  pure_old.py::1  (+0/-5)" in rows  # the rename's old side, deleted
    sections = {s.split(" ---\n", 1)[0]: s.split(" ---\n", 1)[1] for s in ("\n\n" + diff).split("\n\n--- ")[1:]}
    assert sections["added.py::1"] == "(new untracked file — no diff)"
    assert sections["image.bin::1"] == "[binary file]"
    assert sections["package-lock.json::1"] == TEXTS.lockfile_body.format(added=2, deleted=1)
    assert sections["script.sh::1"].startswith("diff --git a/script.sh b/script.sh\nold mode 100644\nnew mode 100755")
    big = next(h for h in hunks if h.id == "big.txt::1")
    assert len(big.patch) > HUNK_CHARS
    assert sections["big.txt::1"].startswith(big.patch[:HUNK_CHARS] + "\n[hunk truncated by gsctune")
    multi = next(h for h in hunks if h.id == "multi.py::2")
    assert sections["multi.py::2"] == multi.patch
    assert multi.patch.startswith("diff --git a/multi.py b/multi.py\nindex ")
    assert multi.header.count("\n") == 4 and multi.body.startswith("@@ ")


def test_header_like_lines_inside_a_hunk_move_into_the_header(scratch):
    """A removed '-- x' line reads as '--- x', which the tool takes for a header line."""
    first, second = [h for h in ours(scratch) if h.path == "dashes.txt"]
    header = first.header
    at1 = first.body.split("\n", 1)[0] + "\n"
    assert first.patch == header + at1 + " a\n"
    assert second.patch.startswith(header + "--- remove me\n b\n filler line 0\n")
    # '+++ added' (an added '++ added') ends hunk 2 as well; it and '+C' after it belong
    # to no hunk at all, so the tool never shows them.
    assert second.patch.endswith(" filler line 19\n-c\n")
    assert (first.added, first.deleted) == (0, 0)
    assert (second.added, second.deleted) == (0, 1)  # '--- remove me' is subtracted like a header line
    assert first.header + first.body + second.body == next(
        f.text for f in split_diff(scratch["harvested"]) if f.path == "dashes.txt")


def test_new_files_keep_their_content_on_request(scratch):
    hunks = {h.id: h for h in ours(scratch, keep_new_content=True, old_content=scratch["old_content"])}
    assert hunks["added.py::1"].kind == "new"
    turn = render_user_turn(list(hunks.values()))
    assert "  added.py::1  (new untracked file)" in turn
    assert "+def added():\n+    return 1\n" in turn
    assert "--- empty.txt::1 ---\ndiff --git a/empty.txt b/empty.txt\nnew file mode 100644\n" in turn


def test_rename_without_the_old_content_is_marked(scratch):
    hunks = {h.id: h for h in ours(scratch)}
    source = hunks["pure_old.py::1"]
    assert source.kind == "rename-source" and source.file == "pure_new.py"
    assert hunks["moved_old.py::1"].header.startswith("diff --git a/moved_old.py b/moved_old.py\n"
                                                      "deleted file mode 100644\nindex ")
    assert TEXTS.unknown_old_body in render_user_turn(list(hunks.values()))


def capped_diff() -> str:
    return "".join(
        f"diff --git a/f{i}.txt b/f{i}.txt\nindex 1111111..2222222 100644\n--- a/f{i}.txt\n+++ b/f{i}.txt\n"
        f"@@ -1 +1 @@\n-old\n+{'y' * 5000}\n" for i in range(40))


def quoted_diff() -> str:
    return ('diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\nindex 1111111..2222222 100644\n'
            '--- "a/caf\\303\\251.txt"\n+++ "b/caf\\303\\251.txt"\n@@ -1 +1 @@\n-a\n+b\n'
            "diff --git a/with space.txt b/with space.txt\nindex 1111111..2222222 100644\n"
            "--- a/with space.txt\n+++ b/with space.txt\n@@ -1 +1 @@\n-a\n+b\n")


def test_total_cap_closes_with_an_omitted_line():
    hunks = example_hunks(capped_diff())
    turn = render_user_turn(hunks)
    assert turn.endswith(TEXTS.omitted.format(limit=TOTAL_CHARS))
    shown = next(k for k in range(1, 41) if sum(len(h.patch) for h in hunks[:k]) >= TOTAL_CHARS)
    assert shown == 24  # the section that crosses the cap is still shown, the next ones are not
    assert f"--- {hunks[shown - 1].id} ---" in turn and f"--- {hunks[shown].id} ---" not in turn
    assert "  f39.txt::1  (+1/-1)" in turn  # the list always names every hunk


def test_file_label_converts_to_hunks_and_back(scratch):
    hunks = ours(scratch, old_content=scratch["old_content"])
    label = {"commits": [{"subject": "refactor: rename modules", "files": ["pure_new.py", "moved_new.py"]},
                         {"subject": "feat: edit s", "files": ["s.py", "multi.py"]}],
             "gitignore": ["*.log"]}
    converted = hunk_label(label, hunks)
    # A rename's deletion hunk goes with the renamed file, as the tool's rules require.
    assert converted["commits"][0]["hunks"] == ["pure_old.py::1", "pure_new.py::1", "moved_old.py::1",
                                                "moved_new.py::1"]
    assert converted["commits"][1]["hunks"] == [f"s.py::{i}" for i in range(1, 13)] + [
        "multi.py::1", "multi.py::2", "multi.py::3"]
    assert converted["commits"][0]["files"] == ["pure_new.py", "moved_new.py"]
    assert "gone.txt::1" in converted["skipped_hunks"] and "s.py::1" not in converted["skipped_hunks"]
    everything = [i for c in converted["commits"] for i in c["hunks"]] + converted["skipped_hunks"]
    assert sorted(everything) == sorted(h.id for h in hunks)
    assert files_for_hunks(converted["commits"][0]["hunks"], hunks) == ["pure_new.py", "moved_new.py"]
    with pytest.raises(LabelConversionError, match="nope.py"):
        hunk_label({"commits": [{"subject": "x: y", "files": ["nope.py"]}]}, hunks)
    with pytest.raises(LabelConversionError, match="s.py::99"):
        files_for_hunks(["s.py::99"], hunks)


def test_quoted_paths_are_read_unquoted():
    hunks = example_hunks(quoted_diff())
    assert [h.id for h in hunks] == ["café.txt::1", "with space.txt::1"]
    assert hunks[0].patch.startswith("diff --git a/café.txt b/café.txt\n")  # as the tool's git prints it


def _check_properties(diff: str) -> None:
    """Each file's header plus its hunks' bodies, in order, is that file's slice of the diff."""
    offset = diff.find("diff --git")
    for f in split_diff(diff):
        pieces = f.header + "".join(h.body for h in f.hunks)
        assert diff[offset : offset + len(pieces)] == pieces, f.path
        offset += len(pieces)
        assert pieces.startswith("diff --git ")
        assert [h.index for h in f.hunks] == list(range(1, len(f.hunks) + 1))
        for h in f.hunks:
            assert h.kind != "text" or (h.body.startswith("@@") and "\n@@" not in h.header)
    assert offset == len(diff)
    ids = [h.id for f in split_diff(diff) for h in f.hunks]
    assert len(ids) == len(set(ids))
    view = [h.id for h in tool_view(split_diff(diff))]
    assert len(view) == len(set(view))


def test_properties_hold_for_every_diff_the_tests_made(scratch):
    for diff in [scratch["harvested"], *scratch["tool_diffs"], capped_diff(), quoted_diff()]:
        _check_properties(diff)


@pytest.mark.skipif(not SHARED_SAMPLE.exists(), reason=f"optional shared sample {SHARED_SAMPLE} is absent")
def test_properties_hold_for_the_shared_sample():
    with SHARED_SAMPLE.open() as handle:
        for line in handle:
            _check_properties(json.loads(line)["diff"])


def test_the_domain_imports_no_django_and_no_app():
    """gsctune/domain stays a plain-Python core (the package's own __init__ loads Celery, not it)."""
    import ast

    domain = Path(__file__).resolve().parents[1] / "gsctune" / "domain"
    for module in domain.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"django", "labeling", "training", "evaluation", "celery"}, (module.name, name)
                assert not name.startswith("gsctune.") or name.startswith("gsctune.domain"), (module.name, name)
