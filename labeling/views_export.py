"""Export page: options with live counts, snapshots, manifests and downloads.

Thin views: the counts and the snapshots come from ``services_export``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from gsctune.permissions import staff_required

from . import export, services_export
from .models import SFTExport

DOWNLOADS = (*export.OUTPUT_FILES, "manifest.json")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ExportForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    include_accepted = forms.BooleanField(required=False, initial=True)
    include_corrected = forms.BooleanField(required=False, initial=True)
    include_unreviewed = forms.BooleanField(required=False, initial=False)
    teachers = forms.MultipleChoiceField(required=False, help_text="None selected: every teacher.")
    prompt_versions = forms.MultipleChoiceField(required=False)
    exclude_findings = forms.MultipleChoiceField(required=False, help_text="Leave out labels with these findings.")
    repositories = forms.MultipleChoiceField(required=False)
    languages = forms.MultipleChoiceField(required=False)
    weight_corrected = forms.FloatField(min_value=0, max_value=100, initial=2.0)
    weight_accepted = forms.FloatField(min_value=0, max_value=100, initial=1.0)
    weight_unreviewed = forms.FloatField(min_value=0, max_value=100, initial=0.5)
    val_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0.1)
    max_val_fraction = forms.FloatField(required=False, min_value=0, max_value=0.9,
                                        help_text="Cap when covering languages (default 2 × the fraction).")
    seed = forms.IntegerField(initial=0)
    held_out = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="Repositories forced into validation, one per line.")
    augment = forms.IntegerField(min_value=0, max_value=10, initial=0, help_text="Noisy copies per train row.")
    prompt = forms.ChoiceField(choices=[("labeling", "labeling prompt version"), ("short", "short finetune prompt")],
                               initial="labeling")
    max_diff_chars = forms.IntegerField(min_value=200, initial=24000)
    tokenizer = forms.CharField(required=False, max_length=1000,
                                help_text="Local tokenizer folder: truncate by tokens instead of characters.")
    max_diff_tokens = forms.IntegerField(required=False, min_value=50)
    max_total = forms.IntegerField(required=False, min_value=100,
                                   help_text="Whole-conversation budget; longer rows are reported and left out.")

    def __init__(self, *args, choices: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        for name, key in (("teachers", "teachers"), ("prompt_versions", "prompt_versions"),
                          ("repositories", "repositories"), ("languages", "languages")):
            self.fields[name].choices = [(v, v) for v in choices[key]]
        self.fields["exclude_findings"].choices = (
            [(export.ANY_FINDING, "any finding")] + [(v, v) for v in choices["checks"]]
        )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["options"] = self.to_options(data)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    @staticmethod
    def to_options(data: dict) -> export.ExportOptions:
        return export.ExportOptions(
            include_accepted=data["include_accepted"], include_corrected=data["include_corrected"],
            include_unreviewed=data["include_unreviewed"], teachers=data["teachers"],
            prompt_versions=data["prompt_versions"], exclude_findings=data["exclude_findings"],
            repositories=data["repositories"], languages=data["languages"],
            weights={"corrected": data["weight_corrected"], "accepted": data["weight_accepted"],
                     "unreviewed": data["weight_unreviewed"]},
            val_fraction=data["val_fraction"], max_val_fraction=data["max_val_fraction"], seed=data["seed"],
            held_out=_lines(data["held_out"]), augment=data["augment"], prompt=data["prompt"],
            max_diff_chars=data["max_diff_chars"], tokenizer=data["tokenizer"].strip() or None,
            max_diff_tokens=data["max_diff_tokens"], max_total=data["max_total"],
        )


def _form(request) -> ExportForm:
    data = request.POST if request.method == "POST" else (request.GET or None)
    return ExportForm(data, choices=services_export.choices())


@staff_required("Only staff can create exports.", methods=("POST",))
def export_list(request):
    form = _form(request)
    if request.method == "POST":
        if form.is_valid():
            job = services_export.create_export(form.cleaned_data["options"], user=request.user,
                                                name=form.cleaned_data["name"])
            messages.success(request, f"Export {job.pk} queued.")
            return redirect(job)
    counts = services_export.preview(form.cleaned_data["options"] if form.is_bound and form.is_valid()
                                     else export.ExportOptions())
    return render(request, "labeling/export/list.html", {
        "form": form, "counts": counts, "pool": dict(services_export.verdict_counts()),
        "exports": SFTExport.objects.all()[:50],
    })


@require_GET
def export_counts(request):
    """The live counts partial (htmx, on every change of the form)."""
    form = _form(request)
    counts = services_export.preview(form.cleaned_data["options"]) if form.is_valid() else None
    return render(request, "labeling/export/list.html#counts", {"form": form, "counts": counts})


def export_detail(request, pk: int):
    job = get_object_or_404(SFTExport, pk=pk)
    summary = job.summary or {}
    chart = None
    if summary.get("counts"):
        chart = services_export.language_chart(summary["counts"]["by_language"])
    files = [(name, (summary.get("files") or {}).get(name)) for name in DOWNLOADS]
    return render(request, "labeling/export/detail.html", {
        "job": job, "summary": summary, "chart": chart, "files": files,
        "repositories": sorted((summary.get("repositories") or {}).items()),
        "languages": sorted((summary.get("languages") or {}).items()),
    })


@require_GET
def export_download(request, pk: int, name: str):
    job = get_object_or_404(SFTExport, pk=pk)
    if name not in DOWNLOADS:
        raise Http404("no such file")
    path = job.file_path(name)
    if not job.folder or not path.is_file():
        raise Http404("the file is not there (export not finished, or its folder was removed)")
    return FileResponse(path.open("rb"), as_attachment=name != "manifest.json", filename=f"export-{job.pk}-{name}",
                        content_type="application/json" if name.endswith(".json") else "application/x-ndjson")
