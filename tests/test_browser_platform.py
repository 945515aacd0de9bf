"""What a person sees: the 403 page for non-staff, the eval form's errors and sections, a failed job,
and metric columns whose headers line up with their numbers.

Set GSCTUNE_SCREENSHOTS to a folder to also save the pages as PNG files (docs/screenshots).
"""
import os
import traceback
from pathlib import Path

import pytest

from evaluation.models import EvalRun
from gsctune.jobs import JobState
from labeling.models import ImportJob

from .conftest import browser_login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                       reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)"),
]


def _shot(page, name: str) -> None:
    folder = os.environ.get("GSCTUNE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_plain_user_gets_the_styled_403_with_the_reason(page, live_server, reviewer_user):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", "wrong")
    page.keyboard.press("Enter")
    assert page.inner_text(".login .form-errors") == "Wrong username or password. Both are case-sensitive."
    _shot(page, "login-error.png")
    browser_login(page, live_server, "reviewer", "pw-reviewer-123")
    response = page.goto(f"{live_server.url}/training/new/")
    assert response.status == 403
    assert page.url == f"{live_server.url}/training/new/"  # not sent to the admin's login form
    assert page.inner_text("h1") == "Not allowed"
    assert page.inner_text(".refusal .reason") == "Only staff can launch training runs."
    assert "signed in as reviewer" in page.inner_text(".refusal")
    assert page.is_visible("header.topbar nav")  # the app's own page, with its navigation
    _shot(page, "forbidden.png")
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/admin/login/")
    assert page.inner_text(".refusal .reason") == "Only staff can use the admin site."
    assert page.locator("input[name=password]").count() == 0


def test_eval_form_errors_name_their_fields(page, live_server, staff_user):
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.goto(f"{live_server.url}/evaluation/runs/new/")
    assert page.is_visible("fieldset:has(legend:text-is('Endpoint'))")
    assert page.is_hidden("fieldset:has(legend:text-is('Adapter'))")  # applies to the other backend only
    assert page.is_hidden("#field-export")
    page.select_option("select[name=backend]", "adapter")
    assert page.is_hidden("fieldset:has(legend:text-is('Endpoint'))")
    assert page.is_visible("fieldset:has(legend:text-is('Adapter'))")
    page.select_option("select[name=backend]", "endpoint")
    page.fill("input[name=name]", "web eval")
    page.fill("input[name=model]", "qwen2.5-coder:7b")
    page.fill("input[name=api_key_env]", "sk-live-123")
    page.click("button:has-text('Start eval run')")
    summary = page.inner_text(".form-errors")
    assert "Please fix these 2 fields" in summary
    assert "Base URL: An endpoint run needs a base URL." in summary
    assert "API key variable: Give the name of an environment variable" in summary
    assert "Base URL: An endpoint run needs a base URL." in page.inner_text("#field-base_url .errorlist")
    assert page.input_value("input[name=model]") == "qwen2.5-coder:7b"  # what was typed is kept
    page.click(".form-errors a[href='#field-base_url']")
    assert page.evaluate("location.hash") == "#field-base_url"
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    _shot(page, "eval-form-errors.png")
    page.goto(f"{live_server.url}/evaluation/blind/new/")
    page.fill("input[name=name]", "week 12")
    page.click("button:has-text('Build comparison set')")
    assert "Choose at least two systems." in page.inner_text(".form-errors")
    _shot(page, "comparison-form.png")


def _stored_error() -> str:
    try:
        import json

        json.loads(Path("/nonexistent-gsctune-export/manifest.json").read_text())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}\n\n" + traceback.format_exc()
    raise AssertionError("did not fail")


def test_a_failed_job_shows_its_reason_and_folds_the_traceback(page, live_server, staff_user):
    job = ImportJob.objects.create(source_path="/data/harvest.jsonl", original_name="harvest.jsonl",
                                   state=JobState.FAILED, error=_stored_error(), progress_done=0)
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    reason = page.inner_text(".job-reason")
    assert reason == "Failed: No such file or directory: '/nonexistent-gsctune-export/manifest.json'"
    assert page.is_hidden(".job-error pre")  # folded
    assert page.inner_text(".job-status .badge") == "Failed"
    _shot(page, "failed-job.png")
    page.click(".job-error summary")
    assert "Traceback (most recent call last)" in page.inner_text(".job-error pre")


def test_metric_headers_line_up_with_their_numbers(page, live_server, staff_user):
    cell = {"mean": 0.625, "lo": 0.25, "hi": 0.875, "n": 8}
    run = EvalRun.objects.create(name="aligned", state=JobState.SUCCEEDED, base_url="http://127.0.0.1:9/v1",
                                 model="m", summary={"n": 8, "failed": 0, "overall": {"exact": cell, "pair_f1": cell},
                                                     "by_language": {"python": {"exact": cell}}, "by_size": {}})
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    offsets = page.evaluate("""() => {
        const right = (el) => { const r = document.createRange(); r.selectNodeContents(el);
                                return r.getBoundingClientRect().right; };
        const out = [];
        for (const table of document.querySelectorAll("main table.table")) {
          const heads = [...table.querySelectorAll("thead th")];
          const row = table.querySelector("tbody tr");
          if (!row) continue;
          heads.forEach((th, i) => {
            const td = row.children[i];
            if (th.classList.contains("num") && td && td.classList.contains("num") && td.textContent.trim())
              out.push([th.textContent.trim(), getComputedStyle(th).textAlign, Math.abs(right(th) - right(td))]);
          });
        }
        return out;
    }""")
    _shot(page, "eval-run.png")
    assert len(offsets) >= 6, offsets  # metric table and the by-language table
    for header, align, offset in offsets:
        assert align == "right" and offset < 1.5, (header, align, offset)
