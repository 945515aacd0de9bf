"""Proposal parser: forgiving about wrapping, strict about the schema."""

import json

import pytest

from gsctune.domain.proposal import Commit, Issue, Proposal, parse_proposal, parse_subject

VALID = {
    "commits": [
        {"subject": "feat(cli): add --verbose flag", "files": ["cli.py", "tests/test_cli.py"],
         "body": "Print each step.", "issues": [{"message": "debug print left", "path": "cli.py"}]},
        {"subject": "docs: describe the flag", "files": ["README.md"], "body": "", "issues": []},
    ],
    "gitignore": ["__pycache__/"],
}


def test_plain_json_round_trips_to_the_label_shape():
    result = parse_proposal(json.dumps(VALID))
    assert result.ok, result.error
    assert result.proposal.to_label_dict() == VALID
    first = result.proposal.commits[0]
    assert (first.type, first.scope, first.description) == ("feat", "cli", "add --verbose flag")
    assert first.issues == [Issue("debug print left", "cli.py")]
    assert json.loads(result.proposal.to_json()) == VALID


@pytest.mark.parametrize("wrap", [
    "Here are the commits:\n```json\n{}\n```\nHope that helps.",
    "<think>The user wants {{\"commits\": []}} maybe... let me think.</think>\n{}",
    "Reasoning: first group the cli files.\n\n{}",
    "```\n{}\n```",
    "{} ",
])
def test_wrapping_is_forgiven(wrap):
    text = wrap.format(json.dumps(VALID, indent=2))
    result = parse_proposal(text)
    assert result.ok, result.error
    assert result.raw == text
    assert result.proposal.to_label_dict() == VALID


def test_last_valid_object_wins_over_drafts():
    draft = {"commits": [{"subject": "chore: draft", "files": ["a"]}]}
    text = f"draft: {json.dumps(draft)}\nfinal: {json.dumps(VALID)}"
    assert parse_proposal(text).proposal.to_label_dict() == VALID


def test_missing_optional_fields_default():
    result = parse_proposal('{"commits": [{"subject": "fix: x", "files": ["a.py"]}]}')
    assert result.ok
    assert result.proposal.to_label_dict() == {
        "commits": [{"subject": "fix: x", "files": ["a.py"], "body": "", "issues": []}], "gitignore": []}


@pytest.mark.parametrize("obj, fragment", [
    ({"commits": []}, "commits: expected a non-empty list"),
    ({"commits": [{"subject": "update stuff", "files": ["a"]}]}, "commits[0].subject 'update stuff'"),
    ({"commits": [{"subject": "fix: a", "files": "a.py"}]}, "commits[0].files: expected a list"),
    ({"commits": [{"subject": "fix: a", "files": []}]}, "commits[0].files: must not be empty"),
    ({"commits": [{"subject": "fix: a", "files": ["a"], "body": ["x"]}]}, "commits[0].body: expected a string"),
    ({"commits": [{"subject": "fix: a", "files": ["a"], "issues": [{"path": "a"}]}]}, "issues[0].message"),
    ({"commits": [{"subject": "fix: a", "files": ["a"], "type": "fix"}]}, "unknown key(s) type"),
    ({"commits": [{"subject": "fix: a", "files": ["a"]}], "gitignore": "x"}, "gitignore: expected a list"),
    ({"commits": [{"subject": "fix: a", "files": ["a"]}], "notes": 1}, "unknown top-level key(s): notes"),
])
def test_schema_errors_name_the_item(obj, fragment):
    result = parse_proposal(json.dumps(obj))
    assert not result.ok
    assert fragment in result.error


def test_no_json_and_truncated_json_are_explained():
    assert parse_proposal("I cannot help with that.").error == "no JSON object found in the answer"
    truncated = json.dumps(VALID)[:80]
    assert "truncated" in parse_proposal(truncated).error
    assert parse_proposal(None).error


def test_subject_parts_and_breaking_bang():
    assert parse_subject("feat(api)!: drop v1") == ("feat", "api", "drop v1", True)
    assert parse_subject("chore: bump") == ("chore", "", "bump", False)
    commit = Commit(type="fix", scope="", description="handle empty input", files=["a"])
    assert commit.subject == "fix: handle empty input"
    assert Proposal([commit]).files == ["a"]
