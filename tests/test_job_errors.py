"""A failed job says why in one line first; its traceback is folded below, on every job page."""
import re
import traceback

import pytest

from evaluation.models import EvalRun
from gsctune.jobs import JobState, error_reason, execute_job, job_models
from labeling.models import CaptureJob, ImportJob, LabelingRun, SFTExport, Teacher
from labeling.runs.services import default_prompt_version
from training.models import AdapterMerge, TrainingRun

pytestmark = pytest.mark.django_db


def _stored(raise_it) -> str:
    """The error text execute_job keeps for an exception (the same format, from a real raise)."""
    try:
        raise_it()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}\n\n" + traceback.format_exc()
    raise AssertionError("did not raise")


def _key_error():
    return {}["base_model"]


def _json_error():
    import json

    json.loads("{")


def _chained():
    try:
        _key_error()
    except KeyError as exc:
        raise RuntimeError("the export has no train.jsonl\nsee the manifest") from exc


def _ours():
    from evaluation.runs import EvalError

    raise EvalError("the first 8 requests all failed (connection refused); check the base URL")


def _wrapped():
    from training.services import TrainingError

    raise TrainingError("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize("raise_it,reason", [
    (_wrapped, "Out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"),
    (lambda: open("/nonexistent/in.jsonl"), "No such file or directory: '/nonexistent/in.jsonl'"),
    (_key_error, "Missing key 'base_model'"),
    (_json_error, "JSON decode: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (_chained, "The export has no train.jsonl"),
    (_ours, "The first 8 requests all failed (connection refused); check the base URL"),
    (lambda: 1 / 0, "Zero division: division by zero"),
])
def test_the_reason_is_the_exception_in_words(raise_it, reason):
    assert error_reason(_stored(raise_it)) == reason


def test_text_without_an_exception_type_is_kept_and_long_text_is_cut():
    assert error_reason("worker lost its GPU") == "worker lost its GPU"
    assert error_reason("") == ""
    long = error_reason("ValueError: " + "x" * 1000)
    assert len(long) == 300 and long.endswith("…")


def _assert_reason_then_folded_traceback(html: str, reason: str) -> None:
    from html import escape

    assert f"<strong>Failed:</strong> {escape(reason)}" in html
    folded = re.search(r'<details class="job-error">(.*?)</details>', html, re.S)
    assert folded, "the traceback is folded in a closed <details>"
    assert "Traceback (most recent call last)" in folded.group(1)
    outside = html.replace(folded.group(0), "")
    assert "Traceback" not in outside, "the traceback shows only inside the fold"
    assert html.index("job-reason") < html.index('<details class="job-error">')


def test_a_failed_import_shows_its_reason_first(staff_client, tmp_path):
    job = ImportJob.objects.create(source_path=str(tmp_path / "gone.jsonl"), original_name="gone.jsonl")
    job = execute_job(job.job_label, job.pk)
    assert job.state == JobState.FAILED
    reason = f"File not found: {tmp_path / 'gone.jsonl'} does not exist or is not a file"
    assert job.error_reason == reason
    for url in (job.get_absolute_url(), job.status_url()):
        _assert_reason_then_folded_traceback(staff_client.get(url).content.decode(), reason)


def _failed_jobs(error: str) -> list:
    """One failed job of every kind, with the same stored error."""
    teacher = Teacher.objects.create(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    export = SFTExport.objects.create(state=JobState.FAILED, error=error)
    run = TrainingRun.objects.create(base_model="tiny", export=export, state=JobState.FAILED, error=error)
    return [
        ImportJob.objects.create(source_path="/x.jsonl", original_name="x.jsonl", state=JobState.FAILED, error=error),
        LabelingRun.objects.create(teacher=teacher, prompt_version=default_prompt_version(), state=JobState.FAILED,
                                   error=error),
        export,
        run,
        AdapterMerge.objects.create(run=run, state=JobState.FAILED, error=error),
        EvalRun.objects.create(name="e", state=JobState.FAILED, error=error),
        CaptureJob.objects.create(state=JobState.FAILED, error=error),
    ]


def test_every_job_page_shows_the_reason_and_folds_the_traceback(staff_client):
    error = _stored(_chained)
    jobs = _failed_jobs(error)
    assert {type(job) for job in jobs} == set(job_models()), "every kind of job is covered"
    for job in jobs:
        page = staff_client.get(job.get_absolute_url())
        assert page.status_code == 200, job
        html = page.content.decode()
        if isinstance(job, TrainingRun):  # its page also lists the merge, with the same error
            assert html.count("<strong>Failed:</strong> The export has no train.jsonl") == 2
        else:
            _assert_reason_then_folded_traceback(html, "The export has no train.jsonl")
        _assert_reason_then_folded_traceback(staff_client.get(job.status_url()).content.decode(),
                                             "The export has no train.jsonl")


def test_an_error_of_one_line_is_not_repeated_in_a_fold(staff_client):
    job = ImportJob.objects.create(source_path="/x", original_name="x", state=JobState.FAILED,
                                   error="0 imported, 3 bad lines")
    html = staff_client.get(job.status_url()).content.decode()
    assert "<strong>Failed:</strong> 0 imported, 3 bad lines" in html and "job-error" not in html
