"""An import job end to end through a real `celery worker` process on the configured broker."""
import pytest

from gsctune.jobs import JobState
from labeling.models import Example, ImportJob

from .conftest import wait_for
from .factories import harvested, write_jsonl

pytestmark = [pytest.mark.worker]


def test_upload_is_imported_by_a_real_worker(live_worker, client, django_user_model, tmp_path):
    staff = django_user_model.objects.create_user("boss", password="pw-boss-1234", is_staff=True)
    client.force_login(staff)
    path = tmp_path / "upload.jsonl"
    write_jsonl(path, [harvested(0), b"{broken\n", harvested(2)])
    with path.open("rb") as handle:
        response = client.post("/imports/", {"file": handle})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()

    job = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, state__in=[JobState.SUCCEEDED, JobState.FAILED]).first(),
                   timeout=60, message=f"the import job to finish; worker log:\n{live_worker.log_tail()}")
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.imported, job.bad_lines) == (2, 1)
    assert job.problems == [{"line": 2, "reason": "invalid JSON: Expecting property name enclosed in double quotes at column 2"}]
    assert Example.objects.count() == 2
    page = client.get(job.get_absolute_url())
    assert b"Succeeded" in page.content and b"invalid JSON" in page.content


def test_killed_worker_job_is_finished_by_the_next_worker(live_worker, tmp_path, settings):
    """SIGKILL mid-job: the job is orphaned, and a new worker picks it up and completes it."""
    path = tmp_path / "big.jsonl"
    write_jsonl(path, [harvested(i * 2, diff=harvested(0)["diff"] * 40) for i in range(6000)])
    job = ImportJob.objects.create(source_path=str(path), original_name="big.jsonl")
    job.enqueue()
    wait_for(lambda: ImportJob.objects.filter(pk=job.pk, state=JobState.RUNNING, progress_done__gt=0).exists(),
             timeout=60, message="the job to start")
    live_worker.kill()
    assert ImportJob.objects.get(pk=job.pk).state == JobState.RUNNING  # nobody finished it
    live_worker.start()
    job = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, state=JobState.SUCCEEDED).first(),
                   timeout=120, message=f"the recovered job to finish; worker log:\n{live_worker.log_tail()}")
    assert job.attempts == 2
    assert Example.objects.count() == 6000
    assert job.imported + job.already_present == 6000
