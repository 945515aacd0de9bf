"""No page shows the project's own template syntax as text.

Django prints a ``{{ … }}`` or ``{% … %}`` split over two lines as text (that is how reviewers
never saw the suggested .gitignore and every correction stored the tag as two patterns). Two
guards: every tag in templates/ opens and closes on one line, and a crawl with data of every
kind follows every link of the app as staff and looks for the project's own variables and tags
in what the pages show (diffs have braces of their own, so not for any brace).
"""

import re
from collections import Counter
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404

from evaluation.comparisons import CRITERIA, build_comparison_set, record_vote
from evaluation.models import EvalRun, Prediction, RecordedSession
from evaluation.runs import create_eval_run
from gsctune.jobs import JobState, execute_job
from labeling.export.services import create_export
from labeling.export.snapshot import ExportOptions
from labeling.models import CaptureJob, ImportJob, LabelFailure, ProtocolVersion, Review, Teacher
from labeling.review.services import record_verdict
from labeling.runs.services import create_run as create_labeling_run
from tests.factories import REVIEW_DIFF as DIFF
from tests.factories import make_example, make_label
from training import services as training
from training.models import TrainingMetric

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
OPENERS = (("{{", "}}"), ("{%", "%}"), ("{#", "#}"))


def split_tags(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every template tag or variable that does not close on its line."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for opener, closer in OPENERS:
            at = line.find(opener)
            while at >= 0:
                end = line.find(closer, at + 2)
                if end < 0:
                    found.append((n, line[at:at + 60]))
                    break
                at = line.find(opener, end + 2)
    return found


def test_every_template_tag_closes_on_its_line():
    problems = {str(p.relative_to(TEMPLATES)): split_tags(p.read_text()) for p in TEMPLATES.rglob("*.html")}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_scan_finds_a_split_tag():
    assert split_tags('<pre>{{ label.gitignore|join:"\n" }}</pre>\n{% if x %}ok{% endif %}') == [
        (1, '{{ label.gitignore|join:"')]


def project_syntax() -> re.Pattern:
    """The variables and tags the project's templates use, as they would look printed as text."""
    variables, tags = set(), set()
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        variables.update(re.findall(r"\{\{\s*([A-Za-z_]\w*)", text))
        tags.update(re.findall(r"\{%\s*([a-z_]+)", text))
    names = "|".join(sorted(map(re.escape, variables)))
    tag_names = "|".join(sorted(map(re.escape, tags)))
    return re.compile(rf"\{{\{{\s*(?:{names})\b|\{{%\s*(?:{tag_names})\b|\{{#|#\}}|\|join:\"")


# A diff with braces of its own (a CI workflow, JSON, a Jinja template) must not count.
BRACES_DIFF = DIFF + (
    "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n"
    "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1,2 @@\n"
    " on: push\n+token: ${{ secrets.TOKEN }} {\"a\": {\"b\": 1}} {% raw %}\n"
)
BRACES_FILES = ["src/app.py", "tests/test_app.py", "README.md", ".github/workflows/ci.yml"]


@pytest.fixture
def everything(db, tmp_path, settings, staff_user, django_user_model):
    """Data of every kind the pages show, stored through the services where they exist."""
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    teacher = Teacher.objects.create(name="teacher-a", base_url="http://127.0.0.1:9/v1", model="model-a")
    run = create_labeling_run(teacher, enqueue=False, name="first run")
    examples = [make_example(i, diff=BRACES_DIFF, files=BRACES_FILES) for i in range(4)]
    labels = [make_label(e, model="model-a", teacher=teacher, run=run, source="teacher",
                         gitignore=["*.log", "build/"]) for e in examples[:3]]
    make_label(examples[3], model="imported-model")
    LabelFailure.objects.create(run=run, example=examples[3], kind="timeout", message="timed out after 120 s")
    run.state = JobState.SUCCEEDED
    run.progress_done, run.progress_failed, run.progress_total = 3, 1, 4
    run.save()
    ImportJob.objects.create(source_path=str(tmp_path / "x.jsonl"), original_name="x.jsonl",
                             state=JobState.SUCCEEDED, imported=4)
    RecordedSession.objects.create(key="f" * 64, upstream="http://127.0.0.1:9", started_at=run.created_at,
                                   state="unparseable", reason="the answer is not {{ readable }}",
                                   requests=[{"method": "POST", "path": "/v1/chat/completions", "body": "{% x %}"}],
                                   responses=[{"status": 200, "content_type": "text/html", "ms": 1.0,
                                               "streamed": False, "body": "{{ not a completion }}"}])
    other = django_user_model.objects.create_user("bob", password="pw-bob-123")
    record_verdict(staff_user, labels[0].pk, "accept")
    record_verdict(staff_user, labels[1].pk, "correct", correction={
        "commits": [{"type": "feat", "scope": "config", "breaking": True, "description": "load config",
                     "files": BRACES_FILES}], "gitignore": ["*.log"]})
    record_verdict(other, labels[2].pk, "reject", reasons=["grouping"], note="split it")
    record_verdict(other, labels[0].pk, "skip")
    snapshot = create_export(ExportOptions(include_unreviewed=True, val_fraction=0.0, max_val_fraction=0.0),
                             user=staff_user, name="snapshot", enqueue=False)
    execute_job(snapshot.job_label, snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.state == JobState.SUCCEEDED, snapshot.error
    trun = training.create_run(base_model="Qwen/Qwen3-8B", export=snapshot, user=staff_user, backend="trl",
                               name="lora-1")
    for step, loss in enumerate([2.0, 1.4], start=1):
        TrainingMetric.objects.create(run=trun, kind="train", step=step, loss=loss, learning_rate=1e-4,
                                      elapsed_s=step * 2.0, tokens_per_s=900)
    type(trun).objects.filter(pk=trun.pk).update(state=JobState.SUCCEEDED, progress_done=2, progress_total=2)
    erun = create_eval_run(name="eval-a", example_ids=[e.pk for e in examples], examples_source="all",
                           base_url="http://127.0.0.1:9/v1", model="model-a", user=staff_user, enqueue=False)
    for e in examples:
        Prediction.objects.create(run=erun, example=e, raw="{}", json_found=True, proposal={
            "commits": [{"subject": "feat: load {{ config }}", "files": e.changed_files, "body": "", "issues": []}],
            "gitignore": []})
    EvalRun.objects.filter(pk=erun.pk).update(state=JobState.SUCCEEDED)
    cset = build_comparison_set("blind-1", [{"kind": "eval_run", "eval_run": erun.pk}, {"kind": "human"}],
                                n_items=2, user=staff_user)
    first = cset.items.order_by("position").first()
    record_vote(staff_user, first, {x: {c: 4 for c, _ in CRITERIA} for x in "AB"}, "A")  # its reveal page
    protocol = ProtocolVersion.objects.create(
        system_prompt="Group the hunks {{ like this }}.", user_turn="Available hunks:\n  a.py::1  (+1/-0)",
        tools=[{"type": "function", "function": {"name": "emit_commit", "description": "{% raw %} stays text"}}])
    CaptureJob.objects.create(state=JobState.SUCCEEDED, protocol_version=protocol, new_version=True)
    trun.refresh_from_db()
    Path(trun.output_dir).mkdir(parents=True)
    (Path(trun.output_dir) / "train.log").write_text("step 1 loss 2.0 {{ not a template }}\n")
    # Polled while a job runs (htmx), so no finished page links them: start from them too.
    jobs = (ImportJob.objects.get(), run, snapshot, trun, EvalRun.objects.get(pk=erun.pk))
    return ["/healthz", "/login/", "/admin/", reverse("training-live", args=[trun.pk]),
            reverse("cmp-item", args=[cset.pk, first.pk])] + [j.status_url() for j in jobs]


SKIP_PREFIXES = ("/static/", "/logout/")


def links(html: str, base: str) -> set[str]:
    """Same-site URLs a page links to or loads (href, htmx and the review page's data URLs)."""
    found = set()
    for attr in ("href", "hx-get", "data-url", "data-next-url", "data-next-page-url", "action"):
        for value in re.findall(rf'(?<![\w-]){attr}="([^"]*)"', html):
            url = urljoin(base, unescape(value))
            parts = urlsplit(url)
            if parts.netloc or not parts.path.startswith("/") or parts.path.startswith(SKIP_PREFIXES):
                continue
            found.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def admin_depth_ok(path: str) -> bool:
    """Admin: the index, app pages, changelists and change pages, not every filter of them."""
    return not path.startswith("/admin/") or path.count("/") <= 6 and "?" not in path


def named_patterns(resolver=None, prefix="") -> set[str]:
    out = set()
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            if getattr(p, "app_name", None) != "admin":
                out |= named_patterns(p, prefix)
        elif isinstance(p, URLPattern) and p.name:
            out.add(p.name)
    return out


# Patterns no page links to with a GET: form targets (POST, htmx posts), redirect-only URLs and
# partials polled only while a job is active (the crawl's jobs have finished).
POST_ONLY = {"review-verdict", "review-undo", "job-cancel", "labeling-run-resume", "training-merge",
             "training-launch-estimate", "teacher-test", "admin-login", "labeling-run-live"}


def test_no_page_shows_template_syntax(everything, staff_client, staff_user):
    staff_user.is_superuser = True  # the admin pages too, with every model listed
    staff_user.save()
    syntax = project_syntax()
    todo, seen, statuses, shown = ["/", *everything], set(), Counter(), []
    visited_names = set()
    per_path = Counter()
    while todo and len(seen) < 600:
        url = todo.pop()
        path = url.split("?", 1)[0]
        if url in seen or per_path[path] >= 4 or not admin_depth_ok(url):
            continue
        seen.add(url)
        per_path[path] += 1
        response = staff_client.get(url)
        statuses[response.status_code] += 1
        assert response.status_code < 500, url
        if response.status_code in (301, 302) and response["Location"].startswith("/"):
            todo.append(response["Location"])  # e.g. "next item" answers with the item's URL
        try:
            visited_names.add(resolve(path).url_name)
        except Resolver404:
            pass
        if "text/html" not in response.get("Content-Type", "") or response.streaming:
            continue
        html = response.content.decode()
        shown.extend((url, m.group(0)) for m in syntax.finditer(html))
        todo.extend(sorted(links(html, url) - seen))
    assert shown == []
    missing = sorted(named_patterns() - visited_names - POST_ONLY)
    assert missing == [], f"pages nobody links to: {missing}"
    assert len(seen) > 150 and statuses[200] > 120, statuses  # 250 pages, 176 of them admin, in 2026-12
    # The page text really contains the braces of the diff and of the model output, as text.
    html = staff_client.get(reverse("example-detail", args=[Review.objects.first().label.example_id])).content
    assert b"${{ secrets.TOKEN }}" in html
