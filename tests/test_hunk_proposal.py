"""Hunk-level teacher answers: prompt, parser, repair text, conversions and the labeled format."""
from __future__ import annotations

import json

import pytest

from gsctune.domain.hunk_proposal import (
    HUNK_OUTPUT_FORMAT,
    HUNK_SAMPLE_OUTPUT,
    build_hunk_messages,
    example_hunk_view,
    hunk_prompt,
    id_problems,
    labeled_fields,
    parse_hunk_proposal,
    read_labeled,
    repair_message,
    to_file_label,
    to_hunk_label,
)
from gsctune.domain.hunks import render_user_turn
from gsctune.domain.protocol import BUILTIN_SYSTEM_PROMPT
from tests.hunk_data import EXAMPLE, FILE_LABEL, HUNK_LABEL, IDS


@pytest.fixture
def hunks():
    return example_hunk_view(EXAMPLE)


def test_hunk_view_leaves_out_files_the_repository_ignores(hunks):
    assert [h.id for h in hunks] == IDS  # cache.pyc matches *.pyc: the tool never lists it
    assert [h.kind for h in hunks] == ["text", "text", "text", "untracked", "untracked"]
    shown = example_hunk_view(EXAMPLE, show_new_content=True)
    assert [h.id for h in shown] == IDS and shown[-1].kind == "new"


def test_messages_list_hunks_the_tools_way(hunks):
    system, user = build_hunk_messages(hunks)
    assert user == {"role": "user", "content": render_user_turn(hunks)}
    assert user["content"].startswith("Available hunks:\n  src/app.py::1  (+1/-1)\n  src/app.py::2  (+1/-1)\n"
                                      "  tests/test_app.py::1  (+1/-0)\n  debug.log::1  (new untracked file)\n")
    assert system["content"].startswith(BUILTIN_SYSTEM_PROMPT.strip())
    assert HUNK_OUTPUT_FORMAT in system["content"] and HUNK_SAMPLE_OUTPUT in system["content"]
    assert hunk_prompt("Captured prompt.").system_prompt == "Captured prompt."


def test_the_sample_answer_is_valid_for_its_own_hunks():
    sample = json.loads(HUNK_SAMPLE_OUTPUT)
    ids = [h for c in sample["commits"] for h in c["hunks"]] + sample["skipped_hunks"]
    result = parse_hunk_proposal(HUNK_SAMPLE_OUTPUT, ids)
    assert result.ok, result.error
    assert result.proposal.to_label_dict() == sample


def test_parser_is_forgiving_about_wrapping():
    answer = json.dumps(HUNK_LABEL)
    draft = json.dumps({**HUNK_LABEL, "commits": [{"subject": "draft", "hunks": []}]})
    text = f"<think>first try {draft}</think>Here it is:\n```json\n{answer}\n```\nDone."
    result = parse_hunk_proposal(text, IDS)
    assert result.ok, result.error
    assert result.proposal.to_label_dict() == HUNK_LABEL


@pytest.mark.parametrize("answer, error", [
    ({"commits": [{"subject": "feat: x", "files": ["a"], "hunks": ["src/app.py::1"]}]},
     "commits[0]: unknown key(s) files; allowed: subject, hunks, body, breaking_change, issues"),
    ({"commits": [{"subject": "feat: x", "hunks": []}]}, "commits[0].hunks: must not be empty"),
    ({"commits": [{"subject": "added stuff", "hunks": ["src/app.py::1"]}]},
     "commits[0].subject 'added stuff' is not of the form 'type(scope): description'"),
    ({"commits": [{"subject": "feat: x", "hunks": ["a::1"]}], "skipped": []},
     "unknown key(s) skipped; allowed: commits, gitignore, skipped_hunks"),
    ({"commits": [{"subject": "feat: x", "hunks": ["a::1"], "breaking_change": 1}]},
     "commits[0].breaking_change: expected a string, got int"),
    ({"commits": [{"subject": "feat: x", "hunks": ["a::1"], "issues": [{"message": ""}]}]},
     "commits[0].issues[0].message: expected a non-empty string"),
    ({"commits": []}, "commits: expected a non-empty list of commit objects"),
])
def test_parser_is_strict_about_the_schema(answer, error):
    result = parse_hunk_proposal(json.dumps(answer), IDS)
    assert not result.ok and result.proposal is None
    assert result.error == error


def test_no_json_and_truncated_json_are_named():
    assert parse_hunk_proposal("I cannot do that.", IDS).error == "no JSON object found in the answer"
    assert parse_hunk_proposal('{"commits": [{"subject": "feat: x"', IDS).error == (
        "the JSON object ends before it is closed (truncated answer?)")


def test_repair_names_unknown_duplicate_and_missing_ids():
    answer = {"commits": [{"subject": "feat(app): b", "hunks": ["src/app.py::1", "src/app.py::3", "src/app.py::1"]},
                          {"subject": "docs: d", "hunks": ["docs/new.md::1", "src/app.py::1"]}],
              "skipped_hunks": ["docs/new.md::1", "notes.txt::1"]}
    result = parse_hunk_proposal(json.dumps(answer), IDS)
    assert not result.ok and result.proposal is not None  # schema-valid, ids wrong
    assert result.problems.unknown == {"src/app.py::3": ["commit 1"], "notes.txt::1": ["skipped_hunks"]}
    assert result.problems.duplicate == {"src/app.py::1": ["commit 1", "commit 1", "commit 2"],
                                         "docs/new.md::1": ["commit 2", "skipped_hunks"]}
    assert result.problems.missing == ["src/app.py::2", "tests/test_app.py::1", "debug.log::1"]
    assert result.error == (
        "the hunk IDs do not match the hunk list:\n"
        "- unknown hunk IDs (not in the hunk list; copy IDs exactly): src/app.py::3 in commit 1; "
        "notes.txt::1 in skipped_hunks\n"
        "- hunk IDs used more than once (each hunk goes in exactly one commit or in skipped_hunks): "
        "src/app.py::1 in commit 1 and commit 1 and commit 2; docs/new.md::1 in commit 2 and skipped_hunks\n"
        "- missing hunk IDs (put each in a commit, or in skipped_hunks if it is junk): "
        "src/app.py::2, tests/test_app.py::1, debug.log::1")
    message = repair_message(result)
    assert message["role"] == "user"
    assert message["content"].startswith("Your answer could not be used: the hunk IDs do not match")
    for hid in ("src/app.py::3", "notes.txt::1", "src/app.py::1", "docs/new.md::1", "src/app.py::2",
                "tests/test_app.py::1", "debug.log::1"):
        assert hid in message["content"]


def test_a_right_answer_has_no_id_problems():
    assert not id_problems(HUNK_LABEL, IDS)
    assert parse_hunk_proposal(json.dumps(HUNK_LABEL), IDS).ok


def test_file_label_to_hunks_and_back_is_exact(hunks):
    hunk_level = to_hunk_label(FILE_LABEL, hunks)
    assert [c["hunks"] for c in hunk_level["commits"]] == [
        ["src/app.py::1", "src/app.py::2", "tests/test_app.py::1"], ["docs/new.md::1"]]
    assert hunk_level["skipped_hunks"] == ["debug.log::1"]  # a file no commit names
    assert to_file_label(hunk_level, hunks) == FILE_LABEL


def test_round_trip_over_the_generated_sample():
    from tests import sample_data

    checked = 0
    for example in sample_data.sample_examples():
        hunks = example_hunk_view(example)
        listed = {h.file for h in hunks}
        taken: set[str] = set()
        commits = []
        for original in example["original_commits"]:  # the human commits, each file once
            files = [f for f in original["files"] if f in listed and f not in taken]
            taken.update(files)
            if files:
                commits.append({"subject": original["subject"], "files": files, "body": "", "issues": []})
        label = {"commits": commits, "gitignore": []}
        hunk_level = to_hunk_label(label, hunks)
        ids = [h for c in hunk_level["commits"] for h in c["hunks"]] + hunk_level["skipped_hunks"]
        assert sorted(ids) == sorted(h.id for h in hunks)
        assert to_file_label(hunk_level, hunks) == label
        checked += 1
    assert checked > 20


def test_a_split_file_is_named_in_each_of_its_commits(hunks):
    assert [c["files"] for c in to_file_label(HUNK_LABEL, hunks)["commits"]] == [
        ["src/app.py", "tests/test_app.py"], ["src/app.py", "docs/new.md"]]


def test_labeled_format_writes_hunks_beside_files_and_reads_them_back(hunks):
    fields = labeled_fields(FILE_LABEL, hunks)
    assert fields["commits"][0]["files"] == ["src/app.py", "tests/test_app.py"]
    assert fields["commits"][0]["hunks"] == ["src/app.py::1", "src/app.py::2", "tests/test_app.py::1"]
    assert fields["skipped_hunks"] == ["debug.log::1"] and fields["gitignore"] == ["*.log"]
    label, errors = read_labeled(json.loads(json.dumps(fields)), hunks)
    assert errors == [] and label["commits"][1]["hunks"] == ["docs/new.md::1"]
    assert read_labeled(FILE_LABEL, hunks)[0]["skipped_hunks"] == ["debug.log::1"]  # files only: converted


def test_labeled_format_names_bad_ids(hunks):
    listed = ", ".join(IDS)
    bad = {"commits": [{"subject": "feat: x", "files": ["src/app.py"], "hunks": ["src/app.py::1", "src/app.py::9"]},
                       {"subject": "feat: y", "files": ["docs/new.md"], "hunks": ["src/app.py::2"]}],
           "skipped_hunks": ["cache.pyc::1"]}
    label, errors = read_labeled(bad, hunks)
    assert label is None
    assert errors == [
        f"label.commits[0].hunks: unknown hunk id(s) src/app.py::9 (the example's hunks: {listed})",
        "label.commits[1].files: ['docs/new.md'] are not the files of its hunks (['src/app.py'])",
        f"label.skipped_hunks: unknown hunk id(s) cache.pyc::1 (the example's hunks: {listed})",
    ]
    assert read_labeled({"commits": [{"subject": "feat: x", "files": ["nope.py"]}]}, hunks)[1] == [
        "label.commits: files not in the example's diff: nope.py"]
    mixed = {"commits": [{"subject": "feat: x", "hunks": ["src/app.py::1"]}, {"subject": "feat: y", "files": ["a"]}]}
    assert read_labeled(mixed, hunks)[1] == ["label.commits: give hunks for every commit or for none"]
