from django.urls import path

from . import views, views_recorded

urlpatterns = [
    path("evaluation/", views.home, name="eval-home"),
    path("evaluation/runs/new/", views.run_new, name="eval-run-new"),
    path("evaluation/runs/compare/", views.run_compare, name="eval-compare"),
    path("evaluation/runs/<int:pk>/", views.run_detail, name="eval-run-detail"),
    path("evaluation/runs/<int:pk>/summary.json", views.run_summary_json, name="eval-run-json"),
    path("evaluation/runs/<int:run_pk>/predictions/<int:pk>/", views.prediction_detail, name="eval-prediction"),
    path("evaluation/recorded/", views_recorded.recorded_list, name="recorded-list"),
    path("evaluation/recorded/<int:pk>/", views_recorded.recorded_detail, name="recorded-detail"),
    path("evaluation/blind/new/", views.set_new, name="cmp-set-new"),
    path("evaluation/blind/<int:pk>/", views.set_detail, name="cmp-set-detail"),
    path("evaluation/blind/<int:pk>/next/", views.set_next, name="cmp-next"),
    path("evaluation/blind/<int:pk>/items/<int:item_pk>/", views.item_score, name="cmp-item"),
    path("evaluation/blind/<int:pk>/items/<int:item_pk>/reveal/", views.item_reveal, name="cmp-reveal"),
    path("evaluation/blind/<int:pk>/results/", views.set_results, name="cmp-results"),
    path("evaluation/blind/<int:pk>/export.<str:fmt>", views.set_export, name="cmp-export"),
]
