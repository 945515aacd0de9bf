"""Labeling pages: live run status, staff-only launches, teachers without key values, prompt versions."""
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from gsctune.jobs import execute_job
from labeling.models import LabelingRun, PromptVersion, Teacher
from labeling.runs.services import create_run, default_prompt_version

from .factories import make_examples

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "sk-test-never-shown-4711"


@pytest.fixture
def teacher(openai_server, monkeypatch):
    monkeypatch.setenv("GSCTUNE_TEST_TEACHER_KEY", SECRET)
    return Teacher.objects.create(name="loopback", base_url=openai_server.base_url, model="loop-model",
                                  api_key_env="GSCTUNE_TEST_TEACHER_KEY", price_input_per_million=Decimal("3"),
                                  price_output_per_million=Decimal("15"))


def test_reviewer_sees_runs_but_cannot_launch_or_edit(client, reviewer_user, teacher):
    client.force_login(reviewer_user)
    assert client.get(reverse("labeling-run-list")).status_code == 200
    assert client.get(reverse("teacher-list")).status_code == 200
    assert client.get(reverse("labeling-run-new")).status_code == 403
    response = client.post(reverse("teacher-edit", args=[teacher.pk]), {"name": "hijacked"})
    assert response.status_code == 403
    teacher.refresh_from_db()
    assert teacher.name == "loopback"


def test_staff_launches_a_run_and_the_status_partial_shows_costs(staff_client, teacher, tmp_path, openai_server):
    make_examples(tmp_path, 6)
    response = staff_client.post(reverse("labeling-run-new"), {
        "name": "first", "teacher": teacher.pk, "prompt_version": default_prompt_version().pk,
        "selection": "sample", "sample_size": 4, "selection_seed": 1, "noise_probability": 0.3, "noise_seed": 0,
        "max_diff_chars": 60000,
    })
    run = LabelingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.created_by.username == "staff" and run.price_input_per_million == Decimal("3")
    execute_job(run.job_label, run.pk)  # what the worker does with the queued run
    run.refresh_from_db()
    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert "cost so far" in page and "projected, all examples" in page
    partial = staff_client.get(run.status_url()).content.decode()
    assert f"{run.cost:.4f}" in partial
    assert SECRET not in page and SECRET not in partial
    # the teacher's key reached the server as a bearer token, read from the environment only
    assert openai_server.log
    assert all(entry["authorization"] == f"Bearer {SECRET}" for entry in openai_server.log)


def test_resume_is_staff_only_and_retries_failures(staff_client, reviewer_user, teacher, tmp_path, openai_server):
    make_examples(tmp_path, 3)
    openai_server.enqueue("truncated")
    run = create_run(teacher, enqueue=False, concurrency=1)
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    assert run.progress_failed == 1
    assert "Resume and retry 1 failure" in staff_client.get(run.get_absolute_url()).content.decode()
    reviewer = Client()
    reviewer.force_login(reviewer_user)
    assert reviewer.post(run.resume_url()).status_code == 403
    run.refresh_from_db()
    assert run.state == "succeeded"
    response = staff_client.post(run.resume_url(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.state == "queued" and run.failures.get().state == "retry"


def test_teacher_form_stores_the_variable_name_never_a_key(staff_client):
    response = staff_client.post(reverse("teacher-new"), {
        "name": "openrouter", "base_url": "https://openrouter.ai/api/v1", "model": "qwen/qwen3-coder",
        "api_key_env": "sk-or-v1-abc def", "temperature": 0.2, "max_output_tokens": 4096, "request_timeout": 120,
        "max_concurrency": 32, "price_input_per_million": "0.2", "price_output_per_million": "0.8",
    })
    assert response.status_code == 200 and "environment variable" in response.content.decode()
    assert not Teacher.objects.exists()
    staff_client.post(reverse("teacher-new"), {
        "name": "openrouter", "base_url": "https://openrouter.ai/api/v1", "model": "qwen/qwen3-coder",
        "api_key_env": "OPENROUTER_API_KEY", "temperature": 0.2, "max_output_tokens": 4096, "request_timeout": 120,
        "max_concurrency": 32, "price_input_per_million": "0.2", "price_output_per_million": "0.8",
    })
    assert Teacher.objects.get().api_key_env == "OPENROUTER_API_KEY"
    page = staff_client.get(reverse("teacher-list")).content.decode()
    assert "OPENROUTER_API_KEY" in page and "not set" in page


def test_staff_pastes_a_new_prompt_version_and_reviewers_cannot(client, reviewer_user, staff_user):
    client.force_login(reviewer_user)
    base = default_prompt_version()
    data = {"name": "mine", "system_prompt": "Split into commits.", "output_format": "JSON", "sample_output": "{}"}
    assert client.get(reverse("prompt-new")).status_code == 403
    assert client.post(reverse("prompt-new"), data).status_code == 403
    assert not PromptVersion.objects.filter(name="mine").exists()
    client.force_login(staff_user)
    form = client.get(reverse("prompt-new") + f"?from={base.pk}").content.decode()
    assert "Whole-file rule" in form
    response = client.post(reverse("prompt-new"), data)
    prompt = PromptVersion.objects.get(name="mine")
    assert response.status_code == 302 and prompt.created_by == staff_user
    client.post(reverse("prompt-new"), {**data, "name": "same texts"})
    assert PromptVersion.objects.filter(system_prompt="Split into commits.").count() == 1
    detail = client.get(prompt.get_absolute_url()).content.decode()
    assert "Split into commits." in detail


def test_forms_and_lists_render(staff_client, teacher, tmp_path):
    make_examples(tmp_path, 2)
    run = create_run(teacher, enqueue=False)
    for url in (reverse("labeling-run-new"), reverse("teacher-new"), reverse("teacher-edit", args=[teacher.pk]),
                reverse("prompt-list"), reverse("labeling-run-list"), reverse("teacher-list"),
                run.get_absolute_url(), default_prompt_version().get_absolute_url()):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode()
    assert "GSCTUNE_TEST_TEACHER_KEY" in staff_client.get(reverse("teacher-list")).content.decode()
