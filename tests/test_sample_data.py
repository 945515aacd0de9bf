"""The suite's generated sample, and the README's first steps, which need nothing beside the clone."""
import json
import re
import shlex
import subprocess
from collections import defaultdict

import pytest
from django.core.management import call_command

from labeling.examples.services import parse_example
from labeling.models import Example

from .conftest import ROOT
from .sample_data import PER_REPO, REPOS, build_repository, sample_examples, sample_repositories


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_sample_has_what_the_tests_rely_on():
    examples = sample_examples()
    by_repo = defaultdict(list)
    for ex in examples:
        parse_example(ex)
        by_repo[ex["repo_url"]].append(ex)
    assert sorted(by_repo) == sorted(spec.url for spec in REPOS) and len(by_repo) == 11
    assert all(len(rows) == PER_REPO for rows in by_repo.values())
    assert len({ex["repo_url"] for ex in examples[:11]}) == 11  # interleaved: the first lines span every repository
    repos_of = defaultdict(set)
    for ex in examples:
        for lang in ex["languages"]:
            repos_of[lang].add(ex["repo_url"])
    for lang in ("python", "go", "rust", "javascript", "c", "shell"):  # languages the split must cover
        assert len(repos_of[lang]) >= 2, lang
    diffs = "".join(ex["diff"] for ex in examples)
    assert "rename from" in diffs and "deleted file mode" in diffs and "new file mode" in diffs
    assert "Binary files" not in diffs and "GIT binary patch" not in diffs  # spans with the logo are skipped
    files = [set(ex["changed_files"]) for ex in examples]
    assert any({"Cargo.toml", "Cargo.lock"} <= f for f in files)  # a manifest with its lockfile
    assert any({"package.json", "package-lock.json"} <= f for f in files)
    assert any(f & {"README.md", "CHANGELOG.md"} for f in files)
    assert any("docs/_build" in ex["existing_gitignore"] for ex in examples)  # a nested .gitignore
    assert {ex["n_commits"] for ex in examples} == {1, 2, 3, 4, 5}
    assert max(len(f) for f in files) > 20  # the wide refactor
    merged = 0
    for spec, repo in zip(REPOS, sample_repositories()):  # no span holds a merge commit
        merges = set(git(repo, "rev-list", "--merges", "HEAD").split())
        merged += bool(merges)
        assert not merges & {c["sha"] for ex in by_repo[spec.url] for c in ex["original_commits"]}
    assert merged


def test_repositories_are_the_same_on_every_build(tmp_path):
    """Fixed authors and dates: the same shas, so the harvested sample is byte-identical everywhere."""
    again = build_repository(REPOS[0], tmp_path)
    assert git(again, "rev-parse", "HEAD") == git(sample_repositories()[0], "rev-parse", "HEAD")
    harvested = [ex for ex in sample_examples() if ex["repo_url"] == REPOS[0].url]
    for ex in harvested:  # every commit the sample names exists in the rebuilt repository
        git(again, "cat-file", "-e", f"{ex['head_commit']}^{{commit}}")


def readme_first_steps() -> list[list[str]]:
    """The `manage.py` commands of the README's first code block under "First steps"."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## First steps", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line)[2:] for line in block.splitlines() if line.startswith(".venv/bin/python manage.py ")]


@pytest.mark.django_db
def test_readme_first_steps_work_in_a_clone_with_only_its_history(tmp_path, monkeypatch):
    commands = readme_first_steps()
    own = [args for args in commands if args[0] == "harvest" and args[args.index("--repo") + 1] == "."]
    imports = [args for args in commands if args[0] == "import_examples"]
    assert own and imports, commands
    clone = tmp_path / "clone"  # a fresh clone of a generated repository stands in for gsctune's own
    subprocess.run(["git", "clone", "-q", str(sample_repositories()[0]), str(clone)], check=True, capture_output=True)
    (clone / "var").mkdir()  # made by the settings on a real clone's first manage.py command
    monkeypatch.chdir(clone)
    call_command(*own[0])
    output = own[0][own[0].index("--output") + 1]
    lines = (clone / output).read_text(encoding="utf-8").splitlines()
    assert len(lines) == int(own[0][own[0].index("--count") + 1])
    call_command(*imports[0])
    assert Example.objects.count() == len(lines)
    assert all(not ex.warnings and ex.repo_url == f"local/{clone.name}" for ex in Example.objects.all())


def test_gsctune_own_history_harvests(tmp_path):
    """What the README's first command does here, kept small (the history grows)."""
    try:
        shallow = git(ROOT, "rev-parse", "--is-shallow-repository").strip() == "true"
        commits = int(git(ROOT, "rev-list", "--count", "HEAD"))
    except subprocess.CalledProcessError:
        pytest.skip("not a git checkout (an unpacked archive): nothing to harvest")
    if shallow or commits < 10:
        pytest.skip(f"history too short to harvest ({commits} commit(s){', shallow clone' if shallow else ''})")
    out = tmp_path / "own.jsonl"
    call_command("harvest", "--repo", str(ROOT), "--count", "3", "--output", str(out))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3
    for record in records:
        parse_example(record)
