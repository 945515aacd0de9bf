"""Serve the recording proxy until stopped: shared by ``manage.py record_sessions`` and its tests."""
from __future__ import annotations

import time
from collections.abc import Callable

from .forward import RecordingProxy
from .sessions import Recorder
from .store import flush


class ProxyPortBusy(ValueError):
    """The port cannot be listened on."""


def start_proxy(upstream: str, port: int = 0, host: str = "127.0.0.1") -> tuple[RecordingProxy, Recorder]:
    recorder = Recorder()
    try:
        proxy = RecordingProxy(upstream, recorder.add, port=port, host=host)
    except OSError as exc:
        raise ProxyPortBusy(f"Port {port} on {host} cannot be used ({exc.strerror}); choose another port.") from exc
    proxy.start_background()
    return proxy, recorder


def serve_recording(upstream: str, *, port: int = 0, host: str = "127.0.0.1", repo_name: str = "",
                    grace_s: float = 5.0, duration_s: float | None = None,
                    on_ready: Callable[[RecordingProxy], None] | None = None,
                    on_rows: Callable[[list], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Recorder:
    """Forward and record until ``duration_s`` passes, ``should_stop()`` or Ctrl-C; store everything at the end.

    Database writes happen on this thread only (the proxy's threads just append).
    """
    proxy, recorder = start_proxy(upstream, port, host)
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        if on_ready:
            on_ready(proxy)
        while deadline is None or time.monotonic() < deadline:
            rows = flush(recorder, proxy.upstream.url, repo_name, grace_s)
            if on_rows and rows:
                on_rows(rows)
            if should_stop and should_stop():
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        rows = flush(recorder, proxy.upstream.url, repo_name, grace_s, final=True)
        if on_rows and rows:
            on_rows(rows)
    return recorder
