"""Eval runs against a real loopback OpenAI-compatible server: storage, scoring, command, pages."""
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation import runs
from evaluation.models import EvalRun, Prediction
from gsctune.domain.prompts import parse_user_turn
from gsctune.jobs import JobState, execute_job
from labeling.models import Label, PromptVersion, SFTExport

from .factories import load_labeled

pytestmark = pytest.mark.django_db(transaction=True)


def oracle(examples):
    """A responder that answers each example's stored label exactly (junk routed to .gitignore)."""
    by_files = {}
    for label in Label.objects.filter(example__in=examples):
        by_files[frozenset(label.changed_files)] = {"commits": label.commits, "gitignore": label.gitignore}

    def respond(messages):
        files, _, _ = parse_user_turn(messages[-1]["content"])
        return json.dumps(by_files[frozenset(files)])
    return respond


def make_run(examples, server, **fields):
    return runs.create_eval_run(
        name="oracle", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        base_url=server.base_url, model="loopback", concurrency=2, **fields)


def test_run_stores_every_prediction_and_counts_unparsed_outputs(tmp_path, openai_server):  # noqa: F811
    examples = load_labeled(tmp_path, 12)
    assert any(label.noise_injected for label in Label.objects.all())
    openai_server.responder = oracle(examples)
    openai_server.enqueue("garbage", "truncated", "500")  # the 500 is retried, the others are answers
    run = make_run(examples, openai_server)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    assert len(preds) == 12 and run.progress_done == 12 and run.progress_failed == 0
    unparsed = [p for p in preds if p.proposal is None]
    assert sorted(p.error_kind for p in unparsed) == ["truncated", "unparseable"]
    assert all(p.parse_error and p.raw for p in unparsed)
    assert all(p.prompt_tokens > 0 and p.latency_s > 0 for p in preds)
    assert all(p.reference is not None for p in preds)
    overall = run.summary["overall"]
    assert overall["parsed"]["mean"] == pytest.approx(10 / 12)  # truncated JSON and prose: no JSON found
    assert overall["exact"]["mean"] == pytest.approx(10 / 12)
    assert overall["exact"]["lo"] <= overall["exact"]["mean"] <= overall["exact"]["hi"]
    assert overall["type_acc"]["mean"] == 1.0 and overall["type_acc"]["n"] == 10
    noisy = [p for p in preds if p.reference.noise_injected and p.proposal is not None]
    assert noisy and all(p.scores["junk_routed"] == 1.0 for p in noisy)
    assert overall["junk_routed"]["n"] == sum(p.reference.noise_injected for p in preds)
    assert run.summary["by_language"] and list(run.summary["by_size"])
    # The oracle finds each label by the files of the user turn, so the model saw the injected junk too.


def test_resume_predicts_only_what_is_missing(tmp_path, openai_server):  # noqa: F811
    examples = load_labeled(tmp_path, 4)
    openai_server.responder = oracle(examples)
    run = make_run(examples, openai_server)
    execute_job(run.job_label, run.pk)
    first = set(Prediction.objects.filter(run=run).values_list("pk", flat=True))
    Prediction.objects.filter(pk=min(first)).delete()
    requests = openai_server.stats.requests
    run.refresh_from_db()
    assert run.resume()  # enqueue is on_commit; run it here directly
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED
    assert openai_server.stats.requests == requests + 1
    assert run.predictions.count() == 4 and run.summary["n"] == 4


def test_labeling_prompt_and_diff_truncation_reach_the_model(tmp_path, openai_server):  # noqa: F811
    examples = load_labeled(tmp_path, 2)
    seen = []

    def respond(messages):
        seen.append(messages)
        files, _, _ = parse_user_turn(messages[-1]["content"])
        return json.dumps({"commits": [{"subject": "chore: x", "files": files}], "gitignore": []})
    openai_server.responder = respond
    run = make_run(examples, openai_server, prompt_kind=EvalRun.PromptKind.LABELING, max_diff_chars=1000)
    execute_job(run.job_label, run.pk)
    assert len(seen) == 2
    assert all("Conventional Commits" in m[0]["content"] for m in seen)
    assert all(len(m[1]["content"]) < 1000 + 2000 for m in seen)
    seen.clear()
    version = PromptVersion.objects.create(name="terse", system_prompt="Group the files. Be terse.")
    run = make_run(examples, openai_server, prompt_kind=EvalRun.PromptKind.LABELING, prompt_version=version)
    execute_job(run.job_label, run.pk)
    assert [m[0]["content"] for m in seen] == ["Group the files. Be terse."] * 2


def test_sample_is_seeded_and_uses_labeled_examples(tmp_path):
    load_labeled(tmp_path, 10)
    a = runs.sample_example_ids(5, seed=3)
    assert a == runs.sample_example_ids(5, seed=3)
    assert a != runs.sample_example_ids(5, seed=4)
    assert len(set(a)) == 5
    Label.objects.filter(example_id=a[0]).delete()
    assert a[0] not in runs.sample_example_ids(10, seed=3)
    with pytest.raises(runs.EvalError):
        runs.sample_example_ids(5, seed=0, language="cobol")


def test_export_validation_split_from_the_manifest(tmp_path):
    examples = load_labeled(tmp_path, 4)
    folder = tmp_path / "export"
    folder.mkdir()
    records = [{"key": e.key, "split": "val" if i % 2 else "train"} for i, e in enumerate(examples)]
    records.append({"key": "github.com/gone/repo@a..b", "split": "val"})
    (folder / "manifest.json").write_text(json.dumps({"records": records}))
    export = SFTExport.objects.create(name="x", folder=str(folder), state="succeeded")
    assert runs.export_example_ids(export.pk) == [examples[1].pk, examples[3].pk]
    missing = SFTExport.objects.create(name="y", folder=str(tmp_path / "nothing"))
    with pytest.raises(runs.EvalError, match="manifest"):
        runs.export_example_ids(missing.pk)


def test_evaluate_command_prints_the_table_and_writes_json(tmp_path, openai_server, capsys):  # noqa: F811
    examples = load_labeled(tmp_path, 6)
    openai_server.responder = oracle(examples)
    out = tmp_path / "summary.json"
    call_command("evaluate", "--base-url", openai_server.base_url, "--model", "loopback", "--sample", "5",
                 "--seed", "1", "--json", str(out))
    printed = capsys.readouterr().out
    assert "Exact partition match" in printed and "1.000" in printed
    summary = json.loads(out.read_text())
    assert summary["n"] == 5 and summary["overall"]["exact"]["mean"] == 1.0
    run = EvalRun.objects.get()
    assert run.examples_source.startswith("sample of 5 (seed 1")


def test_evaluate_command_rejects_missing_system(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--base-url"):
        call_command("evaluate", "--sample", "3")


def test_report_pages_render_and_escape_model_output(tmp_path, openai_server, staff_client):  # noqa: F811
    examples = load_labeled(tmp_path, 3)
    openai_server.responder = lambda messages: '<script>alert("x")</script> no json here'
    bad = make_run(examples, openai_server)
    execute_job(bad.job_label, bad.pk)
    openai_server.responder = oracle(examples)
    good = make_run(examples, openai_server)
    execute_job(good.job_label, good.pk)

    page = staff_client.get(reverse("eval-run-detail", args=[good.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Exact partition match" in html and "By language" in html and "<svg" in html
    assert "python" in html or "go" in html

    inexact = staff_client.get(reverse("eval-run-detail", args=[bad.pk]) + "?show=inexact").content.decode()
    assert inexact.count("/predictions/") == 3  # every prose answer is listed
    assert "No predictions of this kind" in staff_client.get(
        reverse("eval-run-detail", args=[good.pk]) + "?show=inexact").content.decode()
    assert "No predictions of this kind" in staff_client.get(
        reverse("eval-run-detail", args=[good.pk]) + "?show=unparsed").content.decode()
    pred = bad.predictions.first()
    detail = staff_client.get(pred.get_absolute_url()).content.decode()
    assert '<script>alert("x")</script>' not in detail
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in detail

    cmp = staff_client.get(reverse("eval-compare") + f"?runs={bad.pk}&runs={good.pk}").content.decode()
    assert "Δ +1.000" in cmp  # exact match: 0 for the prose run, 1 for the oracle, on the same examples
    status = staff_client.get(good.status_url()).content.decode()  # the live partial htmx polls
    assert "Succeeded" in status and "Reload the report" in status
    home = staff_client.get(reverse("eval-home")).content.decode()
    assert "oracle" in home and "New eval run" in home


def test_launch_from_the_page_is_staff_only(tmp_path, client, django_user_model, openai_server):  # noqa: F811
    load_labeled(tmp_path, 3)
    data = {"name": "web", "backend": "endpoint", "base_url": openai_server.base_url, "model": "m",
            "prompt_kind": "finetune", "source": "sample", "sample": 2, "seed": 0, "concurrency": 2,
            "max_tokens": 512, "api_key_env": "OPENAI_API_KEY"}
    user = django_user_model.objects.create_user("plain", password="x")
    client.force_login(user)
    assert client.post(reverse("eval-run-new"), data).status_code == 403
    assert not EvalRun.objects.exists()
    user.is_staff = True
    user.save()
    response = client.post(reverse("eval-run-new"), data)
    run = EvalRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    assert run.api_key_env == "OPENAI_API_KEY" and len(run.example_ids) == 2 and run.state == JobState.QUEUED


def test_cancel_stops_the_run_and_keeps_what_was_predicted(tmp_path, openai_server):  # noqa: F811
    examples = load_labeled(tmp_path, 10)
    openai_server.responder = oracle(examples)
    openai_server.latency = 0.3
    run = make_run(examples, openai_server)
    EvalRun.objects.filter(pk=run.pk).update(concurrency=1)

    def cancel_after_two(current):
        if current.progress_done >= 2 and not current.cancel_requested:
            current.cancel_requested = True
            EvalRun.objects.filter(pk=current.pk).update(cancel_requested=True)

    run = execute_job(run.job_label, run.pk, on_change=cancel_after_two)
    assert run.state == JobState.CANCELLED
    kept = run.predictions.count()
    assert 2 <= kept < 10
    assert run.summary["n"] == kept  # the report covers what was predicted


def test_a_wrong_endpoint_fails_fast_with_a_clear_message(tmp_path, openai_server):  # noqa: F811
    examples = load_labeled(tmp_path, 12)
    run = runs.create_eval_run(
        name="typo", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        base_url=openai_server.base_url.removesuffix("/v1"), model="loopback", concurrency=2)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.FAILED
    assert "the first 5 requests all failed (HTTP 404" in run.error and "check the base URL" in run.error
    assert run.predictions.count() < 12 and run.progress_failed >= 5
