"""The one label writer (labeling/labels.py) and the job runner registry (gsctune/jobs.py)."""
import pytest
from django.db import IntegrityError
from django.urls import reverse

from gsctune.jobs import register_runner, runner_for
from labeling.labels import store_labels, store_labels_skipping_duplicates
from labeling.models import Label, LabelingRun, ReviewItem, Teacher
from labeling.runs.services import default_prompt_version, execute_run
from tests.factories import good_commits, make_example

pytestmark = pytest.mark.django_db


def _label(example, **fields):
    return Label(example=example, source=fields.pop("source", Label.Source.IMPORTED), model="m",
                 commits=fields.pop("commits", good_commits()), **fields)


def test_a_batch_is_checked_and_queued_but_human_labels_are_not_queued():
    examples = [make_example(i) for i in range(3)]
    bad = good_commits()
    bad[0]["subject"] = "Fix: handle config"
    labels = store_labels([_label(examples[0]), _label(examples[1], commits=bad),
                           _label(examples[2], source=Label.Source.HUMAN)])
    assert all(label.pk for label in labels)
    assert [f["check"] for f in Label.objects.get(pk=labels[1].pk).findings] == ["subject_format"]
    assert set(ReviewItem.objects.values_list("pk", flat=True)) == {labels[0].pk, labels[1].pk}
    assert ReviewItem.objects.get(pk=labels[1].pk).checks == " subject_format "


def test_a_refused_batch_stores_nothing_and_the_fallback_stores_the_rest():
    teacher = Teacher.objects.create(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    run = LabelingRun.objects.create(teacher=teacher, prompt_version=default_prompt_version())
    first, second = make_example(1), make_example(2)
    store_labels([_label(first, run=run)])
    twice = [_label(second, run=run), _label(first, run=run)]  # the second breaks one-label-per-run
    with pytest.raises(IntegrityError):
        store_labels(twice)
    assert Label.objects.count() == 1 and ReviewItem.objects.count() == 1
    stored, refused = store_labels_skipping_duplicates([_label(second, run=run), _label(first, run=run)])
    assert [label.example_id for label in stored] == [second.pk]
    assert [label.example_id for label in refused] == [first.pk]
    assert ReviewItem.objects.count() == 2


def test_review_pages_do_not_write_on_get(staff_client):
    Label.objects.bulk_create([_label(make_example(1))])  # around the writer: no queue row
    assert staff_client.get(reverse("review-queue")).status_code == 200
    assert staff_client.get(reverse("review-gate")).status_code == 200
    assert not ReviewItem.objects.exists()


def test_the_runner_of_a_job_is_looked_up_by_its_label():
    assert runner_for("labeling.LabelingRun") is execute_run
    assert runner_for("labeling.labelingrun") is execute_run
    with pytest.raises(LookupError, match="no runner is registered for auth.user"):
        runner_for("auth.user")


def test_a_registered_runner_is_imported_when_a_job_runs(monkeypatch):
    from gsctune import jobs

    monkeypatch.setattr(jobs, "_RUNNERS", {})
    register_runner("labeling.LabelingRun", "labeling.runs.services.no_such_function")
    with pytest.raises(ImportError):
        runner_for("labeling.LabelingRun")
