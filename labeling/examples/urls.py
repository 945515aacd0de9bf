from django.urls import path

from . import views

urlpatterns = [
    path("examples/", views.example_list, name="example-list"),
    path("examples/<int:pk>/", views.example_detail, name="example-detail"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
]
