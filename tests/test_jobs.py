"""The shared job pattern: state machine, cancel, failure, resume, orphan recovery."""
from datetime import timedelta

import pytest
from django.utils import timezone

from gsctune.jobs import JobState, execute_job, recover_orphaned_jobs, run_in_foreground
from labeling.examples.services import create_import_job
from labeling.models import ImportJob

from .factories import harvested, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def _job(tmp_path, records=None) -> ImportJob:
    path = tmp_path / "in.jsonl"
    write_jsonl(path, records if records is not None else [harvested(0), harvested(2)])
    return create_import_job(path, "in.jsonl", enqueue=False)


def test_queued_job_runs_to_succeeded_with_progress_and_timestamps(tmp_path):
    job = _job(tmp_path)
    assert job.state == JobState.QUEUED and job.started_at is None
    finished = execute_job(job.job_label, job.pk)
    assert finished.state == JobState.SUCCEEDED
    assert (finished.progress_done, finished.progress_total, finished.attempts) == (2, 2, 1)
    assert finished.started_at <= finished.finished_at and finished.imported == 2
    assert finished.status_message == "2 imported, 0 already present, 0 bad"


def test_a_finished_job_is_not_run_twice(tmp_path):
    job = _job(tmp_path)
    execute_job(job.job_label, job.pk)
    again = execute_job(job.job_label, job.pk)  # e.g. a redelivered message
    assert again.state == JobState.SUCCEEDED and again.attempts == 1


def test_failure_keeps_the_error_text(tmp_path):
    job = _job(tmp_path)
    (tmp_path / "in.jsonl").unlink()
    finished = execute_job(job.job_label, job.pk)
    assert finished.state == JobState.FAILED
    assert finished.error.startswith("FileNotFoundError:") and "in.jsonl" in finished.error


def test_cancel_before_start_never_runs(tmp_path):
    job = _job(tmp_path)
    job.request_cancel()
    assert job.state == JobState.CANCELLED
    finished = execute_job(job.job_label, job.pk)
    assert finished.state == JobState.CANCELLED and finished.imported == 0


def test_cancel_while_running_ends_cancelled(tmp_path, settings):
    settings.JOB_PROGRESS_SECONDS = 0  # report (and look for a cancel) on every item
    job = _job(tmp_path, [harvested(i * 2) for i in range(1200)])

    def cancel_midway(current):
        if current.progress_done >= 500 and not current.cancel_requested:
            ImportJob.objects.filter(pk=current.pk).update(cancel_requested=True)
            current.cancel_requested = True

    finished = execute_job(job.job_label, job.pk, on_change=cancel_midway)
    assert finished.state == JobState.CANCELLED
    assert 500 <= finished.progress_done < 1200


def test_resume_requeues_a_finished_job(tmp_path):
    job = _job(tmp_path)
    job.request_cancel()
    assert job.resume() is True
    assert job.state == JobState.QUEUED and not job.cancel_requested
    assert execute_job(job.job_label, job.pk).state == JobState.SUCCEEDED


def test_orphaned_running_job_is_queued_again(tmp_path, settings):
    job = _job(tmp_path)
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    ImportJob.objects.filter(pk=job.pk).update(state=JobState.RUNNING, heartbeat_at=stale)
    fresh = _job(tmp_path)
    ImportJob.objects.filter(pk=fresh.pk).update(state=JobState.RUNNING, heartbeat_at=timezone.now())
    assert recover_orphaned_jobs() == 1
    assert ImportJob.objects.get(pk=job.pk).state == JobState.QUEUED
    assert ImportJob.objects.get(pk=fresh.pk).state == JobState.RUNNING
    assert execute_job(job.job_label, job.pk).state == JobState.SUCCEEDED


def test_foreground_runner_draws_a_progress_bar(tmp_path, capsys):
    job = _job(tmp_path)
    import sys

    finished = run_in_foreground(job, stream=sys.stderr)
    assert finished.state == JobState.SUCCEEDED
    assert "2/2" in capsys.readouterr().err
