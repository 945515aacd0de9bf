from django.urls import path

from . import views

urlpatterns = [
    path("protocols/", views.protocol_list, name="protocol-list"),
    path("protocols/<int:pk>/", views.protocol_detail, name="protocol-detail"),
    path("protocols/<int:pk>/hunk-prompt/", views.protocol_hunk_prompt, name="protocol-hunk-prompt"),
    path("protocols/captures/new/", views.protocol_capture_new, name="protocol-capture-new"),
    path("protocols/captures/<int:pk>/", views.protocol_capture_detail, name="protocol-capture-detail"),
]
