"""Labeling runs end to end against the loopback teacher: faults, resume, costs, reproducibility."""
import io
import socket
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from gsctune.jobs import JobState, execute_job
from labeling.models import Label, LabelFailure, LabelingRun, PromptVersion, Teacher
from labeling.runs.services import (
    SelectionError,
    create_prompt_version,
    create_run,
    default_prompt_version,
    label_messages,
    resolve_selection,
)
from tests.openai_server import FaultMix

from .conftest import wait_for
from .factories import make_examples

pytestmark = pytest.mark.django_db(transaction=True)


def _teacher(server, **fields) -> Teacher:
    defaults = {"name": "loopback", "base_url": server.base_url, "model": "loop-model", "max_concurrency": 16,
                "request_timeout": 5, "price_input_per_million": Decimal("2.5"),
                "price_output_per_million": Decimal("10")}
    return Teacher.objects.create(**{**defaults, **fields})


def _run(teacher, **options) -> LabelingRun:
    run = create_run(teacher, enqueue=False, **options)
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    return run


def test_fault_mix_loses_nothing_and_rerun_labels_the_failures(openai_server, tmp_path):
    examples = make_examples(tmp_path, 120)
    openai_server.retry_after = 0.05
    openai_server.faults = FaultMix(rate_429=0.10, rate_5xx=0.10, rate_malformed=0.05, seed=7)
    openai_server.enqueue(*["truncated"] * 4)  # four answers cut off: failures with a reason
    run = _run(_teacher(openai_server))

    assert run.state == JobState.SUCCEEDED, run.error
    labeled = list(Label.objects.filter(run=run).values_list("example_id", flat=True))
    failed = list(LabelFailure.objects.filter(run=run).values_list("example_id", flat=True))
    assert len(labeled) == len(set(labeled))  # nothing twice
    assert sorted(labeled + failed) == sorted(e.pk for e in examples)  # nothing lost
    assert len(failed) >= 4
    assert all(f.kind and f.message for f in LabelFailure.objects.filter(run=run))
    assert LabelFailure.objects.filter(run=run, kind="truncated", finish_reason="length").count() == 4
    assert (run.progress_done, run.progress_failed, run.progress_total) == (len(labeled), len(failed), 120)
    assert openai_server.stats.behaviours["429"] > 0 and openai_server.stats.behaviours["500"] > 0
    assert Label.objects.filter(run=run, repair_turns=1).exists()  # malformed answers were repaired

    requests_before = openai_server.stats.requests
    openai_server.faults = None
    assert run.resume() is True
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    assert run.state == JobState.SUCCEEDED
    assert Label.objects.filter(run=run).count() == 120
    assert run.progress_done == 120 and run.progress_failed == 0
    assert openai_server.stats.requests - requests_before == len(failed)  # only the failures were retried
    assert LabelFailure.objects.filter(run=run).exclude(state="resolved").count() == 0


def test_tokens_and_cost_equal_what_the_server_reported(openai_server, tmp_path):
    make_examples(tmp_path, 30)
    openai_server.enqueue("bad_schema", "truncated", "500")
    run = _run(_teacher(openai_server))
    assert run.prompt_tokens == openai_server.stats.prompt_tokens
    assert run.completion_tokens == openai_server.stats.completion_tokens
    expected = (Decimal(run.prompt_tokens) * Decimal("2.5") + Decimal(run.completion_tokens) * 10) / 1_000_000
    assert run.cost == expected
    assert run.projected_cost == expected / 30 * 30
    assert run.projected_cost_all_examples == expected  # all 30 examples are in this run
    label = Label.objects.filter(run=run).first()
    assert set(label.usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_labels_record_prompt_and_noise_and_messages_are_reproducible(openai_server, tmp_path):
    make_examples(tmp_path, 25)
    run = _run(_teacher(openai_server), noise_probability=0.5, noise_seed=3, max_diff_chars=1000)
    sent = {}
    for entry in openai_server.log:
        user = entry["messages"][1]["content"]
        sent[user] = entry["messages"]
    labels = list(Label.objects.filter(run=run).select_related("example", "run", "prompt_version"))
    assert len(labels) == 25
    assert any(label.noise_injected for label in labels) and not all(label.noise_injected for label in labels)
    for label in labels:
        assert label.prompt_version == run.prompt_version and label.teacher == run.teacher
        assert label.source == Label.Source.TEACHER and label.model == "loop-model"
        assert label.raw_response and label.finish_reason == "stop"
        messages = label_messages(label)
        assert sent[messages[1]["content"]] == messages
        for junk in label.injected_files:
            assert junk in messages[1]["content"] and junk in label.diff


def test_prompt_versions_are_immutable_once_used(openai_server, tmp_path):
    make_examples(tmp_path, 2)
    prompt, created = create_prompt_version("mine", "Be brief.", "JSON only", "{}")
    assert created and create_prompt_version("again", "Be brief.", "JSON only", "{}") == (prompt, False)
    prompt.system_prompt = "Be very brief."
    prompt.save()  # unused: still editable
    _run(_teacher(openai_server), prompt_version=prompt)
    prompt.refresh_from_db()
    prompt.system_prompt = "Changed after use"
    with pytest.raises(ValidationError):
        prompt.save()
    assert default_prompt_version() == default_prompt_version()
    assert PromptVersion.objects.filter(is_default=True).count() == 1


def test_selection_sample_unlabeled_and_list(openai_server, tmp_path):
    examples = make_examples(tmp_path, 12)
    teacher = _teacher(openai_server)
    a = create_run(teacher, enqueue=False, selection="sample", sample_size=5, selection_seed=1)
    b = create_run(teacher, enqueue=False, selection="sample", sample_size=5, selection_seed=1)
    assert resolve_selection(a) == resolve_selection(b) and len(resolve_selection(a)) == 5
    _run(teacher, selection="list", example_list=[examples[0].key, str(examples[1].pk)])
    unlabeled = create_run(teacher, enqueue=False)
    assert resolve_selection(unlabeled) == [e.pk for e in examples[2:]]
    limited = create_run(teacher, enqueue=False, limit=3)
    assert len(resolve_selection(limited)) == 3
    with pytest.raises(SelectionError):
        resolve_selection(create_run(teacher, enqueue=False, selection="list", example_list=["nope"]))


def test_unreachable_teacher_fails_the_run_with_a_reason(tmp_path, settings):
    settings.LABELING_RETRY = {"max_attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02}
    make_examples(tmp_path, 20)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    teacher = Teacher.objects.create(name="gone", base_url=f"http://127.0.0.1:{port}/v1", model="m",
                                     max_concurrency=2, request_timeout=1)
    run = create_run(teacher, enqueue=False)
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    assert run.state == JobState.FAILED and "looks unreachable" in run.error
    assert LabelFailure.objects.filter(run=run, kind__in=["connection", "timeout"]).count() >= 12


def test_cancel_keeps_work_and_resume_finishes_without_duplicates(openai_server, tmp_path):
    examples = make_examples(tmp_path, 40)
    openai_server.latency = 0.1
    run = create_run(_teacher(openai_server, max_concurrency=2), enqueue=False)
    worker = threading.Thread(target=execute_job, args=(run.job_label, run.pk))
    worker.start()
    wait_for(lambda: Label.objects.filter(run=run).count() >= 6, timeout=30, message="six labels")
    run.request_cancel()
    worker.join(30)
    run.refresh_from_db()
    assert run.state == JobState.CANCELLED
    kept = Label.objects.filter(run=run).count()
    assert 6 <= kept < 40 and run.progress_done == kept
    assert run.resume()
    execute_job(run.job_label, run.pk)
    labeled = sorted(Label.objects.filter(run=run).values_list("example_id", flat=True))
    assert labeled == sorted(e.pk for e in examples)


def test_label_command_runs_in_the_foreground_and_resumes(openai_server, tmp_path):
    make_examples(tmp_path, 8)
    openai_server.enqueue("truncated")
    out, err = io.StringIO(), io.StringIO()
    call_command("label", "--base-url", openai_server.base_url, "--model", "cli-model", "--api-key-env",
                 "NO_SUCH_KEY_VAR", "--concurrency", "1", "--limit", "6", "--seed", "2", "--noise-prob", "1",
                 stdout=out, stderr=err)
    run = LabelingRun.objects.get()
    assert run.teacher.model == "cli-model" and run.teacher.api_key_env == "NO_SUCH_KEY_VAR"
    assert (run.limit, run.noise_seed, run.noise_probability) == (6, 2, 1.0)
    assert out.getvalue().startswith(f"run {run.pk} succeeded: 5 labeled, 1 failed of 6")
    assert "6/6" in err.getvalue()  # the progress bar
    assert all(label.noise_injected for label in Label.objects.filter(run=run))
    call_command("label", "--resume", str(run.pk), stdout=out, stderr=err)
    assert f"run {run.pk} succeeded: 6 labeled, 0 failed of 6" in out.getvalue()
    with pytest.raises(CommandError, match="--teacher NAME or both"):
        call_command("label", "--model", "x")
