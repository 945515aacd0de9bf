"""Hunk-level labels wired through the app: prompt versions, labeling runs, checks, pages."""
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from gsctune.domain.baseline import BASELINE_MODEL
from gsctune.domain.hunk_proposal import HUNK_OUTPUT_FORMAT, example_hunk_view, hunk_prompt
from gsctune.jobs import JobState, execute_job
from labeling.labels import hunk_label_dict, store_label
from labeling.models import Label, PromptVersion, ProtocolVersion, ReviewItem, Teacher
from labeling.runs.services import create_prompt_version, create_run, label_messages

from . import hunk_data
from .factories import make_example

pytestmark = pytest.mark.django_db(transaction=True)


def _hunk_prompt() -> PromptVersion:
    spec = hunk_prompt()
    return create_prompt_version("hunks", spec.system_prompt, spec.output_format, spec.sample_output,
                                 granularity="hunks")[0]


def _example(n: int = 1):
    return make_example(n, diff=hunk_data.DIFF, files=hunk_data.EXAMPLE["changed_files"])


def _run(teacher, prompt, **options):
    run = create_run(teacher, prompt, enqueue=False, **options)
    execute_job(run.job_label, run.pk)
    run.refresh_from_db()
    return run


def test_hunk_run_against_serve_baseline_stores_hunk_labels_with_findings(baseline_server):
    examples = [_example(i) for i in range(4)]
    teacher = Teacher.objects.create(name="baseline", is_baseline=True, base_url=baseline_server.base_url,
                                     model=BASELINE_MODEL)
    run = _run(teacher, _hunk_prompt(), noise_probability=1.0, noise_seed=3)
    assert run.state == JobState.SUCCEEDED, run.error
    labels = list(Label.objects.filter(run=run))
    assert len(labels) == len(examples)
    skipped_any = flagged_any = False
    for label in labels:
        hunks = example_hunk_view({"diff": label.diff, "existing_gitignore": ["*.pyc"]})
        ids = [h.id for h in hunks]
        assert label.granularity == "hunks"
        committed = [h for c in label.commits for h in c["hunks"]]
        assert sorted(committed + label.skipped_hunks) == sorted(ids)  # every hunk exactly once
        assert "cache.pyc::1" not in ids  # the repository's .gitignore matches it: not listed at all
        junk = [h for h in ids if h.split("::")[0] in label.injected_files]
        assert junk and label.gitignore
        # Junk the baseline knows by name is skipped; junk it only knows by content (a new *.o or
        # build/ file, whose content the hunk list does not show) is committed and flagged.
        flagged = {f["path"] for f in label.findings if f["check"] == "junk_hunk_committed"}
        assert set(junk) == set(label.skipped_hunks) | flagged and not flagged & set(label.skipped_hunks)
        skipped_any = skipped_any or bool(label.skipped_hunks)
        flagged_any = flagged_any or bool(flagged)
        checks = {f["check"] for f in label.findings}
        assert not checks & {"unknown_file", "dropped_file", "duplicate_file", "junk_committed"}  # file level only
        assert not checks & {"unknown_hunk", "duplicate_hunk", "unassigned_hunk"}
        # the request was the tool's hunk list, and it is rebuilt exactly from stored data
        messages = label_messages(label)
        assert messages[1]["content"].startswith("Available hunks:\n  src/app.py::1  (+1/-1)")
        assert HUNK_OUTPUT_FORMAT.splitlines()[0] in messages[0]["content"]
        assert ReviewItem.objects.get(label=label).n_findings == len(label.findings)
    assert skipped_any and flagged_any


def _answer(hunks, skipped=()):
    return json.dumps({"commits": [{"subject": "feat(app): return b", "hunks": list(hunks), "body": "",
                                    "breaking_change": "", "issues": []}],
                       "gitignore": ["*.log"], "skipped_hunks": list(skipped)})


def test_repair_turn_names_unknown_duplicate_and_missing_ids(openai_server):
    example = _example()
    good = _answer(["src/app.py::1", "src/app.py::2", "tests/test_app.py::1", "docs/new.md::1"], ["debug.log::1"])
    bad = _answer(["src/app.py::1", "src/app.py::1", "src/app.py::9", "tests/test_app.py::1"])

    def responder(messages):
        return good if any("hunk IDs do not match" in str(m.get("content")) for m in messages) else bad

    openai_server.responder = responder
    teacher = Teacher.objects.create(name="loop", base_url=openai_server.base_url, model="loop-model",
                                     request_timeout=5, price_input_per_million=Decimal(0))
    run = _run(teacher, _hunk_prompt(), noise_probability=0.0)
    assert run.state == JobState.SUCCEEDED, run.error
    label = Label.objects.get(run=run, example=example)
    assert label.repair_turns == 1 and label.granularity == "hunks"
    assert label.skipped_hunks == ["debug.log::1"]
    repair = openai_server.log[-1]["messages"][-1]["content"]
    assert "src/app.py::9 in commit 1" in repair  # unknown
    assert "src/app.py::1 in commit 1 and commit 1" in repair  # duplicate
    assert "missing hunk IDs (put each in a commit, or in skipped_hunks if it is junk): src/app.py::2, " \
           "debug.log::1, docs/new.md::1" in repair


def test_hunk_label_checks_and_informational_split():
    example = _example()
    label = store_label(Label(example=example, source=Label.Source.IMPORTED, model="m", granularity="hunks",
                              commits=hunk_data.HUNK_LABEL["commits"], gitignore=["*.log"],
                              skipped_hunks=["debug.log::1"], injected_files=["debug.log"]))
    checks = [f["check"] for f in label.findings]
    assert checks == ["split_file"]  # src/app.py is in both commits: shown, not a defect
    assert label.findings[0]["informational"] is True
    item = ReviewItem.objects.get(label=label)
    assert item.n_findings == 0 and " split_file " in item.checks

    label.commits = [dict(label.commits[0], hunks=["src/app.py::1", "debug.log::1", "src/app.py::7"])]
    label.skipped_hunks = []
    store_label(label)
    checks = {f["check"] for f in label.findings}
    assert {"unknown_hunk", "unassigned_hunk", "junk_hunk_committed"} <= checks
    assert ReviewItem.objects.get(label=label).n_findings == len(label.findings)


def test_file_level_label_keeps_file_checks_and_converts_exactly():
    example = _example()
    label = store_label(Label(example=example, source=Label.Source.IMPORTED, model="m",
                              commits=hunk_data.FILE_LABEL["commits"], gitignore=[]))
    assert label.granularity == "files"
    assert "dropped_file" in {f["check"] for f in label.findings}  # debug.log neither committed nor ignored
    converted = hunk_label_dict(label)
    assert [c["hunks"] for c in converted["commits"]] == [
        ["src/app.py::1", "src/app.py::2", "tests/test_app.py::1"], ["docs/new.md::1"]]


def test_one_click_hunk_prompt_from_a_protocol(staff_client, reviewer_user):
    version = ProtocolVersion.objects.create(system_prompt="You are git-smart-commit. Group hunks.", tools=[],
                                             user_layout={}, reply_layouts={})
    page = staff_client.get(version.get_absolute_url())
    assert b"Make a hunk-level prompt from this protocol" in page.content
    url = reverse("protocol-hunk-prompt", args=[version.pk])
    assert staff_client.get(url).status_code == 405
    reviewer = Client()
    reviewer.force_login(reviewer_user)
    assert reviewer.post(url).status_code == 403
    response = staff_client.post(url)
    prompt = PromptVersion.objects.get(granularity="hunks")
    assert response.status_code == 302 and response["Location"] == prompt.get_absolute_url()
    assert prompt.system_prompt == version.system_prompt and prompt.output_format == HUNK_OUTPUT_FORMAT
    staff_client.post(url)  # the same texts: the same version
    assert PromptVersion.objects.filter(granularity="hunks").count() == 1
    detail = staff_client.get(prompt.get_absolute_url()).content.decode()
    assert "hunk ids" in detail and ">git-smart-commit</span>" in detail and "Available hunks:" in detail


def test_example_and_review_pages_show_the_granularity(staff_client):
    example = _example()
    label = store_label(Label(example=example, source=Label.Source.TEACHER, model="m", granularity="hunks",
                              commits=hunk_data.HUNK_LABEL["commits"], gitignore=["*.log"],
                              skipped_hunks=["debug.log::1"], injected_files=["debug.log"]))
    review = staff_client.get(reverse("review-item", args=[label.pk])).content.decode()
    assert ">git-smart-commit</span> <span class=\"muted\">· hunk ids</span>" in review
    assert '<li class="mono">src/app.py::2</li>' in review
    assert '<li title="split_file" class="muted"><b>File split across commits (informational)</b>' in review
    assert review.count("tint-none") == 2  # the diff pane tints files by their hunks' commits
    page = staff_client.get(example.get_absolute_url()).content.decode()
    assert ">git-smart-commit</span> <span class=\"muted\">· hunk ids</span>" in page
    assert " · 2 commits · 1 skipped hunk</p>" in page
    assert "(2 hunks)" in page
