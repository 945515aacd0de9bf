"""What a hunk-level teacher is shown of new files, and what the tool-target export then adds.

git-smart-commit lists a new file without its content. A run shows the teacher the hunk list as
the tool does, or (``teacher_sees_new_content``) with new files' content; the export adds the
student's read_file turn to every label, or (``read_new_files=False``) only to labels whose maker
may have read that content.
"""
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from gsctune.domain.baseline import BASELINE_MODEL
from gsctune.domain.hunk_proposal import hunk_prompt
from gsctune.jobs import JobState, execute_job
from labeling.export import snapshot as E
from labeling.export.services import build_records
from labeling.models import Label, LabelingRun, PromptVersion, Teacher
from labeling.runs.services import create_prompt_version, create_run, default_prompt_version, label_messages

from . import hunk_data
from .factories import make_example

pytestmark = pytest.mark.django_db(transaction=True)
NEW_FILE_TEXT = "+# New\n+hello"  # docs/new.md's content in the harvested diff


def hunk_prompt_version() -> PromptVersion:
    spec = hunk_prompt()
    return create_prompt_version("hunks", spec.system_prompt, spec.output_format, spec.sample_output,
                                 granularity="hunks")[0]


@pytest.fixture
def baseline_teacher(baseline_server):
    return Teacher.objects.create(name="baseline", is_baseline=True, base_url=baseline_server.base_url,
                                  model=BASELINE_MODEL)


def labeled(teacher, prompt, example_number: int, **options) -> Label:
    example = make_example(example_number, diff=hunk_data.DIFF, files=hunk_data.EXAMPLE["changed_files"])
    run = create_run(teacher, prompt, enqueue=False, example_list=[str(example.pk)], selection="list",
                     noise_probability=0.0, **options)
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    assert run.state == JobState.SUCCEEDED, run.error
    return Label.objects.get(run=run)


def read_calls(line: str) -> list[str]:
    messages = json.loads(line)["messages"]
    return [json.loads(m["tool_calls"][0]["function"]["arguments"])["path"] for m in messages
            if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == "read_file"]


def test_the_teacher_sees_what_the_tool_shows_unless_the_run_says_otherwise(openai_server):
    answer = {"commits": [{"subject": "feat(app): return b", "hunks": [i for i in hunk_data.IDS if i != "debug.log::1"],
                           "body": "", "breaking_change": "", "issues": []}],
              "gitignore": ["*.log"], "skipped_hunks": ["debug.log::1"]}
    openai_server.responder = lambda messages: json.dumps(answer)
    teacher = Teacher.objects.create(name="loop", base_url=openai_server.base_url, model="loop-model", request_timeout=5)
    prompt = hunk_prompt_version()
    as_tool = labeled(teacher, prompt, 1)
    with_content = labeled(teacher, prompt, 2, teacher_sees_new_content=True)
    sent = [entry["messages"][1]["content"] for entry in openai_server.log]
    assert len(sent) == 2
    assert "docs/new.md::1  (new untracked file)" in sent[0] and NEW_FILE_TEXT not in sent[0]
    assert NEW_FILE_TEXT in sent[1]
    # the messages are rebuilt exactly from stored data, the run's choice included
    assert label_messages(as_tool)[1]["content"] == sent[0]
    assert label_messages(with_content)[1]["content"] == sent[1]
    assert (as_tool.saw_new_content, with_content.saw_new_content) == (False, True)


def test_the_export_adds_read_turns_where_the_label_may_rest_on_hidden_content(baseline_teacher, tmp_path):
    prompt = hunk_prompt_version()
    as_tool = labeled(baseline_teacher, prompt, 1)
    with_content = labeled(baseline_teacher, prompt, 2, teacher_sees_new_content=True)
    records = {r["label"]["id"]: r for r in build_records()}
    assert records[as_tool.pk]["label"]["saw_new_content"] is False
    assert records[with_content.pk]["label"]["saw_new_content"] is True
    reads = {}
    for read_new_files in (True, False):
        opts = E.ExportOptions(target=E.TOOL_TARGET, include_unreviewed=True, val_fraction=0.0,
                               weights={"unreviewed": 1.0}, read_new_files=read_new_files)
        out = tmp_path / str(read_new_files)
        result = E.export(list(records.values()), opts, str(out))
        assert sorted(p["label_id"] for p in result.manifest["records"]) == sorted([as_tool.pk, with_content.pk])
        rows = (out / "train.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(rows) == 2 and all(NEW_FILE_TEXT not in json.loads(r)["messages"][1]["content"] for r in rows)
        reads[read_new_files] = sorted(read_calls(line) for line in rows)
    # Both examples have the same diff and label; only what their teachers saw differs.
    every = reads[True][0]
    assert "docs/new.md" in every and reads[True] == [every, every]
    assert reads[False] == [[], every]  # the tool-view label reads nothing, the other still reads


def test_the_form_shows_saves_and_refuses_the_option(staff_client, baseline_teacher):
    page = staff_client.get(reverse("labeling-run-new")).content.decode()
    assert 'name="teacher_sees_new_content"' in page and "show new files&#x27; content to the teacher" in page.lower()
    data = {"teacher": baseline_teacher.pk, "selection": "unlabeled", "selection_seed": 0, "noise_probability": 0.3,
            "noise_seed": 0, "max_diff_chars": 60000, "teacher_sees_new_content": "on"}
    refused = staff_client.post(reverse("labeling-run-new"), {**data, "prompt_version": default_prompt_version().pk})
    assert refused.status_code == 200 and not LabelingRun.objects.exists()
    assert "Only a hunk-level prompt version hides new files&#x27; content" in refused.content.decode()
    make_example(1)
    saved = staff_client.post(reverse("labeling-run-new"), {**data, "prompt_version": hunk_prompt_version().pk})
    assert saved.status_code == 302
    assert LabelingRun.objects.get().teacher_sees_new_content is True


def test_the_command_takes_the_option(baseline_teacher, capsys):
    make_example(1, diff=hunk_data.DIFF, files=hunk_data.EXAMPLE["changed_files"])
    prompt = hunk_prompt_version()
    call_command("label", "--teacher", "baseline", "--prompt-version", str(prompt.pk), "--show-new-content")
    run = LabelingRun.objects.get()
    assert run.teacher_sees_new_content and run.state == JobState.SUCCEEDED
    assert NEW_FILE_TEXT in label_messages(Label.objects.get(run=run))[1]["content"]
    with pytest.raises(Exception, match="Only a hunk-level prompt version hides"):
        call_command("label", "--teacher", "baseline", "--prompt-version", str(default_prompt_version().pk),
                     "--show-new-content")


def test_two_students_compare_inside_the_loop(tmp_path, baseline_server, staff_client):
    """How the two choices are compared: one protocol eval run per student (here the baseline on
    both of the tool's backends), then the comparison page's paired differences per metric."""
    from evaluation import runs
    from evaluation.models import EvalRun
    from tests.factories import load_labeled

    examples = load_labeled(tmp_path, 4)
    done = []
    for backend in ("v1", "ollama"):
        run = runs.create_eval_run(
            name=f"student via {backend}", example_ids=[e.pk for e in examples], examples_source="test",
            enqueue=False, base_url=baseline_server.base_url, model=BASELINE_MODEL, concurrency=2,
            target=EvalRun.Target.GIT_SMART_COMMIT, protocol_backend=backend)
        run = execute_job(run.job_label, run.pk)
        assert run.state == JobState.SUCCEEDED, run.error
        done.append(run)
    rows = {r["name"]: r for r in runs.compare_runs(done)}
    assert rows["investigation"]["label"] == "Investigation calls"
    assert rows["finalized"]["cells"][1]["diff"]["n"] == 4  # paired over the examples both scored
    page = staff_client.get(reverse("eval-compare") + f"?runs={done[0].pk}&runs={done[1].pk}").content.decode()
    assert "Investigation calls" in page and "student via ollama" in page


def test_the_run_page_says_what_the_teacher_was_shown(staff_client, baseline_teacher):
    prompt = hunk_prompt_version()
    as_tool = labeled(baseline_teacher, prompt, 1)
    with_content = labeled(baseline_teacher, prompt, 2, teacher_sees_new_content=True)
    assert "teacher shown the hunk list as the tool shows it" in staff_client.get(as_tool.run.get_absolute_url()).content.decode()
    assert "teacher shown new files' content too" in staff_client.get(with_content.run.get_absolute_url()).content.decode()
