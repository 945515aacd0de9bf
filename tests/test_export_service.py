"""SFT export from the database: verdicts from reviews, snapshots, the command, re-export."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from django.core.management import call_command

from gsctune.jobs import JobState, run_in_foreground
from labeling.examples.services import import_examples_file
from labeling.export import snapshot as export
from labeling.export.services import build_records, create_export, label_verdicts, preview
from labeling.labels import store_label
from labeling.models import Example, Label, SFTExport
from labeling.review.services import record_verdict
from tests import sample_data

PER_REPO = 4


def sample_lines(per_repo: int = PER_REPO) -> list[str]:
    """The first per_repo lines of each repository in the generated sample."""
    seen: dict[str, int] = {}
    out = []
    for line in sample_data.sample_lines():
        repo = json.loads(line)["repo_url"]
        if seen.get(repo, 0) < per_repo:
            seen[repo] = seen.get(repo, 0) + 1
            out.append(line)
    return out


def commits_of(example: Example) -> list[dict]:
    return [{"subject": f"feat(core): change part {j}", "files": c["files"] or list(example.changed_files)[:1],
             "body": "", "issues": []} for j, c in enumerate(example.original_commits)]


def load(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    import_examples_file(path)
    for example in Example.objects.order_by("key"):
        store_label(Label(example=example, source=Label.Source.TEACHER, model="baseline",
                          commits=commits_of(example), gitignore=[]))


@pytest.fixture
def reviewed(db, tmp_path, staff_user):
    """Labels with every verdict: accepted, rejected, corrected (by a human revision), unreviewed."""
    load(tmp_path, sample_lines())
    labels = list(Label.objects.order_by("example__key"))
    plan = {}
    for i, label in enumerate(labels):
        kind = ("accept", "reject", "correct", None)[i % 4]
        plan[label.pk] = kind
        if kind == "accept":
            record_verdict(staff_user, label.pk, "accept")
        elif kind == "reject":
            record_verdict(staff_user, label.pk, "reject", reasons=["grouping"])
        elif kind == "correct":
            files = list(label.example.changed_files)
            record_verdict(staff_user, label.pk, "correct", correction={
                "commits": [{"type": "docs", "scope": "human", "description": f"corrected {label.pk}",
                             "files": files}], "gitignore": []})
    return plan


def test_verdicts_follow_the_latest_review(reviewed, staff_user):
    verdicts = label_verdicts()
    for label_id, kind in reviewed.items():
        expected = {"accept": "accepted", "reject": "rejected", "correct": "corrected", None: None}[kind]
        assert verdicts.get(label_id, (None,))[0] == expected
    accepted = next(pk for pk, kind in reviewed.items() if kind == "accept")
    record_verdict(staff_user, accepted, "reject", reasons=["type"])  # a later verdict wins
    record_verdict(staff_user, accepted, "skip")  # a skip does not count
    assert label_verdicts()[accepted] == ("rejected", None)


def test_snapshot_exports_revisions_and_never_rejected(reviewed, tmp_path):
    job = create_export(export.ExportOptions(include_unreviewed=True, val_fraction=0.2), folder=tmp_path / "s",
                        enqueue=False)
    job = run_in_foreground(job, stream=io.StringIO())
    assert job.state == JobState.SUCCEEDED, job.error
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    exported = {p["key"]: p for p in manifest["records"]}
    rejected = {pk for pk, kind in reviewed.items() if kind == "reject"}
    assert not rejected & {p["label_id"] for p in exported.values()}
    assert manifest["counts"]["excluded"]["rejected"] == len(rejected)
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl")
            for line in (tmp_path / "s" / name).read_text().splitlines()]
    answers = [json.loads(r["messages"][2]["content"]) for r in rows]
    corrected = [a for a in answers if a["commits"][0]["subject"].startswith("docs(human): corrected")]
    n_corrected = sum(1 for kind in reviewed.values() if kind == "correct")
    assert len({a["commits"][0]["subject"] for a in corrected}) == n_corrected
    for prov in exported.values():
        if prov["verdict"] == "corrected":
            revision = Label.objects.get(pk=prov["label_id"])
            assert revision.source == Label.Source.HUMAN and revision.revision_of_id
            assert prov["teacher"] == "baseline" and prov["weight"] == 2.0
    assert job.summary["counts"]["train_rows"] == job.train_rows == manifest["counts"]["train_rows"]
    assert job.manifest_sha256 and "records" not in job.summary


def test_reexport_is_byte_identical_whatever_the_import_order(db, tmp_path, django_user_model):
    lines = sample_lines(per_repo=3)
    load(tmp_path, lines)
    opts = export.ExportOptions(include_unreviewed=True, augment=1, seed=5)
    first = run_in_foreground(create_export(opts, folder=tmp_path / "a", enqueue=False), stream=io.StringIO())
    run_in_foreground(create_export(opts, folder=tmp_path / "b", enqueue=False), stream=io.StringIO())
    Label.objects.all().delete()
    Example.objects.all().delete()
    shuffled = list(lines)
    random.Random(4).shuffle(shuffled)
    (tmp_path / "c").mkdir()
    load(tmp_path / "c", shuffled)
    other = run_in_foreground(create_export(opts, folder=tmp_path / "d", enqueue=False), stream=io.StringIO())
    for name in ("train.jsonl", "val.jsonl", "labeled.jsonl"):
        a, b, d = ((tmp_path / f / name).read_bytes() for f in ("a", "b", "d"))
        assert a == b == d, name
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert first.summary["files"] == other.summary["files"]


def test_labeled_jsonl_round_trips_through_the_import(reviewed, tmp_path, django_user_model):
    run_in_foreground(create_export(export.ExportOptions(include_unreviewed=True), folder=tmp_path / "s",
                                    enqueue=False), stream=io.StringIO())
    lines = (tmp_path / "s" / "labeled.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    label = Label.objects.filter(example__key=export.record_key(first)).exclude(source="human").first()
    assert first["label"]["commits"] and set(first) >= {"noise_injected", "injected_files", "label"}
    assert label is not None


def test_preview_counts_without_diffs(reviewed):
    counts = preview(export.ExportOptions())
    n_accept = sum(1 for k in reviewed.values() if k == "accept")
    n_correct = sum(1 for k in reviewed.values() if k == "correct")
    assert counts["selected"] == n_accept + n_correct
    assert counts["train_examples"] + counts["val_examples"] == counts["selected"]
    assert counts["language_chart"]["rows"]
    records = build_records(light=True)
    assert "diff" not in records[0]["example"]


def test_noise_from_labeling_is_in_the_exported_diff(db, tmp_path):
    from gsctune.domain.noise import make_noise

    load(tmp_path, sample_lines(per_repo=1)[:2])
    label = Label.objects.order_by("id").first()
    noise = make_noise(label.example.key, list(label.example.changed_files), seed=1, probability=1.0)
    label.noise_injected, label.injected_files, label.noise_diff = True, noise.files, noise.diff
    label.gitignore = noise.gitignore
    store_label(label)
    records = build_records()
    rec = next(r for r in records if r["label"]["id"] == label.pk)
    assert rec["example"]["diff"].endswith(noise.diff)
    assert set(noise.files) <= set(rec["example"]["changed_files"])


def test_command_prints_the_snapshot_id(reviewed, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_sft", "--out", str(tmp_path / "cli"), "--include-unreviewed", "--val-fraction", "0.2",
                 "--seed", "3", "--augment", "1", "--prompt", "short", "--weight", "accepted=2", stdout=out, stderr=err)
    job = SFTExport.objects.get(pk=int(out.getvalue().strip()))
    assert job.state == JobState.SUCCEEDED and job.options["weights"]["accepted"] == 2.0
    assert (tmp_path / "cli" / "train.jsonl").stat().st_size > 0
    assert "train rows" in err.getvalue()
    row = json.loads((tmp_path / "cli" / "train.jsonl").read_text().splitlines()[0])
    from gsctune.domain.prompts import FINETUNE_SYSTEM_PROMPT

    assert row["messages"][0]["content"] == FINETUNE_SYSTEM_PROMPT


def test_command_rejects_bad_options(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="val_fraction"):
        call_command("export_sft", "--out", str(tmp_path), "--val-fraction", "2", stdout=io.StringIO())
    with pytest.raises(CommandError, match="VERDICT=NUMBER"):
        call_command("export_sft", "--out", str(tmp_path), "--weight", "accepted", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no such folder"):
        call_command("export_sft", "--out", str(tmp_path), "--tokenizer", str(tmp_path / "nope"),
                     "--max-diff-tokens", "100", stdout=io.StringIO())


def test_bad_tokenizer_fails_the_job_with_a_clear_error(reviewed, tmp_path):
    (tmp_path / "empty").mkdir()
    opts = export.ExportOptions(tokenizer=str(tmp_path / "empty"), max_diff_tokens=100)
    job = run_in_foreground(create_export(opts, folder=tmp_path / "s", enqueue=False), stream=io.StringIO())
    assert job.state == JobState.FAILED and "cannot load a tokenizer" in job.error


def test_teacher_and_prompt_version_select_and_write_the_system_prompt(db, tmp_path):
    from gsctune.domain.prompts import system_text
    from labeling.models import PromptVersion, Teacher

    load(tmp_path, sample_lines(per_repo=1)[:4])
    teacher = Teacher.objects.create(name="big", base_url="http://127.0.0.1:1/v1", model="big-model")
    version = PromptVersion.objects.create(name="mine", system_prompt="MY RULES", output_format="JSON only",
                                           sample_output="")
    chosen = Label.objects.order_by("example__key").first()
    chosen.teacher, chosen.prompt_version = teacher, version
    store_label(chosen)
    opts = export.ExportOptions(include_unreviewed=True, val_fraction=0, teachers=[teacher.name],
                                weights={"unreviewed": 1})  # one row, not a hash draw at the default 0.5
    job = run_in_foreground(create_export(opts, folder=tmp_path / "s", enqueue=False), stream=io.StringIO())
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.summary["counts"]["selected"] == 1, job.summary["counts"]
    assert job.summary["counts"]["excluded"] == {"other teacher": 3}
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["records"][0]["teacher"] == teacher.name
    assert manifest["records"][0]["prompt_version"] == str(version)
    row = json.loads((tmp_path / "s" / "train.jsonl").read_text().splitlines()[0])
    assert row["messages"][0]["content"] == system_text(version)
