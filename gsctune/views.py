"""Cross-app views: the dashboard and the live status/cancel endpoints every job shares."""
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labeling.models import Example, ImportJob, Label

from .jobs import ACTIVE_STATES, job_model, job_models
from .permissions import staff_required


def _job(label: str, pk: int):
    try:
        model = job_model(label)
    except LookupError:
        raise Http404("no such job type") from None
    return get_object_or_404(model, pk=pk)


def job_status(request, label: str, pk: int):
    """The live partial of one job; htmx polls it while the job is active."""
    job = _job(label, pk)
    return render(request, job.status_template, {"job": job})


@require_POST
@staff_required("Only staff can cancel jobs.")
def job_cancel(request, label: str, pk: int):
    job = _job(label, pk)
    job.request_cancel()
    if request.htmx:
        return render(request, job.status_template, {"job": job})
    return redirect(job.get_absolute_url())


def dashboard(request):
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
    })


@login_not_required
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
def admin_login(request):
    """The admin's login URL: everyone signs in on the app's login page, and a signed-in
    user without staff rights is told why the admin is closed instead of being asked to log in again."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = ""
    target = target or reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(target)
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can use the admin site.")
    return redirect(target)
