"""Labeling runs through a real Celery worker process, including a SIGKILL in the middle."""
import pytest

from gsctune.jobs import JobState
from labeling.models import Label, LabelFailure, LabelingRun, Teacher
from labeling.runs.services import create_run

from .conftest import LiveWorker, wait_for
from .factories import make_examples

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_sigkilled_worker_run_completes_on_a_new_worker_without_duplicates(openai_server, live_worker, tmp_path):
    examples = make_examples(tmp_path, 150)
    openai_server.latency = 0.1
    teacher = Teacher.objects.create(name="loopback", base_url=openai_server.base_url, model="m", max_concurrency=4)
    run = create_run(teacher)  # queued on the worker (autocommit: sent at once)

    wait_for(lambda: LabelingRun.objects.get(pk=run.pk).progress_done >= 25, timeout=60,
             message="the worker to label 25 examples")
    live_worker.kill()  # SIGKILL: no chance to ack, flush or clean up
    run.refresh_from_db()
    assert run.state == JobState.RUNNING
    assert Label.objects.filter(run=run).count() < 150

    second = LiveWorker(tmp_path / "worker2.log").start()
    try:
        wait_for(lambda: LabelingRun.objects.get(pk=run.pk).state == JobState.SUCCEEDED, timeout=80,
                 message=f"the run to finish on the new worker\n{second.log_tail()}")
    finally:
        second.stop()
    run.refresh_from_db()
    labeled = list(Label.objects.filter(run=run).values_list("example_id", flat=True))
    assert sorted(labeled) == sorted(e.pk for e in examples)  # none lost, none twice
    assert not LabelFailure.objects.filter(run=run).exists()
    assert (run.progress_done, run.progress_failed, run.progress_total) == (150, 0, 150)
    assert run.attempts >= 2
