"""Every page that shows a run, prompt, label, export or comparison says which target it serves.

For git-smart-commit the protocol comes with it: linked to its page, with its short hash and
"captured" or "built-in — not what the tool sends". The objects are stored through the services
the app uses; the pages are fetched as staff and the rendered HTML is checked.
"""
import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from evaluation.comparisons import CRITERIA, build_comparison_set, record_vote
from evaluation.models import EvalRun, Prediction
from evaluation.runs import create_eval_run
from gsctune import targets
from gsctune.domain.hunk_proposal import hunk_prompt
from gsctune.domain.protocol import BUILTIN
from gsctune.jobs import JobState, run_in_foreground
from labeling.export import snapshot as E
from labeling.export.services import create_export
from labeling.labels import store_label
from labeling.models import Label, ProtocolVersion, Teacher
from labeling.runs.services import create_prompt_version, create_run, default_prompt_version, hunk_prompt_from_protocol
from training import services as training

from . import hunk_data
from .factories import make_example, make_label

pytestmark = pytest.mark.django_db

TOOL_BADGE = re.compile(r'<span class="target-badge tool" title="[^"<>]*">git-smart-commit</span>')
FILES_BADGE = re.compile(r'<span class="target-badge" title="[^"<>]*">json-files</span>')
BUILTIN_HASH = BUILTIN.content_hash[:12]
ALL_ONCE = {"corrected": 1.0, "accepted": 1.0, "unreviewed": 1.0}


def captured_fragment(version: ProtocolVersion) -> str:
    """The protocol as the pages print it: link, short hash, source, together."""
    return (f'<a href="{version.get_absolute_url()}">protocol #{version.pk}</a> '
            f'<code>{version.content_hash[:12]}</code> <span class="protocol-source">captured</span>')


BUILTIN_FRAGMENT = ('<a href="/labeling/protocols/">built-in protocol</a> '
                    f'<code>{BUILTIN_HASH}</code> '
                    '<span class="protocol-source builtin">built-in — not what the tool sends</span>')


def assert_tool(html: str, fragment: str, count: int = 1) -> None:
    assert TOOL_BADGE.search(html), "no git-smart-commit badge"
    assert html.count(fragment) >= count, fragment


def assert_files(html: str) -> None:
    assert FILES_BADGE.search(html), "no json-files badge"


def get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def captured():
    return ProtocolVersion.objects.create(system_prompt="Captured: group the hunks.", tools=BUILTIN.tools,
                                          tool_commit="v1.2", user_turn="Available hunks:\n  a.py::1  (+1/-0)")


@pytest.fixture
def prompts(captured):
    """(from the captured protocol, from the built-in system prompt, file level)."""
    from_capture, _ = hunk_prompt_from_protocol(captured)
    spec = hunk_prompt()
    builtin, _ = create_prompt_version("hunks, built in", spec.system_prompt, spec.output_format, spec.sample_output,
                                       granularity="hunks")
    return from_capture, builtin, default_prompt_version()


@pytest.fixture
def teacher():
    return Teacher.objects.create(name="teacher-a", base_url="http://127.0.0.1:9/v1", model="model-a")


def hunk_label(n: int, prompt, teacher) -> Label:
    example = make_example(n, diff=hunk_data.DIFF, files=hunk_data.EXAMPLE["changed_files"])
    return store_label(Label(example=example, source=Label.Source.TEACHER, model="model-a", granularity="hunks",
                             teacher=teacher, prompt_version=prompt, commits=hunk_data.HUNK_LABEL["commits"],
                             gitignore=["*.log"], skipped_hunks=["debug.log::1"], injected_files=["debug.log"]))


# ── prompt versions and labeling runs ─────────────────────────────────────────────

def test_prompt_versions_list_and_pages(staff_client, captured, prompts):
    from_capture, builtin, files = prompts
    listing = get(staff_client, reverse("prompt-list"))
    assert_tool(listing, captured_fragment(captured))
    assert_tool(listing, BUILTIN_FRAGMENT)
    assert_files(listing)
    page = get(staff_client, from_capture.get_absolute_url())
    assert_tool(page, captured_fragment(captured))
    assert "· system prompt of</span>" in page
    assert_tool(get(staff_client, builtin.get_absolute_url()), BUILTIN_FRAGMENT)
    page = get(staff_client, files.get_absolute_url())
    assert_files(page)
    assert not TOOL_BADGE.search(page)


def test_prompt_with_its_own_system_prompt_says_so(staff_client):
    prompt, _ = create_prompt_version("mine", "My own rules.", granularity="hunks")
    page = get(staff_client, prompt.get_absolute_url())
    assert TOOL_BADGE.search(page) and "own system prompt" in page and "protocols/" not in page.split("<main>")[1]


def test_labeling_runs_list_detail_and_form(staff_client, captured, prompts, teacher):
    from_capture, _, files = prompts
    tool_run = create_run(teacher, from_capture, enqueue=False, name="hunk run")
    files_run = create_run(teacher, files, enqueue=False, name="file run")
    listing = get(staff_client, reverse("labeling-run-list"))
    assert_tool(listing, captured_fragment(captured))
    assert_files(listing)
    assert_tool(get(staff_client, tool_run.get_absolute_url()), captured_fragment(captured))
    assert_files(get(staff_client, files_run.get_absolute_url()))
    form = get(staff_client, reverse("labeling-run-new"))
    assert (f"{from_capture} · git-smart-commit · hunk ids · protocol #{captured.pk} "
            f"{captured.content_hash[:12]} captured</option>") in form
    assert "a hunk-level version labels for git-smart-commit" in form


# ── labels and review ──────────────────────────────────────────────────────────────

def test_review_and_example_pages_show_the_labels_target(staff_client, captured, prompts, teacher):
    from_capture, builtin, _ = prompts
    tool = hunk_label(1, from_capture, teacher)
    built = hunk_label(2, builtin, teacher)
    files = make_label(make_example(3))
    review = get(staff_client, reverse("review-item", args=[tool.pk]))
    assert_tool(review, captured_fragment(captured))
    assert_tool(get(staff_client, reverse("review-item", args=[built.pk])), BUILTIN_FRAGMENT)
    page = get(staff_client, reverse("review-item", args=[files.pk]))
    assert_files(page)
    assert "file level" in page
    assert_tool(get(staff_client, tool.example.get_absolute_url()), captured_fragment(captured))
    assert_files(get(staff_client, files.example.get_absolute_url()))
    queue = get(staff_client, reverse("review-queue") + "?verdict=none")
    assert_tool(queue, captured_fragment(captured))
    assert_tool(queue, BUILTIN_FRAGMENT)
    assert_files(queue)


def test_a_correction_has_the_target_of_the_label_it_corrects(captured, prompts, teacher):
    tool = hunk_label(1, prompts[0], teacher)
    fix = Label.objects.create(example=tool.example, source=Label.Source.HUMAN, granularity="hunks",
                               commits=tool.commits, skipped_hunks=tool.skipped_hunks, revision_of=tool)
    assert fix.serves == tool.serves and fix.serves.protocol.url == captured.get_absolute_url()
    imported = Label.objects.create(example=tool.example, source=Label.Source.IMPORTED, granularity="hunks")
    assert imported.serves.protocol is None and imported.serves.no_protocol == "no prompt recorded"


# ── exports and training runs ──────────────────────────────────────────────────────

@pytest.fixture
def exports(captured, tmp_path, settings):
    """(tool target rendered with the captured protocol and run, tool target on the built-in one and
    still queued, json-files)."""
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    make_label(make_example(10))
    opts = {"include_unreviewed": True, "val_fraction": 0, "weights": ALL_ONCE}
    tool = run_in_foreground(create_export(E.ExportOptions(target=E.TOOL_TARGET, **opts), name="tool",
                                           folder=tmp_path / "tool", enqueue=False))
    assert tool.state == JobState.SUCCEEDED, tool.error
    built = create_export(E.ExportOptions(target=E.TOOL_TARGET, protocol_version=E.BUILTIN_PROTOCOL, **opts),
                          name="built", enqueue=False)
    files = run_in_foreground(create_export(E.ExportOptions(target=E.JSON_FILES, **opts), name="files",
                                            folder=tmp_path / "files", enqueue=False))
    return tool, built, files


def test_export_list_detail_and_form(staff_client, captured, exports):
    tool, built, files = exports
    listing = get(staff_client, reverse("export-list"))
    assert_tool(listing, captured_fragment(captured))
    assert_tool(listing, BUILTIN_FRAGMENT)
    assert_files(listing)
    assert "git-smart-commit: each example is the tool&#x27;s conversation" in listing  # the form's help
    detail = get(staff_client, tool.get_absolute_url())
    assert_tool(detail, captured_fragment(captured))
    assert tool.summary["protocol"]["content_hash"][:12] in detail  # the manifest's rendered-spec hash too
    assert_tool(get(staff_client, built.get_absolute_url()), BUILTIN_FRAGMENT)
    assert_files(get(staff_client, files.get_absolute_url()))


def test_an_export_whose_protocol_was_deleted_keeps_its_hash(captured, exports):
    tool = exports[0]
    version_hash = captured.content_hash
    ProtocolVersion.objects.filter(pk=captured.pk).delete()
    tool.refresh_from_db()
    shown = tool.serves.protocol
    assert (shown.title, shown.url, shown.short_hash) == (f"protocol #{captured.pk} (deleted)", "", version_hash[:12])


def test_training_runs_list_detail_and_launch_form(staff_client, captured, exports, staff_user):
    tool, _, files = exports
    tool_run = training.create_run(base_model="Qwen/Qwen3-8B", export=tool, user=staff_user, backend="trl")
    files_run = training.create_run(base_model="Qwen/Qwen3-8B", export=files, user=staff_user, backend="trl")
    listing = get(staff_client, reverse("training-list"))
    assert_tool(listing, captured_fragment(captured))
    assert_files(listing)
    assert_tool(get(staff_client, tool_run.get_absolute_url()), captured_fragment(captured))
    assert_files(get(staff_client, files_run.get_absolute_url()))
    form = get(staff_client, reverse("training-launch"))
    assert (f"{tool} · git-smart-commit · protocol #{captured.pk} {captured.content_hash[:12]} captured</option>"
            in form)
    assert f"{files} · json-files</option>" in form
    assert "the run serves its target" in form


# ── eval runs, predictions, comparison sets ────────────────────────────────────────

@pytest.fixture
def eval_runs(captured, staff_user):
    """(git-smart-commit on the captured protocol, git-smart-commit built in, json-files), each with a prediction."""
    examples = [make_example(20 + i) for i in range(2)]
    ids = [e.pk for e in examples]
    common = {"example_ids": ids, "examples_source": "all", "base_url": "http://127.0.0.1:9/v1", "model": "m",
              "user": staff_user, "enqueue": False}
    runs = (create_eval_run(name="<b>tool</b> run", target="git-smart-commit", protocol_version=captured, **common),
            create_eval_run(name="built-in run", target="git-smart-commit", **common),
            create_eval_run(name="files run", **common))
    for run in runs:
        for e in examples:
            Prediction.objects.create(run=run, example=e, raw="{}", json_found=True, proposal={
                "commits": [{"subject": "feat: x", "files": e.changed_files, "body": "", "issues": []}],
                "gitignore": []})
    EvalRun.objects.filter(pk__in=[r.pk for r in runs]).update(state=JobState.SUCCEEDED)
    return runs


def test_eval_home_run_pages_and_predictions(staff_client, captured, eval_runs):
    tool, built, files = eval_runs
    home = get(staff_client, reverse("eval-home"))
    assert_tool(home, captured_fragment(captured))
    assert_tool(home, BUILTIN_FRAGMENT)
    assert_files(home)
    page = get(staff_client, tool.get_absolute_url())
    assert_tool(page, captured_fragment(captured))
    assert "· plays</span>" in page and "· backend /v1 (llama-server, vLLM …)" in page
    assert_tool(get(staff_client, built.get_absolute_url()), BUILTIN_FRAGMENT)
    assert_files(get(staff_client, files.get_absolute_url()))
    pred = get(staff_client, tool.predictions.first().get_absolute_url())
    assert_tool(pred, captured_fragment(captured))
    assert "&lt;b&gt;tool&lt;/b&gt; run · target" in pred and "<b>tool</b>" not in pred
    assert_files(get(staff_client, files.predictions.first().get_absolute_url()))


def test_eval_form_says_what_each_choice_serves(staff_client, captured, exports):
    form = get(staff_client, reverse("eval-run-new"))
    assert f"{captured} · captured</option>" in form
    assert f"{exports[0]} · git-smart-commit · protocol #{captured.pk}" in form
    assert "empty means the built-in one (built-in — not what the tool sends)" in form
    assert "json-files: one request per example" in form


def test_comparison_sets_show_the_targets_of_their_systems(staff_client, captured, eval_runs, staff_user):
    tool, built, _ = eval_runs
    cset = build_comparison_set("blind", [{"kind": "eval_run", "eval_run": tool.pk}, {"kind": "human"}],
                                n_items=2, user=staff_user)
    other = build_comparison_set("blind built", [{"kind": "eval_run", "eval_run": built.pk},
                                                 {"kind": "eval_run", "eval_run": tool.pk}], n_items=2)
    for url in (cset.get_absolute_url(), reverse("cmp-results", args=[cset.pk])):
        page = get(staff_client, url)
        assert_tool(page, captured_fragment(captured))
        assert_files(page)
    page = get(staff_client, other.get_absolute_url())
    assert_tool(page, BUILTIN_FRAGMENT)
    assert_tool(page, captured_fragment(captured))
    item = cset.items.order_by("position").first()
    scoring = get(staff_client, reverse("cmp-item", args=[cset.pk, item.pk]))
    assert not TOOL_BADGE.search(scoring) and not FILES_BADGE.search(scoring)  # blind: nothing per system
    record_vote(staff_user, item, {x: {c: 4 for c, _ in CRITERIA} for x in "AB"}, "A")
    reveal = get(staff_client, reverse("cmp-reveal", args=[cset.pk, item.pk]))
    assert_tool(reveal, captured_fragment(captured))
    assert_files(reveal)
    form = get(staff_client, reverse("cmp-set-new"))
    assert f"{built} · git-smart-commit · backend /v1 (llama-server, vLLM …) · built-in protocol {BUILTIN_HASH}" in form
    home = get(staff_client, reverse("eval-home"))
    sets = home[home.index("Blind side-by-side comparisons"):]
    assert_tool(sets, captured_fragment(captured))
    assert_tool(sets, BUILTIN_FRAGMENT)


def test_teacher_systems_serve_the_target_their_labels_list(captured, prompts, teacher):
    label = hunk_label(30, prompts[0], teacher)
    make_label(label.example, model="file-teacher")
    cset = build_comparison_set("teachers", [{"kind": "teacher", "model": "model-a"},
                                             {"kind": "teacher", "model": "file-teacher"}], n_items=1)
    hunks, files = cset.systems.order_by("id")
    assert (hunks.serves.name, files.serves.name) == ("git-smart-commit", "json-files")


# ── the dashboard and the partial itself ───────────────────────────────────────────

def test_dashboard_shows_the_default_target_and_latest_protocol(staff_client):
    page = get(staff_client, reverse("dashboard"))
    assert_files(page)
    assert "capture one from git-smart-commit to make its tool-call loop the default" in page
    ProtocolVersion.objects.create(source="builtin", system_prompt="x", tools=BUILTIN.tools)
    assert_files(get(staff_client, reverse("dashboard")))  # a built-in row does not make the tool the default
    first = ProtocolVersion.objects.create(system_prompt="one", tools=BUILTIN.tools)
    latest = ProtocolVersion.objects.create(system_prompt="two", tools=BUILTIN.tools)
    page = get(staff_client, reverse("dashboard"))
    assert_tool(page, captured_fragment(latest))
    assert captured_fragment(first) not in page


def test_a_stored_built_in_version_is_linked_and_flagged(staff_client, teacher):
    version = ProtocolVersion.objects.create(source="builtin", system_prompt="Built-in rules.", tools=BUILTIN.tools)
    prompt, _ = hunk_prompt_from_protocol(version)
    page = get(staff_client, prompt.get_absolute_url())
    assert_tool(page, f'<a href="{version.get_absolute_url()}">protocol #{version.pk}</a> '
                      f'<code>{version.content_hash[:12]}</code> '
                      '<span class="protocol-source builtin">built-in — not what the tool sends</span>')


def test_the_partial_escapes_every_text():
    hostile = targets.Served(targets.TOOL, detail="<script>alert(1)</script>", role="<i>role</i>",
                             protocol=targets.ProtocolShown(title="<b>t</b>", url='/x" onclick="y',
                                                            content_hash="<h>" * 5, captured=True))
    html = render_to_string("_target.html", {"t": hostile})
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>" not in html and "<b>" not in html and "<h>" not in html
    assert 'href="/x&quot; onclick=&quot;y"' in html
    assert render_to_string("_target.html", {"t": None}).strip() == '<span class="muted">target not recorded</span>'
    compact = render_to_string("_target.html", {"t": hostile, "compact": True})
    assert "alert" not in compact and "role" not in compact  # lists leave out the detail and the role
