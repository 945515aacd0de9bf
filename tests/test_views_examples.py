"""Examples browser, dashboard and imports pages: auth, filters, escaping, staff-only upload."""
import pytest

from gsctune.jobs import JobState
from labeling.models import Example, ImportJob

from .factories import DIFF, harvested, make_examples, write_jsonl

pytestmark = pytest.mark.django_db


def test_login_page_and_healthz_are_public(client):
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").content == b"ok"


def test_examples_list_filters_and_search(tmp_path, staff_client):
    path = tmp_path / "e.jsonl"
    write_jsonl(path, [
        harvested(0),
        harvested(2, repo_url="github.com/other/rusty", languages=["rust"], n_commits=3,
                  original_commits=[{"sha": "c" * 40, "subject": "Speed up the matcher", "files": ["src/app.py"]}]),
        harvested(4, diff=DIFF + "+" * 40_000, languages=["python", "shell"]),
    ])
    from labeling.examples.services import import_examples_file

    import_examples_file(path)

    def listed(query):
        response = staff_client.get("/examples/" + query)
        assert response.status_code == 200
        return sorted(ex.base_commit[-1] for ex in response.context["page"])

    assert listed("") == ["0", "2", "4"]
    assert listed("?repo=github.com/other/rusty") == ["2"]
    assert listed("?language=rust") == ["2"]
    assert listed("?language=shell") == ["4"]
    assert listed("?language=python") == ["0", "4"]
    assert listed("?n_commits=3") == ["2"]
    assert listed("?size=xl") == ["4"]
    assert listed("?size=s") == ["0", "2"]
    assert listed("?q=matcher") == ["2"]
    assert listed("?labeled=yes") == []
    assert listed("?labeled=no") == ["0", "2", "4"]


def test_htmx_filter_returns_only_the_results_partial(tmp_path, staff_client):
    make_examples(tmp_path, 2)
    response = staff_client.get("/examples/?language=python", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="results"' in body and "<html" not in body


def test_detail_renders_diff_per_file_and_escapes_everything(tmp_path, staff_client):
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    evil_diff = (
        f"diff --git a/{payload}.py b/{payload}.py\nnew file mode 100644\n--- /dev/null\n+++ b/{payload}.py\n"
        f"@@ -0,0 +1 @@\n+{payload}\n"
    )
    path = tmp_path / "evil.jsonl"
    write_jsonl(path, [harvested(0, diff=evil_diff, changed_files=[f"{payload}.py"],
                                 original_commits=[{"sha": "a" * 40, "subject": payload, "files": [f"{payload}.py"]}],
                                 existing_gitignore=[payload])])
    from labeling.examples.services import import_examples_file

    import_examples_file(path)
    example = Example.objects.get()
    body = staff_client.get(f"/examples/{example.pk}/").content.decode()
    assert "<script>alert(1)" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert body.count('<details class="diff-file') == 1


def test_upload_is_staff_only(tmp_path, client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    client.force_login(user)
    path = tmp_path / "u.jsonl"
    write_jsonl(path, [harvested(0)])
    with path.open("rb") as handle:
        client.post("/imports/", {"file": handle})
    assert not ImportJob.objects.exists()


def test_upload_creates_a_queued_job_and_its_page(tmp_path, staff_client):
    path = tmp_path / "u.jsonl"
    write_jsonl(path, [harvested(0)])
    with path.open("rb") as handle:
        response = staff_client.post("/imports/", {"file": handle})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.state == JobState.QUEUED and job.original_name == "u.jsonl"
    status = staff_client.get(job.status_url()).content.decode()
    assert "Queued" in status and 'hx-trigger="every 1s"' in status


def test_cancel_needs_staff_and_post(tmp_path, staff_client, django_user_model):
    from django.test import Client

    path = tmp_path / "u.jsonl"
    write_jsonl(path, [harvested(0)])
    from labeling.examples.services import create_import_job

    job = create_import_job(path, "u.jsonl", enqueue=False)
    assert staff_client.get(job.cancel_url()).status_code == 405
    viewer = Client()
    viewer.force_login(django_user_model.objects.create_user("viewer2", password="pw-viewer-123"))
    assert viewer.post(job.cancel_url()).status_code == 403
    assert ImportJob.objects.get().state == JobState.QUEUED
    staff_client.post(job.cancel_url())
    assert ImportJob.objects.get().state == JobState.CANCELLED


def test_dashboard_counts(tmp_path, staff_client):
    make_examples(tmp_path, 3)
    response = staff_client.get("/")
    assert response.context["counts"]["examples"] == 3
    assert response.context["counts"]["repositories"] == 1
