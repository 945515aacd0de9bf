"""One capture session from start to stored version: shared by ``manage.py capture_protocol`` and CaptureJob."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .scratch import make_scratch_repo
from .session import CaptureServer
from .store import store_capture


class CapturePortBusy(ValueError):
    """The port cannot be listened on (another capture or program holds it)."""


def serve_capture(*, port: int, model: str, timeout_s: float, grace_s: float = 2.0,
                  on_ready: Callable[[CaptureServer], None] | None = None,
                  on_request: Callable[[dict], None] | None = None,
                  on_tick: Callable[[int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> tuple[dict, bool]:
    """Serve the capture endpoint until the session ends, ``timeout_s`` passes or ``should_stop()``.

    Returns (what the session recorded, whether it reached an accepted finalize). ``on_tick``
    gets the number of requests so far, called from this thread (safe for database writes).
    """
    try:
        server = CaptureServer(port=port, model=model, on_request=on_request)
    except OSError as exc:
        raise CapturePortBusy(f"Port {port} on 127.0.0.1 cannot be used ({exc.strerror}); choose another port.") from exc
    server.start_background()
    try:
        if on_ready:
            on_ready(server)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not server.session.finished(grace_s):
            if on_tick:
                on_tick(len(server.session.log))
            if should_stop and should_stop():
                break
            time.sleep(0.1)
        return server.session.result(), server.session.finished(grace_s)
    finally:
        server.shutdown()
        server.server_close()


def run_capture_job(job, progress) -> None:
    """CaptureJob.perform: wait for the user's tool on the job's port, then store the protocol version."""
    if job.make_scratch and not job.scratch_path:
        job.scratch_path = str(make_scratch_repo(Path(settings.DATA_DIR) / "capture-scratch" / f"capture-{job.pk}"))
        type(job).objects.filter(pk=job.pk).update(scratch_path=job.scratch_path)
    progress.message(f"Waiting for the tool on {job.api_base} (up to {job.timeout_s} s).")
    result, finished = serve_capture(port=job.port, model=job.model_name, timeout_s=job.timeout_s,
                                     on_tick=lambda n: progress.set_counts(n), should_stop=lambda: progress.cancelled)
    progress.set_counts(len(result["requests"]))
    progress.raise_if_cancelled()
    version, created, diff = store_capture(result, tool_name=job.tool_name, tool_commit=job.tool_commit)
    type(job).objects.filter(pk=job.pk).update(protocol_version=version, new_version=created, drifted=bool(diff))
    note = "" if finished else " The session did not reach an accepted finalize_commits."
    progress.message((f"Stored new version #{version.pk}." if created else f"Same as version #{version.pk}.") + note)
