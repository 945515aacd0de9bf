"""Django settings for gsctune, read from the environment (see .env.example)."""
from pathlib import Path

import dj_database_url

from .env import env_bool, env_float, env_int, env_list, env_path, env_str, read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent

# Uploads, artifacts (exports, adapters), the SQLite file and the serverless broker live here.
DATA_DIR = env_path("GSCTUNE_DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# Without SECRET_KEY in the environment, a random key is generated once and kept
# in the data directory, so a laptop install is safe without extra set-up.
SECRET_KEY = env_str("SECRET_KEY", "") or read_or_create_secret(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "gsctune",
    "labeling",
    "training",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "gsctune.urls"
WSGI_APPLICATION = "gsctune.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

SQLITE_PATH = DATA_DIR / "gsctune.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"), conn_max_age=env_int("DB_CONN_MAX_AGE", 0)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web app read while a worker writes; IMMEDIATE transactions plus a
    # busy timeout make concurrent writers wait for each other instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        # 16 KiB pages (taken only by a new, empty database) hold a typical diff without
        # overflow chains: inserts of diff-sized rows are about 3x faster than with 4 KiB.
        # A larger auto-checkpoint (in pages) means fewer fsyncs during bulk writes.
        "init_command": (
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=4000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_TIMEOUT_SECONDS", 30, minimum=1),
    }
    # Tests need a file (not :memory:) so a real Celery worker process can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-gsctune.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"
ARTIFACTS_DIR = DATA_DIR / "artifacts"
UPLOADS_DIR = DATA_DIR / "uploads"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# One switch for a deployment served over HTTPS (usually by a TLS-terminating proxy that sets
# X-Forwarded-Proto): cookies only over HTTPS, plain HTTP redirected, browsers told to stay on
# HTTPS (HSTS). With it, `manage.py check --deploy` reports no issues. Off on a laptop.
HTTPS = env_bool("GSCTUNE_HTTPS", False)
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # plain-HTTP health probes of a load balancer
    SECURE_HSTS_SECONDS = env_int("GSCTUNE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("GSCTUNE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("GSCTUNE_HSTS_PRELOAD", True)

# Celery: the job row in the database is the source of truth, so no result backend.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Messages are files: one folder in and out, created here so client and worker agree.
    (CELERY_BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (CELERY_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (CELERY_BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Seconds without a heartbeat after which a running job is considered orphaned
# (its worker died) and is handed to a live worker again.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 60, minimum=2)
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 5.0)
# Least time between two progress writes of one job (throttles fast jobs' updates).
JOB_PROGRESS_SECONDS = env_float("JOB_PROGRESS_SECONDS", 0.5)

# Largest single JSONL line accepted by the importer (bytes).
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 4 * 1024 * 1024, minimum=1024)

# Review queue and quality gate.
REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 300, minimum=10)
# How long a blind side-by-side item stays with the reviewer scoring it.
BLIND_LEASE_SECONDS = env_int("BLIND_LEASE_SECONDS", 600, minimum=10)
REVIEW_GATE_SEED = env_int("REVIEW_GATE_SEED", 0)
REVIEW_GATE_MIN_REVIEWED = env_int("REVIEW_GATE_MIN_REVIEWED", 20, minimum=1)
REVIEW_GATE_MIN_LOWER = env_float("REVIEW_GATE_MIN_LOWER", 0.8)
# Thresholds of the automatic label checks (gsctune.domain.checks.CheckConfig).
REVIEW_CHECKS = {
    "max_subject": env_int("CHECK_MAX_SUBJECT_CHARS", 72, minimum=10),
    "max_body_line": env_int("CHECK_MAX_BODY_LINE_CHARS", 80, minimum=10),
    "body_min_lines": env_int("CHECK_BODY_MIN_LINES", 1, minimum=0),
    "body_max_lines": env_int("CHECK_BODY_MAX_LINES", 10, minimum=1),
    "require_scope": env_bool("CHECK_REQUIRE_SCOPE", False),
}

# Teacher requests: retries on 429/5xx/timeouts (with backoff) and repair turns on bad output.
LABELING_RETRY = {
    "max_attempts": env_int("LABELING_MAX_ATTEMPTS", 8, minimum=1),
    "max_repairs": env_int("LABELING_MAX_REPAIRS", 1, minimum=0),
    "backoff_base": env_float("LABELING_BACKOFF_BASE_SECONDS", 0.5),
    "backoff_max": env_float("LABELING_BACKOFF_MAX_SECONDS", 30.0),
}

# llama.cpp's converter and quantizer for GGUF export (scripts/get_llama_cpp.sh puts them here).
LLAMA_CPP_DIR = env_str("LLAMA_CPP_DIR", str(BASE_DIR / "var" / "llama.cpp"))

# GPUs a worker lends to training runs, one per run (CUDA_VISIBLE_DEVICES of each child), e.g. "0,1,2,3".
# Empty: the worker's own CUDA_VISIBLE_DEVICES, else device 0 (on a host with an NVIDIA driver).
TRAIN_GPUS = env_list("GSCTUNE_TRAIN_GPUS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
