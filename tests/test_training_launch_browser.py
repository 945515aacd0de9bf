"""The training launch form in Chromium: fields that do not apply are hidden, presets fill the form, the
estimate beside it follows each change (htmx). GSCTUNE_SCREENSHOTS=DIR also saves training-launch.png there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from gsctune.jobs import JobState
from labeling.models import SFTExport
from tests.conftest import BROWSER_TEST, browser_login

pytestmark = BROWSER_TEST


@pytest.fixture
def export(tmp_path):
    """A real export (labeling.export, character budget) of every 30th example of the shared sample."""
    from labeling.export import snapshot as E
    from tests.fixtures_training import sample_examples
    from tests.test_export import make_record

    records = [make_record(ex, i + 1) for i, ex in enumerate(sample_examples(40))]
    E.export(records, E.ExportOptions(val_fraction=0.2, prompt="short"), str(tmp_path))
    return SFTExport.objects.create(state=JobState.SUCCEEDED, folder=str(tmp_path), name="sample 1/30")


def pane_text(page) -> str:
    return page.inner_text("#estimate-pane")


def test_launch_form_hides_what_does_not_apply_and_refreshes_the_estimate(page, live_server, staff_user, export):
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}{reverse('training-launch')}")
    page.wait_for_selector("#estimate-pane .estimate-total")  # loaded by htmx on page load
    assert "train examples" in pane_text(page)

    experts, memory = page.locator("#field-train_experts"), page.locator("#field-gpu_memory_gb")
    assert experts.is_visible() and not memory.is_visible()
    page.select_option("select[name=precision]", "4bit")
    assert not experts.is_visible()
    page.select_option("select[name=gpu]", "custom")
    assert memory.is_visible()
    page.select_option("select[name=gpu]", "H100 80GB")

    page.fill("input[name=max_length]", "300")
    page.dispatch_event("input[name=max_length]", "change")
    page.wait_for_function("document.querySelector('#estimate-pane').innerText.includes('at max length 300')")

    page.select_option("select[name=backend]", "trl")  # TRL + 4-bit on the MoE preset: refused beside the form
    page.wait_for_selector("#estimate-pane .launch-problems")
    assert "fp32" in pane_text(page) and "does not fit" in pane_text(page)

    page.click("button[data-preset='0']")  # the seed plan: back to a launchable setup
    page.wait_for_function("!document.querySelector('#estimate-pane .launch-problems')")
    assert page.input_value("input[name=max_length]") == "8192"
    assert page.input_value("select[name=precision]") == "bf16" and experts.is_visible()
    assert page.input_value("select[name=optimizer]") == "adamw_8bit"
    assert "Seed plan:" in page.inner_text("#preset-note")
    page.select_option("select[name=gpu]", "H200 141GB")
    page.wait_for_function("document.querySelector('#estimate-pane').innerText.includes('of 141 GB')")
    assert "fits" in pane_text(page)

    target = os.environ.get("GSCTUNE_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / "training-launch.png"), full_page=True)


def test_a_refused_launch_names_the_field_above_the_form_and_beside_it(page, live_server, staff_user, export):
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}{reverse('training-launch')}")
    page.fill("input[name=max_length]", "40")
    page.click("button[name=launch]")
    page.wait_for_selector(".form-errors")
    summary = page.inner_text(".form-errors")
    assert "Max length" in summary and "train examples lose their answer at max length 40" in summary
    assert "no train example would keep" in page.inner_text("#field-max_length .errorlist")
    assert "Launch refused as set" not in pane_text(page)  # listed once, above the form
    page.fill("input[name=max_length]", "50")
    page.dispatch_event("input[name=max_length]", "change")
    page.wait_for_function("document.querySelector('#estimate-pane').innerText.includes('at max length 50')")
    assert "Launch refused as set" in pane_text(page)  # the refreshed pane says it for the new value
    assert page.url.endswith(reverse("training-launch"))  # nothing queued
    target = os.environ.get("GSCTUNE_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / "training-launch-refused.png"))
