"""The labeling run form and run page: checks on submit, readable names, the live label box, staff-only prompts."""
import re

import pytest
from django.urls import reverse

from gsctune.jobs import execute_job
from labeling.models import LabelingRun, PromptVersion, Teacher
from labeling.runs.services import SelectionError, create_run, default_prompt_version, teacher_title

from .factories import make_examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def teacher(openai_server):
    return Teacher.objects.create(name="loopback", base_url=openai_server.base_url, model="loop-model",
                                  max_concurrency=8)


def _post(client, teacher, **fields):
    data = {"teacher": teacher.pk, "prompt_version": default_prompt_version().pk, "selection": "unlabeled",
            "selection_seed": 0, "noise_probability": 0.3, "noise_seed": 0, "max_diff_chars": 60000, **fields}
    return client.post(reverse("labeling-run-new"), data)


def test_an_explicit_list_with_unknown_ids_is_refused_naming_them(staff_client, teacher, tmp_path):
    examples = make_examples(tmp_path, 3)
    listed = f"{examples[0].pk}\n99999\n{examples[1].key}\ngithub.com/no/such@a..b"
    response = _post(staff_client, teacher, selection="list", example_list_text=listed)
    page = response.content.decode()
    assert response.status_code == 200 and not LabelingRun.objects.exists()
    assert "Examples: 2 of 4 listed examples do not exist: 99999, github.com/no/such@a..b." in page
    response = _post(staff_client, teacher, selection="list", example_list_text=f"{examples[0].pk}\n{examples[1].key}")
    run = LabelingRun.objects.get()
    assert response.status_code == 302 and run.example_list == [str(examples[0].pk), examples[1].key]


def test_the_service_checks_the_list_before_queueing(teacher, tmp_path):
    """The command line and any other caller get the same check as the form."""
    make_examples(tmp_path, 1)
    with pytest.raises(SelectionError, match="1 of 1 listed examples do not exist: 4242"):
        create_run(teacher, enqueue=False, selection=LabelingRun.Selection.LIST, example_list=["4242"])
    assert not LabelingRun.objects.exists()


def test_concurrency_must_be_at_least_one_and_at_most_the_teachers_maximum(staff_client, teacher, tmp_path):
    make_examples(tmp_path, 1)
    page = _post(staff_client, teacher, concurrency=0).content.decode()
    assert "Concurrency: Ensure this value is greater than or equal to 1." in page
    page = _post(staff_client, teacher, concurrency=20).content.decode()
    assert "Concurrency: loopback allows at most 8 requests at once; raise its maximum on the Teachers page" in page
    assert not LabelingRun.objects.exists()
    form = staff_client.get(reverse("labeling-run-new")).content.decode()
    assert 'min="1"' in re.search(r'<input[^>]*name="concurrency"[^>]*>', form).group(0)
    assert 'min="0"' in re.search(r'<input[^>]*name="noise_probability"[^>]*>', form).group(0)
    assert 'max="1"' in re.search(r'<input[^>]*name="noise_probability"[^>]*>', form).group(0)


def test_every_non_obvious_field_has_help_and_the_forms_share_the_layout(staff_client, teacher):
    from labeling.runs.forms import LabelingRunForm, PromptVersionForm

    assert [f.name for f in LabelingRunForm() if not f.help_text] == []
    assert [f.name for f in PromptVersionForm() if not f.help_text] == []
    for url in (reverse("labeling-run-new"), reverse("prompt-new")):
        page = staff_client.get(url).content.decode()
        assert 'class="stacked"' in page and 'class="form-section"' in page and "form-actions" in page, url
    page = staff_client.get(reverse("labeling-run-new")).content.decode()
    assert "field-row when-sample" in page and "field-row when-list" in page


def test_teacher_names_read_naturally():
    baseline = Teacher(name="baseline", model="baseline", is_baseline=True)
    assert teacher_title(baseline) == "baseline"
    assert teacher_title(Teacher(name="rules", model="gsctune-baseline", is_baseline=True)) == "baseline rules"
    openrouter = Teacher(name="openrouter", model="qwen/qwen3-coder")
    assert teacher_title(openrouter) == "teacher openrouter (qwen/qwen3-coder)"
    assert teacher_title(Teacher(name="qwen/qwen3-coder @ openrouter.ai", model="qwen/qwen3-coder")) \
        == "teacher qwen/qwen3-coder @ openrouter.ai"
    assert teacher_title(Teacher(name="openrouter", model="q"), kind=False) == "openrouter (q)"


def test_run_page_names_a_baseline_once(staff_client, tmp_path):
    make_examples(tmp_path, 1)
    baseline = Teacher.objects.create(name="baseline", base_url="http://127.0.0.1:8765/v1", model="baseline",
                                      is_baseline=True)
    run = create_run(baseline, enqueue=False)
    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert "Baseline baseline" not in page and "(baseline)" not in page
    assert re.search(r'<a href="[^"]*">Baseline</a> ·', page)
    form = staff_client.get(reverse("labeling-run-new")).content.decode()
    assert '<option value="%d" selected>baseline</option>' % baseline.pk in form
    listing = staff_client.get(reverse("labeling-run-list")).content.decode()
    assert re.search(r"<td>baseline</td>", listing) and '<span class="chip">baseline</span>' not in listing
    rules = Teacher.objects.create(name="rules", base_url="http://127.0.0.1:8765/v1", model="m", is_baseline=True)
    create_run(rules, enqueue=False)
    listing = staff_client.get(reverse("labeling-run-list")).content.decode()
    assert 'rules <span class="chip">baseline</span>' in listing


def test_run_page_says_when_the_teacher_caps_the_concurrency(staff_client, teacher, tmp_path):
    make_examples(tmp_path, 1)
    run = create_run(teacher, enqueue=False)
    LabelingRun.objects.filter(pk=run.pk).update(concurrency=64)  # e.g. the teacher's maximum lowered since
    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert "concurrency 8 (asked 64, capped at the teacher's maximum)" in page


@pytest.mark.django_db(transaction=True)
def test_failures_and_latest_labels_partial_polls_while_active_and_stops_when_final(staff_client, teacher, tmp_path,
                                                                                    openai_server):
    make_examples(tmp_path, 3)
    openai_server.enqueue("truncated")
    run = create_run(teacher, enqueue=False, concurrency=1)
    url = reverse("labeling-run-live", args=[run.pk])
    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert f'hx-get="{url}"' in page and "None yet." in page
    execute_job(run.job_label, run.pk)
    partial = staff_client.get(url).content.decode()
    assert "<html" not in partial and f'hx-get="{url}"' not in partial  # final: no more polling
    failures, labels = partial.split('class="card latest-labels"')
    assert "truncated" in failures and "None." not in failures
    assert labels.count("chore: update files") == 2 and "None yet." not in labels


def test_creating_prompt_versions_is_staff_only(client, reviewer_user):
    client.force_login(reviewer_user)
    data = {"name": "mine", "system_prompt": "Split into commits."}
    assert client.post(reverse("prompt-new"), data).status_code == 403
    assert not PromptVersion.objects.filter(name="mine").exists()
    assert "Paste a new version" not in client.get(reverse("prompt-list")).content.decode()
    detail = client.get(default_prompt_version().get_absolute_url()).content.decode()
    assert "new version from this one" not in detail


def test_long_prompt_texts_wrap(staff_client):
    prompt = PromptVersion.objects.create(name="long", system_prompt="x" * 4000)
    page = staff_client.get(prompt.get_absolute_url()).content.decode()
    assert "pre.prompt-text { white-space: pre-wrap; overflow-wrap: anywhere;" in page
    assert '<pre class="prompt-text">' in page
