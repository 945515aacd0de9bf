"""Training pages: run list with overlaid curves, launch form with the estimate, run page, merge, downloads."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gsctune.jobs import JobState
from gsctune.permissions import staff_required
from labeling.models import SFTExport

from . import services
from .forms import LAUNCH_FIELDS, LaunchForm, MergeForm, presets
from .models import BASE_MODEL_PRESETS, TrainingMetric, TrainingRun


def run_list(request):
    """Run history; ticking runs overlays their curves. Final loss is the last logged step's, as on the run page."""
    last_loss = (TrainingMetric.objects.filter(run=OuterRef("pk"), kind="train", loss__isnull=False)
                 .order_by("-step").values("loss")[:1])
    runs = TrainingRun.objects.select_related("export", "created_by").annotate(last_step_loss=Subquery(last_loss))[:100]
    compare_ids = [int(x) for x in request.GET.getlist("compare") if x.isdigit()]
    compared = list(TrainingRun.objects.filter(pk__in=compare_ids))
    return render(request, "training/list.html", {
        "runs": runs, "compared": compared, "compare_ids": compare_ids,
        "chart": services.chart(compared) if compared else None,
    })


def _estimate_context(form: LaunchForm) -> dict:
    """The pane beside the form: the estimate when the settings can be read, and what would refuse the launch."""
    form.is_valid()
    preview = form.preview_run
    missing, problems = [], []
    for name, errors in form.errors.as_data().items():
        label = form[name].label if name in form.fields else ""
        for error in errors:
            if error.code == "required":
                missing.append(label)
            else:
                problems.extend((label, message) for message in error.messages)
    return {"estimate": services.compute_estimate(preview) if preview is not None else None,
            "form": form, "problems": problems, "missing": missing}


@staff_required("Only staff can launch training runs.")
def launch(request):
    """Staff only: the form with its estimate beside it (htmx refreshes it on change), then the launch."""
    context: dict = {"estimate": None, "problems": [], "missing": []}
    if request.method == "POST":
        form = LaunchForm(request.POST)
        if "launch" in request.POST and form.is_valid():
            try:
                run = services.launch_run(base_model=form.cleaned_data["base_model"],
                                          export=form.cleaned_data["export"], user=request.user, **form.options())
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{run} queued on the gpu queue.")
                return redirect(run)
        context = _estimate_context(form) | {"problems": []}  # the summary above the form lists them
    else:
        initial = {}
        source = TrainingRun.objects.filter(pk=request.GET.get("from") or 0).first()
        if source:
            initial = {f: getattr(source, f) for f in LAUNCH_FIELDS}
        else:
            latest = SFTExport.objects.filter(state=JobState.SUCCEEDED).order_by("-pk").first()
            initial = presets()[0]["values"] | ({"export": latest.pk} if latest else {})
        form = LaunchForm(initial=initial)
    return render(request, "training/launch.html", context | {
        "form": form, "presets": presets(), "base_models": BASE_MODEL_PRESETS})


@require_POST
@staff_required("Only staff can launch training runs.")
def launch_estimate(request):
    """The estimate pane for the form's current values (htmx, on change); launches nothing."""
    return render(request, "training/_estimate_pane.html", _estimate_context(LaunchForm(request.POST)))


def run_detail(request, pk: int):
    run = get_object_or_404(TrainingRun.objects.select_related("export"), pk=pk)
    return render(request, "training/detail.html", {
        "run": run, "job": run, "numbers": services.run_numbers(run), "chart": services.chart([run]),
        "files": services.run_files(run), "merges": services.merges_with_files(run), "merge_form": MergeForm(),
        "last_metrics": list(run.metrics.order_by("-step", "kind")[:12]),
    })


def run_live(request, pk: int):
    """The live part of the run page (status, numbers, curves); htmx polls it while the run is active."""
    run = get_object_or_404(TrainingRun, pk=pk)
    return render(request, "training/_live.html", {
        "run": run, "job": run, "numbers": services.run_numbers(run), "chart": services.chart([run]),
    })


@require_POST
@staff_required("Only staff can merge adapters and build GGUF models.")
def merge(request, pk: int):
    run = get_object_or_404(TrainingRun, pk=pk)
    form = MergeForm(request.POST)
    if form.is_valid():
        try:
            job = services.launch_merge(run, quant=form.cleaned_data["quant"],
                                        ollama_name=form.cleaned_data["ollama_name"], user=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Merge {job.pk} queued.")
    else:
        messages.error(request, "; ".join(e for errs in form.errors.values() for e in errs))
    return redirect(run)


def download(request, pk: int, name: str):
    """One artifact of a run, from a fixed list (never an arbitrary path)."""
    run = get_object_or_404(TrainingRun, pk=pk)
    path = services.artifact_path(run, name)
    if path is None:
        raise Http404("no such file")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"run{run.pk}-{path.name}")
