"""Export routes; included by the project under ``exports/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.export_list, name="export-list"),
    path("counts/", views.export_counts, name="export-counts"),
    path("<int:pk>/", views.export_detail, name="export-detail"),
    path("<int:pk>/files/<str:name>", views.export_download, name="export-download"),
]
