from django.urls import path

from . import views

urlpatterns = [
    path("", views.run_list, name="training-list"),
    path("new/", views.launch, name="training-launch"),
    path("new/estimate/", views.launch_estimate, name="training-launch-estimate"),
    path("<int:pk>/", views.run_detail, name="training-detail"),
    path("<int:pk>/live/", views.run_live, name="training-live"),
    path("<int:pk>/merge/", views.merge, name="training-merge"),
    path("<int:pk>/files/<path:name>", views.download, name="training-download"),
]
