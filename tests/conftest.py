"""Fixtures shared by the whole suite: a real Celery worker process, browser set-up, users."""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsctune.domain.baseline import BaselineServer
from tests.openai_server import openai_server  # noqa: F401  (the loopback teacher fixture, for every module)

# pytest-django's live_server with Playwright's sync API runs database calls from
# inside Playwright's event loop thread; Django must be told that is intended.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent

# The marks of a Playwright test module: `pytestmark = BROWSER_TEST`.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                       reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)"),
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, which would break later tests using asyncio.run()."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's data directory (see gsctune/settings_test.py) when the process exits:
    an xdist worker tears its test database down after this hook."""
    from django.conf import settings

    data_dir = Path(settings.DATA_DIR)
    if data_dir.parent == ROOT / "var" / "test":
        atexit.register(shutil.rmtree, data_dir, True)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll predicate until it returns a truthy value; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


def _database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{auth}{settings.get('HOST') or '127.0.0.1'}{port}/{settings['NAME']}"


class LiveWorker:
    """A real `celery worker` process on the configured broker, against the test database."""

    def __init__(self, log_path: Path, queues: str = "default,gpu"):
        self.log_path = log_path
        self.queues = queues
        self.process: subprocess.Popen | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({"DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "gsctune.settings_test"})
        return env

    def start(self) -> "LiveWorker":
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0  # a restart appends to the log
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gsctune", "worker", "--pool", "threads", "--concurrency", "4",
             "-Q", self.queues, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
             "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: b"ready." in self.log_path.read_bytes()[offset:] or self.process.poll() is not None,
                 timeout=60, message="celery worker to start")
        if self.process.poll() is not None:
            pytest.fail(f"celery worker exited at start:\n{self.log_tail()}")
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_bytes()[-chars:].decode(errors="replace")


@pytest.fixture(scope="module")
def module_worker(django_db_setup, tmp_path_factory):
    """One real worker per test module: its start and its 4 s stop are paid once, not per test."""
    from gsctune.celery import app

    app.control.purge()  # messages left by earlier tests that ran without a worker
    worker = LiveWorker(tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield worker
    worker.stop()


@pytest.fixture
def live_worker(transactional_db, module_worker):
    """The module's real worker, running (restarted if a test killed it); it needs committed data."""
    if module_worker.process.poll() is not None:
        module_worker.start()
    return module_worker


@pytest.fixture(scope="session")
def harvest_sample() -> Path:
    """The suite's generated harvested JSONL (tests/sample_data.py), built once per test process."""
    from tests.sample_data import sample_path

    return sample_path()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def reviewer_user(django_user_model):
    return django_user_model.objects.create_user("reviewer", password="pw-reviewer-123")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a browser that Playwright would download."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"],
    }


def browser_login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def baseline_server():
    """The offline baseline served on 127.0.0.1 (gsctune.domain.baseline), for labeling and eval runs."""
    server = BaselineServer()
    server.start_background()
    yield server
    server.shutdown()
    server.server_close()
