"""Examples browser and imports. Views stay thin: queries here, work in services."""
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Exists, Max, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render

from gsctune.permissions import staff_required

from .diffs import split_diff
from .forms import ExampleFilterForm, ImportUploadForm
from .models import Example, ImportJob, Label
from .services import create_import_job, save_upload


def _facets() -> tuple[list[str], list[str]]:
    """Repositories and languages for the filter menus, cached until the next import adds rows."""
    newest = Example.objects.aggregate(newest=Max("id"))["newest"]
    key = f"example-facets-{newest}"
    facets = cache.get(key)
    if facets is None:
        repos = list(Example.objects.order_by("repo_url").values_list("repo_url", flat=True).distinct())
        languages = sorted({l for text in Example.objects.values_list("languages_text", flat=True).distinct() for l in text.split()})
        facets = (repos, languages)
        cache.set(key, facets, 600)
    return facets


def filtered_examples(form: ExampleFilterForm):
    examples = Example.objects.defer("diff", "existing_gitignore").annotate(
        is_labeled=Exists(Label.objects.filter(example=OuterRef("pk")))
    )
    if not form.is_valid():
        return examples
    data = form.cleaned_data
    if data["q"]:
        q = data["q"]
        examples = examples.filter(Q(key__icontains=q) | Q(changed_files__icontains=q) | Q(original_commits__icontains=q))
    if data["repo"]:
        examples = examples.filter(repo_url=data["repo"])
    if data["language"]:
        examples = examples.filter(languages_text__contains=f" {data['language']} ")
    if data["n_commits"]:
        examples = examples.filter(n_commits=data["n_commits"])
    if data["size"]:
        low, high = ExampleFilterForm.SIZE_RANGES[data["size"]]
        examples = examples.filter(diff_chars__gte=low)
        if high is not None:
            examples = examples.filter(diff_chars__lt=high)
    if data["labeled"] == "yes":
        examples = examples.filter(is_labeled=True)
    elif data["labeled"] == "no":
        examples = examples.filter(is_labeled=False)
    return examples


def example_list(request):
    repos, languages = _facets()
    form = ExampleFilterForm(request.GET or None, repos=repos, languages=languages)
    paginator = Paginator(filtered_examples(form), 50)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "labeling/examples.html#results" if request.htmx else "labeling/examples.html"
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()})


def example_detail(request, pk: int):
    example = get_object_or_404(Example, pk=pk)
    return render(request, "labeling/example_detail.html", {
        "example": example,
        "files": split_diff(example.diff),
        "labels": example.labels.order_by("-id")[:20],
    })


@staff_required("Only staff can import files.", methods=("POST",))
def import_list(request):
    form = ImportUploadForm()
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            uploaded = form.cleaned_data["file"]
            job = create_import_job(save_upload(uploaded), uploaded.name, user=request.user)
            return redirect(job)
    return render(request, "labeling/imports.html", {"form": form, "jobs": ImportJob.objects.all()[:50]})


def import_detail(request, pk: int):
    return render(request, "labeling/import_detail.html", {"job": get_object_or_404(ImportJob, pk=pk)})
