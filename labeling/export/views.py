"""Export page: options with live counts, snapshots, manifests and downloads.

Thin views: the counts and the snapshots come from ``labeling.export.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from gsctune.permissions import staff_required

from ..models import SFTExport
from . import services as services_export
from . import snapshot as export
from .forms import ExportForm

DOWNLOADS = (*export.OUTPUT_FILES, "manifest.json")


def _form(request) -> ExportForm:
    data = request.POST if request.method == "POST" else (request.GET or None)
    return ExportForm(data, choices=services_export.choices())


@staff_required("Only staff can create exports.", methods=("POST",))
def export_list(request):
    form = _form(request)
    if request.method == "POST":
        if form.is_valid():
            try:
                job = services_export.create_export(form.cleaned_data["options"], user=request.user,
                                                    name=form.cleaned_data["name"])
            except ValueError as exc:  # nothing to pin: no protocol version, or the chosen prompt is gone
                form.add_option_error(exc)
            else:
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
