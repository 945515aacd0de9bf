"""Eval run and comparison set forms, the circular-evaluation flag, and chart axes."""
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation import runs
from evaluation.models import EvalRun
from gsctune import charts
from gsctune.charts import nice_ticks
from gsctune.jobs import JobState
from labeling.labels import store_label
from labeling.models import Label
from training.models import TrainingMetric, TrainingRun
from training.services import chart as training_chart

from .factories import load_labeled
from .test_evaluation_runs import oracle

GOOD = {"name": "web", "backend": "endpoint", "base_url": "http://127.0.0.1:9/v1", "model": "m",
        "prompt_kind": "finetune", "source": "sample", "sample": 2, "seed": 0, "concurrency": 2, "max_tokens": 512}


@pytest.mark.django_db
def test_the_create_url_shows_the_form_in_sections(staff_client):
    page = staff_client.get(reverse("eval-run-new"))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<form method="post" action="/evaluation/runs/new/" class="stacked"' in html
    for legend in ("System", "Endpoint", "Adapter", "Prompt", "Examples", "Requests"):
        assert f"<legend>{legend}</legend>" in html
    assert 'data-when="backend=adapter"' in html and 'data-when="source=export"' in html
    form = page.context["form"]
    obvious = {"backend", "source"}  # a choice between labelled options, explained by the section help
    assert {name for name, field in form.fields.items() if not field.help_text} == obvious
    home = staff_client.get(reverse("eval-home")).content.decode()
    assert 'href="/evaluation/runs/new/"' in home and 'href="/evaluation/blind/new/"' in home


@pytest.mark.django_db
@pytest.mark.parametrize("change,field,message", [
    ({"base_url": ""}, "base_url", "Base URL: An endpoint run needs a base URL."),
    ({"model": ""}, "model", "Model name: An endpoint run needs a model name."),
    ({"base_url": "127.0.0.1:11434"}, "base_url", "Base URL: Enter an http:// or https:// URL"),
    ({"api_key_env": "sk-live-123"}, "api_key_env", "API key variable: Give the name of an environment variable"),
    ({"sample": ""}, "sample", "Sample size: Give the sample size."),
    ({"source": "export"}, "export", "Export: Choose an export."),
    ({"backend": "adapter"}, "adapter_path", "Adapter folder: An adapter run needs the adapter folder"),
    ({"concurrency": 0}, "concurrency", "Concurrency: Ensure this value is greater than or equal to 1."),
])
def test_every_error_names_its_field(staff_client, change, field, message):
    response = staff_client.post(reverse("eval-run-new"), {**GOOD, **change})
    assert response.status_code == 200 and not EvalRun.objects.exists()
    html = response.content.decode()
    assert message in html
    assert f'<a href="#field-{field}">' in html  # the summary above the form links to the field
    assert re.search(rf'<div class="field has-error[^"]*" id="field-{field}">', html)


@pytest.mark.django_db
def test_no_examples_is_an_error_on_the_sample_and_a_valid_post_opens_the_run(staff_client, tmp_path):
    html = staff_client.post(reverse("eval-run-new"), GOOD).content.decode()
    assert "Sample size: No examples match (labeled examples are needed as references)." in html
    load_labeled(tmp_path, 3)
    response = staff_client.post(reverse("eval-run-new"), GOOD)
    run = EvalRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.state == JobState.QUEUED and len(run.example_ids) == 2


@pytest.mark.django_db
def test_the_comparison_set_form_has_its_own_page(staff_client):
    page = staff_client.get(reverse("cmp-set-new"))
    html = page.content.decode()
    assert page.status_code == 200 and "<legend>Systems</legend>" in html and "form-section" in html
    assert all(field.help_text for field in page.context["form"].fields.values())
    response = staff_client.post(reverse("cmp-set-new"), {"name": "x", "n_items": 3, "seed": 0, "human": "on"})
    assert response.status_code == 200
    assert "Choose at least two systems. Tick eval runs, teacher labels or the original human commits." in (
        response.content.decode())


@pytest.mark.django_db(transaction=True)
def test_an_eval_of_the_model_that_wrote_the_references_is_flagged(tmp_path, staff_client, openai_server, capsys):
    examples = load_labeled(tmp_path, 4)  # teacher labels by "teacher-x"
    human = examples[0].labels.get()
    store_label(Label(example=examples[0], source=Label.Source.HUMAN, commits=human.commits, revision_of=human))
    ids = [e.pk for e in examples]
    same = runs.create_eval_run(name="self", example_ids=ids, examples_source="t", enqueue=False,
                                    base_url=openai_server.base_url, model="org/teacher-x")
    other = runs.create_eval_run(name="other", example_ids=ids, examples_source="t", enqueue=False,
                                     base_url=openai_server.base_url, model="student")
    info = runs.circularity(same)
    assert info["n"] == 3 and info["total"] == 4  # the human correction is not circular
    assert runs.circularity(other) is None
    page = staff_client.get(same.get_absolute_url()).content.decode()
    assert "Circular evaluation." in page and "3 of 4 reference labels were written by teacher-x" in page
    assert "Circular evaluation" not in staff_client.get(other.get_absolute_url()).content.decode()

    openai_server.responder = oracle(examples)
    call_command("evaluate", "--base-url", openai_server.base_url, "--model", "teacher-x", "--sample", "4")
    printed = capsys.readouterr()
    assert "WARNING: Circular evaluation: 3 of 4 reference labels were written by teacher-x" in printed.out
    call_command("evaluate", "--base-url", openai_server.base_url, "--model", "student", "--sample", "4")
    assert "Circular" not in capsys.readouterr().out


@pytest.mark.parametrize("lo,hi", [(1.2341, 1.2349), (0.0, 1.0), (2.0, 2.0), (0.012, 0.0125), (-3.0, 5.0),
                                   (1e-5, 3e-5), (100.0, 2500.0), (0.69, 0.7)])
def test_ticks_are_distinct_round_and_cover_the_range(lo, hi):
    axis_lo, axis_hi, ticks = nice_ticks(lo, hi)
    labels = [label for _, label in ticks]
    assert len(set(labels)) == len(labels) and 3 <= len(labels) <= 8
    assert axis_lo <= min(lo, hi) and axis_hi >= max(lo, hi)
    assert [float(label) for label in labels] == pytest.approx([v for v, _ in ticks])


@pytest.mark.django_db
def test_a_flat_loss_curve_has_distinct_tick_labels():
    run = TrainingRun.objects.create(base_model="tiny")
    for step, loss in enumerate((1.2349, 1.2345, 1.2343, 1.2341), start=1):
        TrainingMetric.objects.create(run=run, kind="train", step=step, loss=loss)
    labels = [t["label"] for t in training_chart([run])["ticks"]]
    assert len(set(labels)) == len(labels) > 2, labels  # before: "1.23" five times
    eval_labels = [t["t"] for t in charts.interval_chart([{"label": "x", "mean": 0.5, "lo": 0.4, "hi": 0.6}])["ticks"]]
    assert eval_labels == ["0.00", "0.25", "0.50", "0.75", "1.00"]
