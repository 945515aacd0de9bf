"""The generated harvest sample uploaded from the browser, imported by a real worker, twice."""
import os

import pytest

from labeling.models import Example

from .conftest import browser_login
from .sample_data import sample_examples, sample_path

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                       reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)"),
]


def _upload(page, live_server):
    page.goto(f"{live_server.url}/imports/")
    page.set_input_files("input[type=file]", str(sample_path()))
    page.click("button:has-text('Import')")
    page.wait_for_url(f"{live_server.url}/imports/*/")
    # The status partial polls until the job is final; no reload needed.
    page.wait_for_selector(".job-status.state-succeeded", timeout=90_000)
    return {dt: page.inner_text(f".job-facts div:has(dt:text-is('{dt}')) dd") for dt in ("imported", "already there", "bad lines")}


def test_upload_sample_twice(page, live_server, live_worker, staff_user):
    examples = sample_examples()
    n = len(examples)
    repo = examples[-1]["repo_url"]
    in_repo = sum(ex["repo_url"] == repo for ex in examples)
    browser_login(page, live_server, "staff", "pw-staff-123")
    assert _upload(page, live_server) == {"imported": f"{n:,}", "already there": "0", "bad lines": "0"}
    assert Example.objects.count() == n
    assert _upload(page, live_server) == {"imported": "0", "already there": f"{n:,}", "bad lines": "0"}
    assert Example.objects.count() == n
    page.goto(f"{live_server.url}/examples/?repo={repo}")
    assert f"{in_repo} examples" in page.inner_text("#results")
    assert in_repo < n
