"""A verdict weight below 1 is a sampling rate: the page and manifest say so, with the counts."""
import json

import pytest

from gsctune.jobs import JobState, execute_job
from labeling.export import snapshot as export
from labeling.export.services import create_export, preview
from labeling.labels import store_label
from labeling.models import Example, Label

from .factories import harvested, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def _unreviewed_labels(tmp_path, n: int = 60) -> None:
    from labeling.examples.services import import_examples_file

    path = tmp_path / "many.jsonl"
    write_jsonl(path, [harvested(i * 2, repo_url=f"github.com/org/repo{i % 12}") for i in range(n)])
    import_examples_file(path)
    for example in Example.objects.all():
        store_label(Label(example=example, source=Label.Source.TEACHER, model="t",
                          commits=[{"subject": "feat(app): import sys", "files": list(example.changed_files),
                                    "body": "", "issues": []}]))


def _opts(**weights) -> export.ExportOptions:
    return export.ExportOptions(include_unreviewed=True, val_fraction=0.2, seed=3,
                                weights={"accepted": 1.0, "corrected": 2.0, **weights})


def test_a_weight_below_one_is_described_as_sampling_with_its_counts(tmp_path, staff_client):
    _unreviewed_labels(tmp_path)
    counts = preview(_opts(unreviewed=0.5))
    w = counts["weighting"]["unreviewed"]
    assert 0 < w["train_examples_kept"] < w["train_examples"] == counts["train_examples"]
    assert w["train_rows"] == w["train_examples_kept"] == counts["train_rows_before_augmentation"]
    text = f"unreviewed sampled at 0.5 ({w['train_examples_kept']} of {w['train_examples']})"
    assert w["text"] == text
    live = staff_client.get("/exports/counts/", {
        "include_accepted": "on", "include_corrected": "on", "include_unreviewed": "on", "weight_corrected": 2,
        "weight_accepted": 1, "weight_unreviewed": 0.5, "val_fraction": 0.2, "seed": 3, "augment": 0,
        "prompt": "labeling", "max_diff_chars": 24000}).content.decode()
    assert text in live and "oversampl" not in live.lower()

    job = create_export(_opts(unreviewed=0.5), enqueue=False, folder=tmp_path / "out")
    job = execute_job(job.job_label, job.pk)
    assert job.state == JobState.SUCCEEDED, job.error
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["weighting"]["unreviewed"]["text"] == text
    page = staff_client.get(job.get_absolute_url()).content.decode()
    assert text in page and "oversampl" not in page.lower()
    form = staff_client.get("/exports/").content.decode()
    assert "oversampling" not in form and "below 1 it is a sampling rate" in form


@pytest.mark.parametrize("weight, text", [
    (0.0, "unreviewed left out of train (weight 0, none of {n})"),
    (1.0, "unreviewed once each ({n})"),
    (2.0, "unreviewed oversampled at 2 ({rows} rows from {n})"),
])
def test_other_weights_say_what_they_do(tmp_path, weight, text):
    _unreviewed_labels(tmp_path, 24)
    w = preview(_opts(unreviewed=weight))["weighting"]["unreviewed"]
    assert w["text"] == text.format(n=w["train_examples"], rows=w["train_rows"])
