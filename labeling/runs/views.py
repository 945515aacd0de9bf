"""Pages for labeling runs, teachers and prompt versions. Thin: logic is in runs/services.py."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gsctune.domain.llm_client import check_connection
from gsctune.permissions import staff_required

from ..models import Example, LabelingRun, PromptVersion, Teacher
from . import services as svc
from .forms import LabelingRunForm, PromptVersionForm, TeacherConnectionForm, TeacherForm

# The connection test waits less than a labeling request: it is one small request a person waits for.
CONNECTION_TEST_TIMEOUT = 10.0
LATEST_LABELS = 20


def run_list(request):
    runs = LabelingRun.objects.select_related("teacher", "prompt_version__protocol_version", "created_by")[:100]
    return render(request, "labeling/runs/list.html", {"runs": runs, "examples": Example.objects.count()})


def _live_boxes(run: LabelingRun) -> dict:
    """Open failures and the newest labels, for the page and its polled partial."""
    failures = svc.open_failures(run)
    labels = (run.labels.select_related("example")
              .only("id", "example", "commits", "injected_files", "latency_ms", "example__id", "example__repo_url")
              .order_by("-id")[:LATEST_LABELS])
    return {"run": run, "failures": failures[:50], "labels": labels,
            "failure_kinds": failures.values("kind").annotate(n=Count("id")).order_by("-n")}


def run_detail(request, pk: int):
    run = get_object_or_404(LabelingRun.objects.select_related("teacher", "prompt_version__protocol_version"), pk=pk)
    return render(request, "labeling/runs/detail.html", {
        **_live_boxes(run), "job": run, "teacher_title": svc.teacher_title(run.teacher),
        "concurrency": svc.effective_concurrency(run.teacher, run.concurrency),
    })


def run_live(request, pk: int):
    """The failures and "Latest labels" boxes; htmx polls them while the run is active, like the status card."""
    return render(request, "labeling/runs/_live.html", _live_boxes(get_object_or_404(LabelingRun, pk=pk)))


@staff_required("Only staff can start labeling runs.")
def run_new(request):
    initial = {"prompt_version": svc.default_prompt_version().pk, "teacher": Teacher.objects.order_by("-updated_at").first()}
    form = LabelingRunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        options = {k: v for k, v in form.cleaned_data.items()
                   if k not in ("teacher", "prompt_version", "example_list_text")}
        try:
            run = svc.create_run(form.cleaned_data["teacher"], form.cleaned_data["prompt_version"],
                                 user=request.user, **options)
        except (svc.SelectionError, ValidationError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{run} queued.")
            return redirect(run)
    return render(request, "labeling/runs/new.html", {"form": form, "n_examples": Example.objects.count()})


@require_POST
@staff_required("Only staff can resume labeling runs.")
def run_resume(request, pk: int):
    run = get_object_or_404(LabelingRun, pk=pk)
    if not run.resume():
        messages.warning(request, f"{run} is {run.get_state_display().lower()}; only a finished run can be resumed.")
    if request.htmx:
        return render(request, run.status_template, {"job": run})
    return redirect(run)


def teacher_list(request):
    teachers = Teacher.objects.annotate(n_runs=Count("runs", distinct=True),
                                        n_labels=Count("labels", distinct=True))
    return render(request, "labeling/teachers/list.html", {"teachers": teachers})


@staff_required("Only staff can add or edit teachers.")
def teacher_edit(request, pk: int | None = None):
    teacher = get_object_or_404(Teacher, pk=pk) if pk else None
    form = TeacherForm(request.POST or None, instance=teacher)
    if request.method == "POST" and form.is_valid():
        teacher = form.save()
        messages.success(request, f"Saved {teacher.name}.")
        return redirect("teacher-list")
    return render(request, "labeling/teachers/edit.html", {"form": form, "teacher": teacher})


@require_POST
@staff_required("Only staff can test teacher connections.")
def teacher_test(request):
    """One tiny request to the endpoint as typed in the form (saved or not); the result as a partial."""
    form = TeacherConnectionForm(request.POST)
    context = {"form": form}
    if form.is_valid():
        data = form.cleaned_data
        key_env = data["api_key_env"]
        key = Teacher(api_key_env=key_env).api_key()
        context["result"] = check_connection(data["base_url"], data["model"].strip(), key,
                                             timeout=CONNECTION_TEST_TIMEOUT)
        context["key_missing"] = key_env if key_env and not key else ""
    return render(request, "labeling/teachers/_connection.html", context)


def prompt_list(request):
    prompts = PromptVersion.objects.select_related("protocol_version").annotate(
        n_labels=Count("labels", distinct=True), n_runs=Count("runs", distinct=True))
    return render(request, "labeling/runs/prompts.html", {"prompts": prompts, "default": svc.default_prompt_version()})


def prompt_detail(request, pk: int):
    prompt = get_object_or_404(PromptVersion.objects.select_related("protocol_version"), pk=pk)
    return render(request, "labeling/runs/prompt_detail.html", {
        "prompt": prompt, "system_text": svc.system_text(prompt),
        "n_labels": prompt.labels.count(), "n_runs": prompt.runs.count(),
    })


@staff_required("Only staff can create prompt versions.")
def prompt_new(request):
    """Paste a prompt: always a new version (or the existing one with the same texts). Staff only."""
    base = PromptVersion.objects.filter(pk=request.GET.get("from")).first() if request.GET.get("from") else None
    initial = ({"name": f"{base.name} (edited)", "system_prompt": base.system_prompt,
                "output_format": base.output_format, "sample_output": base.sample_output,
                "granularity": base.granularity} if base else None)
    form = PromptVersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        prompt, created = svc.create_prompt_version(d["name"], d["system_prompt"], d["output_format"],
                                                    d["sample_output"], user=request.user, notes=d["notes"],
                                                    granularity=d["granularity"])
        messages.success(request, "New prompt version saved." if created
                         else f"These texts are already version #{prompt.pk}.")
        return redirect(prompt)
    return render(request, "labeling/runs/prompt_new.html", {"form": form, "base": base})


