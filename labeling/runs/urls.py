from django.urls import path

from . import views

urlpatterns = [
    path("runs/", views.run_list, name="labeling-run-list"),
    path("runs/new/", views.run_new, name="labeling-run-new"),
    path("runs/<int:pk>/", views.run_detail, name="labeling-run-detail"),
    path("runs/<int:pk>/resume/", views.run_resume, name="labeling-run-resume"),
    path("runs/<int:pk>/live/", views.run_live, name="labeling-run-live"),
    path("teachers/", views.teacher_list, name="teacher-list"),
    path("teachers/new/", views.teacher_edit, name="teacher-new"),
    path("teachers/<int:pk>/", views.teacher_edit, name="teacher-edit"),
    path("teachers/test-connection/", views.teacher_test, name="teacher-test"),
    path("prompts/", views.prompt_list, name="prompt-list"),
    path("prompts/new/", views.prompt_new, name="prompt-new"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt-detail"),
]
