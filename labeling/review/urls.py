"""Review routes; included by the project under ``review/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue, name="review-queue"),
    path("next/", views.next_view, name="review-next"),
    path("undo/", views.undo, name="review-undo"),
    path("gate/", views.gate, name="review-gate"),
    path("<int:label_id>/", views.item, name="review-item"),
    path("<int:label_id>/verdict/", views.verdict, name="review-verdict"),
]
