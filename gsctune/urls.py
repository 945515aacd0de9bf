from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from labeling.examples import views as example_views

from . import views

urlpatterns = [
    path("", example_views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/login/", views.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("jobs/<str:label>/<int:pk>/status/", views.job_status, name="job-status"),
    path("jobs/<str:label>/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
    path("review/", include("labeling.review.urls")),
    path("exports/", include("labeling.export.urls")),
    path("labeling/", include("labeling.runs.urls")),
    path("labeling/", include("labeling.protocol.urls")),
    path("training/", include("training.urls")),
    path("", include("labeling.examples.urls")),
    path("", include("evaluation.urls")),
]
