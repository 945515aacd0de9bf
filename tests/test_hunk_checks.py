"""Hunk-level label checks, each against a hand-checked expectation."""
from __future__ import annotations

import copy

import pytest

from gsctune.domain.hunk_checks import (
    CHECK_TITLES,
    INFORMATIONAL,
    hunk_findings,
    junk_hunks,
)
from gsctune.domain.hunk_proposal import example_hunk_view
from tests.hunk_data import EXAMPLE, HUNK_LABEL


@pytest.fixture
def hunks():
    return example_hunk_view(EXAMPLE)


def found(label, hunks, example=EXAMPLE):
    return [(f.check, f.message, f.commit, f.path) for f in hunk_findings(label, hunks, example)]


def test_a_good_label_has_only_the_informational_split(hunks):
    assert found(HUNK_LABEL, hunks) == [
        ("split_file", "src/app.py is split across commits 1, 2", None, "src/app.py")]
    assert INFORMATIONAL == {"split_file"}


def test_unknown_hunk_in_a_commit_and_in_skipped(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"][0]["hunks"].append("src/app.py::7")
    label["skipped_hunks"].append("cache.pyc::1")  # ignored by the repository: not a hunk
    assert [f for f in found(label, hunks) if f[0] == "unknown_hunk"] == [
        ("unknown_hunk", "src/app.py::7 is not in the example's hunk list", 0, "src/app.py::7"),
        ("unknown_hunk", "skipped hunk cache.pyc::1 is not in the example's hunk list", None, "cache.pyc::1")]


def test_hunk_in_two_commits_or_committed_and_skipped(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"][1]["hunks"].append("src/app.py::1")
    label["commits"][0]["hunks"].append("tests/test_app.py::1")
    label["skipped_hunks"].append("docs/new.md::1")
    assert [f for f in found(label, hunks) if f[0] == "duplicate_hunk"] == [
        ("duplicate_hunk", "tests/test_app.py::1 is earlier in this commit", 0, "tests/test_app.py::1"),
        ("duplicate_hunk", "src/app.py::1 is already in commit 1", 1, "src/app.py::1"),
        ("duplicate_hunk", "docs/new.md::1 is in commit 2 and in skipped_hunks", 1, "docs/new.md::1")]


def test_hunk_neither_committed_nor_skipped_even_when_gitignore_covers_it(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["skipped_hunks"] = []  # *.log in gitignore exempts nothing
    label["commits"][1]["hunks"].remove("docs/new.md::1")
    assert [f for f in found(label, hunks) if f[0] == "unassigned_hunk"] == [
        ("unassigned_hunk", "debug.log::1 is in no commit and not in skipped_hunks", None, "debug.log::1"),
        ("unassigned_hunk", "docs/new.md::1 is in no commit and not in skipped_hunks", None, "docs/new.md::1")]


def test_junk_hunk_committed(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["skipped_hunks"] = []
    label["commits"][0]["hunks"].append("debug.log::1")
    assert [f for f in found(label, hunks) if f[0] == "junk_hunk_committed"] == [
        ("junk_hunk_committed", "debug.log::1 is junk: it belongs in skipped_hunks, with a .gitignore pattern", 0,
         "debug.log::1")]
    # Junk the repository already ignores is not a hunk at all, so it cannot be committed.
    assert junk_hunks(hunks, ["debug.log", "cache.pyc"]) == {"debug.log::1"}
    # The label's own injected_files win over the example's.
    assert not [f for f in found({**label, "injected_files": ["docs/new.md"]}, hunks)
                if f[3] == "debug.log::1" and f[0] == "junk_hunk_committed"]


def test_empty_commit(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"].append({"subject": "chore: nothing", "hunks": [], "body": "Empty."})
    assert ("empty_commit", "commit has no hunks", 2, None) in found(label, hunks)


def test_text_checks_are_the_file_level_ones(hunks):
    label = copy.deepcopy(HUNK_LABEL)
    label["commits"][0]["subject"] = "fix(app): fix " + "x" * 70
    label["commits"][1]["subject"] = "Describe d"
    label["commits"][1]["body"] = "Calls render_widget now."
    checks = [(f[0], f[2]) for f in found(label, hunks)]
    assert ("subject_length", 0) in checks and ("type_repeated", 0) in checks
    assert ("subject_format", 1) in checks and ("unknown_identifier", 1) in checks
    assert CHECK_TITLES["subject_length"] == "Subject too long"
    # The whole-file rule is file-level only: no duplicate_file for the split src/app.py.
    assert not {"duplicate_file", "dropped_file", "unknown_file"} & {f[0] for f in found(label, hunks)}
