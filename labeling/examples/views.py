"""Examples browser and imports. Views stay thin: queries here, work in services."""
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render

from gsctune import targets
from gsctune.domain.diffs import split_diff
from gsctune.jobs import ACTIVE_STATES, job_models
from gsctune.permissions import staff_required

from ..models import Example, ImportJob, Label
from .forms import ExampleFilterForm, ImportUploadForm
from .services import create_import_job, save_upload


def _facets() -> tuple[list[str], list[str]]:
    """Repositories and languages for the filter menus, cached until the next import adds rows."""
    newest = Example.objects.aggregate(newest=Max("id"))["newest"]
    key = f"example-facets-{newest}"
    facets = cache.get(key)
    if facets is None:
        found = Example.objects.facets()
        facets = (found["repos"], found["languages"])
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
        examples = examples.with_language(data["language"])
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
        "labels": example.labels.select_related("prompt_version__protocol_version").order_by("-id")[:20],
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


def dashboard(request):
    """The home page: how many examples and labels there are, the running jobs, recent imports."""
    labeled = Label.objects.filter(example=OuterRef("pk"))
    counts = Example.objects.aggregate(examples=Count("id"), repositories=Count("repo_url", distinct=True))
    counts["labeled"] = Example.objects.filter(Exists(labeled)).count()
    counts["labels"] = Label.objects.count()
    active = []
    for model in job_models():
        active.extend(model.objects.filter(state__in=ACTIVE_STATES).select_related("created_by")[:20])
    active.sort(key=lambda job: job.created_at, reverse=True)
    per_repo = list(
        Example.objects.values("repo_url").annotate(n=Count("id")).order_by("-n", "repo_url")[:15]
    )
    top = max((row["n"] for row in per_repo), default=1)
    return render(request, "dashboard.html", {
        "counts": counts,
        "active_jobs": active,
        "recent_imports": ImportJob.objects.all()[:5],
        "per_repo": per_repo,
        "per_repo_max": top,
        "default_target": targets.default(),
    })
