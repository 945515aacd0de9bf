"""What a person sees on the labeling pages, in Chromium: teacher form errors, the connection test,
the live "Latest labels" box and a wrapping prompt page."""

import pytest
from django.urls import reverse

from gsctune.jobs import execute_job
from labeling.models import PromptVersion, Teacher
from labeling.runs.services import create_run
from tests.conftest import BROWSER_TEST, browser_login
from tests.factories import make_examples

pytestmark = BROWSER_TEST


@pytest.fixture
def staff_page(page, live_server, staff_user):
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_login(page, live_server, "staff", "pw-staff-123")
    return page


def test_teacher_form_errors_in_the_browser_and_from_the_server(staff_page, live_server):
    page = staff_page
    page.goto(f"{live_server.url}{reverse('teacher-new')}")
    page.fill("#id_name", "broken")
    page.fill("#id_model", "m")
    page.fill("#id_base_url", "localhost:8765/v1")
    page.fill("#id_max_concurrency", "0")
    page.fill("#id_price_input_per_million", "-1")
    # The browser stops the form first, on each field.
    assert page.eval_on_selector("#id_base_url", "e => e.validity.patternMismatch")  # "localhost:" is a scheme
    assert page.eval_on_selector("#id_max_concurrency", "e => e.validity.rangeUnderflow")
    assert page.eval_on_selector("#id_price_input_per_million", "e => e.validity.rangeUnderflow")
    page.click("button:has-text('Save')")
    assert page.url.endswith(reverse("teacher-new")) and not Teacher.objects.exists()
    # A client that skips the browser's checks gets the same verdicts from the server, in words.
    page.eval_on_selector("#teacher-form", "f => f.noValidate = true")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".form-errors")
    summary = page.inner_text(".form-errors")
    assert "Please fix these 3 fields" in summary
    assert "Base URL: Enter an http:// or https:// URL such as https://openrouter.ai/api/v1" in summary
    assert "Max concurrency: Ensure this value is greater than or equal to 1." in summary
    assert "Price in, per million tokens: Ensure this value is greater than or equal to 0." in summary
    assert "greater than or equal to 1" in page.inner_text("#field-max_concurrency .errorlist")
    assert page.eval_on_selector("#field-base_url", "e => e.classList.contains('has-error')")
    page.click(".form-errors a[href='#field-base_url']")  # the summary links to the field
    assert page.url.endswith("#field-base_url")
    assert not Teacher.objects.exists()


def test_test_connection_shows_the_models_without_saving(staff_page, live_server, openai_server):
    page = staff_page
    page.goto(f"{live_server.url}{reverse('teacher-new')}")
    page.fill("#id_base_url", openai_server.base_url)
    page.fill("#id_model", "loopback-model")
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#connection-result .connection-result.ok")
    result = page.inner_text("#connection-result")
    assert "Connected" in result and "loopback-model is offered" in result
    assert "loopback-model" in page.inner_text("#connection-result .model-list")
    page.fill("#id_base_url", "http://127.0.0.1:9/v1")
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#connection-result .connection-result.error")
    assert "cannot connect to http://127.0.0.1:9/v1" in page.inner_text("#connection-result")
    assert page.url.endswith(reverse("teacher-new")) and not Teacher.objects.exists()


def test_latest_labels_and_failures_update_live(staff_page, live_server, openai_server, tmp_path):
    page = staff_page
    make_examples(tmp_path, 3)
    openai_server.enqueue("truncated")  # the first example fails
    teacher = Teacher.objects.create(name="loopback", base_url=openai_server.base_url, model="loopback-model")
    run = create_run(teacher, enqueue=False, concurrency=1)
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    assert "None yet." in page.inner_text(".latest-labels") and "None." in page.inner_text(".open-failures")
    page.evaluate("window.notReloaded = true")
    execute_job(run.job_label, run.pk)  # what the worker does with the queued run
    page.wait_for_selector(".job-status.state-succeeded", timeout=15_000)
    page.wait_for_function("document.querySelectorAll('.latest-labels tbody tr').length === 2", timeout=15_000)
    assert page.inner_text(".latest-labels").count("chore: update files") == 2
    page.wait_for_selector(".open-failures td:text-is('truncated')", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True  # updated in place, not by a reload
    assert page.get_attribute(".run-live", "hx-get") is None  # polling stopped with the run


def test_long_prompt_text_wraps_within_the_page(staff_page, live_server):
    page = staff_page
    prompt = PromptVersion.objects.create(name="long", system_prompt="word " * 50 + "x" * 3000)
    page.goto(f"{live_server.url}{prompt.get_absolute_url()}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
