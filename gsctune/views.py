"""Cross-app views: the live status/cancel endpoints every job shares, health and the admin's login hand-over."""
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .jobs import job_model
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
