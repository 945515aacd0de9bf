"""The shared sample uploaded from the browser, imported by a real worker, twice."""
import os

import pytest

from labeling.models import Example

from .conftest import SHARED_DATA, browser_login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                       reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)"),
    pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared sample not present"),
]


def _upload(page, live_server):
    page.goto(f"{live_server.url}/imports/")
    page.set_input_files("input[type=file]", str(SHARED_DATA))
    page.click("button:has-text('Import')")
    page.wait_for_url(f"{live_server.url}/imports/*/")
    # The status partial polls until the job is final; no reload needed.
    page.wait_for_selector(".job-status.state-succeeded", timeout=90_000)
    return {dt: page.inner_text(f".job-facts div:has(dt:text-is('{dt}')) dd") for dt in ("imported", "already there", "bad lines")}


def test_upload_shared_sample_twice(page, live_server, live_worker, staff_user):
    browser_login(page, live_server, "staff", "pw-staff-123")
    assert _upload(page, live_server) == {"imported": "1,500", "already there": "0", "bad lines": "0"}
    assert Example.objects.count() == 1500
    assert _upload(page, live_server) == {"imported": "0", "already there": "1,500", "bad lines": "0"}
    assert Example.objects.count() == 1500
    page.goto(f"{live_server.url}/examples/?repo=github.com/jqlang/jq")
    assert "136 examples" in page.inner_text("#results")
