"""GSCTUNE_HTTPS=1 is the one switch an HTTPS deployment needs: `check --deploy` is clean with it,
and a request through a TLS-terminating proxy gets secure cookies, HSTS and the HTTP redirect."""
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/login/", HTTP_HOST="gsctune.example.com")
health = client.get("/healthz", HTTP_HOST="gsctune.example.com")
proxied = client.get("/login/", HTTP_HOST="gsctune.example.com", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location", "")],
    "health": health.status_code,
    "proxied": proxied.status_code,
    "hsts": proxied.get("Strict-Transport-Security", ""),
    "csrf_secure": bool(proxied.cookies["csrftoken"]["secure"]),
}))
"""


def _production_env(tmp_path, **extra) -> dict:
    """A clean environment as a server would have it (not the test run's: no DJANGO_ALLOW_ASYNC_UNSAFE)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(DJANGO_SETTINGS_MODULE="gsctune.settings", DEBUG="0", ALLOWED_HOSTS="gsctune.example.com",
               CSRF_TRUSTED_ORIGINS="https://gsctune.example.com", GSCTUNE_DATA_DIR=str(tmp_path / "data"),
               SECRET_KEY=secrets.token_urlsafe(50), **extra)
    return env


def _check_deploy(env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_reports_no_issues_with_the_https_switch(tmp_path):
    result = _check_deploy(_production_env(tmp_path, GSCTUNE_HTTPS="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_without_the_switch_check_deploy_names_what_is_missing(tmp_path):
    result = _check_deploy(_production_env(tmp_path))
    found = result.stdout + result.stderr
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):  # HSTS, redirect, cookies
        assert check in found


def test_requests_behind_a_tls_proxy_get_secure_cookies_hsts_and_a_redirect(tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=_production_env(tmp_path, GSCTUNE_HTTPS="1"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, "https://gsctune.example.com/login/"]
    assert seen["health"] == 200  # health probes over plain HTTP are not redirected
    assert seen["proxied"] == 200 and seen["csrf_secure"]
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"


def test_every_variable_the_settings_read_is_documented_in_env_example():
    import re

    read = set(re.findall(r'env_(?:str|bool|int|float|list|path)\("([A-Z0-9_]+)"', (ROOT / "gsctune/settings.py").read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert {"GSCTUNE_HTTPS", "GSCTUNE_HSTS_SECONDS"} <= read
    assert read - documented == set()
