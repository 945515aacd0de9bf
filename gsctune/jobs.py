"""Background jobs: one database row per job, run by a Celery worker or in the foreground.

Every long-running piece of work (import, labeling run, export, training run, eval
run) is a concrete subclass of :class:`Job`. The row is the source of truth; Celery
only carries ``(model label, pk)``. The same :func:`execute_job` runs the job in a
worker (``run_job`` task) and in a management command (:func:`run_in_foreground`),
so each kind of work has exactly one implementation: the service function its app
registers as the job's runner (:func:`register_runner`, in ``AppConfig.ready``).
Models never import services; data flows views/commands/tasks → services → models.

State machine::

    queued ──▶ running ──▶ succeeded
       │          │  └───▶ failed      (perform() raised; error text kept)
       │          └──────▶ cancelled   (cancel requested while running)
       └─────────────────▶ cancelled   (cancel requested before it started)
    running ──▶ queued                 (its worker died: orphaned, handed to a live worker)
    failed | cancelled | succeeded ──▶ queued   (resume(); services skip finished items)

A running job writes a heartbeat every few seconds from a side thread. A job whose
heartbeat is older than ``JOB_STALE_SECONDS`` is orphaned (its worker was killed)
and is queued again by any live worker (see :func:`recover_orphaned_jobs`).
"""
from __future__ import annotations

import logging
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from tqdm import tqdm

logger = logging.getLogger(__name__)


# Exceptions whose message says everything: the reason is the message alone.
_PLAIN_EXCEPTIONS = {"Exception", "RuntimeError", "ValueError", "AssertionError", "CommandError", "NotImplementedError"}
_OUR_MODULES = ("gsctune.", "labeling.", "training.", "evaluation.")
_EXCEPTION_LINE = re.compile(r"^(?P<qualname>(?:[A-Za-z_]\w*\.)*(?P<name>[A-Za-z_]\w*))(?:: (?P<message>.*))?$")


def _humanize(name: str) -> str:
    """FileNotFoundError -> "File not found"; JSONDecodeError -> "JSON decode error"."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|\d+", name)
    if len(words) > 1 and words[-1] in ("Error", "Exception"):
        words = words[:-1]
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:]


def error_reason(error: str) -> str:
    """One line saying why a job failed, from its stored error text.

    A stored error is "Type: message" followed by the traceback (see execute_job), whose last
    line names the exception with its module. The reason is that exception in words: our own and
    generic exceptions (and OS errors) by their message alone, others with their type spelled out
    ("JSON decode: Expecting value ..."). Text without a type is shown as it is.
    """
    lines = [line.rstrip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    match = _EXCEPTION_LINE.match(lines[0])
    if not match or not match["name"][:1].isupper():
        return _clip(lines[0])
    name, qualname = match["name"], match["qualname"]
    for line in reversed(lines[1:]):  # the traceback's own exception line says which module raised it
        found = re.match(rf"^((?:[A-Za-z_]\w*\.)*){re.escape(name)}(?::|$)", line)
        if found:
            qualname = found[1] + name
            break
    message = (match["message"] or "").strip()
    errno = re.match(r"^\[Errno \d+\] ", message)
    if message and (errno or name in _PLAIN_EXCEPTIONS or qualname.startswith(_OUR_MODULES)):
        reason = message[errno.end():] if errno else message
        if re.match(r"^[A-Z]\w*(?:Error|Exception): ", reason):  # a wrapped error, e.g. the training child's
            return error_reason(reason)
    elif name == "KeyError":
        reason = f"Missing key {message}" if message else "Missing key"
    else:
        reason = f"{_humanize(name)}: {message}" if message else _humanize(name)
    return _clip(reason[:1].upper() + reason[1:])


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class JobCancelled(Exception):
    """Raised inside perform() when a cancel was requested; ends the job as cancelled."""


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class Job(models.Model):
    """Abstract base of every background job. Subclasses implement ``perform(progress)``."""

    queue = "default"  # Celery queue; training overrides with "gpu"
    status_template = "jobs/_status.html"  # the live partial; subclasses may extend it

    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_failed = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    status_message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    # --- behaviour every subclass provides -------------------------------------------
    def get_absolute_url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def reopen_work(self) -> None:
        """Called before a finished job runs again: mark its failed items for a retry (if any)."""

    # --- derived facts -----------------------------------------------------------------
    @property
    def job_label(self) -> str:
        return self._meta.label_lower

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_orphaned(self) -> bool:
        """Running, but its process died (no recent heartbeat): e.g. a killed worker or command."""
        stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
        return self.state == JobState.RUNNING and (self.heartbeat_at is None or self.heartbeat_at < stale)

    @property
    def error_reason(self) -> str:
        """The one line shown above the folded traceback of a failed job."""
        return error_reason(self.error)

    @property
    def error_has_details(self) -> bool:
        return self.error.strip() != self.error_reason

    @property
    def progress_percent(self) -> float | None:
        if not self.progress_total:
            return None
        return min(100.0, 100.0 * (self.progress_done + self.progress_failed) / self.progress_total)

    @property
    def elapsed(self) -> timedelta | None:
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def rate_per_second(self) -> float | None:
        elapsed = self.elapsed
        handled = self.progress_done + self.progress_failed
        if not elapsed or not handled:
            return None
        return handled / max(elapsed.total_seconds(), 1e-6)

    @property
    def eta(self) -> timedelta | None:
        rate = self.rate_per_second
        if not rate or not self.progress_total or not self.is_active:
            return None
        remaining = self.progress_total - self.progress_done - self.progress_failed
        return timedelta(seconds=max(0, remaining) / rate)

    def status_url(self) -> str:
        return reverse("job-status", args=[self.job_label, self.pk])

    def cancel_url(self) -> str:
        return reverse("job-cancel", args=[self.job_label, self.pk])

    # --- transitions -------------------------------------------------------------------
    def enqueue(self) -> None:
        """Queue this job on its Celery queue once the current transaction commits."""
        label, pk, queue = self.job_label, self.pk, self.queue
        transaction.on_commit(lambda: current_app.tasks[RUN_JOB_TASK].apply_async(args=[label, pk], queue=queue))

    def request_cancel(self) -> None:
        """Cancel now if not started; otherwise ask the running job to stop."""
        type(self).objects.filter(pk=self.pk, state__in=ACTIVE_STATES).update(cancel_requested=True)
        type(self).objects.filter(pk=self.pk, state=JobState.QUEUED).update(
            state=JobState.CANCELLED, finished_at=timezone.now()
        )
        self.refresh_from_db()

    def resume(self) -> bool:
        """Queue a finished job again; its service skips what is already done."""
        if self.is_final:
            self.reopen_work()
        updated = type(self).objects.filter(pk=self.pk, state__in=FINAL_STATES).update(
            state=JobState.QUEUED, cancel_requested=False, error="", finished_at=None
        )
        self.refresh_from_db()
        if updated:
            self.enqueue()
        return bool(updated)

    def reopen(self) -> None:
        """Make a finished or orphaned job runnable in this process (a command), without queueing it."""
        if self.is_final:
            self.reopen_work()
        type(self).objects.filter(pk=self.pk).update(
            state=JobState.QUEUED, cancel_requested=False, error="", finished_at=None)
        self.refresh_from_db()


class Progress:
    """What a running job reports through: counters, a message, cancellation.

    Writes to the database are throttled (``min_interval``) so a job that handles
    thousands of items per second does not spend its time on progress updates.
    """

    def __init__(self, job: Job, on_change=None, min_interval: float | None = None):
        self.job = job
        self.on_change = on_change
        self.min_interval = settings.JOB_PROGRESS_SECONDS if min_interval is None else min_interval
        self.cancel_event = threading.Event()
        self._last_write = 0.0
        self._last_cancel_check = 0.0

    def set_total(self, total: int | None) -> None:
        self.job.progress_total = total
        self._save(force=True)

    def advance(self, done: int = 1, failed: int = 0) -> None:
        self.job.progress_done += done
        self.job.progress_failed += failed
        self._save()

    def set_counts(self, done: int, failed: int = 0) -> None:
        self.job.progress_done, self.job.progress_failed = done, failed
        self._save()

    def message(self, text: str) -> None:
        self.job.status_message = text[:500]
        self._save(force=True)

    @property
    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self.cancel_event.is_set() and now - self._last_cancel_check >= self.min_interval:
            self._last_cancel_check = now
            if type(self.job).objects.filter(pk=self.job.pk, cancel_requested=True).exists():
                self.cancel_event.set()
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise JobCancelled()

    def flush(self) -> None:
        self._save(force=True)

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval:
            return
        self._last_write = now
        if self.on_change:
            self.on_change(self.job)
        job = self.job
        type(job).objects.filter(pk=job.pk).update(
            progress_done=job.progress_done,
            progress_failed=job.progress_failed,
            progress_total=job.progress_total,
            status_message=job.status_message,
            heartbeat_at=timezone.now(),
        )


RUN_JOB_TASK = "gsctune.run_job"
Runner = Callable[[Job, "Progress"], None]
_RUNNERS: dict[str, str] = {}


def register_runner(model_label: str, runner_path: str) -> None:
    """Name the service function (dotted path) that runs jobs of ``app_label.ModelName``.

    Apps call this from ``AppConfig.ready``; the function is imported when a job runs, so a
    process that runs no job of that kind (a page, another command) never imports its stack.
    """
    _RUNNERS[model_label.lower()] = runner_path


def runner_for(label: str) -> Runner:
    """The runner registered for the job model ``app_label.model_name``."""
    try:
        return import_string(_RUNNERS[label.lower()])
    except KeyError:
        raise LookupError(f"no runner is registered for {label}") from None


def job_model(label: str) -> type[Job]:
    """The job model named ``app_label.model_name``; LookupError for anything else."""
    try:
        model = apps.get_model(label)
    except ValueError:  # not of the form app_label.model_name
        raise LookupError(f"{label!r} is not a job model") from None
    if not issubclass(model, Job):
        raise LookupError(f"{label} is not a job model")
    return model


def job_models() -> list[type[Job]]:
    return [m for m in apps.get_models() if issubclass(m, Job)]


def _claim(model: type[Job], pk: int) -> bool:
    """Move a queued job to running; False if another worker has it or it is finished."""
    now = timezone.now()
    return bool(
        model.objects.filter(pk=pk, state=JobState.QUEUED, cancel_requested=False).update(
            state=JobState.RUNNING,
            heartbeat_at=now,
            worker=f"{socket.gethostname()}:{threading.get_native_id()}",
            attempts=models.F("attempts") + 1,
        )
    )


def _heartbeat(model: type[Job], pk: int, stop: threading.Event, progress: Progress) -> None:
    interval = settings.JOB_HEARTBEAT_SECONDS
    try:
        while not stop.wait(interval):
            model.objects.filter(pk=pk, state=JobState.RUNNING).update(heartbeat_at=timezone.now())
            if model.objects.filter(pk=pk, cancel_requested=True).exists():
                progress.cancel_event.set()
    except Exception:  # the heartbeat must never kill the job it watches
        logger.exception("heartbeat for %s %s failed", model._meta.label, pk)
    finally:
        connection.close()


def execute_job(label: str, pk: int, on_change=None) -> Job | None:
    """Run one job to a final state. Safe to call twice: a finished job is left alone."""
    model = job_model(label)
    runner = runner_for(label)
    if not _claim(model, pk):
        model.objects.filter(pk=pk, state=JobState.QUEUED, cancel_requested=True).update(
            state=JobState.CANCELLED, finished_at=timezone.now()
        )
        return model.objects.filter(pk=pk).first()
    model.objects.filter(pk=pk, started_at__isnull=True).update(started_at=timezone.now())
    job = model.objects.get(pk=pk)
    progress = Progress(job, on_change=on_change)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(model, pk, stop, progress), daemon=True)
    beat.start()
    final, error = JobState.SUCCEEDED, ""
    try:
        runner(job, progress)
        if progress.cancelled:
            final = JobState.CANCELLED
    except JobCancelled:
        final = JobState.CANCELLED
    except Exception as exc:
        logger.exception("%s %s failed", label, pk)
        final = JobState.FAILED
        error = f"{type(exc).__name__}: {exc}\n\n" + "".join(traceback.format_exc(limit=8))[-4000:]
    finally:
        stop.set()
        beat.join(timeout=5)
    progress.flush()
    model.objects.filter(pk=pk, state=JobState.RUNNING).update(
        state=final, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def run_in_foreground(job: Job, stream=None) -> Job:
    """Run a job in this process with a terminal progress bar (management commands).

    Ctrl-C requests a cancel, so the job ends as cancelled with its work so far kept.
    """
    bar = tqdm(total=job.progress_total, file=stream, unit="item", dynamic_ncols=True)

    def draw(current: Job) -> None:
        if current.progress_total is not None and bar.total != current.progress_total:
            bar.total = current.progress_total
        bar.n = current.progress_done + current.progress_failed
        postfix = {"failed": current.progress_failed} if current.progress_failed else {}
        if current.status_message:
            postfix["status"] = current.status_message[:40]
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    try:
        finished = execute_job(job.job_label, job.pk, on_change=draw)
    except KeyboardInterrupt:
        job.request_cancel()
        raise
    finally:
        bar.close()
    return finished


def recover_orphaned_jobs() -> int:
    """Queue again every running job whose heartbeat stopped (its worker died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    requeued = 0
    for model in job_models():
        for job in model.objects.filter(state=JobState.RUNNING, heartbeat_at__lt=cutoff):
            # Conditional on the old heartbeat, so a concurrent recoverer loses the race.
            orphan = model.objects.filter(pk=job.pk, state=JobState.RUNNING, heartbeat_at=job.heartbeat_at)
            if orphan.update(state=JobState.QUEUED, heartbeat_at=timezone.now()):
                logger.warning("re-queueing orphaned %s %s (worker %s)", job.job_label, job.pk, job.worker)
                job.enqueue()
                requeued += 1
    return requeued


def watch_orphans_forever(stop: threading.Event) -> None:
    """Worker-side loop: look for orphaned jobs every half stale period."""
    interval = max(1.0, settings.JOB_STALE_SECONDS / 2)
    while not stop.wait(interval):
        try:
            close_old_connections()
            recover_orphaned_jobs()
        except Exception:
            logger.exception("orphaned-job recovery failed")
