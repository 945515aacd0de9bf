"""Settings for the test suite: the default settings with a separate data directory,
so tests never touch the broker folder or database of a running development instance."""
import os
from pathlib import Path

# One data directory (database file, broker folder) per test process, inherited by the
# worker processes a test starts, so parallel test runs never share a broker or database.
_run = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
os.environ.setdefault("GSCTUNE_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test" / _run))
os.environ.setdefault("JOB_STALE_SECONDS", "4")
os.environ.setdefault("JOB_HEARTBEAT_SECONDS", "1")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Serve static files straight from the app folders: no collectstatic before tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
