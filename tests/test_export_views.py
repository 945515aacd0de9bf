"""Export page: live counts, staff-only snapshots, manifest tables, chart, downloads."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from gsctune.jobs import execute_job
from labeling.models import Label, SFTExport
from tests.sample_data import REPOS
from tests.test_export_service import load, sample_lines


@pytest.fixture
def labeled(db, tmp_path, settings):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    load(tmp_path, sample_lines(per_repo=2))
    return Label.objects.count()


FORM = {
    "include_accepted": "on", "include_corrected": "on", "include_unreviewed": "on",
    "weight_corrected": "2", "weight_accepted": "1", "weight_unreviewed": "1",
    "val_fraction": "0.2", "seed": "1", "augment": "0", "prompt": "short", "max_diff_chars": "24000",
}


def test_page_shows_live_counts_and_chart(labeled, staff_client):
    page = staff_client.get(reverse("export-list"))
    assert page.status_code == 200
    assert b"unreviewed" in page.content and b'id="counts"' in page.content
    counts = staff_client.get(reverse("export-counts"), FORM, HTTP_HX_REQUEST="true")
    body = counts.content.decode()
    assert counts.status_code == 200 and body.lstrip().startswith('<div id="counts">')
    assert "<svg" in body and "python" in body and "<html" not in body
    assert f"<dd>{labeled}</dd>" in body  # every unreviewed label selected
    bad = staff_client.get(reverse("export-counts"), {**FORM, "val_fraction": "7"}, HTTP_HX_REQUEST="true")
    assert "Fix the options" in bad.content.decode()


def test_only_staff_create_snapshots(labeled, client, django_user_model):
    user = django_user_model.objects.create_user("reader", password="pw")
    client.force_login(user)
    response = client.post(reverse("export-list"), {**FORM, "name": "nope"})
    assert response.status_code == 403 and not SFTExport.objects.exists()


def test_snapshot_detail_and_downloads(labeled, staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = staff_client.post(reverse("export-list"), {**FORM, "name": "<b>first</b>"})
    job = SFTExport.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    execute_job(job.job_label, job.pk)  # what the worker does with the queued job
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    page = staff_client.get(job.get_absolute_url()).content.decode()
    assert "&lt;b&gt;first&lt;/b&gt;" in page and "<b>first</b>" not in page
    assert "<svg" in page and "val.jsonl" in page
    assert all(f"<td>{spec.url}</td>" in page for spec in REPOS)  # the repository table lists every one
    download = staff_client.get(reverse("export-download", args=[job.pk, "train.jsonl"]))
    body = b"".join(download.streaming_content)
    assert download.status_code == 200 and body == job.file_path("train.jsonl").read_bytes()
    manifest = json.loads(b"".join(staff_client.get(
        reverse("export-download", args=[job.pk, "manifest.json"])).streaming_content))
    assert manifest["counts"]["train_rows"] == job.train_rows
    assert staff_client.get(reverse("export-download", args=[job.pk, "..%2Fsecret"])).status_code == 404
    listing = staff_client.get(reverse("export-list")).content.decode()
    assert reverse("export-download", args=[job.pk, "train.jsonl"]) in listing
