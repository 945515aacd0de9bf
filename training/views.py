"""Training pages: run list with overlaid curves, launch form with the estimate, run page, merge, downloads."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gsctune.jobs import JobState
from labeling.models import SFTExport

from . import services
from .models import BASE_MODEL_PRESETS, AdapterMerge, TrainingRun

LAUNCH_FIELDS = [
    "name", "export", "base_model", "backend", "precision", "lora_r", "lora_alpha", "lora_dropout",
    "target_modules", "train_experts", "learning_rate", "batch_size", "grad_accum", "epochs", "max_steps",
    "warmup_ratio", "scheduler", "max_length", "packing", "assistant_only_loss", "optimizer", "seed", "eval_steps",
    "gpu", "gpu_memory_gb", "gpu_price_per_hour",
]


class LaunchForm(forms.ModelForm):
    target_modules = forms.CharField(initial="q_proj k_proj v_proj o_proj gate_proj up_proj down_proj",
                                     help_text="Projection names, space separated (all linear by default).")

    class Meta:
        model = TrainingRun
        fields = LAUNCH_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["export"].queryset = SFTExport.objects.filter(state=JobState.SUCCEEDED)
        self.fields["export"].required = True
        self.fields["base_model"].widget.attrs["list"] = "base-model-presets"
        if isinstance(self.initial.get("target_modules"), list):
            self.initial["target_modules"] = " ".join(self.initial["target_modules"])

    def clean_target_modules(self):
        names = self.cleaned_data["target_modules"].split()
        if not names:
            raise forms.ValidationError("Name at least one projection.")
        return names

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("export")
        data.pop("base_model")
        return data


class MergeForm(forms.Form):
    quant = forms.ChoiceField(choices=AdapterMerge.Quant.choices, initial="Q8_0", required=False)
    ollama_name = forms.RegexField(regex=r"^[A-Za-z0-9._:/-]*$", required=False, max_length=200,
                                   help_text="Also `ollama create` this name when ollama is on the worker's PATH.")


def run_list(request):
    """Run history; ticking runs overlays their curves."""
    runs = TrainingRun.objects.select_related("export", "created_by")[:100]
    compare_ids = [int(x) for x in request.GET.getlist("compare") if x.isdigit()]
    compared = list(TrainingRun.objects.filter(pk__in=compare_ids))
    return render(request, "training/list.html", {
        "runs": runs, "compared": compared, "compare_ids": compare_ids,
        "chart": services.chart(compared) if compared else None,
    })


@staff_member_required
def launch(request):
    """Staff only: the form, the estimate before launching, then the launch."""
    estimate = None
    if request.method == "POST":
        form = LaunchForm(request.POST)
        if form.is_valid():
            export = form.cleaned_data["export"]
            if "launch" in request.POST:
                try:
                    run = services.launch_run(base_model=form.cleaned_data["base_model"], export=export,
                                              user=request.user, **form.options())
                except ValueError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, f"{run} queued on the gpu queue.")
                    return redirect(run)
            else:
                preview = TrainingRun(base_model=form.cleaned_data["base_model"], data_dir=export.folder,
                                      **form.options())
                estimate = services.compute_estimate(preview)
    else:
        initial = {}
        source = TrainingRun.objects.filter(pk=request.GET.get("from") or 0).first()
        if source:
            initial = {f: getattr(source, f) for f in LAUNCH_FIELDS}
        form = LaunchForm(initial=initial)
    return render(request, "training/launch.html", {"form": form, "estimate": estimate,
                                                    "presets": BASE_MODEL_PRESETS})


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
@staff_member_required
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
