"""The Celery app. Jobs are rows in the database; Celery only carries their ids.

With the default `filesystem://` broker no server process is needed: messages are
files under the data directory, so one laptop runs web app and worker as is.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gsctune.settings")

app = Celery("gsctune")
app.config_from_object("django.conf:settings", namespace="CELERY")


app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue="default",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()
