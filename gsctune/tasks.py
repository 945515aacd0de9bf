"""The one Celery task: run a job row by id (see gsctune.jobs)."""
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from .jobs import RUN_JOB_TASK, execute_job, recover_orphaned_jobs, watch_orphans_forever

_stop_watch = threading.Event()


@shared_task(name=RUN_JOB_TASK, acks_late=True, reject_on_worker_lost=True)
def run_job(label: str, pk: int) -> None:
    execute_job(label, pk)


@worker_ready.connect
def _start_orphan_watch(**_kwargs) -> None:
    recover_orphaned_jobs()
    threading.Thread(target=watch_orphans_forever, args=(_stop_watch,), daemon=True, name="orphan-watch").start()


@worker_shutdown.connect
def _stop_orphan_watch(**_kwargs) -> None:
    _stop_watch.set()
