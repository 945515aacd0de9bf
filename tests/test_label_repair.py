"""The corrupted .gitignore of saved corrections: the page fix, the repair migration, the re-check
command, and what export snapshots say about repaired labels."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from gsctune.jobs import execute_job
from labeling.export.services import create_export
from labeling.export.snapshot import ExportOptions
from labeling.models import Label, Review, ReviewItem
from labeling.review.services import ReviewError, clean_correction, record_verdict
from tests.factories import good_commits, make_example, make_label
from tests.migration_state import migrate_to

# What the broken review page put into every correction's .gitignore.
JUNK = ['{{ label.gitignore|join:"', '" }}']
pytestmark = pytest.mark.django_db
BEFORE = ("labeling", "0003_labeling_runs")


def test_review_page_shows_each_gitignore_pattern_on_its_own_line(staff_client):
    label = make_label(make_example(1), gitignore=["*.log", "build/", "!keep.log"])
    html = staff_client.get(reverse("review-item", args=[label.pk])).content.decode()
    assert '<pre class="gitignore">*.log\nbuild/\n!keep.log</pre>' in html
    assert '<textarea name="gitignore" rows="3">*.log\nbuild/\n!keep.log</textarea>' in html
    assert "label.gitignore" not in html and "{{" not in html


def test_a_correction_with_template_text_as_a_pattern_is_refused():
    label = make_label(make_example(1))
    with pytest.raises(ReviewError, match=r"\.gitignore line 2: .* is page template text"):
        clean_correction({"commits": [{"type": "feat", "description": "add config", "files": ["src/app.py"]}],
                          "gitignore": ["*.log", JUNK[0]]}, label)


@pytest.mark.django_db(transaction=True)
def test_migration_drops_template_text_from_human_labels_and_marks_them():
    old = migrate_to([BEFORE])
    Example, Label_ = old.get_model("labeling", "Example"), old.get_model("labeling", "Label")
    example = Example.objects.create(key="k", repo_url="r", branch="main", base_commit="a", head_commit="b",
                                     n_commits=1, diff="", diff_chars=0, n_files=0)
    teacher = Label_.objects.create(example=example, source="teacher", gitignore=["*.log", JUNK[1]])
    broken = Label_.objects.create(example=example, source="human", revision_of=teacher,
                                   gitignore=[JUNK[0], "*.log", JUNK[1], "dist/"])
    clean = Label_.objects.create(example=example, source="human", gitignore=["*.log"])

    migrate_to()
    broken_now, clean_now, teacher_now = (Label.objects.get(pk=x.pk) for x in (broken, clean, teacher))
    assert broken_now.gitignore == ["*.log", "dist/"]
    assert broken_now.repaired_at is not None
    assert broken_now.repair_note == (
        "dropped 2 .gitignore pattern(s) that were template text: '{{ label.gitignore|join:\"', '\" }}'")
    assert (clean_now.gitignore, clean_now.repaired_at, clean_now.repair_note) == (["*.log"], None, "")
    assert teacher_now.gitignore == ["*.log", JUNK[1]] and teacher_now.repaired_at is None  # only corrections


def _repaired_correction(user, n=1):
    """A corrected label whose human revision the migration repaired (as after 0004 on old data)."""
    label = make_label(make_example(n), commits=good_commits())
    review = record_verdict(user, label.pk, "correct", correction={
        "commits": [{"type": "feat", "scope": "config", "description": "add config loading",
                     "files": ["src/app.py", "tests/test_app.py", "README.md"]}],
        "gitignore": ["*.log"],
    })
    revision = review.correction
    Label.objects.filter(pk=revision.pk).update(
        findings=[{"check": "stale", "message": "computed from the broken patterns", "commit": None}],
        repaired_at=timezone.now(), repair_note="dropped 2 .gitignore pattern(s) that were template text")
    ReviewItem.objects.filter(pk=label.pk).update(verdict="", n_reviewers=0)  # stale queue columns
    return label, revision


def test_recheck_command_reruns_checks_and_review_rows(staff_user):
    label, revision = _repaired_correction(staff_user)
    out = StringIO()
    call_command("recheck_repaired_labels", stdout=out)
    revision.refresh_from_db()
    assert all(f["check"] != "stale" for f in revision.findings)
    item = ReviewItem.objects.get(pk=label.pk)
    assert (item.verdict, item.n_reviewers) == ("correct", 1)
    assert out.getvalue().startswith("Re-checked 1 repaired label(s) (")
    assert "refreshed 1 review row(s); 0 older export snapshot(s)" in out.getvalue()


def test_the_review_page_of_a_repaired_correction_says_what_changed(staff_user, staff_client):
    _, revision = _repaired_correction(staff_user)
    html = staff_client.get(reverse("review-item", args=[revision.pk])).content.decode()
    assert ": dropped 2 .gitignore pattern(s) that were template text.</p>" in html and "Repaired 20" in html


def test_recheck_command_without_repaired_labels():
    out = StringIO()
    call_command("recheck_repaired_labels", stdout=out)
    assert out.getvalue() == "No repaired labels: nothing to re-check.\n"


def _snapshot(tmp_path, name):
    opts = ExportOptions(include_unreviewed=True, val_fraction=0.0, max_val_fraction=0.0)
    job = create_export(opts, name=name, folder=tmp_path / name, enqueue=False)
    execute_job(job.job_label, job.pk)
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    return job


def test_snapshots_say_when_they_hold_repaired_labels(staff_user, staff_client, tmp_path):
    label = make_label(make_example(1), commits=good_commits())
    record_verdict(staff_user, label.pk, "correct", correction={
        "commits": [{"type": "feat", "scope": "config", "description": "add config loading",
                     "files": ["src/app.py", "tests/test_app.py", "README.md"]}],
        "gitignore": ["*.log"],
    })
    revision = Review.objects.get().correction
    before = _snapshot(tmp_path, "before")  # made while the correction still looked broken
    Label.objects.filter(pk=revision.pk).update(repaired_at=timezone.now(), repair_note="dropped 2 patterns")

    after = _snapshot(tmp_path, "after")
    manifest = json.loads(after.file_path("manifest.json").read_text())
    assert manifest["repaired_labels"] == [{"key": manifest["records"][0]["key"], "label_id": revision.pk,
                                            "note": "dropped 2 patterns"}]
    assert manifest["records"][0]["repaired"] == "dropped 2 patterns"
    page = staff_client.get(after.get_absolute_url()).content.decode()
    assert f"Made from 1 repaired label (template text dropped from a correction's .gitignore): {revision.pk}." in page

    out = StringIO()
    call_command("recheck_repaired_labels", stdout=out)
    assert "1 older export snapshot(s) noted" in out.getvalue()
    page = staff_client.get(before.get_absolute_url()).content.decode()
    assert f"Made before a data repair: 1 label in it (label {revision.pk}) had template text" in page
    assert "Made before" not in staff_client.get(after.get_absolute_url()).content.decode()
