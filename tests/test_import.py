"""The import service and the import_examples command: bad lines, idempotence, labels."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.examples.services import import_examples_file
from labeling.models import Example, Label

from .factories import harvested, write_jsonl
from .sample_data import SHARED_SAMPLE

pytestmark = pytest.mark.django_db


def test_mixed_file_reports_every_bad_line_and_imports_the_valid_ones(tmp_path, settings):
    settings.IMPORT_MAX_LINE_BYTES = 20_000
    no_repo = harvested(10)
    del no_repo["repo_url"]
    lines = [
        harvested(0),                                              # 1 ok
        b'{"repo_url": "github.com/x/y", "branch": \n',            # 2 invalid JSON
        no_repo,                                                   # 3 missing field
        harvested(20, n_commits="three"),                          # 4 mistyped field
        b'{"repo_url": "caf\xe9"}\n',                              # 5 non-UTF-8
        (json.dumps(harvested(30, diff="+" + "x" * 30_000)) + "\n").encode(),  # 6 absurdly long line
        b"\n",                                                     # 7 empty line
        b"[1, 2, 3]\n",                                            # 8 not an object
        harvested(40, changed_files=["src/app.py", "tests/test_app.py", "ghost.py"]),  # 9 ok with warning
        harvested(50, original_commits=[{"sha": "a", "files": []}]),  # 10 commit without subject
        harvested(60, changed_files=["a.py", 7]),                  # 11 list with a number
        harvested(70),                                             # 12 ok
    ]
    path = tmp_path / "mixed.jsonl"
    write_jsonl(path, lines)

    report = import_examples_file(path)

    reasons = dict(report.bad)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert "invalid JSON" in reasons[2]
    assert reasons[3] == "missing field 'repo_url'"
    assert reasons[4] == "field 'n_commits' must be int, got str"
    assert "not valid UTF-8" in reasons[5]
    assert "longer than 20000 bytes" in reasons[6]
    assert reasons[7] == "empty line"
    assert "expected a JSON object" in reasons[8]
    assert "subject" in reasons[10]
    assert "changed_files[1]" in reasons[11]
    assert report.imported == 3 and report.bad_count == 9
    # No partial rows: exactly the three valid lines are stored.
    assert set(Example.objects.values_list("base_commit", flat=True)) == {f"{n:040x}" for n in (0, 40, 70)}
    warned = Example.objects.get(base_commit=f"{40:040x}")
    assert warned.warnings == ["changed_files lists 1 path(s) with no diff section: ghost.py"]
    assert Example.objects.get(base_commit=f"{0:040x}").warnings == []


def test_reimport_adds_nothing_and_counts_what_was_there(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [harvested(0), harvested(2), harvested(2)])  # the last is a duplicate line
    first = import_examples_file(path)
    assert (first.imported, first.already_present) == (2, 1)
    second = import_examples_file(path)
    assert (second.imported, second.already_present, second.bad_count) == (0, 3, 0)
    assert Example.objects.count() == 2


def test_stored_example_round_trips_to_the_harvested_format(tmp_path):
    record = harvested(4)
    path = tmp_path / "one.jsonl"
    write_jsonl(path, [record])
    import_examples_file(path)
    example = Example.objects.get()
    assert example.as_harvested() == record
    assert list(example.as_harvested()) == list(record)
    assert example.key == f"github.com/example/project@{4:040x}..{5:040x}"


def test_labeled_format_imports_its_label_and_splits_out_injected_junk(tmp_path):
    junk = (
        "diff --git a/.DS_Store b/.DS_Store\nnew file mode 100644\nindex 0000000..1234567\n"
        "Binary files /dev/null and b/.DS_Store differ\n"
    )
    record = harvested(6, diff=harvested(6)["diff"] + junk, changed_files=["src/app.py", "tests/test_app.py", ".DS_Store"])
    record.update(
        noise_injected=True,
        injected_files=[".DS_Store"],
        label={
            "commits": [{"subject": "feat(app): import sys", "files": ["src/app.py", "tests/test_app.py"], "body": "Adds sys.", "issues": []}],
            "gitignore": [".DS_Store"],
            "model": "qwen3-coder-480b",
            "usage": {"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
        },
    )
    path = tmp_path / "labeled.jsonl"
    write_jsonl(path, [record])
    report = import_examples_file(path)
    assert (report.imported, report.labels_imported) == (1, 1)
    example = Example.objects.get()
    assert ".DS_Store" not in example.diff and example.changed_files == ["src/app.py", "tests/test_app.py"]
    assert example.warnings == []
    label = Label.objects.get()
    assert label.source == Label.Source.IMPORTED
    assert label.model == "qwen3-coder-480b" and label.usage["total_tokens"] == 980
    assert label.injected_files == [".DS_Store"] and label.noise_diff == junk
    # The labeled record is reproduced exactly from what was stored.
    assert label.as_labeled() == record
    # Importing the labeled file again adds neither example nor label.
    again = import_examples_file(path)
    assert (again.imported, again.labels_imported, Label.objects.count()) == (0, 0, 1)


def test_labeled_line_with_a_bad_label_is_rejected_whole(tmp_path):
    record = harvested(8, label={"commits": "not a list"})
    path = tmp_path / "bad-label.jsonl"
    write_jsonl(path, [record])
    report = import_examples_file(path)
    assert report.bad == [(1, "label.commits missing or not a list")]
    assert not Example.objects.exists() and not Label.objects.exists()


def test_command_prints_bad_lines_and_summary_and_exits_zero(tmp_path, capsys):
    path = tmp_path / "cmd.jsonl"
    write_jsonl(path, [harvested(0), b"not json\n", harvested(2)])
    call_command("import_examples", str(path))
    out = capsys.readouterr().out
    assert f"{path}:2: invalid JSON" in out
    assert "2 imported, 0 already present, 1 bad" in out


def test_command_fails_on_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_examples", str(tmp_path / "missing.jsonl"))


def test_generated_sample_imports_all_then_0(harvest_sample, capsys):
    n = len(harvest_sample.read_text(encoding="utf-8").splitlines())
    call_command("import_examples", str(harvest_sample))
    assert Example.objects.count() == n
    assert all(not example.warnings for example in Example.objects.all())  # changed_files agree with the diffs
    call_command("import_examples", str(harvest_sample))
    assert f"0 imported, {n} already present, 0 bad" in capsys.readouterr().out
    assert Example.objects.count() == n


@pytest.mark.skipif(not SHARED_SAMPLE.exists(), reason=f"the optional shared sample is not at {SHARED_SAMPLE}")
def test_shared_sample_imports_1500_then_0(tmp_path, capsys):
    call_command("import_examples", str(SHARED_SAMPLE))
    assert Example.objects.count() == 1500
    call_command("import_examples", str(SHARED_SAMPLE))
    assert "0 imported, 1500 already present, 0 bad" in capsys.readouterr().out
    assert Example.objects.count() == 1500


def test_unpaired_surrogate_escape_is_a_bad_line_not_a_failed_batch(tmp_path):
    path = tmp_path / "surrogate.jsonl"
    line = json.dumps(harvested(0)).replace('"main"', '"ma\\ud800in"').encode() + b"\n"
    write_jsonl(path, [line, harvested(2)])
    report = import_examples_file(path)
    assert report.bad == [(1, "text holds an unpaired UTF-16 surrogate (a lone \\udXXX escape)")]
    assert report.imported == 1
