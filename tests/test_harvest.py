"""Harvesting a local repository made in the test, then importing what it wrote."""
import json
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.examples.services import import_examples_file, parse_example
from labeling.models import Example

pytestmark = pytest.mark.django_db


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "T")
    git(repo, "remote", "add", "origin", "git@github.com:someone/proj.git")
    (repo / ".gitignore").write_text("# comment\n*.pyc\n\n")
    (repo / "docs").mkdir()
    (repo / "docs" / ".gitignore").write_text("_build\n")
    for i in range(8):
        (repo / f"mod{i % 3}.py").write_text(f"VALUE = {i}\n")
        if i == 3:
            (repo / "logo.png").write_bytes(bytes(range(256)))  # a binary change
        if i == 5:
            (repo / "Cargo.toml").write_text("[package]\nname = 'x'\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {i}")
    # A merge on the first-parent history.
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "side.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "side work")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "side", "-m", "merge side")
    return repo


def test_harvest_writes_valid_examples_that_import_cleanly(repo, tmp_path):
    out = tmp_path / "h.jsonl"
    call_command("harvest", "--repo", str(repo), "--count", "20", "--seed", "3", "--output", str(out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records, "no example harvested"
    merge = git(repo, "rev-parse", "HEAD").strip()
    binary_commit = git(repo, "log", "--format=%H", "--grep", "change 3").strip()
    for record in records:
        parse_example(record)  # raises on any schema problem
        assert record["repo_url"] == "github.com/someone/proj"
        assert record["existing_gitignore"][:2] == ["*.pyc", "docs/_build"]
        assert record["head_commit"] != merge
        assert binary_commit not in [c["sha"] for c in record["original_commits"]]
        assert record["n_commits"] == len(record["original_commits"]) <= 5
        assert set(record["changed_files"]) == {f for c in record["original_commits"] for f in c["files"]}
        assert git(repo, "diff", record["base_commit"], record["head_commit"]) == record["diff"]
    assert len({(r["base_commit"], r["head_commit"]) for r in records}) == len(records)
    report = import_examples_file(out)
    assert report.bad_count == 0 and report.imported == len(records)
    assert all(not example.warnings for example in Example.objects.all())


def test_harvest_without_output_imports_directly(repo):
    call_command("harvest", "--repo", str(repo), "--count", "3", "--seed", "1")
    assert Example.objects.count() == 3


def test_harvest_rejects_a_folder_that_is_not_a_repository(tmp_path):
    with pytest.raises(CommandError, match="not a git repository|failed"):
        call_command("harvest", "--repo", str(tmp_path), "--count", "1", "--output", str(tmp_path / "x.jsonl"))
