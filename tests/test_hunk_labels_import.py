"""The labeled JSONL format at hunk level: import validates hunk ids per line, export writes them."""
import copy

import pytest

from labeling.examples.services import import_examples_file
from labeling.export.services import build_records
from labeling.export.snapshot import labeled_line
from labeling.models import Label

from . import hunk_data
from .factories import harvested, write_jsonl

pytestmark = pytest.mark.django_db


def _line(n: int, label: dict) -> dict:
    return harvested(n, diff=hunk_data.DIFF, changed_files=hunk_data.EXAMPLE["changed_files"],
                     noise_injected=True, injected_files=["debug.log"], label={**copy.deepcopy(label), "model": "m"})


def test_labeled_jsonl_with_hunks_imports_good_ids_and_names_bad_ones_by_line(tmp_path):
    bad = copy.deepcopy(hunk_data.HUNK_LABEL)
    bad["commits"][0]["hunks"] = ["src/app.py::1", "src/app.py::9"]
    bad["skipped_hunks"] = ["nope.txt::1"]
    mismatched = copy.deepcopy(hunk_data.HUNK_LABEL)
    mismatched["commits"][0]["files"] = ["README.md"]
    path = tmp_path / "labeled.jsonl"
    write_jsonl(path, [_line(1, hunk_data.HUNK_LABEL), _line(2, bad), _line(3, mismatched),
                       _line(4, hunk_data.FILE_LABEL)])
    report = import_examples_file(path)
    reasons = dict(report.bad)
    assert sorted(reasons) == [2, 3] and report.imported == 2 and report.labels_imported == 2
    assert reasons[2].startswith("label.commits[0].hunks: unknown hunk id(s) src/app.py::9 (the example's hunks: ")
    assert "label.skipped_hunks: unknown hunk id(s) nope.txt::1" in reasons[2]
    assert reasons[3].startswith("label.commits[0].files: ['README.md'] are not the files of its hunks")

    hunk_label = Label.objects.get(example__base_commit=f"{1:040x}")
    assert hunk_label.granularity == "hunks" and hunk_label.skipped_hunks == ["debug.log::1"]
    assert [c["hunks"] for c in hunk_label.commits] == [c["hunks"] for c in hunk_data.HUNK_LABEL["commits"]]
    assert hunk_label.noise_diff and "debug.log" not in hunk_label.example.changed_files  # junk split out
    assert [f["check"] for f in hunk_label.findings] == ["split_file"]  # the hunk checks ran
    file_label = Label.objects.get(example__base_commit=f"{4:040x}")  # file-level lines import as before
    assert file_label.granularity == "files" and file_label.skipped_hunks == []
    assert file_label.commits == hunk_data.FILE_LABEL["commits"]


def test_export_writes_hunks_and_skipped_hunks_and_they_import_again(tmp_path):
    path = tmp_path / "in.jsonl"
    write_jsonl(path, [_line(1, hunk_data.HUNK_LABEL), _line(2, hunk_data.FILE_LABEL)])
    import_examples_file(path)
    lines = {rec["example"]["base_commit"]: labeled_line(rec["example"], rec["label"]) for rec in build_records()}
    hunk_line, file_line = lines[f"{1:040x}"], lines[f"{2:040x}"]
    assert hunk_line["label"]["skipped_hunks"] == ["debug.log::1"]
    assert [(c["files"], c["hunks"]) for c in hunk_line["label"]["commits"]] == [
        (["src/app.py", "tests/test_app.py"], ["src/app.py::1", "tests/test_app.py::1"]),
        (["src/app.py", "docs/new.md"], ["src/app.py::2", "docs/new.md::1"])]
    assert "skipped_hunks" not in file_line["label"]  # file-level labels keep today's format
    assert file_line["label"]["commits"] == hunk_data.FILE_LABEL["commits"]

    Label.objects.all().delete()
    again = tmp_path / "again.jsonl"
    write_jsonl(again, [hunk_line, file_line])
    report = import_examples_file(again)
    assert report.bad_count == 0 and report.labels_imported == 2
    reimported = Label.objects.get(granularity="hunks")
    assert reimported.skipped_hunks == ["debug.log::1"]
    assert [c["hunks"] for c in reimported.commits] == [c["hunks"] for c in hunk_data.HUNK_LABEL["commits"]]
